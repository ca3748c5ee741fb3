"""The workbench (工作台): alert queue, visit tasks, outcomes; web pages and JSON API."""
