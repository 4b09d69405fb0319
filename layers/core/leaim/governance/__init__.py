"""LEAIM layer 5: audit events and the access policy."""
