"""Errors raised by the AWS adapters; those the services also handle live in `leaim.exceptions`."""

from __future__ import annotations

from leaim.exceptions import DependencyUnavailableError


class FeatureStoreUnavailableError(DependencyUnavailableError):
    """The online feature store did not answer."""

    code = "dependency_unavailable"
    status = 503


class LedgerUnavailableError(DependencyUnavailableError):
    """The record ledger did not answer."""

    code = "dependency_unavailable"
    status = 503


class ObjectStoreUnavailableError(DependencyUnavailableError):
    """The bucket did not answer, or refused a write."""

    code = "dependency_unavailable"
    status = 503


class ArchiveUnavailableError(DependencyUnavailableError):
    """The archive bucket did not answer, or refused a write."""

    code = "dependency_unavailable"
    status = 503
