"""What goes wrong calling the APIs or reading a record file; each is a `LeaimError`, shown by `leaim` on one line."""

from __future__ import annotations

from leaim.exceptions import LeaimError


class ApiCallError(LeaimError):
    """A call of the API got no answer, or an answer other than 2xx."""


class ApiTargetError(LeaimError):
    """Which API to call, or with which key, cannot be told from the arguments and the state folder."""


class RecordFileError(LeaimError):
    """A record file cannot be read: unknown format or not UTF-8 text."""
