"""Errors of the audit trail."""

from __future__ import annotations

from leaim.exceptions import ConflictError, LeaimError


class InvalidCursorError(LeaimError):
    """An audit search cursor that this store did not hand out."""


class DigestConflictError(ConflictError):
    """Another run sealed a digest with the same sequence first; nothing was sealed by this one."""


class UnreadableDigestError(LeaimError):
    """The last stored digest does not parse: no digest is sealed after it until someone looks."""


class ArchiveConflictError(ConflictError):
    """The archive already holds a different copy of a digest; write-once copies are never replaced."""
