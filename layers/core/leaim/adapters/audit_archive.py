"""S3 adapter of the audit digest archive: one write-once object per digest, under a COMPLIANCE object lock.

The bucket (`AuditArchiveBucket`) is versioned with Object Lock and a default COMPLIANCE retention; each put
also names the mode and the retain-until date, and refuses to replace an object (`If-None-Match: *`), so a
digest's archived copy is its only version unless someone overwrote it, which verification reports.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from leaim.adapters.exceptions import ArchiveUnavailableError
from leaim.governance.audit.exceptions import ArchiveConflictError
from leaim.governance.audit.ports import ArchivedCopy, ArchivedDigest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from contracts.trail.v1 import SignedDigest

DIGEST_PREFIX = "digests/"
LOCK_MODE = "COMPLIANCE"
_TAKEN = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


def digest_key(sequence: int) -> str:
    """The object key of digest `sequence`; zero-padded so keys list in sequence order."""
    return f"{DIGEST_PREFIX}{sequence:012d}.json"


class S3DigestArchive:
    """`DigestArchive` on one versioned S3 bucket with Object Lock."""

    def __init__(self, bucket: str, client: Any, *, retention_days: int) -> None:
        self._bucket = bucket
        self._client = client
        self._retention = timedelta(days=retention_days)

    @property
    def location(self) -> str:
        """s3://bucket/digests/."""
        return f"s3://{self._bucket}/{DIGEST_PREFIX}"

    def put(self, signed: SignedDigest) -> ArchivedCopy:
        """Archive `signed` locked for the retention period; the same copy again is accepted, another refused."""
        key = digest_key(signed.digest.sequence)
        body = signed.model_dump_json().encode()
        try:
            answer = self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                ObjectLockMode=LOCK_MODE,
                ObjectLockRetainUntilDate=datetime.now(UTC) + self._retention,
                IfNoneMatch="*",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _TAKEN:
                return self._existing(key, signed)
            raise ArchiveUnavailableError(f"s3://{self._bucket}/{key} was not written: {error}") from error
        except BotoCoreError as error:
            raise ArchiveUnavailableError(f"s3://{self._bucket}/{key} was not written: {error}") from error
        return ArchivedCopy(key=key, version_id=str(answer["VersionId"]))

    def copies(self) -> Iterator[ArchivedDigest]:
        """Every archived digest: its versions (delete markers count), the latest one's body and lock mode."""
        for key, (versions, latest) in self._versions().items():
            sequence = _sequence(key)
            if sequence is None:
                continue
            body, lock_mode = self._read(key, latest) if latest is not None else (b"", None)
            yield ArchivedDigest(
                sequence=sequence, key=key, version_ids=tuple(versions), body=body, lock_mode=lock_mode
            )

    def _existing(self, key: str, signed: SignedDigest) -> ArchivedCopy:
        answer = self._get(key, None)
        # Compared as digests, not bytes: a digest read back from PostgreSQL's JSONB orders its keys otherwise.
        try:
            archived = type(signed).model_validate_json(answer["Body"].read())
        except ValueError as error:
            raise ArchiveConflictError(f"s3://{self._bucket}/{key} holds something that is not a digest") from error
        if archived != signed:
            raise ArchiveConflictError(f"s3://{self._bucket}/{key} already holds another digest")
        return ArchivedCopy(key=key, version_id=str(answer["VersionId"]))

    def _versions(self) -> dict[str, tuple[list[str], str | None]]:
        """Key to every version id (delete markers included) and the latest version's id, None for a marker."""
        found: dict[str, tuple[list[str], str | None]] = {}
        try:
            pages = self._client.get_paginator("list_object_versions").paginate(
                Bucket=self._bucket, Prefix=DIGEST_PREFIX
            )
            for page in pages:
                for item in page.get("Versions", []):
                    versions, latest = found.get(item["Key"], ([], None))
                    found[item["Key"]] = (
                        [*versions, item["VersionId"]],
                        item["VersionId"] if item["IsLatest"] else latest,
                    )
                for item in page.get("DeleteMarkers", []):
                    versions, latest = found.get(item["Key"], ([], None))
                    found[item["Key"]] = ([*versions, item["VersionId"]], latest)
        except (BotoCoreError, ClientError) as error:
            raise ArchiveUnavailableError(f"{self.location} could not be listed: {error}") from error
        return dict(sorted(found.items()))

    def _read(self, key: str, version_id: str) -> tuple[bytes, str | None]:
        answer = self._get(key, version_id)
        body: bytes = answer["Body"].read()
        return body, answer.get("ObjectLockMode")

    def _get(self, key: str, version_id: str | None) -> Any:
        request = {"Bucket": self._bucket, "Key": key}
        if version_id is not None:
            request["VersionId"] = version_id
        try:
            return self._client.get_object(**request)
        except (BotoCoreError, ClientError) as error:
            raise ArchiveUnavailableError(f"s3://{self._bucket}/{key} could not be read: {error}") from error


def _sequence(key: str) -> int | None:
    name = key.removeprefix(DIGEST_PREFIX).removesuffix(".json")
    return int(name) if name.isdigit() else None
