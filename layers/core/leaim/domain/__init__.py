"""What every layer shares: use case manifests, time and deadlines. Pure: no AWS, Modal, SQL or telemetry."""
