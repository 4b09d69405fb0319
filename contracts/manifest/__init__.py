"""Use-case manifest contract."""
