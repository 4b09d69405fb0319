"""Contracts that cross the orchestration-to-GPU-worker boundary."""
