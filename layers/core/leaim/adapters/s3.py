"""S3 adapter: the bucket holding the offline store, the quarantine and the dataset snapshots."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from leaim.adapters.exceptions import ObjectStoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# Small objects (quarantined records) are read and written side by side: a request is mostly waiting.
PARALLEL_REQUESTS = 8
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3ObjectStore:
    """`ObjectStore` on one S3 bucket (versioned in the template, so overwrites and deletes keep history)."""

    def __init__(self, bucket: str, client: Any) -> None:
        self._bucket = bucket
        self._client = client

    def put(self, key: str, body: bytes, *, content_type: str, if_absent: bool = False) -> bool:
        """Store `body` at `key`; with `if_absent` an existing object is kept and False returned."""
        request: dict[str, Any] = {"Bucket": self._bucket, "Key": key, "Body": body, "ContentType": content_type}
        if if_absent:
            request["IfNoneMatch"] = "*"
        try:
            self._client.put_object(**request)
        except ClientError as error:
            if if_absent and error.response.get("Error", {}).get("Code") in {"PreconditionFailed", "412"}:
                return False
            raise ObjectStoreUnavailableError(f"s3://{self._bucket}/{key} was not written: {error}") from error
        except BotoCoreError as error:
            raise ObjectStoreUnavailableError(f"s3://{self._bucket}/{key} was not written: {error}") from error
        return True

    def put_many(self, objects: Mapping[str, bytes], *, content_type: str) -> None:
        """Store every object, several at a time; raises if any one was not written."""
        if len(objects) <= 1:
            for key, body in objects.items():
                self.put(key, body, content_type=content_type)
            return
        with ThreadPoolExecutor(max_workers=min(PARALLEL_REQUESTS, len(objects))) as pool:
            futures = [pool.submit(self.put, key, body, content_type=content_type) for key, body in objects.items()]
            for future in futures:
                future.result()

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=key)
            body: bytes = answer["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise ObjectStoreUnavailableError(f"s3://{self._bucket}/{key} could not be read: {error}") from error
        except BotoCoreError as error:
            raise ObjectStoreUnavailableError(f"s3://{self._bucket}/{key} could not be read: {error}") from error
        return body

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The objects that exist among `keys`, read several at a time."""
        if len(keys) <= 1:
            found = {key: self.get(key) for key in keys}
        else:
            with ThreadPoolExecutor(max_workers=min(PARALLEL_REQUESTS, len(keys))) as pool:
                found = dict(zip(keys, pool.map(self.get, keys), strict=True))
        return {key: body for key, body in found.items() if body is not None}

    def keys(self, prefix: str, *, start_after: str | None = None, limit: int | None = None) -> list[str]:
        """Keys under `prefix`, in lexical order, after `start_after`, at most `limit`."""
        keys: list[str] = []
        request: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        if start_after:
            request["StartAfter"] = start_after
        try:
            while limit is None or len(keys) < limit:
                if limit is not None:
                    request["MaxKeys"] = min(1000, limit - len(keys))
                answer = self._client.list_objects_v2(**request)
                keys += [item["Key"] for item in answer.get("Contents", [])]
                if not answer.get("IsTruncated"):
                    break
                request["ContinuationToken"] = answer["NextContinuationToken"]
        except (BotoCoreError, ClientError) as error:
            raise ObjectStoreUnavailableError(f"s3://{self._bucket}/{prefix} could not be listed: {error}") from error
        return keys if limit is None else keys[:limit]

    def delete(self, key: str) -> None:
        """Remove the object; the bucket's versioning keeps what it held."""
        try:
            self._client.delete_object(Bucket=self._bucket, Key=key)
        except (BotoCoreError, ClientError) as error:
            raise ObjectStoreUnavailableError(f"s3://{self._bucket}/{key} could not be deleted: {error}") from error
