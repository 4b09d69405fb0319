"""Durable state for the local AWS endpoint: what moto holds survives a restart and a `kill -9`.

moto keeps its queues, tables, buckets and streams in memory. `DurableState` sits in front of moto's WSGI app and,
before a change is answered, appends the state after the change of everything the request touched (its image) to a
journal in the state directory: a queue with its messages and their receive counts; an item of a table; a table's
stream records; the versions of an object with their locks; a Kinesis record; the settings of a table, bucket,
queue or stream. A client that was answered can count on the change being on disk, so a `kill -9` of the process
loses nothing it was told is stored. On start, `restore()` reads the checkpoint and the journal, puts every image
back into moto's backends, writes a new checkpoint and empties the journal.

Images are states, not requests: replaying requests would draw other receipt handles, version ids and sequence
numbers, and run visibility timeouts at another time. Each service applies one change at a time (moto computes under
the GIL anyway), so an image is never taken halfway through another change and the journal holds images in the
order of the changes. A long-polling receive waits outside that turn and takes it for each attempt.

The journal grows in preallocated chunks. A change is refused with 503, before it is applied, when the state
directory cannot hold the next chunk, so that nothing is answered that is not on disk.
"""

from __future__ import annotations

import copy
import errno
import io
import json
import logging
import os
import pickle
import struct
import threading
import time
import zlib
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from moto.backends import get_backend
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.s3.models import s3_backends

from embedded.emulation.transactions import dynamodb_turn

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from contextlib import AbstractContextManager
    from pathlib import Path

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pickle"
JOURNAL_FILE = "journal.bin"
# Room the journal keeps ahead of its last record; a change needs this much (or four times its body) to start.
CHUNK_BYTES = 16 * 1024 * 1024
RESERVE_BYTES = 4 * 1024 * 1024
_HEADER = struct.Struct("<4sII")
_MAGIC = b"LJ01"
# S3 lives in one backend per partition, the other services in one per region.
S3_PARTITION = "aws"
# How often a long-polling receive looks again when no message woke it.
_RECEIVE_POLL_S = 0.1
_MAX_RECEIVE_WAIT_S = 20

Entity = tuple[str, ...]
Image = bytes | None

_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


class _Pickler(pickle.Pickler):
    """Pickles moto's models; a lock or condition comes back as a new one (moto keeps them beside its data)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK_TYPES):
            return threading.RLock, ()
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        return NotImplemented


def _dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _dumps_with_locks(value: Any) -> bytes:
    """Like `_dumps`, for a model that holds locks (an SQS queue): slower, as every object passes through Python."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def _key(*values: Any) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class Request:
    """What the journal needs to know about one request to moto."""

    service: str
    region: str
    action: str
    body: dict[str, Any]
    raw_body: bytes
    path: str
    query: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Restored:
    """What `restore()` found: entities put back, checkpoint and journal sizes, and how long it took."""

    entities: int
    checkpoint_bytes: int
    journal_bytes: int
    journal_records: int
    seconds: float


class StateDirectoryFullError(OSError):
    """The state directory cannot hold the journal's next chunk: changes are refused until it can."""


class Journal:
    """An append-only file of (entity, image) records, each framed with its length and CRC, in preallocated chunks."""

    def __init__(self, path: Path, *, chunk_bytes: int = CHUNK_BYTES, reserve_bytes: int = RESERVE_BYTES) -> None:
        self.path = path
        self._chunk = chunk_bytes
        self._reserve = reserve_bytes
        self._lock = threading.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._offset = _valid_length(path)
        self._allocated = os.fstat(self._fd).st_size

    def ensure_room(self, body_bytes: int) -> None:
        """Make sure the next change fits in what is allocated, or raise StateDirectoryFullError."""
        needed = max(self._reserve, 4 * body_bytes)
        with self._lock:
            if self._allocated - self._offset >= needed:
                return
            size = self._offset + needed + self._chunk
            try:
                os.posix_fallocate(self._fd, self._allocated, size - self._allocated)
            except OSError as error:
                raise StateDirectoryFullError(
                    error.errno or errno.ENOSPC, f"the state directory cannot hold {self.path.name}: {error.strerror}"
                ) from error
            self._allocated = size

    def append(self, records: Iterable[tuple[Entity, Image]]) -> int:
        """Write records in one write; returns the bytes written. Raises OSError if the disk refuses them."""
        frames = []
        for record in records:
            payload = _dumps(record)
            frames.append(_HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload)
        data = b"".join(frames)
        if not data:
            return 0
        with self._lock:
            written = os.pwrite(self._fd, data, self._offset)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"short write to {self.path.name}")
            self._offset += written
            self._allocated = max(self._allocated, self._offset)
        return len(data)

    def close(self) -> None:
        """Close the file, giving back the space allocated past the last record."""
        with self._lock:
            if self._fd >= 0:
                os.ftruncate(self._fd, self._offset)
                os.close(self._fd)
                self._fd = -1


def read_journal(path: Path) -> Iterator[tuple[Entity, Image]]:
    """Every whole record of a journal, in order; a torn or preallocated tail ends it."""
    if not path.exists():
        return
    with path.open("rb") as file:
        while True:
            header = file.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return
            magic, length, crc = _HEADER.unpack(header)
            if magic != _MAGIC:
                return
            payload = file.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                return
            entity, image = pickle.loads(payload)  # noqa: S301 - the state directory's own journal
            yield tuple(entity), image


def _valid_length(path: Path) -> int:
    """Bytes of whole records at the start of a journal file."""
    if not path.exists():
        return 0
    offset = 0
    with path.open("rb") as file:
        while True:
            header = file.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return offset
            magic, length, crc = _HEADER.unpack(header)
            if magic != _MAGIC:
                return offset
            payload = file.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                return offset
            offset += _HEADER.size + length


class Service:
    """How one service's state is named, imaged and put back."""

    name: ClassVar[str]
    # Entity kinds in the order they are put back: containers before what they contain.
    kinds: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        self.turn: AbstractContextManager[Any] = threading.RLock()

    def mutating(self, request: Request) -> bool:
        """Whether the request may change state."""
        raise NotImplementedError

    def before(self, request: Request) -> Any:
        """Whatever `touched` needs from before the change (stream lengths)."""
        return None

    def touched(self, request: Request, before: Any) -> list[Entity]:
        """The entities whose images the journal takes after the request."""
        raise NotImplementedError

    def capture(self, entity: Entity) -> Image:
        """The entity's image as moto holds it now; None when it does not exist."""
        raise NotImplementedError

    def install(self, images: dict[Entity, bytes]) -> set[Entity]:
        """Put images back into moto; returns those put back (not those whose container is gone)."""
        raise NotImplementedError

    def everything(self, account: str, region: str) -> list[Entity]:
        """Every entity of the service in a region: the images a request the journal cannot read touches."""
        raise NotImplementedError


class SqsService(Service):
    """A queue is one entity: its settings and its messages (bodies, receive counts, visibility)."""

    name = "sqs"
    kinds = ("sqs-queue",)
    _READS = frozenset(
        {
            "GetQueueUrl",
            "GetQueueAttributes",
            "ListQueues",
            "ListQueueTags",
            "ListDeadLetterSourceQueues",
            "ListMessageMoveTasks",
        }
    )

    def mutating(self, request: Request) -> bool:
        return request.action not in self._READS

    def backend(self, account: str, region: str) -> Any:
        return get_backend("sqs")[account][region]

    def touched(self, request: Request, before: Any) -> list[Entity]:
        backend = self.backend(DEFAULT_ACCOUNT_ID, request.region)
        name = request.body.get("QueueName") or str(request.body.get("QueueUrl", "")).rstrip("/").rpartition("/")[2]
        if not name:
            return self.everything(DEFAULT_ACCOUNT_ID, request.region)
        names = [name]
        queue = backend.queues.get(name)
        if queue is not None and queue.dead_letter_queue is not None:
            names.append(queue.dead_letter_queue.name)
        return [("sqs-queue", DEFAULT_ACCOUNT_ID, request.region, queue_name) for queue_name in names]

    def fingerprint(self, request: Request) -> tuple[int, ...]:
        """Message counts of the queue and its dead-letter queue: an empty receive that moved nothing left them."""
        entities = self.touched(request, None)
        backend = self.backend(DEFAULT_ACCOUNT_ID, request.region)
        counts = []
        for entity in entities:
            queue = backend.queues.get(entity[3])
            counts.append(-1 if queue is None else len(queue._messages))
        return tuple(counts)

    def capture(self, entity: Entity) -> Image:
        _, account, region, name = entity
        queue = self.backend(account, region).queues.get(name)
        if queue is None:
            return None
        image = copy.copy(queue)
        # The dead-letter queue is its own entity, linked again when put back.
        image.dead_letter_queue = None
        return _dumps_with_locks(image)

    def install(self, images: dict[Entity, bytes]) -> set[Entity]:
        restored: dict[tuple[str, str], Any] = {}
        for entity, image in images.items():
            _, account, region, name = entity
            queue = pickle.loads(image)  # noqa: S301 - the state directory's own images
            self.backend(account, region).queues[name] = queue
            restored[(account, region)] = self.backend(account, region)
        for backend in restored.values():
            by_arn = {queue.queue_arn: queue for queue in backend.queues.values()}
            for queue in backend.queues.values():
                target = (queue.redrive_policy or {}).get("deadLetterTargetArn")
                queue.dead_letter_queue = by_arn.get(target) if target else None
        return set(images)

    def everything(self, account: str, region: str) -> list[Entity]:
        return [("sqs-queue", account, region, name) for name in list(self.backend(account, region).queues)]


class DynamoDbService(Service):
    """A table's settings, each of its items, and each of its stream records are entities of their own."""

    name = "dynamodb"
    kinds = ("dynamodb-table", "dynamodb-item", "dynamodb-stream")
    _ITEM_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
    _READS = frozenset(
        {
            "GetItem",
            "BatchGetItem",
            "Query",
            "Scan",
            "TransactGetItems",
            "DescribeTable",
            "ListTables",
            "DescribeTimeToLive",
            "ListTagsOfResource",
            "DescribeContinuousBackups",
            "DescribeEndpoints",
            "DescribeLimits",
            "DescribeStream",
            "GetShardIterator",
            "GetRecords",
            "ListStreams",
        }
    )

    def __init__(self) -> None:
        super().__init__()
        self.turn = dynamodb_turn()

    def mutating(self, request: Request) -> bool:
        return request.action not in self._READS

    def backend(self, account: str, region: str) -> Any:
        return get_backend("dynamodb")[account][region]

    def before(self, request: Request) -> dict[str, int]:
        """Each table's stream length: what the request adds comes after it."""
        return {
            name: len(table.stream_shard.items)
            for name, table in self.backend(DEFAULT_ACCOUNT_ID, request.region).tables.items()
            if table.stream_shard is not None
        }

    def touched(self, request: Request, before: dict[str, int]) -> list[Entity]:
        backend = self.backend(DEFAULT_ACCOUNT_ID, request.region)
        if request.action not in self._ITEM_WRITES:
            # A change of a table itself (create, delete, update, tags): that table whole, or gone.
            name = _named(request.body, "TableName", "ResourceArn", "/table/")
            return self.everything(DEFAULT_ACCOUNT_ID, request.region, name)
        entities = [self._item(backend, request.region, table, key) for table, key in self._keys(request)]
        for name, table in backend.tables.items():
            if table.stream_shard is None:
                continue
            start = before.get(name, 0)
            generation = str(table.created_at)
            entities.extend(
                ("dynamodb-stream", DEFAULT_ACCOUNT_ID, request.region, name, generation, str(index))
                for index in range(start, len(table.stream_shard.items))
            )
        return [entity for entity in entities if entity is not None]

    def _keys(self, request: Request) -> Iterator[tuple[str, dict[str, Any]]]:
        body = request.body
        if request.action in {"PutItem", "UpdateItem", "DeleteItem"}:
            yield body["TableName"], body.get("Key") or body.get("Item") or {}
        elif request.action == "BatchWriteItem":
            for table, writes in body.get("RequestItems", {}).items():
                for write in writes:
                    if "PutRequest" in write:
                        yield table, write["PutRequest"]["Item"]
                    elif "DeleteRequest" in write:
                        yield table, write["DeleteRequest"]["Key"]
        else:
            for action in body.get("TransactItems", []):
                for operation in ("Put", "Update", "Delete"):
                    if operation in action:
                        detail = action[operation]
                        yield detail["TableName"], detail.get("Key") or detail.get("Item") or {}

    def _item(self, backend: Any, region: str, table_name: str, attributes: dict[str, Any]) -> Entity | None:
        table = backend.tables.get(table_name)
        if table is None or table.hash_key_attr not in attributes:
            return None
        range_value = attributes.get(table.range_key_attr) if table.range_key_attr else None
        key = _key(attributes[table.hash_key_attr], range_value)
        return ("dynamodb-item", DEFAULT_ACCOUNT_ID, region, table_name, str(table.created_at), key)

    def capture(self, entity: Entity) -> Image:
        kind, account, region, name, *rest = entity
        table = self.backend(account, region).tables.get(name)
        if kind == "dynamodb-table":
            if table is None:
                return None
            image = copy.copy(table)
            image.items = defaultdict(dict)
            if table.stream_shard is not None:
                image.stream_shard = copy.copy(table.stream_shard)
                image.stream_shard.items = []
                image.stream_shard.table = None
            return _dumps(image)
        generation = rest[0]
        if table is None or str(table.created_at) != generation:
            return None
        if kind == "dynamodb-stream":
            index = int(rest[1])
            shard = table.stream_shard
            if shard is None or index >= len(shard.items):
                return None
            return _dumps(shard.items[index])
        hash_json, range_json = json.loads(rest[1])
        hash_value = DynamoType(hash_json)
        if table.range_key_attr:
            item = table.items.get(hash_value, {}).get(DynamoType(range_json)) if range_json is not None else None
        else:
            item = table.items.get(hash_value)
        return None if item is None else _dumps(item)

    def install(self, images: dict[Entity, bytes]) -> set[Entity]:
        installed: set[Entity] = set()
        tables: dict[tuple[str, str, str], Any] = {}
        for entity, image in images.items():
            if entity[0] == "dynamodb-table":
                _, account, region, name = entity
                table = pickle.loads(image)  # noqa: S301 - the state directory's own images
                if table.stream_shard is not None:
                    table.stream_shard.table = table
                self.backend(account, region).tables[name] = table
                tables[(account, region, name)] = table
                installed.add(entity)
        records: dict[tuple[str, str, str], list[tuple[int, Any]]] = defaultdict(list)
        for entity, image in images.items():
            kind = entity[0]
            if kind == "dynamodb-table":
                continue
            _, account, region, name, generation, detail = entity
            table = tables.get((account, region, name))
            if table is None or str(table.created_at) != generation:
                continue
            value = pickle.loads(image)  # noqa: S301 - the state directory's own images
            installed.add(entity)
            if kind == "dynamodb-stream":
                records[(account, region, name)].append((int(detail), value))
            elif table.range_key_attr:
                table.items[value.hash_key][value.range_key] = value
            else:
                table.items[value.hash_key] = value
        for where, indexed in records.items():
            shard = tables[where].stream_shard
            if shard is not None:
                shard.items = [record for _, record in sorted(indexed, key=lambda pair: pair[0])]
        return installed

    def everything(self, account: str, region: str, only: str | None = None) -> list[Entity]:
        tables = self.backend(account, region).tables
        if only is not None and only not in tables:
            return [("dynamodb-table", account, region, only)]
        entities: list[Entity] = []
        for name, table in tables.items():
            if only is not None and name != only:
                continue
            entities.append(("dynamodb-table", account, region, name))
            generation = str(table.created_at)
            for value in table.items.values():
                items = value.values() if table.range_key_attr else [value]
                for item in items:
                    range_json = item.range_key.to_json() if table.range_key_attr else None
                    key = _key(item.hash_key.to_json(), range_json)
                    entities.append(("dynamodb-item", account, region, name, generation, key))
            if table.stream_shard is not None:
                entities.extend(
                    ("dynamodb-stream", account, region, name, generation, str(index))
                    for index in range(len(table.stream_shard.items))
                )
        return entities


class S3Service(Service):
    """A bucket's settings, and the versions of each of its keys (with their locks), are entities."""

    name = "s3"
    kinds = ("s3-bucket", "s3-key")

    def mutating(self, request: Request) -> bool:
        return request.action in {"PUT", "POST", "DELETE"}

    def backend(self, account: str) -> Any:
        return get_backend("s3")[account][S3_PARTITION]

    def touched(self, request: Request, before: Any) -> list[Entity]:
        bucket_name, _, key = request.path.lstrip("/").partition("/")
        backend = self.backend(DEFAULT_ACCOUNT_ID)
        if not bucket_name:
            return self.everything(DEFAULT_ACCOUNT_ID, request.region)
        bucket = backend.buckets.get(bucket_name)
        generation = "" if bucket is None else str(bucket.creation_date)
        if key:
            keys = [unquote(key)]
        elif request.action == "POST" and "delete" in request.query:
            keys = _deleted_keys(request.raw_body)
        else:
            return [("s3-bucket", DEFAULT_ACCOUNT_ID, bucket_name)]
        entities: list[Entity] = [("s3-key", DEFAULT_ACCOUNT_ID, bucket_name, generation, name) for name in keys]
        if not key or "uploads" in request.query or "uploadId" in request.query:
            # Multipart uploads live in the bucket's settings until they complete.
            entities.append(("s3-bucket", DEFAULT_ACCOUNT_ID, bucket_name))
        return entities

    def capture(self, entity: Entity) -> Image:
        kind, account, bucket_name, *rest = entity
        bucket = self.backend(account).buckets.get(bucket_name)
        if bucket is None:
            return None
        if kind == "s3-bucket":
            image = copy.copy(bucket)
            image.keys = type(bucket.keys)()
            return _dumps(image)
        generation, name = rest
        if str(bucket.creation_date) != generation:
            return None
        versions = bucket.keys.getlist(name)
        return None if not versions else _dumps(list(versions))

    def install(self, images: dict[Entity, bytes]) -> set[Entity]:
        installed: set[Entity] = set()
        buckets: dict[tuple[str, str], Any] = {}
        for entity, image in images.items():
            if entity[0] == "s3-bucket":
                _, account, name = entity
                bucket = pickle.loads(image)  # noqa: S301 - the state directory's own images
                self.backend(account).buckets[name] = bucket
                # moto finds a bucket's account through this index, which a bucket fills only when created.
                s3_backends.bucket_accounts[name] = (bucket.partition, account)
                buckets[(account, name)] = bucket
                installed.add(entity)
        for entity, image in images.items():
            if entity[0] != "s3-key":
                continue
            _, account, bucket_name, generation, name = entity
            bucket = buckets.get((account, bucket_name))
            if bucket is None or str(bucket.creation_date) != generation:
                continue
            bucket.keys.setlist(name, pickle.loads(image))  # noqa: S301 - the state directory's own images
            installed.add(entity)
        return installed

    def everything(self, account: str, region: str) -> list[Entity]:
        entities: list[Entity] = []
        for name, bucket in self.backend(account).buckets.items():
            entities.append(("s3-bucket", account, name))
            generation = str(bucket.creation_date)
            entities.extend(("s3-key", account, name, generation, key) for key in list(bucket.keys))
        return entities


class KinesisService(Service):
    """A stream's settings and shards, and each of its records, are entities."""

    name = "kinesis"
    kinds = ("kinesis-stream", "kinesis-record")
    _READS = frozenset(
        {
            "DescribeStream",
            "DescribeStreamSummary",
            "DescribeStreamConsumer",
            "GetShardIterator",
            "GetRecords",
            "ListShards",
            "ListStreams",
            "ListStreamConsumers",
            "ListTagsForStream",
        }
    )

    def mutating(self, request: Request) -> bool:
        return request.action not in self._READS

    def backend(self, account: str, region: str) -> Any:
        return get_backend("kinesis")[account][region]

    def before(self, request: Request) -> dict[tuple[str, str], int]:
        return {
            (name, shard_id): next(reversed(shard.records), 0)
            for name, stream in self.backend(DEFAULT_ACCOUNT_ID, request.region).streams.items()
            for shard_id, shard in stream.shards.items()
        }

    def touched(self, request: Request, before: dict[tuple[str, str], int]) -> list[Entity]:
        if request.action not in {"PutRecord", "PutRecords"}:
            # A change of a stream itself (create, delete, reshard, retention): that stream whole, or gone.
            name = _named(request.body, "StreamName", "StreamARN", "/stream/")
            return self.everything(DEFAULT_ACCOUNT_ID, request.region, name)
        entities: list[Entity] = []
        for name, stream in self.backend(DEFAULT_ACCOUNT_ID, request.region).streams.items():
            generation = str(stream.creation_datetime)
            for shard_id, shard in stream.shards.items():
                last = before.get((name, shard_id), 0)
                added: list[int] = []
                for sequence in reversed(shard.records):
                    if sequence <= last:
                        break
                    added.append(sequence)
                entities.extend(
                    ("kinesis-record", DEFAULT_ACCOUNT_ID, request.region, name, generation, shard_id, str(sequence))
                    for sequence in reversed(added)
                )
        return entities

    def capture(self, entity: Entity) -> Image:
        kind, account, region, name, *rest = entity
        stream = self.backend(account, region).streams.get(name)
        if stream is None:
            return None
        if kind == "kinesis-stream":
            image = copy.copy(stream)
            image.shards = {}
            for shard_id, shard in stream.shards.items():
                empty = copy.copy(shard)
                empty.records = OrderedDict()
                image.shards[shard_id] = empty
            return _dumps(image)
        generation, shard_id, sequence = rest
        if str(stream.creation_datetime) != generation or shard_id not in stream.shards:
            return None
        record = stream.shards[shard_id].records.get(int(sequence))
        return None if record is None else _dumps(record)

    def install(self, images: dict[Entity, bytes]) -> set[Entity]:
        installed: set[Entity] = set()
        streams: dict[tuple[str, str, str], Any] = {}
        for entity, image in images.items():
            if entity[0] == "kinesis-stream":
                _, account, region, name = entity
                stream = pickle.loads(image)  # noqa: S301 - the state directory's own images
                self.backend(account, region).streams[name] = stream
                streams[(account, region, name)] = stream
                installed.add(entity)
        records: dict[tuple[str, str, str, str], list[tuple[int, Any]]] = defaultdict(list)
        for entity, image in images.items():
            if entity[0] != "kinesis-record":
                continue
            _, account, region, name, generation, shard_id, sequence = entity
            stream = streams.get((account, region, name))
            if stream is None or str(stream.creation_datetime) != generation or shard_id not in stream.shards:
                continue
            records[(account, region, name, shard_id)].append((int(sequence), pickle.loads(image)))  # noqa: S301
            installed.add(entity)
        for (account, region, name, shard_id), indexed in records.items():
            shard = streams[(account, region, name)].shards[shard_id]
            shard.records = OrderedDict(sorted(indexed, key=lambda pair: pair[0]))
        return installed

    def everything(self, account: str, region: str, only: str | None = None) -> list[Entity]:
        streams = self.backend(account, region).streams
        if only is not None and only not in streams:
            return [("kinesis-stream", account, region, only)]
        entities: list[Entity] = []
        for name, stream in streams.items():
            if only is not None and name != only:
                continue
            entities.append(("kinesis-stream", account, region, name))
            generation = str(stream.creation_datetime)
            for shard_id, shard in stream.shards.items():
                entities.extend(
                    ("kinesis-record", account, region, name, generation, shard_id, str(sequence))
                    for sequence in shard.records
                )
        return entities


_TARGET_SERVICES = {"AmazonSQS": "sqs", "DynamoDB_20120810": "dynamodb", "DynamoDBStreams_20120810": "dynamodb"}


class DurableState:
    """The journal and checkpoint of a state directory, and the WSGI middleware that keeps them."""

    def __init__(self, directory: Path, *, chunk_bytes: int = CHUNK_BYTES, reserve_bytes: int = RESERVE_BYTES) -> None:
        self.directory = directory
        self._chunk = chunk_bytes
        self._reserve_bytes = reserve_bytes
        self._services: dict[str, Service] = {
            service.name: service for service in (SqsService(), DynamoDbService(), S3Service(), KinesisService())
        }
        self._journal: Journal | None = None

    def restore(self) -> Restored:
        """Put the checkpoint and the journal back into moto, write a new checkpoint, start an empty journal."""
        started = time.perf_counter()
        self.directory.mkdir(parents=True, exist_ok=True)
        checkpoint = self.directory / CHECKPOINT_FILE
        journal = self.directory / JOURNAL_FILE
        images: dict[Entity, bytes] = {}
        checkpoint_bytes = 0
        if checkpoint.exists():
            data = checkpoint.read_bytes()
            checkpoint_bytes = len(data)
            images = pickle.loads(data)  # noqa: S301 - the state directory's own checkpoint
        journal_records = 0
        for entity, image in read_journal(journal):
            journal_records += 1
            if image is None:
                images.pop(entity, None)
            else:
                images[entity] = image
        journal_bytes = _valid_length(journal)
        installed = self._install(images)
        kept = {entity: image for entity, image in images.items() if entity in installed}
        temporary = checkpoint.with_suffix(".tmp")
        temporary.write_bytes(pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL))
        temporary.replace(checkpoint)
        journal.unlink(missing_ok=True)
        self._journal = Journal(journal, chunk_bytes=self._chunk, reserve_bytes=self._reserve_bytes)
        return Restored(len(kept), checkpoint_bytes, journal_bytes, journal_records, time.perf_counter() - started)

    def close(self) -> None:
        """Close the journal (what it holds stays for the next `restore()`)."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def wrap(self, app: WSGIApplication) -> WSGIApplication:
        """moto's app with every change journaled before it is answered."""

        def durable(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            return self._serve(app, environ, start_response)

        return durable

    def _install(self, images: dict[Entity, bytes]) -> set[Entity]:
        installed: set[Entity] = set()
        for service in self._services.values():
            mine = {entity: image for entity, image in images.items() if entity[0] in service.kinds}
            if mine:
                installed |= service.install(mine)
        return installed

    def _serve(self, app: WSGIApplication, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = _request(environ)
        service = self._services.get(request.service) if request is not None else None
        if request is None or service is None or not service.mutating(request):
            return app(environ, start_response)
        journal = self._journal
        if journal is None:
            raise RuntimeError("the state is not restored: call restore() before serving")
        try:
            journal.ensure_room(len(request.raw_body))
        except StateDirectoryFullError as error:
            logger.error("refused %s %s: %s", request.service, request.action, error)
            return _unavailable(start_response, request.service, str(error))
        if isinstance(service, SqsService) and request.action == "ReceiveMessage":
            return self._receive(app, service, request, environ, start_response, journal)
        with service.turn:
            before = service.before(request)
            status, headers, body = _call(app, environ)
            self._write(journal, service, service.touched(request, before))
        start_response(status, headers)
        return [body]

    def _receive(
        self,
        app: WSGIApplication,
        service: SqsService,
        request: Request,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        journal: Journal,
    ) -> Iterable[bytes]:
        """A long poll as attempts that do not wait, each in the service's turn, and waits between them outside it."""
        wait_s = _receive_wait(service, request)
        body = json.dumps({**request.body, "WaitTimeSeconds": 0}).encode()
        deadline = time.monotonic() + wait_s
        while True:
            attempt = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
            with service.turn:
                before = service.fingerprint(request)
                status, headers, answer = _call(app, attempt)
                received = b'"Messages"' in answer
                if received or service.fingerprint(request) != before:
                    self._write(journal, service, service.touched(request, None))
            if received or not status.startswith("200") or time.monotonic() >= deadline:
                start_response(status, headers)
                return [answer]
            queue = service.backend(DEFAULT_ACCOUNT_ID, request.region).queues.get(
                str(request.body.get("QueueUrl", "")).rstrip("/").rpartition("/")[2]
            )
            pause = min(_RECEIVE_POLL_S, max(deadline - time.monotonic(), 0.0))
            if queue is None:
                time.sleep(pause)
            else:
                condition = queue._messages_lock  # moto notifies it when a message is added
                with condition:
                    condition.wait(timeout=pause)

    def _write(self, journal: Journal, service: Service, entities: list[Entity]) -> None:
        journal.append((entity, service.capture(entity)) for entity in dict.fromkeys(entities))


def _call(app: WSGIApplication, environ: WSGIEnvironment) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run the app to the end: the journal writes before anything is sent."""
    answer: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
        answer[:] = [status, headers]
        return lambda _data: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return answer[0], answer[1], body


def _request(environ: WSGIEnvironment) -> Request | None:
    """The service, region and action of a request, with its body read (and put back for moto)."""
    path = environ.get("PATH_INFO", "")
    if path.startswith("/moto-api"):
        return None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = b""
    if length:
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)
    scope = _credential_scope(environ.get("HTTP_AUTHORIZATION", ""))
    region = scope[0] if scope else "us-east-1"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, action = target.partition(".")
        service = _TARGET_SERVICES.get(prefix) or ("kinesis" if prefix.startswith("Kinesis_") else prefix)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        return Request(service, region, action, body if isinstance(body, dict) else {}, raw, path, {})
    service = scope[1] if scope else ""
    if service != "s3":
        return Request(service or "unknown", region, "", {}, raw, path, {})
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    return Request("s3", region, environ.get("REQUEST_METHOD", "GET"), {}, raw, path, query)


def _named(body: dict[str, Any], name_key: str, arn_key: str, marker: str) -> str | None:
    """The resource a request names, by its name or in its ARN (`.../table/<name>`); None when it names none."""
    if body.get(name_key):
        return str(body[name_key])
    arn = str(body.get(arn_key) or "")
    if marker not in arn:
        return None
    return arn.partition(marker)[2].split("/", 1)[0] or None


def _credential_scope(authorization: str) -> tuple[str, str] | None:
    """(region, service) of a SigV4 `Authorization` header."""
    marker = "Credential="
    start = authorization.find(marker)
    if start < 0:
        return None
    credential = authorization[start + len(marker) :].split(",", 1)[0]
    parts = credential.split("/")
    return (parts[2], parts[3]) if len(parts) >= 5 else None


def _deleted_keys(body: bytes) -> list[str]:
    """The keys of a `DeleteObjects` request."""
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - a request from this machine's own clients
    except ElementTree.ParseError:
        return []
    return [element.text or "" for element in root.iter() if element.tag.rpartition("}")[2] == "Key"]


def _receive_wait(service: SqsService, request: Request) -> float:
    if "WaitTimeSeconds" in request.body:
        return float(min(int(request.body["WaitTimeSeconds"]), _MAX_RECEIVE_WAIT_S))
    name = str(request.body.get("QueueUrl", "")).rstrip("/").rpartition("/")[2]
    queue = service.backend(DEFAULT_ACCOUNT_ID, request.region).queues.get(name)
    return float(queue.receive_message_wait_time_seconds) if queue is not None else 0.0


def _unavailable(start_response: StartResponse, service: str, message: str) -> Iterable[bytes]:
    """A 503 in the service's wire format, which boto3 retries."""
    if service == "s3":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ServiceUnavailable</Code>"
            f"<Message>{escape(message)}</Message></Error>"
        ).encode()
        content_type = "application/xml"
    else:
        body = json.dumps({"__type": "ServiceUnavailable", "message": message}).encode()
        content_type = "application/x-amz-json-1.0"
    start_response("503 Service Unavailable", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
