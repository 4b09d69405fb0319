"""Replay contracts: a stored decision recomputed from what it was made from."""
