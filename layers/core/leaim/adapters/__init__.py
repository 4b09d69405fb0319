"""Adapters to AWS, Modal, SQL databases and telemetry backends, wired in `leaim.bootstrap`."""
