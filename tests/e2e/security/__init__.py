"""The security suite: its tests share one local stack, torn down when the last of them has run."""
