"""Contracts that cross the orchestration-to-training-worker boundary."""
