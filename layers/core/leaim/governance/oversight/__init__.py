"""Oversight of the running system: the drift and bias monitor, human review, and recorded outcomes."""
