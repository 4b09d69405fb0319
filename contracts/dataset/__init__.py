"""Dataset contracts: what a record of an ingested dataset must look like, one version per file."""
