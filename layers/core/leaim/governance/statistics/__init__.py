"""Drift, bias and quality statistics: pure functions over decisions, outcomes and training baselines."""
