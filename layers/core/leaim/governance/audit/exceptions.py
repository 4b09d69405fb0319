"""Errors of the audit trail."""

from __future__ import annotations

from leaim.exceptions import LeaimError


class InvalidCursorError(LeaimError):
    """An audit search cursor that this store did not hand out."""

    code = "invalid_cursor"


class DigestConflictError(LeaimError):
    """Another run sealed a digest with the same sequence first; nothing was sealed by this one."""

    code = "digest_conflict"


class PurgeConflictError(LeaimError):
    """Another run stored the purge receipt of the same sequence first; nothing was removed by this one."""

    code = "purge_conflict"


class UnreadableDigestError(LeaimError):
    """The last stored digest does not parse: no digest is sealed after it until someone looks."""

    code = "unreadable_digest"


class ArchiveConflictError(LeaimError):
    """The archive already holds a different copy of a digest; write-once copies are never replaced."""

    code = "archive_conflict"


class BundleRefusedError(LeaimError):
    """The audit store refused accepted bundles as data: storing them again would be refused again.

    `pk` names the bundle when the refusal is pinned on one, and is None when the store refused a batch as a whole
    (the audit writer then halves the batch until it finds the bundle).
    """

    code = "bundle_refused"

    def __init__(self, reason: str, *, pk: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pk = pk
