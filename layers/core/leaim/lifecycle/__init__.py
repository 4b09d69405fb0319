"""LEAIM layer 2, model lifecycle and training: training jobs, evaluation gates, signed manifests, promotion
and rollback."""
