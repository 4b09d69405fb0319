"""S3 adapter of the archived documents of model versions: write-once objects under a COMPLIANCE object lock.

They live in the artifacts bucket (`ArtifactsBucket`, versioned, with Object Lock enabled and no default
retention, so that only these objects are locked), beside each version's signed manifest. Each put names the lock
mode and its retain-until date and refuses to replace an object (`If-None-Match: *`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from contracts.model.v1 import ArchivedDocument
from leaim.adapters.exceptions import ObjectStoreUnavailableError
from leaim.adapters.s3 import S3ObjectStore

if TYPE_CHECKING:
    from datetime import datetime

LOCK_MODE = "COMPLIANCE"
_TAKEN = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


class S3DocumentStore:
    """`DocumentStore` on one versioned S3 bucket with Object Lock enabled."""

    def __init__(self, bucket: str, client: Any) -> None:
        self._bucket = bucket
        self._client = client
        self._objects = S3ObjectStore(bucket, client)

    def location(self, key: str) -> str:
        """s3://bucket/key."""
        return f"s3://{self._bucket}/{key}"

    def records(self, prefix: str) -> list[ArchivedDocument]:
        """Every record under `prefix`, in key order; ObjectStoreUnavailableError naming one that is not a record."""
        keys = self._objects.keys(prefix)
        bodies = self._objects.get_many(keys)
        records = []
        for key in keys:
            try:
                records.append(ArchivedDocument.model_validate_json(bodies[key]))
            except (KeyError, ValidationError) as error:
                raise ObjectStoreUnavailableError(f"{self.location(key)} is not a document record: {error}") from error
        return records

    def put_content(self, key: str, body: bytes, *, content_type: str, retain_until: datetime) -> None:
        """Store a document's bytes locked until `retain_until`; bytes already at `key` (the same, by their
        sha256 in the key) are kept."""
        self._put(key, body, content_type, retain_until)

    def put_record(self, key: str, record: ArchivedDocument, *, retain_until: datetime) -> bool:
        """Store `record` locked until `retain_until`; False when `key` is taken."""
        return self._put(key, record.model_dump_json().encode(), "application/json", retain_until)

    def content(self, key: str) -> bytes | None:
        """The bytes at `key`, or None."""
        return self._objects.get(key)

    def _put(self, key: str, body: bytes, content_type: str, retain_until: datetime) -> bool:
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ObjectLockMode=LOCK_MODE,
                ObjectLockRetainUntilDate=retain_until,
                IfNoneMatch="*",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _TAKEN:
                return False
            raise ObjectStoreUnavailableError(f"{self.location(key)} was not written: {error}") from error
        except BotoCoreError as error:
            raise ObjectStoreUnavailableError(f"{self.location(key)} was not written: {error}") from error
        return True
