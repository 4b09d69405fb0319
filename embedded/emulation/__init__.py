"""AWS and Modal on one machine: the template's resources in moto, its event sources, its API, its workers."""
