"""The demos: `leaim demo` and `leaim demo --drift` on the embedded default."""
