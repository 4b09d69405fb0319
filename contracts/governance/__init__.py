"""Governance contract: outcomes, reviews, explanations, drift, bias, quality, usage and coverage."""
