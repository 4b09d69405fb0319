"""Errors of the embedded default's own assembly."""

from __future__ import annotations

from leaim.exceptions import LeaimError


class LocalCallError(LeaimError):
    """A call of the local stack's API did not answer as expected."""
