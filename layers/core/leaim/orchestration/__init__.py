"""LEAIM layer 4: the governed decision path and the only user of the worker client."""
