"""Departmental feeds into the stream: files, HTTP push, SQL polling, the roster and a simulator."""
