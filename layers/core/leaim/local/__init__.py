"""The embedded default: the template's resources, pollers, gateway and workers on one machine."""
