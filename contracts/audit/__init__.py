"""Audit event contract."""
