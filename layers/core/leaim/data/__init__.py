"""LEAIM layer 1: data generation and feature inputs."""
