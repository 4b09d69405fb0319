"""Clients of the platform's HTTP APIs, and the tables that show their answers."""
