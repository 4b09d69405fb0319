"""Ingestion contracts: batches and messages in, reports, quarantined records and snapshots out."""
