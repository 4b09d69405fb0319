"""The embedded default: LEAIM on one machine with no cloud account, its command line, demos and benchmarks.

Nothing here ships to Lambda or Modal: it runs the same functions and workers the way AWS and Modal would.
"""
