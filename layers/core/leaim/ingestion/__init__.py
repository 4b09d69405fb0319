"""LEAIM layer 1 services: ingestion from HTTPS, SQS and Kinesis, quarantine and replay, dataset snapshots."""
