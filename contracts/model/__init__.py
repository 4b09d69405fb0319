"""Model contract: signed model manifests, training jobs, the registry and traffic policies."""
