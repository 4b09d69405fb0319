"""Event sources as Lambda meets them: SQS, Kinesis and DynamoDB Streams pollers that batch records, and schedules.

SQS: long-poll, gather up to `BatchSize` within `MaximumBatchingWindowInSeconds`, invoke, then delete what
succeeded. Failed records are left in the queue, so they reappear after the visibility timeout and reach the DLQ
through the queue's own RedrivePolicy (moto applies `maxReceiveCount` on receive, as SQS does).

Kinesis and DynamoDB Streams: one reader per shard processes a batch to completion (retries, bisection, partial
failures, filter criteria) before it reads further, so the checkpoint never passes a record that was not
processed, given up on or skipped by the filters.

Schedule: EventBridge invokes the function asynchronously every interval with a "Scheduled Event" (or the
schedule's `Input`), and an asynchronous invocation that fails is retried twice before it is dropped.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from embedded.emulation.exceptions import FunctionThrottledError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_sqs import SQSClient

    from embedded.emulation.context import Invocable
    from embedded.emulation.filters import EventPattern

logger = logging.getLogger(__name__)

SQS_MAX_RECEIVE = 10
# Short enough that stop() returns promptly; moto long-polls in one-second steps anyway.
POLL_WAIT_S = 1
_WINDOW_POLL_S = 0.05
# How long a stream reader waits before reading again when its last read found nothing new.
_IDLE_POLL_S = 0.2
# A failing stream batch is retried after 0.5 s, then twice as long each time, up to 5 s.
_RETRY_BACKOFF_S = 0.5
_MAX_RETRY_BACKOFF_S = 5.0
# How long a poller waits before invoking again a function whose concurrency was all in use.
_THROTTLE_BACKOFF_S = 0.2
# Lambda's default for asynchronous invocations (MaximumRetryAttempts), which is how EventBridge invokes.
ASYNC_RETRY_ATTEMPTS = 2


@dataclass
class PollerStats:
    """Counters of one event source mapping: `filtered` counts the records its filter criteria skipped, `throttles`
    the invocations its function refused for want of concurrency (tried again, not counted as invocations).
    """

    invocations: int = 0
    records: int = 0
    failures: int = 0
    errors: int = 0
    discarded: int = 0
    filtered: int = 0
    throttles: int = 0
    checkpoints: dict[str, str] = field(default_factory=dict)


class PollerState:
    """What a poller keeps on the state directory across restarts: its shards' checkpoints, its schedule's last run.

    One small JSON file per poller, replaced whole (written beside it, then renamed), so a `kill -9` leaves the
    file before or after a change, never half of one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        """The values last saved; empty when nothing was."""
        try:
            values = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return values if isinstance(values, dict) else {}

    def save(self, values: Mapping[str, Any]) -> None:
        """Replace the saved values."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f"{self.path.name}.tmp")
        temporary.write_text(json.dumps(dict(values), sort_keys=True), encoding="utf-8")
        temporary.replace(self.path)


def _save(name: str, state: PollerState, values: Mapping[str, Any]) -> None:
    """Save a poller's state; a state directory that cannot take it (a full disk) costs a restart's redelivery.

    The reader goes on with the values in memory, which the next save writes again: a checkpoint left behind
    only means that a restart reads some records again, which the functions take idempotently.
    """
    try:
        state.save(values)
    except OSError as error:
        logger.error("%s: could not save %s, kept in memory until the next save: %s", name, state.path.name, error)


class _Poller:
    """A named background thread with counters and a prompt, clean stop."""

    def __init__(self, name: str, function: Invocable) -> None:
        self.name = name
        self.function = function
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stats = PollerStats()

    @property
    def stats(self) -> PollerStats:
        """A copy of the counters."""
        with self._lock:
            return PollerStats(
                invocations=self._stats.invocations,
                records=self._stats.records,
                failures=self._stats.failures,
                errors=self._stats.errors,
                discarded=self._stats.discarded,
                filtered=self._stats.filtered,
                throttles=self._stats.throttles,
                checkpoints=dict(self._stats.checkpoints),
            )

    def stop(self) -> None:
        """Finish the batch in hand, then return."""
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _spawn(self, target: Any, suffix: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"{self.name}-{suffix}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self._stats, name, getattr(self._stats, name) + delta)

    def _invoke(self, event: dict[str, Any]) -> tuple[bool, Any]:
        """(True, result) or (False, None) when the handler raised or timed out, or the poller stopped.

        A throttled invocation is tried again after a pause, as Lambda retries throttles of event sources and of
        asynchronous invocations without spending their retries.
        """
        while not self._stopping.is_set():
            try:
                result = self.function.invoke(event)
            except FunctionThrottledError:
                self._count(throttles=1)
                self._stopping.wait(_THROTTLE_BACKOFF_S)
                continue
            except Exception:
                self._count(invocations=1, errors=1)
                logger.exception("%s: %s failed", self.name, self.function.logical_id)
                return False, None
            self._count(invocations=1)
            return True, result
        return False, None


def failed_item_ids(response: Any, identifiers: set[str]) -> set[str] | None:
    """The identifiers a `ReportBatchItemFailures` response lists, or None when it fails the whole batch.

    As Lambda does: a null or empty response, or a null or empty `batchItemFailures`, is full success; anything
    malformed (an entry without an identifier, an identifier not in the batch) fails every record.
    """
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in identifiers:
            return None
        failed.add(identifier)
    return failed


def sqs_record(message: dict[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """One record of Lambda's SQS event, from a `ReceiveMessage` message."""
    attributes: dict[str, dict[str, Any]] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        shaped: dict[str, Any] = {
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": [base64.b64encode(v).decode("ascii") for v in value.get("BinaryListValues", [])],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            shaped["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            shaped["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        attributes[name] = shaped
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


class SqsPoller(_Poller):
    """Lambda's SQS event source mapping for one queue and one function."""

    def __init__(
        self,
        name: str,
        function: Invocable,
        *,
        sqs: SQSClient,
        queue_url: str,
        queue_arn: str,
        region: str,
        batch_size: int = 10,
        maximum_batching_window_s: float = 0,
        report_batch_item_failures: bool = False,
    ) -> None:
        super().__init__(name, function)
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.batch_size = batch_size
        self.window_s = maximum_batching_window_s
        self.report_batch_item_failures = report_batch_item_failures

    def start(self) -> None:
        """Poll on a background thread until `stop()`."""
        self._spawn(self._run, "poll")

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._gather()
                if batch:
                    self._process(batch)
            except (BotoCoreError, ClientError) as error:
                if self._stopping.is_set():
                    return
                # An error of the queue is retried, as Lambda's poller does: one line, not a traceback.
                logger.warning("%s: polling %s failed, retrying: %s", self.name, self.queue_url, error)
                self._stopping.wait(_RETRY_BACKOFF_S)

    def _receive(self, count: int, wait_s: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(count, SQS_MAX_RECEIVE),
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return [dict(message) for message in response.get("Messages", [])]

    def _gather(self) -> list[dict[str, Any]]:
        first = self._receive(self.batch_size, POLL_WAIT_S)
        if not first:
            return []
        # Keyed by id: a message whose visibility lapsed while gathering comes back with a newer receipt handle.
        batch = {message["MessageId"]: message for message in first}
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.batch_size and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(self.batch_size - len(batch), 0)
            batch.update((message["MessageId"], message) for message in more)
            if not more:
                self._stopping.wait(min(remaining, _WINDOW_POLL_S))
        return list(batch.values())

    def _process(self, messages: list[dict[str, Any]]) -> None:
        records = [sqs_record(m, queue_arn=self.queue_arn, region=self.region) for m in messages]
        self._count(records=len(records))
        succeeded, response = self._invoke({"Records": records})
        if not succeeded:
            done: list[dict[str, Any]] = []
        elif self.report_batch_item_failures:
            failed = failed_item_ids(response, {r["messageId"] for r in records})
            if failed is None:
                logger.error("%s: invalid batchItemFailures response %r; the batch failed", self.name, response)
                done = []
            else:
                done = [r for r in records if r["messageId"] not in failed]
        else:
            done = records
        self._count(failures=len(records) - len(done))
        self._delete(done)

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), SQS_MAX_RECEIVE):
            chunk = records[start : start + SQS_MAX_RECEIVE]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                logger.warning("%s: could not delete a processed message: %s", self.name, failure)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def stream_failure(
    batch_info_key: str, batch_info: dict[str, Any], *, function_arn: str, invocations: int
) -> dict[str, Any]:
    """What Lambda sends an on-failure destination for stream records it gave up on: where they are, not their data.

    `batch_info_key` is `KinesisBatchInfo` or `DDBStreamBatchInfo`, as Lambda names it for the source.
    """
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": invocations,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        batch_info_key: batch_info,
    }


@dataclass
class _ShardProgress:
    """How far one shard's reader is: when it last found nothing new with nothing in hand, and whether it ended."""

    caught_up_at: float = float("-inf")
    ended: bool = False


class _StreamPoller(_Poller):
    """A stream's event source mapping: one reader per shard, each finishing a batch before it reads further.

    A batch is gathered until `BatchSize` records or `MaximumBatchingWindowInSeconds` after its first record,
    then run to completion: retried with a growing backoff while it fails, split in halves on a function error
    with bisection (which spends no retries, as in Lambda), restarted from the lowest failed record on a partial
    failure, and given up after `MaximumRetryAttempts` retries (-1: never), its place sent to the on-failure
    queue. Records no filter pattern matches are skipped. So a shard's checkpoint never passes a record that was
    not processed, given up on or skipped.

    With a `state`, checkpoints are saved there as they move and a restarted reader resumes after its shard's
    checkpoint, as a mapping resumes after a Lambda restart; `StartingPosition` applies to a shard with none.
    """

    # Lambda's names for the records' sequence number and for the batch described to an on-failure destination.
    batch_info_key = ""
    # The most records one GetRecords call may return.
    read_limit = 10_000

    def __init__(
        self,
        name: str,
        function: Invocable,
        *,
        stream_arn: str,
        region: str,
        starting_position: str,
        batch_size: int,
        maximum_batching_window_s: float = 0,
        bisect_batch_on_function_error: bool = False,
        report_batch_item_failures: bool = False,
        maximum_retry_attempts: int = -1,
        on_failure: tuple[SQSClient, str] | None = None,
        filters: Sequence[EventPattern] = (),
        state: PollerState | None = None,
    ) -> None:
        super().__init__(name, function)
        if starting_position not in {"TRIM_HORIZON", "LATEST"}:
            raise ValueError(f"{name}: StartingPosition {starting_position} is not supported locally")
        self.stream_arn = stream_arn
        self.region = region
        self.starting_position = starting_position
        self.batch_size = batch_size
        self.window_s = maximum_batching_window_s
        self.bisect = bisect_batch_on_function_error
        self.report_batch_item_failures = report_batch_item_failures
        self.maximum_retry_attempts = maximum_retry_attempts
        self.on_failure = on_failure
        self.filters = tuple(filters)
        self._progress: dict[str, _ShardProgress] = {}
        self._progressed = threading.Condition(self._lock)
        self._state = state

    def _shards(self) -> list[tuple[str, str | None]]:
        """(shard id, parent shard id or None) of every shard of the stream."""
        raise NotImplementedError

    def _iterator(self, shard_id: str, after: str | None) -> str:
        """A shard iterator after the sequence number `after`, or at the starting position when it is None."""
        raise NotImplementedError

    def _read(self, shard_id: str, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` records as the function receives them, and the next iterator (None: the shard is closed)."""
        raise NotImplementedError

    def sequence(self, record: dict[str, Any]) -> str:
        """The sequence number of a record as the function receives it."""
        raise NotImplementedError

    def _batch_info(self, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Where the given-up records are, as the on-failure destination is told."""
        raise NotImplementedError

    def start(self) -> None:
        """Open an iterator on every shard (so `LATEST` means now) and read each on its own thread.

        A child shard is read once its parent, when the parent is still in the stream, has been read to its end.
        """
        shards = self._shards()
        ended = {shard_id: threading.Event() for shard_id, _ in shards}
        saved = self._state.load() if self._state is not None else {}
        with self._lock:
            self._stats.checkpoints.update({shard: str(sequence) for shard, sequence in saved.items()})
        for shard_id, parent in shards:
            self._progress[shard_id] = _ShardProgress()
            iterator = self._iterator(shard_id, saved.get(shard_id))
            self._spawn(self._read_shard, shard_id, shard_id, iterator, ended.get(parent or ""), ended[shard_id])

    def settle(self, since: float, deadline: float) -> list[str]:
        """Wait until each shard's reader has read to the end of its shard after `since` (monotonic), with every
        record before that processed, given up on or skipped, or until `deadline`; the shards still behind.
        """
        with self._progressed:
            while True:
                behind = [
                    f"{self.name} {shard_id} (checkpoint {self._stats.checkpoints.get(shard_id, 'none')})"
                    for shard_id, progress in self._progress.items()
                    if not progress.ended and progress.caught_up_at < since
                ]
                remaining = deadline - time.monotonic()
                if not behind or remaining <= 0:
                    return behind
                self._progressed.wait(remaining)

    def _mark(self, shard_id: str, *, caught_up_at: float | None = None, ended: bool = False) -> None:
        with self._progressed:
            progress = self._progress[shard_id]
            if caught_up_at is not None:
                progress.caught_up_at = caught_up_at
            progress.ended = progress.ended or ended
            self._progressed.notify_all()

    def _read_shard(
        self, shard_id: str, iterator: str | None, parent: threading.Event | None, ended: threading.Event
    ) -> None:
        try:
            while parent is not None and not parent.wait(_IDLE_POLL_S):
                if self._stopping.is_set():
                    return
            while iterator is not None and not self._stopping.is_set():
                batch, last, iterator = self._gather(shard_id, iterator)
                if batch:
                    self._count(records=len(batch))
                    if not self._process(shard_id, batch):
                        return
                if last is not None:
                    self._checkpoint(shard_id, last)
                elif iterator is not None:
                    self._stopping.wait(_IDLE_POLL_S)
        finally:
            ended.set()
            self._mark(shard_id, ended=True)

    def _gather(self, shard_id: str, iterator: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str | None]:
        """(records for the function, the last record read, the next iterator): one batch, filters applied.

        Returns at once, with nothing, when the first read finds nothing new; that read, begun with nothing in
        hand, is when the shard was last caught up.
        """
        batch: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None
        deadline: float | None = None
        current: str | None = iterator
        while current is not None and not self._stopping.is_set():
            started = time.monotonic()
            try:
                limit = min(self.batch_size - len(batch), self.read_limit)
                records, current_next = self._read(shard_id, current, limit)
            except (BotoCoreError, ClientError) as error:
                if self._stopping.is_set() or batch or last is not None:
                    break
                logger.warning("%s: reading %s failed, retrying: %s", self.name, shard_id, error)
                self._stopping.wait(_RETRY_BACKOFF_S)
                continue
            current = current_next
            if records:
                last = records[-1]
                selected = [r for r in records if not self.filters or any(f.matches(r) for f in self.filters)]
                self._count(filtered=len(records) - len(selected))
                batch += selected
                deadline = started + self.window_s if deadline is None else deadline
            elif last is None:
                self._mark(shard_id, caught_up_at=started)
            if deadline is None or len(batch) >= self.batch_size or time.monotonic() >= deadline:
                break
            if not records:
                self._stopping.wait(min(_WINDOW_POLL_S, max(0.0, deadline - time.monotonic())))
        return batch, last, current

    def _outcome(self, batch: list[dict[str, Any]]) -> int | None:
        """How many leading records of `batch` succeeded, or None when the function errored."""
        succeeded, response = self._invoke({"Records": batch})
        if not succeeded:
            return None
        if not self.report_batch_item_failures:
            return len(batch)
        sequences = [self.sequence(r) for r in batch]
        failed = failed_item_ids(response, set(sequences))
        if failed is None:
            logger.error("%s: invalid batchItemFailures response %r; the batch failed", self.name, response)
            return None
        return min((sequences.index(s) for s in failed), default=len(batch))

    def _send_failure(self, shard_id: str, records: list[dict[str, Any]], retries: int) -> None:
        if self.on_failure is None:
            return
        sqs, queue_url = self.on_failure
        failure = stream_failure(
            self.batch_info_key,
            self._batch_info(shard_id, records),
            function_arn=self.function.arn,
            invocations=retries + 1,
        )
        while not self._stopping.is_set():
            try:
                sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(failure))
                return
            except (BotoCoreError, ClientError):
                logger.exception("%s: sending the failure record of %s to %s failed", self.name, shard_id, queue_url)
                self._stopping.wait(_RETRY_BACKOFF_S)

    def _checkpoint(self, shard_id: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._stats.checkpoints[shard_id] = self.sequence(record)
            checkpoints = dict(self._stats.checkpoints)
        if self._state is not None:
            _save(self.name, self._state, checkpoints)

    def _process(self, shard_id: str, records: list[dict[str, Any]]) -> bool:
        """Run one batch to completion; False when stopped before it was."""
        # Each segment is (records in order, retries used); bisection does not spend retries, as in Lambda.
        segments: deque[tuple[list[dict[str, Any]], int]] = deque([(records, 0)])
        while segments:
            if self._stopping.is_set():
                return False
            batch, retries = segments.popleft()
            succeeded = self._outcome(batch)
            if succeeded == len(batch):
                self._checkpoint(shard_id, batch[-1])
                continue
            if succeeded is None and self.bisect and len(batch) > 1:
                middle = len(batch) // 2
                segments.extendleft([(batch[middle:], retries), (batch[:middle], retries)])
                continue
            done = succeeded or 0
            if done:
                self._checkpoint(shard_id, batch[done - 1])
            remaining = batch[done:]
            self._count(failures=len(remaining))
            if 0 <= self.maximum_retry_attempts <= retries:
                logger.error(
                    "%s: giving up on %d records of %s after %d retries", self.name, len(remaining), shard_id, retries
                )
                self._count(discarded=len(remaining))
                self._send_failure(shard_id, remaining, retries)
                self._checkpoint(shard_id, batch[-1])
                continue
            segments.appendleft((remaining, retries + 1))
            self._stopping.wait(min(_RETRY_BACKOFF_S * 2**retries, _MAX_RETRY_BACKOFF_S))
        return True


def kinesis_record(
    record: dict[str, Any], *, shard_id: str, stream_arn: str, region: str, function_arn: str
) -> dict[str, Any]:
    """One record of Lambda's Kinesis event, from a `GetRecords` record."""
    sequence = record["SequenceNumber"]
    account = stream_arn.split(":")[4]
    function_name = function_arn.rsplit(":", 1)[-1]
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": sequence,
            "data": base64.b64encode(record["Data"]).decode("ascii"),
            "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{account}:role/{function_name}-role",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


class KinesisPoller(_StreamPoller):
    """Lambda's Kinesis event source mapping for one stream and one function: a reader per shard."""

    batch_info_key = "KinesisBatchInfo"

    def __init__(
        self,
        name: str,
        function: Invocable,
        *,
        kinesis: KinesisClient,
        stream_name: str,
        stream_arn: str,
        region: str,
        starting_position: str,
        batch_size: int = 100,
        maximum_batching_window_s: float = 0,
        bisect_batch_on_function_error: bool = False,
        report_batch_item_failures: bool = False,
        maximum_retry_attempts: int = -1,
        on_failure: tuple[SQSClient, str] | None = None,
        state: PollerState | None = None,
    ) -> None:
        super().__init__(
            name,
            function,
            stream_arn=stream_arn,
            region=region,
            starting_position=starting_position,
            batch_size=batch_size,
            maximum_batching_window_s=maximum_batching_window_s,
            bisect_batch_on_function_error=bisect_batch_on_function_error,
            report_batch_item_failures=report_batch_item_failures,
            maximum_retry_attempts=maximum_retry_attempts,
            on_failure=on_failure,
            state=state,
        )
        self.kinesis = kinesis
        self.stream_name = stream_name

    def _shards(self) -> list[tuple[str, str | None]]:
        shards = self.kinesis.list_shards(StreamName=self.stream_name)["Shards"]
        return [(shard["ShardId"], shard.get("ParentShardId")) for shard in shards]

    def _iterator(self, shard_id: str, after: str | None) -> str:
        if after is None:
            response = self.kinesis.get_shard_iterator(
                StreamName=self.stream_name, ShardId=shard_id, ShardIteratorType=self.starting_position
            )
        else:
            response = self.kinesis.get_shard_iterator(
                StreamName=self.stream_name,
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                StartingSequenceNumber=after,
            )
        iterator: str = response["ShardIterator"]
        return iterator

    def _read(self, shard_id: str, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        response = self.kinesis.get_records(ShardIterator=iterator, Limit=limit)
        records = [
            kinesis_record(
                r, shard_id=shard_id, stream_arn=self.stream_arn, region=self.region, function_arn=self.function.arn
            )
            for r in response["Records"]
        ]
        return records, response.get("NextShardIterator")

    def sequence(self, record: dict[str, Any]) -> str:
        return str(record["kinesis"]["sequenceNumber"])

    def _batch_info(self, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        first, last = records[0]["kinesis"], records[-1]["kinesis"]
        return {
            "shardId": shard_id,
            "startSequenceNumber": first["sequenceNumber"],
            "endSequenceNumber": last["sequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(float(first["approximateArrivalTimestamp"])),
            "approximateArrivalOfLastRecord": _iso(float(last["approximateArrivalTimestamp"])),
            "batchSize": len(records),
            "streamArn": self.stream_arn,
        }


def _attribute_json(value: Any) -> Any:
    """A DynamoDB attribute value as it travels in JSON: binary values in base64, nested ones alike."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: _attribute_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_attribute_json(item) for item in value]
    return value


def dynamodb_record(record: dict[str, Any], *, stream_arn: str, region: str) -> dict[str, Any]:
    """One record of Lambda's DynamoDB Streams event, from a `GetRecords` record of the `dynamodbstreams` client."""
    change = record["dynamodb"]
    shaped: dict[str, Any] = {
        # Seconds since the epoch, as DynamoDB Streams rounds it and Lambda passes it on.
        "ApproximateCreationDateTime": int(change["ApproximateCreationDateTime"].timestamp()),
        "Keys": _attribute_json(change["Keys"]),
    }
    for image in ("NewImage", "OldImage"):
        if image in change:
            shaped[image] = _attribute_json(change[image])
    shaped.update(
        SequenceNumber=change["SequenceNumber"], SizeBytes=change["SizeBytes"], StreamViewType=change["StreamViewType"]
    )
    shaped_record = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record["eventVersion"],
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": shaped,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:
        shaped_record["userIdentity"] = dict(record["userIdentity"])
    return shaped_record


class DynamoDBStreamPoller(_StreamPoller):
    """Lambda's DynamoDB Streams event source mapping for one table's stream and one function: a reader per shard.

    The shards are those of the stream when the stack starts (moto keeps one open shard per table).
    """

    batch_info_key = "DDBStreamBatchInfo"
    read_limit = 1_000

    def __init__(
        self,
        name: str,
        function: Invocable,
        *,
        streams: DynamoDBStreamsClient,
        stream_arn: str,
        region: str,
        starting_position: str,
        batch_size: int = 100,
        maximum_batching_window_s: float = 0,
        bisect_batch_on_function_error: bool = False,
        report_batch_item_failures: bool = False,
        maximum_retry_attempts: int = -1,
        on_failure: tuple[SQSClient, str] | None = None,
        filters: Sequence[EventPattern] = (),
        state: PollerState | None = None,
    ) -> None:
        super().__init__(
            name,
            function,
            stream_arn=stream_arn,
            region=region,
            starting_position=starting_position,
            batch_size=batch_size,
            maximum_batching_window_s=maximum_batching_window_s,
            bisect_batch_on_function_error=bisect_batch_on_function_error,
            report_batch_item_failures=report_batch_item_failures,
            maximum_retry_attempts=maximum_retry_attempts,
            on_failure=on_failure,
            filters=filters,
            state=state,
        )
        self.streams = streams

    def _shards(self) -> list[tuple[str, str | None]]:
        shards: list[tuple[str, str | None]] = []
        request: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self.streams.describe_stream(**request)["StreamDescription"]
            shards += [(shard["ShardId"], shard.get("ParentShardId")) for shard in description["Shards"]]
            if "LastEvaluatedShardId" not in description:
                return shards
            request["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]

    def _iterator(self, shard_id: str, after: str | None) -> str:
        if after is None:
            response = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=self.starting_position
            )
        else:
            response = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=after,
            )
        iterator: str = response["ShardIterator"]
        return iterator

    def _read(self, shard_id: str, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        response = self.streams.get_records(ShardIterator=iterator, Limit=limit)
        records = [dynamodb_record(r, stream_arn=self.stream_arn, region=self.region) for r in response["Records"]]
        return records, response.get("NextShardIterator")

    def sequence(self, record: dict[str, Any]) -> str:
        return str(record["dynamodb"]["SequenceNumber"])

    def _batch_info(self, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        return {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(float(first["ApproximateCreationDateTime"])),
            "approximateArrivalOfLastRecord": _iso(float(last["ApproximateCreationDateTime"])),
            "batchSize": len(records),
            "streamArn": self.stream_arn,
        }


def scheduled_event(arn: str) -> dict[str, Any]:
    """The event a schedule sends when it has no `Input`, for an EventBridge rule's or Scheduler schedule's ARN.

    A rule sends `source: aws.events` and an empty `detail` object; EventBridge Scheduler sends
    `source: aws.scheduler` and `detail` as the text `"{}"`.
    """
    _, _, service, region, account, _ = arn.split(":", 5)
    scheduler = service == "scheduler"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler" if scheduler else "aws.events",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [arn],
        "detail": "{}" if scheduler else {},
    }


@dataclass(frozen=True)
class Schedule:
    """One schedule as EventBridge runs it: the ARN of its rule (or Scheduler schedule), its interval, its `Input`."""

    arn: str
    interval_s: float
    input_json: str | None = None

    def event(self) -> Any:
        """What each run sends: the `Input` JSON, parsed afresh, else a new scheduled event."""
        if self.input_json is not None:
            return json.loads(self.input_json)
        return scheduled_event(self.arn)


class SchedulePoller(_Poller):
    """EventBridge firing one schedule at one function: the first run one interval after `start()`.

    A single thread cannot overlap runs as EventBridge does, so the slots that pass while a run (and its retries)
    is in hand are skipped rather than fired late in a burst. With a `state`, each run's start time is saved there,
    and after a restart the next run is due one interval after the last one (at once if that has passed).
    """

    def __init__(self, name: str, function: Invocable, *, schedule: Schedule, state: PollerState | None = None) -> None:
        super().__init__(name, function)
        if schedule.interval_s <= 0:
            raise ValueError(f"{name}: a schedule interval must be positive, got {schedule.interval_s}")
        self.schedule = schedule
        self._state = state

    def start(self) -> None:
        """Fire on a background thread until `stop()`."""
        self._spawn(self._run, "schedule")

    def _run(self) -> None:
        interval = self.schedule.interval_s
        last_run = self._state.load().get("last_run") if self._state is not None else None
        wait_s = interval if last_run is None else max(0.0, float(last_run) + interval - time.time())
        due = time.monotonic() + wait_s
        while not self._stopping.wait(max(0.0, due - time.monotonic())):
            if self._state is not None:
                _save(self.name, self._state, {"last_run": time.time()})
            self._fire()
            now = time.monotonic()
            while due <= now:
                due += interval

    def _fire(self) -> None:
        """One run: invoke, retry with the same event as Lambda retries an asynchronous invocation, then drop it."""
        event = self.schedule.event()
        self._count(records=1)
        for attempt in range(ASYNC_RETRY_ATTEMPTS + 1):
            if attempt and self._stopping.wait(_RETRY_BACKOFF_S):
                return
            succeeded, _ = self._invoke(event)
            if succeeded or self._stopping.is_set():
                return
        logger.error("%s: dropping a scheduled run after %d retries", self.name, ASYNC_RETRY_ATTEMPTS)
        self._count(discarded=1)
