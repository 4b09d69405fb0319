"""Policy contracts: registered versions of use-case manifests and dataset contracts."""
