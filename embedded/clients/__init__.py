"""Clients of the platform's HTTP APIs, the record files `leaim ingest` sends, and the tables that show the answers."""
