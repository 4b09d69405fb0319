"""The accepted store on DynamoDB: decisions and audit events accepted in one atomic, conditional write each.

Every write is one bundle item (`AcceptedBundle`: the events and the decision, override or outcome they record),
which the table's change stream brings to the audit writer. A decision's write is one `TransactWriteItems` of
its request key (`request#<use case>#<request id>`, the idempotency record, which also holds the answer and the
inputs) and its bundle, both conditional on not existing: a request id is decided once, and a retry reads the
first answer back with one `GetItem`. Nothing here imports SQL: the decision functions run on this alone.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic_core import from_json

from contracts.decision.v1 import DecisionResponse, Override
from leaim.exceptions import AuditWriteError, DependencyUnavailableError, DuplicateDecisionError, RecordExistsError
from leaim.governance.audit.accepted import BUNDLE_KINDS, AcceptedBundle
from leaim.governance.audit.chain import DECISION_SHA256, decision_sha256
from leaim.governance.audit.events import DECISION_ACTION
from leaim.governance.audit.records import (
    check_duration,
    decision_values,
    json_document,
    outcome_values,
    override_values,
)
from leaim.governance.oversight.ports import StoredDecision
from leaim.orchestration.ports import MadeDecision, PriorDecision, RecordedDecision

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from contracts.audit.v1 import AuditEvent
    from contracts.governance.v1 import RecordedOutcome
    from leaim.governance.audit.accepted import BundleKind
    from leaim.governance.audit.retention import PurgePlan

KEY = "pk"
# DynamoDB refuses items over 400 KB; bundles of plain events are split below that, and written in one transaction.
MAX_BUNDLE_BYTES = 350_000
# A transaction holds at most 100 items, and one BatchGetItem reads at most 100 keys.
MAX_TRANSACTION_ITEMS = 100
MAX_BATCH_GET = 100
_NOT_EXISTS = f"attribute_not_exists({KEY})"


class AcceptedStoreUnavailableError(DependencyUnavailableError):
    """The accepted store did not answer a read."""

    code = "dependency_unavailable"
    status = 503


class PoisonBundleError(ValueError):
    """An accepted item that is not a readable bundle; the message says why."""


def decision_key(decision_id: str) -> str:
    """The key of a decision's bundle."""
    return f"decision#{decision_id}"


def request_key(use_case: str, request_id: str) -> str:
    """The key of the idempotency record of a caller's request id."""
    return f"request#{use_case}#{request_id}"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=_plain, allow_nan=False)


def event_document(event: AuditEvent) -> dict[str, Any]:
    """An event's JSON form, as a bundle carries it; AuditWriteError when a store could not hold it."""
    check_duration(event)
    document = event.model_dump(mode="json")
    if event.details:
        document["details"] = json_document(event.details, f"details of audit event {event.event_id!r}")
    return document


def bundle_item(
    pk: str, kind: BundleKind, events: Sequence[AuditEvent], row: Mapping[str, Any] | None, accepted_at: float
) -> dict[str, Any]:
    """The DynamoDB item of one bundle."""
    return _item(pk, kind, [_dumps(event_document(event)) for event in events], row, accepted_at)


def _item(
    pk: str, kind: BundleKind, events: Sequence[str], row: Mapping[str, Any] | None, accepted_at: float
) -> dict[str, Any]:
    """The item of a bundle whose events are already in their JSON text, one each."""
    item: dict[str, Any] = {
        KEY: {"S": pk},
        "kind": {"S": kind},
        "events": {"S": f"[{','.join(events)}]"},
        "accepted_at": {"N": repr(accepted_at)},
    }
    if row is not None:
        item["row"] = {"S": _dumps(dict(row))}
    return item


def _string(image: Mapping[str, Any], name: str) -> str:
    value = image.get(name)
    if not isinstance(value, dict) or not isinstance(value.get("S"), str):
        raise PoisonBundleError(f"attribute {name!r} is missing or not a string")
    return str(value["S"])


def parse_bundle(image: Mapping[str, Any]) -> AcceptedBundle:
    """A bundle from its item (a change stream's NewImage, or a read), typed attributes as DynamoDB gives them.

    PoisonBundleError names what is wrong with an item that is not a bundle.
    """
    pk = _string(image, KEY)
    kind = _string(image, "kind")
    if kind not in BUNDLE_KINDS:
        raise PoisonBundleError(f"item {pk!r} is of kind {kind!r}, not one of {list(BUNDLE_KINDS)}")
    accepted = image.get("accepted_at")
    try:
        accepted_at = float(accepted["N"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError) as error:
        raise PoisonBundleError(f"item {pk!r} has no accepted_at time") from error
    if not math.isfinite(accepted_at):
        raise PoisonBundleError(f"item {pk!r} has no accepted_at time")
    try:
        # pydantic-core's parser: twice as fast as json's, and it refuses NaN, which no store can hold.
        events = from_json(_string(image, "events"), allow_inf_nan=False)
        row = from_json(image["row"]["S"], allow_inf_nan=False) if "row" in image else None
    except (ValueError, KeyError, TypeError) as error:
        raise PoisonBundleError(f"item {pk!r} does not hold JSON: {error}") from error
    if not isinstance(events, list) or not events or not all(isinstance(event, dict) for event in events):
        raise PoisonBundleError(f"item {pk!r} holds no list of events")
    if not all(isinstance(event.get("event_id"), str) for event in events):
        raise PoisonBundleError(f"item {pk!r} holds an event without an event_id")
    if (kind == "events") != (row is None) or (row is not None and not isinstance(row, dict)):
        raise PoisonBundleError(f"item {pk!r} of kind {kind!r} has {'no' if row is None else 'a'} row")
    set_aside = image.get("set_aside", {}).get("S")
    return AcceptedBundle(
        pk=pk,
        kind=kind,
        events=tuple(events),
        row=row,
        accepted_at=accepted_at,
        set_aside=set_aside,
    )


def _cancellation_codes(error: ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "")) for reason in reasons]


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _condition_failed(error: ClientError) -> bool:
    """Whether a write was refused because its (first) item exists already."""
    code = _error_code(error)
    if code == "ConditionalCheckFailedException":
        return True
    return code == "TransactionCanceledException" and _cancellation_codes(error)[:1] == ["ConditionalCheckFailed"]


class DynamoAuditLog:
    """`AuditLog` on the accepted store: each write one conditional put or transaction, durable on return.

    The events reach the hash chains through the table's change stream and the audit writer.
    """

    def __init__(self, table_name: str, client: Any, *, clock: Callable[[], float]) -> None:
        self._table = table_name
        self._client = client
        self._now = clock

    def append(self, event: AuditEvent) -> None:
        """Accept one event durably or raise AuditWriteError."""
        self.append_many([event])

    def append_many(self, events: Iterable[AuditEvent]) -> None:
        """Accept several events in one write (one transaction when they fill more than one item): all or none."""
        events = list(events)
        if not events:
            return
        accepted_at = self._now()
        # Each event is serialized once: its text both sizes the parts and fills them.
        texts = [_dumps(event_document(event)) for event in events]
        items = [
            _item(f"events#{events[start].event_id}", "events", texts[start:end], None, accepted_at)
            for start, end in _parts([len(text) for text in texts])
        ]
        what = f"audit events {_ids(events)}"
        if len(items) > MAX_TRANSACTION_ITEMS:
            raise AuditWriteError(f"{what} were not stored: {len(items)} items do not fit in one transaction")
        try:
            if len(items) == 1:
                self._client.put_item(TableName=self._table, Item=items[0], ConditionExpression=_NOT_EXISTS)
            else:
                self._client.transact_write_items(TransactItems=[self._put(item) for item in items])
        except ClientError as error:
            # Each item is named after a fresh event id, so a condition can only fail on this write itself: a
            # retried call whose first attempt landed but whose answer was lost. All items land or none do.
            if _condition_failed(error) and self._landed(items[0], what):
                return
            raise AuditWriteError(f"{what} were not stored: {_error_code(error)}") from error
        except BotoCoreError as error:
            raise AuditWriteError(f"{what} were not stored: {type(error).__name__}") from error

    def record_decision(
        self,
        decision: DecisionResponse,
        inputs: Mapping[str, object],
        event: AuditEvent,
        related: Sequence[AuditEvent] = (),
        *,
        features: Mapping[str, float] | None = None,
    ) -> None:
        """Accept a decision, its (already minimized) inputs, its event and `related` ones in one transaction.

        The decision's event records the sha256 of the decision row, binding the row to the hash chain. Raises
        DuplicateDecisionError, carrying the first decision, when the request id was decided already, and
        AuditWriteError when anything else stops the write; either way nothing is kept.
        """
        row = decision_values(decision, inputs, features, datetime.fromtimestamp(self._now(), UTC))
        bound = event.model_copy(update={"details": {**event.details, DECISION_SHA256: decision_sha256(row)}})
        bundle = bundle_item(decision_key(decision.decision_id), "decision", (bound, *related), row, self._now())
        request = {
            KEY: {"S": request_key(decision.use_case, decision.request_id)},
            "kind": {"S": "request"},
            "decision_id": {"S": decision.decision_id},
            "inputs": {"S": _dumps(row["inputs"])},
            "response": {"S": _dumps(row["response"])},
        }
        what = f"decision {decision.decision_id!r} and audit event {event.event_id!r}"
        try:
            self._client.transact_write_items(TransactItems=[self._put(request), self._put(bundle)])
        except ClientError as error:
            if _condition_failed(error):
                prior = self._prior(decision.use_case, decision.request_id, what)
                if prior is not None and prior.response.decision_id == decision.decision_id:
                    # This very write, retried after its first attempt landed and its answer was lost.
                    return
                if prior is not None:
                    raise DuplicateDecisionError(prior.response) from error
            raise AuditWriteError(f"{what} were not stored: {_error_code(error)}") from error
        except BotoCoreError as error:
            raise AuditWriteError(f"{what} were not stored: {type(error).__name__}") from error

    def record_override(self, override: Override, use_case: str, event: AuditEvent) -> None:
        """Accept a reviewer's override and its audit event in one conditional write.

        RecordExistsError when the decision has an override already, AuditWriteError when anything else stops
        the write; either way nothing is kept.
        """
        row = override_values(override, use_case)
        self._put_once(f"override#{override.review_id}", "override", event, row, f"override of {override.review_id!r}")

    def record_outcome(self, outcome: RecordedOutcome, event: AuditEvent) -> None:
        """Accept a decision's ground truth and its audit event in one conditional write.

        RecordExistsError when the decision has an outcome already, AuditWriteError when anything else stops
        the write; either way nothing is kept.
        """
        row = outcome_values(outcome)
        what = f"outcome of decision {outcome.decision_id!r}"
        self._put_once(f"outcome#{outcome.decision_id}", "outcome", event, row, what)

    def _put_once(self, pk: str, kind: BundleKind, event: AuditEvent, row: Mapping[str, Any], what: str) -> None:
        item = bundle_item(pk, kind, [event], row, self._now())
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression=_NOT_EXISTS)
        except ClientError as error:
            if _condition_failed(error):
                if self._landed(item, f"the {what}"):
                    return
                raise RecordExistsError(f"the {what} is stored already; nothing was stored") from error
            raise AuditWriteError(f"the {what} and audit event {event.event_id!r} were not stored") from error
        except BotoCoreError as error:
            raise AuditWriteError(f"the {what} and audit event {event.event_id!r} were not stored") from error

    def _landed(self, item: Mapping[str, Any], what: str) -> bool:
        """Whether the table holds `item`'s events under its key: a write that landed though its caller saw an error.

        Only an item holding the same events text is this write's: an event id is fresh, so no other write holds it.
        """
        try:
            answer = self._client.get_item(TableName=self._table, Key={KEY: item[KEY]}, ConsistentRead=True)
        except (BotoCoreError, ClientError) as error:
            reason = f"{what} may not be stored, and could not be read back: {type(error).__name__}"
            raise AuditWriteError(reason) from error
        stored = answer.get("Item")
        return stored is not None and stored.get("events") == item["events"]

    def _put(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": _NOT_EXISTS}}

    def _prior(self, use_case: str, request_id: str, what: str) -> PriorDecision | None:
        try:
            return DynamoDecisions(self._table, self._client).by_request(use_case, request_id)
        except AcceptedStoreUnavailableError as error:
            raise AuditWriteError(f"{what} were not stored and the conflicting decision could not be read") from error


def _parts(sizes: list[int]) -> Iterator[tuple[int, int]]:
    """The (start, end) index ranges of consecutive parts whose JSON stays under the item size limit."""
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if index > start and total + size > MAX_BUNDLE_BYTES:
            yield start, index
            start, total = index, 0
        total += size
    if sizes:
        yield start, len(sizes)


def _ids(events: Sequence[AuditEvent]) -> str:
    shown = ", ".join(repr(event.event_id) for event in events[:3])
    return shown if len(events) <= 3 else f"{shown} and {len(events) - 3} more"


class DynamoDecisions:
    """`DecisionStore`, `OverrideReader` and `DecisionRecords` on the accepted store: strongly consistent reads of
    accepted items."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def get(self, decision_id: str) -> MadeDecision | None:
        """An accepted decision as it was answered, and who made it; or None."""
        item = self._item(decision_key(decision_id), f"decision {decision_id!r}")
        if item is None:
            return None
        row = json.loads(item["row"]["S"])
        return MadeDecision(DecisionResponse.model_validate(row["response"]), made_by(item))

    def by_request(self, use_case: str, request_id: str) -> PriorDecision | None:
        """The decision already made for this request id of `use_case`, with its inputs, or None."""
        item = self._item(request_key(use_case, request_id), f"decision for request {request_id!r}")
        if item is None:
            return None
        return PriorDecision(
            response=DecisionResponse.model_validate_json(item["response"]["S"]),
            inputs=json.loads(item["inputs"]["S"]),
        )

    def recorded(self, decision_id: str) -> RecordedDecision | None:
        """An accepted decision with its inputs and model features (its row) and the online features its event
        recorded, read from its bundle; or None."""
        item = self._item(decision_key(decision_id), f"decision {decision_id!r}")
        if item is None:
            return None
        row = json.loads(item["row"]["S"])
        event = _decision_event(item)
        online = None if event is None else (event.get("details") or {}).get("online")
        return RecordedDecision(
            response=DecisionResponse.model_validate(row["response"]),
            inputs=row["inputs"],
            online=online if isinstance(online, dict) else None,
            features=row["features"],
            made_by=made_by(item),
        )

    def override_of(self, decision_id: str) -> Override | None:
        """A reviewer's accepted override of a decision, or None."""
        row = self._row(f"override#{decision_id}", f"override of {decision_id!r}")
        return None if row is None else _override(row)

    def stored(self, decision_id: str) -> StoredDecision | None:
        """An accepted decision with its accepted override and ground truth, read together; or None."""
        keys = [{KEY: {"S": f"{kind}#{decision_id}"}} for kind in ("decision", "override", "outcome")]
        try:
            answer = self._client.batch_get_item(RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}})
        except (BotoCoreError, ClientError) as error:
            what = f"decision {decision_id!r} could not be read: {type(error).__name__}"
            raise AcceptedStoreUnavailableError(what) from error
        if answer.get("UnprocessedKeys"):
            raise AcceptedStoreUnavailableError(f"decision {decision_id!r} could not be read: throttled")
        items = {item["kind"]["S"]: item for item in answer["Responses"].get(self._table, [])}
        rows = {kind: json.loads(item["row"]["S"]) for kind, item in items.items()}
        decision = rows.get("decision")
        if decision is None:
            return None
        override, outcome = rows.get("override"), rows.get("outcome")
        return StoredDecision(
            response=DecisionResponse.model_validate(decision["response"]),
            inputs=decision["inputs"],
            features=decision["features"],
            override=None if override is None else _override(override),
            label=None if outcome is None else bool(outcome["label"]),
            made_by=made_by(items["decision"]),
        )

    def overridden(self, decision_ids: Sequence[str]) -> set[str]:
        """Which of `decision_ids` have an accepted override."""
        found: set[str] = set()
        for start in range(0, len(decision_ids), MAX_BATCH_GET):
            keys = [
                {KEY: {"S": f"override#{decision_id}"}} for decision_id in decision_ids[start : start + MAX_BATCH_GET]
            ]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": KEY}}
            while request:
                try:
                    answer = self._client.batch_get_item(RequestItems=request)
                except (BotoCoreError, ClientError) as error:
                    what = f"overrides could not be read: {type(error).__name__}"
                    raise AcceptedStoreUnavailableError(what) from error
                found.update(item[KEY]["S"].partition("#")[2] for item in answer["Responses"].get(self._table, []))
                request = answer.get("UnprocessedKeys") or {}
        return found

    def outcome_row(self, decision_id: str) -> dict[str, Any] | None:
        """The accepted ground truth of a decision as its row, or None."""
        return self._row(f"outcome#{decision_id}", f"outcome of {decision_id!r}")

    def _row(self, pk: str, what: str) -> dict[str, Any] | None:
        item = self._item(pk, what)
        if item is None:
            return None
        row: dict[str, Any] = json.loads(item["row"]["S"])
        return row

    def _item(self, pk: str, what: str) -> dict[str, Any] | None:
        try:
            answer = self._client.get_item(TableName=self._table, Key={KEY: {"S": pk}}, ConsistentRead=True)
        except (BotoCoreError, ClientError) as error:
            raise AcceptedStoreUnavailableError(f"{what} could not be read: {type(error).__name__}") from error
        item: dict[str, Any] | None = answer.get("Item")
        return item


def made_by(item: Mapping[str, Any]) -> str | None:
    """The principal on the decision event of a decision's bundle: who made the decision."""
    event = _decision_event(item)
    principal = None if event is None else event.get("principal")
    return None if principal is None else str(principal)


def _decision_event(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The decision's own event in its bundle (the others are its worker calls), as JSON; None if it has none."""
    for event in json.loads(item["events"]["S"]):
        if event.get("decision_id") and event.get("action") == DECISION_ACTION:
            found: dict[str, Any] = event
            return found
    return None


def _override(row: Mapping[str, Any]) -> Override:
    return Override(
        review_id=row["decision_id"],
        original_outcome=row["original_outcome"],
        outcome=row["outcome"],
        justification=row["justification"],
        reviewer=row["reviewer"],
        reviewed_at=row["reviewed_at"],
        event_id=row["event_id"],
    )


class DynamoAcceptedStore:
    """`AcceptedStore` on DynamoDB: what the audit writer sets aside, and every bundle for reconciliation."""

    def __init__(self, table_name: str, client: Any, *, clock: Callable[[], float]) -> None:
        self._table = table_name
        self._client = client
        self._now = clock

    def set_aside(self, pk: str, reason: str) -> None:
        """Mark the bundle `pk` as given up on, with the reason; AuditWriteError when the store refuses."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={KEY: {"S": pk}},
                UpdateExpression="SET set_aside = :reason, set_aside_at = :at",
                ConditionExpression=f"attribute_exists({KEY})",
                ExpressionAttributeValues={":reason": {"S": reason}, ":at": {"N": repr(self._now())}},
            )
        except (BotoCoreError, ClientError) as error:
            raise AuditWriteError(f"accepted item {pk!r} could not be set aside: {type(error).__name__}") from error

    def forget(self, plan: PurgePlan, chained: Callable[[Sequence[str]], set[str]]) -> int:
        """Delete the accepted copies of the removed decisions (with their overrides, outcomes and request keys) and
        the event bundles whose events are all removed, and remove the parts of redacted decisions; a decision whose
        events are not all chained yet is left. The count of items deleted or rewritten."""
        count = 0
        for decision_id in plan.decisions:
            bundle = self._bundle(decision_key(decision_id))
            if bundle is not None and len(chained(bundle.event_ids)) < len(bundle.event_ids):
                continue
            use_case, request_id = plan.requests[decision_id]
            keys = (decision_key(decision_id), f"override#{decision_id}", f"outcome#{decision_id}")
            count += sum(self._delete(key) for key in (*keys, request_key(use_case, request_id)))
        for redaction in plan.redactions:
            count += self._redact(redaction.content)
        removed = {link.event_id for link in plan.links}
        if removed:
            for bundle in self.bundles():
                if bundle.kind == "events" and bundle.events and set(bundle.event_ids) <= removed:
                    count += self._delete(bundle.pk)
        return count

    def _bundle(self, pk: str) -> AcceptedBundle | None:
        """The bundle at `pk`, or None."""
        try:
            answer = self._client.get_item(TableName=self._table, Key={KEY: {"S": pk}}, ConsistentRead=True)
        except (BotoCoreError, ClientError) as error:
            raise AcceptedStoreUnavailableError(f"{pk!r} could not be read: {type(error).__name__}") from error
        item = answer.get("Item")
        return None if item is None else _readable(item)

    def _delete(self, pk: str) -> int:
        """Delete the item at `pk`: 1 if there was one."""
        try:
            answer = self._client.delete_item(TableName=self._table, Key={KEY: {"S": pk}}, ReturnValues="ALL_OLD")
        except (BotoCoreError, ClientError) as error:
            raise AcceptedStoreUnavailableError(f"{pk!r} could not be deleted: {type(error).__name__}") from error
        return int(bool(answer.get("Attributes")))

    def _redact(self, content: Mapping[str, Any]) -> int:
        """Rewrite a decision's accepted row and request key with `content`'s inputs, features and answer."""
        decision_id = str(content["decision_id"])
        try:
            answer = self._client.get_item(
                TableName=self._table, Key={KEY: {"S": decision_key(decision_id)}}, ConsistentRead=True
            )
        except (BotoCoreError, ClientError) as error:
            what = f"decision {decision_id!r} could not be read: {type(error).__name__}"
            raise AcceptedStoreUnavailableError(what) from error
        item = answer.get("Item")
        if item is None:
            return 0
        row = json.loads(item["row"]["S"])
        row.update(inputs=content["inputs"], features=content["features"], response=content["response"])
        writes = [
            (decision_key(decision_id), "SET #row = :row", {"#row": "row"}, {":row": {"S": _dumps(row)}}),
            (
                request_key(str(content["use_case"]), str(content["request_id"])),
                "SET #response = :response, #inputs = :inputs",
                {"#response": "response", "#inputs": "inputs"},
                {":response": {"S": _dumps(content["response"])}, ":inputs": {"S": _dumps(content["inputs"])}},
            ),
        ]
        count = 0
        for pk, expression, names, values in writes:
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={KEY: {"S": pk}},
                    UpdateExpression=expression,
                    ConditionExpression=f"attribute_exists({KEY})",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
                count += 1
            except ClientError as error:
                if not _condition_failed(error):
                    raise AcceptedStoreUnavailableError(
                        f"{pk!r} could not be rewritten: {_error_code(error)}"
                    ) from error
            except BotoCoreError as error:
                raise AcceptedStoreUnavailableError(f"{pk!r} could not be rewritten: {type(error).__name__}") from error
        return count

    def bundles(self) -> Iterator[AcceptedBundle]:
        """Every bundle, read consistently; one that does not parse comes with no events and why, as set aside."""
        kinds = {f":k{index}": {"S": kind} for index, kind in enumerate(BUNDLE_KINDS)}
        pages = self._client.get_paginator("scan").paginate(
            TableName=self._table,
            ConsistentRead=True,
            FilterExpression=f"kind IN ({', '.join(kinds)})",
            ExpressionAttributeValues=kinds,
        )
        try:
            for page in pages:
                for item in page.get("Items", []):
                    yield _readable(item)
        except (BotoCoreError, ClientError) as error:
            what = f"the accepted store could not be read: {type(error).__name__}"
            raise AcceptedStoreUnavailableError(what) from error


def _readable(item: Mapping[str, Any]) -> AcceptedBundle:
    try:
        return parse_bundle(item)
    except PoisonBundleError as error:
        accepted = item.get("accepted_at", {}).get("N", "0")
        kind = item.get("kind", {}).get("S")
        return AcceptedBundle(
            pk=str(item.get(KEY, {}).get("S", "")),
            kind=kind if kind in BUNDLE_KINDS else "events",
            events=(),
            row=None,
            accepted_at=float(accepted),
            set_aside=item.get("set_aside", {}).get("S") or f"unreadable: {error}",
        )
