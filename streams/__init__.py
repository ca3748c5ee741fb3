"""Streaming shell: the Faust app, topics, tables, agents, the `hardship` command line, the embedded broker."""
