"""The audit trail: one event per invocation, hash-chained, sealed in signed digests, and verified."""
