"""The benchmarks: each path measured against its floor in the same run, its table written to the docs."""
