"""The error body every API answers a refused or failed request with."""
