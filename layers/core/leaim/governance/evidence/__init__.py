"""Regulatory evidence generated from what the running system recorded: the AI bill of materials of a model version."""
