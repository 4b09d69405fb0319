"""Training worker: plain trainer logic and the Modal function that runs it on a GPU."""
