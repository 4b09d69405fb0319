"""LEAIM layer 2: training jobs and the model registry."""
