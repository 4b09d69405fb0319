"""Audit trail contract: hash-chained audit records, signed digests of the chains, and verification reports."""
