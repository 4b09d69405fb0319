"""Errors of the fault suite."""

from __future__ import annotations

from leaim.exceptions import LeaimError


class ChaosError(LeaimError):
    """The suite could not set its stack up (the reference model did not train)."""

    code = "chaos_error"
