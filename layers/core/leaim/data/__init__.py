"""LEAIM layer 1, data acquisition and features: ingestion from HTTPS, SQS and Kinesis, contract validation,
quarantine and replay, the feature transforms shared by training and serving, and dataset snapshots."""
