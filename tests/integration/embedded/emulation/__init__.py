"""The local stack's own tests: those that share its fixture stack see it torn down when the last of them has run."""
