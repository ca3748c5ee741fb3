"""The wire contract shared by every part: Faust records, JSON Schemas and input validation."""
