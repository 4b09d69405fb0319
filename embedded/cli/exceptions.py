"""What the `leaim` commands refuse; shown on one line, with exit status 2."""

from __future__ import annotations

from leaim.exceptions import LeaimError


class ApiUsageError(LeaimError):
    """The command's arguments do not make a call."""
