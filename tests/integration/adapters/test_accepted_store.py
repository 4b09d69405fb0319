"""The accepted store and the traffic table on DynamoDB, against moto's server with real boto3 clients.

Tables are created with the key schema and stream `template.yaml` declares, so the tests cannot drift from the
stack; the change stream is read back to show what the audit writer receives.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

from contracts.audit.v1 import AuditEvent
from contracts.decision.v1 import DecisionResponse, ModelRef, Override
from contracts.governance.v1 import RecordedOutcome
from contracts.model.v1 import StopState
from embedded.emulation.aws import LocalEndpoint, local_session
from leaim.adapters.dynamodb_audit import (
    AcceptedStoreUnavailableError,
    DynamoAcceptedStore,
    DynamoAuditLog,
    DynamoDecisions,
    PoisonBundleError,
    parse_bundle,
)
from leaim.adapters.dynamodb_traffic import DynamoTrafficPlans
from leaim.adapters.sql import SqlAuditLog, create_engine_for, create_schema
from leaim.adapters.sql.oversight import AcceptedFirstOversight, SqlOversight
from leaim.bootstrap.runtime import ACCEPT_CONFIG
from leaim.exceptions import AuditWriteError, DuplicateDecisionError, RecordExistsError
from leaim.governance.audit.chain import DECISION_SHA256, decision_sha256
from leaim.serving.ports import ActiveModel, TrafficPlan
from tests.support.accepted import accepted_table, client, template_table

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REGION = "us-east-1"
WHEN = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def accepted(endpoint: LocalEndpoint) -> tuple[str, Any]:
    return accepted_table(endpoint)


def event(event_id: str, **fields: Any) -> AuditEvent:
    return AuditEvent.model_validate(
        {
            "event_id": event_id,
            "occurred_at": WHEN,
            "source": "DecisionApiFunction",
            "action": "decision.create",
            "outcome": "success",
            "invocation_id": f"inv-{event_id}",
            "trace_id": "0" * 32,
            "duration_ms": 3.5,
            **fields,
        }
    )


def decision(decision_id: str, request_id: str = "r-1") -> DecisionResponse:
    return DecisionResponse(
        decision_id=decision_id,
        request_id=request_id,
        use_case="card_fraud",
        outcome="review",
        score=0.61,
        reasons=[],
        model=ModelRef(name="card-fraud", version="v1", artifact_digest="a" * 64),
        fallback=False,
        fallback_reason=None,
        review_required=True,
        trace_id="0" * 32,
        decided_at=WHEN,
        latency_ms=4.2,
    )


def stolen_card(decision_id: str = "d-1") -> Override:
    """A reviewer's decline of a decision in review."""
    return Override(
        review_id=decision_id,
        original_outcome="review",
        outcome="decline",
        justification="card reported stolen",
        reviewer="ana",
        reviewed_at=WHEN,
        event_id="e-override",
    )


def chargeback() -> RecordedOutcome:
    """The ground truth of decision d-1: it was fraud."""
    return RecordedOutcome(
        decision_id="d-1",
        use_case="card_fraud",
        label=True,
        observed_at=WHEN,
        source="chargeback",
        reported_by="ops",
        recorded_at=WHEN,
        model=None,
        score=0.61,
        outcome="review",
    )


def stream_images(dynamodb: Any, endpoint: LocalEndpoint, table: str) -> list[dict[str, Any]]:
    """Every NewImage on the table's change stream so far, in order."""
    streams = client(endpoint, "dynamodbstreams")
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    images: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        images.extend(
            record["dynamodb"]["NewImage"] for record in streams.get_records(ShardIterator=iterator)["Records"]
        )
    return images


def test_a_decision_is_accepted_with_its_events_in_one_bundle_bound_to_its_row(
    accepted: tuple[str, Any], endpoint: LocalEndpoint
) -> None:
    table, dynamodb = accepted
    log = DynamoAuditLog(table, dynamodb, clock=time.time)
    worker = event("e-worker", source="worker:leaim-inference", action="worker.inference")

    log.record_decision(decision("d-1"), {"amount": 12.5}, event("e-1"), [worker], features={"amount": 12.5})

    bundles = [
        parse_bundle(image) for image in stream_images(dynamodb, endpoint, table) if image["kind"]["S"] != "request"
    ]
    assert [(bundle.pk, bundle.kind, bundle.event_ids) for bundle in bundles] == [
        ("decision#d-1", "decision", ("e-1", "e-worker"))
    ]
    row = bundles[0].row
    assert row is not None
    assert row["inputs"] == {"amount": 12.5}
    assert row["features"] == {"amount": 12.5}
    # The hash the decision's event records is the hash of the row as the bundle carries it.
    assert bundles[0].events[0]["details"][DECISION_SHA256] == decision_sha256(row)


def test_a_request_id_is_decided_once_and_read_back_with_its_inputs(accepted: tuple[str, Any]) -> None:
    table, dynamodb = accepted
    log = DynamoAuditLog(table, dynamodb, clock=time.time)
    decisions = DynamoDecisions(table, dynamodb)
    log.record_decision(decision("d-1"), {"amount": 12.5}, event("e-1"))

    with pytest.raises(DuplicateDecisionError) as raised:
        log.record_decision(decision("d-2"), {"amount": 99.0}, event("e-2"))

    assert raised.value.decision.decision_id == "d-1"
    prior = decisions.by_request("card_fraud", "r-1")
    assert prior is not None
    assert (prior.response.decision_id, prior.inputs) == ("d-1", {"amount": 12.5})
    assert decisions.by_request("card_fraud", "r-2") is None
    assert decisions.get("d-2") is None
    # The losing write left nothing behind: neither its bundle nor its event.
    assert [bundle.pk for bundle in DynamoAcceptedStore(table, dynamodb, clock=time.time).bundles()] == ["decision#d-1"]


def test_an_override_and_an_outcome_are_accepted_once_each(accepted: tuple[str, Any]) -> None:
    table, dynamodb = accepted
    log = DynamoAuditLog(table, dynamodb, clock=time.time)
    decisions = DynamoDecisions(table, dynamodb)
    override = stolen_card()
    log.record_override(override, "card_fraud", event("e-override", action="review.override"))
    with pytest.raises(RecordExistsError):
        log.record_override(override, "card_fraud", event("e-override-2", action="review.override"))
    outcome = chargeback()
    log.record_outcome(outcome, event("e-outcome", action="outcome.record"))
    with pytest.raises(RecordExistsError):
        log.record_outcome(outcome, event("e-outcome-2", action="outcome.record"))

    assert decisions.override_of("d-1") == override
    assert decisions.override_of("d-2") is None
    kinds = sorted(
        (bundle.kind, bundle.event_ids) for bundle in DynamoAcceptedStore(table, dynamodb, clock=time.time).bundles()
    )
    assert kinds == [("outcome", ("e-outcome",)), ("override", ("e-override",))]


def test_many_events_too_large_for_one_item_are_accepted_together(accepted: tuple[str, Any]) -> None:
    table, dynamodb = accepted
    log = DynamoAuditLog(table, dynamodb, clock=time.time)
    events = [event(f"e-{index:03d}", details={"note": "x" * 20_000}) for index in range(40)]

    log.append_many(events)

    bundles = list(DynamoAcceptedStore(table, dynamodb, clock=time.time).bundles())
    assert len(bundles) > 1
    assert sorted(event_id for bundle in bundles for event_id in bundle.event_ids) == [e.event_id for e in events]


def test_an_event_no_store_can_hold_is_refused_before_anything_is_written(accepted: tuple[str, Any]) -> None:
    table, dynamodb = accepted
    log = DynamoAuditLog(table, dynamodb, clock=time.time)

    with pytest.raises(AuditWriteError, match="e-nan"):
        log.append(event("e-nan", details={"score": float("nan")}))

    assert list(DynamoAcceptedStore(table, dynamodb, clock=time.time).bundles()) == []


def test_an_unreachable_store_is_an_audit_write_error_and_a_read_error() -> None:
    dynamodb = local_session(REGION).client("dynamodb", endpoint_url="http://127.0.0.1:9")
    log = DynamoAuditLog("accepted", dynamodb, clock=time.time)

    with pytest.raises(AuditWriteError, match="not stored"):
        log.record_decision(decision("d-1"), {}, event("e-1"))
    with pytest.raises(AcceptedStoreUnavailableError):
        DynamoDecisions("accepted", dynamodb).get("d-1")


class LoseAnswers:
    """Sends the first `times` calls of `operation` to the server for real, then raises the read timeout a slow
    answer gives: the write lands, its caller sees an error, and botocore's retry sends it again."""

    def __init__(self, dynamodb: Any, operation: str, times: int = 1) -> None:
        self.left = times
        self._session = URLLib3Session()
        dynamodb.meta.events.register(f"before-send.dynamodb.{operation}", self)

    def __call__(self, request: Any, **_: Any) -> None:
        if self.left == 0:
            return
        self.left -= 1
        self._session.send(request)
        raise ReadTimeoutError(endpoint_url=request.url)


def retrying_client(endpoint: LocalEndpoint) -> Any:
    return local_session(REGION).client("dynamodb", endpoint_url=endpoint.url, config=ACCEPT_CONFIG)


@pytest.mark.parametrize("events", [1, 40], ids=["one item", "a transaction"])
def test_events_whose_write_landed_but_whose_answer_was_lost_are_accepted_once(
    accepted: tuple[str, Any], endpoint: LocalEndpoint, events: int
) -> None:
    table, _ = accepted
    dynamodb = retrying_client(endpoint)
    lost = LoseAnswers(dynamodb, "TransactWriteItems" if events > 1 else "PutItem")
    log = DynamoAuditLog(table, dynamodb, clock=time.time)
    written = [event(f"e-{index:03d}", details={"note": "x" * 20_000}) for index in range(events)]

    log.append_many(written)

    assert lost.left == 0
    bundles = list(DynamoAcceptedStore(table, dynamodb, clock=time.time).bundles())
    assert sorted(event_id for bundle in bundles for event_id in bundle.event_ids) == [e.event_id for e in written]


def test_a_decision_override_and_outcome_whose_answers_were_lost_are_accepted_once(
    accepted: tuple[str, Any], endpoint: LocalEndpoint
) -> None:
    table, _ = accepted
    dynamodb = retrying_client(endpoint)
    LoseAnswers(dynamodb, "TransactWriteItems")
    LoseAnswers(dynamodb, "PutItem", times=2)
    log = DynamoAuditLog(table, dynamodb, clock=time.time)
    override = stolen_card()
    outcome = chargeback()

    log.record_decision(decision("d-1"), {"amount": 12.5}, event("e-1"))
    log.record_override(override, "card_fraud", event("e-override", action="review.override"))
    log.record_outcome(outcome, event("e-outcome", action="outcome.record"))

    kinds = sorted(
        (bundle.kind, bundle.event_ids) for bundle in DynamoAcceptedStore(table, dynamodb, clock=time.time).bundles()
    )
    assert kinds == [("decision", ("e-1",)), ("outcome", ("e-outcome",)), ("override", ("e-override",))]
    # Another write of the same records is still refused: only the write's own events count as landed.
    with pytest.raises(DuplicateDecisionError):
        log.record_decision(decision("d-2"), {"amount": 99.0}, event("e-2"))
    with pytest.raises(RecordExistsError):
        log.record_override(override, "card_fraud", event("e-override-2", action="review.override"))


def test_a_set_aside_bundle_keeps_its_reason_and_an_unreadable_one_says_why(accepted: tuple[str, Any]) -> None:
    table, dynamodb = accepted
    log = DynamoAuditLog(table, dynamodb, clock=time.time)
    store = DynamoAcceptedStore(table, dynamodb, clock=time.time)
    log.append(event("e-1"))
    dynamodb.put_item(
        TableName=table,
        Item={
            "pk": {"S": "events#broken"},
            "kind": {"S": "events"},
            "events": {"S": "{not json"},
            "accepted_at": {"N": "1"},
        },
    )

    store.set_aside("events#e-1", "refused by the database: value too long")

    by_pk = {bundle.pk: bundle for bundle in store.bundles()}
    assert by_pk["events#e-1"].set_aside == "refused by the database: value too long"
    assert by_pk["events#e-1"].event_ids == ("e-1",)
    assert by_pk["events#broken"].events == ()
    assert (by_pk["events#broken"].set_aside or "").startswith("unreadable: ")
    with pytest.raises(AuditWriteError):
        store.set_aside("events#missing", "no such bundle")


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ({"pk": {"S": "x"}, "kind": {"S": "request"}}, "of kind 'request'"),
        (
            {"pk": {"S": "x"}, "kind": {"S": "events"}, "events": {"S": "[]"}, "accepted_at": {"N": "1"}},
            "no list of events",
        ),
        (
            {"pk": {"S": "x"}, "kind": {"S": "events"}, "events": {"S": "[{}]"}, "accepted_at": {"N": "1"}},
            "without an event_id",
        ),
        (
            {
                "pk": {"S": "x"},
                "kind": {"S": "decision"},
                "events": {"S": json.dumps([{"event_id": "e"}])},
                "accepted_at": {"N": "1"},
            },
            "has no row",
        ),
        ({"pk": {"S": "x"}, "kind": {"S": "events"}, "events": {"S": "[]"}}, "no accepted_at"),
        (
            {
                "pk": {"S": "x"},
                "kind": {"S": "events"},
                "events": {"S": '[{"event_id": "e", "duration_ms": NaN}]'},
                "accepted_at": {"N": "1"},
            },
            "does not hold JSON",
        ),
    ],
)
def test_an_item_that_is_not_a_bundle_is_poison_with_its_reason(image: dict[str, Any], reason: str) -> None:
    with pytest.raises(PoisonBundleError, match=reason):
        parse_bundle(image)


def test_traffic_plans_are_published_by_revision_and_read_back(endpoint: LocalEndpoint) -> None:
    table, dynamodb = template_table(endpoint, "TrafficTable")
    plans = DynamoTrafficPlans(table, dynamodb)
    v1 = ActiveModel(name="card-fraud", version="v1", artifact_digest="a" * 64, feature_names=("amount",))
    v2 = ActiveModel(name="card-fraud", version="v2", artifact_digest="b" * 64, feature_names=("amount",))
    assert plans.plan("card_fraud") is None

    plans.publish("card_fraud", TrafficPlan(champion=v1, challenger=v2, policy="canary", canary_percent=10.0), 2)
    plans.publish("card_fraud", TrafficPlan(champion=v1, challenger=None, policy=None, canary_percent=0.0), 1)

    # Revision 1 arrived late: it does not replace revision 2.
    assert plans.plan("card_fraud") == TrafficPlan(champion=v1, challenger=v2, policy="canary", canary_percent=10.0)
    plans.publish("card_fraud", TrafficPlan(champion=v2, challenger=None, policy=None, canary_percent=0.0), 3)
    assert plans.plan("card_fraud") == TrafficPlan(champion=v2, challenger=None, policy=None, canary_percent=0.0)


def test_the_stop_switch_shares_the_plan_item_and_survives_every_publication(endpoint: LocalEndpoint) -> None:
    table, dynamodb = template_table(endpoint, "TrafficTable")
    plans = DynamoTrafficPlans(table, dynamodb)
    v1 = ActiveModel(name="card-fraud", version="v1", artifact_digest="a" * 64, feature_names=("amount",))
    assert plans.stop_state("card_fraud") is None
    stopped = StopState.model_validate(
        {
            "use_case": "card_fraud",
            "stopped": True,
            "mode": "review",
            "reason": "bias alert",
            "changed_by": "risk-owner",
            "changed_at": WHEN,
        }
    )
    # Stopped before its first champion: there is still no plan to route by.
    plans.set_stop(stopped)
    assert plans.plan("card_fraud") is None
    plans.publish("card_fraud", TrafficPlan(champion=v1, challenger=None, policy=None, canary_percent=0.0), 1)
    plans.publish("card_fraud", TrafficPlan(champion=v1, challenger=None, policy=None, canary_percent=0.0), 1)
    assert plans.stop_state("card_fraud") == stopped
    assert plans.plan("card_fraud") == TrafficPlan(champion=v1, challenger=None, policy=None, canary_percent=0.0)
    resumed = StopState(use_case="card_fraud", stopped=False, reason="reviewed", changed_by="ml-lead", changed_at=WHEN)
    plans.set_stop(resumed)
    assert plans.stop_state("card_fraud") == resumed
    assert plans.plan("card_fraud") is not None


def test_a_decision_is_read_back_with_its_override_and_ground_truth_in_one_call(accepted: tuple[str, Any]) -> None:
    table, dynamodb = accepted
    log = DynamoAuditLog(table, dynamodb, clock=time.time)
    decisions = DynamoDecisions(table, dynamodb)
    log.record_decision(decision("d-1"), {"amount": 12.5}, event("e-1"), features={"amount": 12.5})
    before = decisions.stored("d-1")
    assert before is not None
    assert (before.response.decision_id, before.override, before.label) == ("d-1", None, None)
    override = stolen_card()
    log.record_override(override, "card_fraud", event("e-override", action="review.override"))

    after = decisions.stored("d-1")

    assert after is not None
    assert (after.override, after.final_outcome, after.inputs, after.features) == (
        override,
        "decline",
        {"amount": 12.5},
        {"amount": 12.5},
    )
    assert decisions.stored("d-unknown") is None


def test_a_decision_is_read_back_with_what_it_was_made_from_for_a_replay(accepted: tuple[str, Any]) -> None:
    table, dynamodb = accepted
    log = DynamoAuditLog(table, dynamodb, clock=time.time)
    decisions = DynamoDecisions(table, dynamodb)
    online = {"avg_amount_30d": 60.0, "home_country": "DE"}
    made = event("e-1", decision_id="d-1", principal="checkout", details={"online": online, "policy_version": 1})
    worker = event("e-worker", source="worker:leaim-inference", action="worker.inference", decision_id="d-1")
    log.record_decision(
        decision("d-1"), {"amount": 12.5}, made, [worker], features={"amount_to_avg": 0.2, "night": 0.0}
    )
    log.record_decision(decision("d-2", "r-2"), {"amount": 3.0}, event("e-2", decision_id="d-2"))

    found = decisions.recorded("d-1")
    without = decisions.recorded("d-2")

    assert found is not None and without is not None
    assert (found.response, found.inputs, found.online, found.made_by) == (
        decision("d-1"),
        {"amount": 12.5},
        online,
        "checkout",
    )
    # The stored vector keeps the order the model took its features in.
    assert list((found.features or {}).items()) == [("amount_to_avg", 0.2), ("night", 0.0)]
    assert (without.online, without.features, without.made_by) == (None, None, None)
    assert decisions.recorded("d-unknown") is None


def test_the_review_queue_drops_a_decision_as_soon_as_its_override_is_accepted(
    accepted: tuple[str, Any], tmp_path: Path
) -> None:
    table, dynamodb = accepted
    engine = create_engine_for(f"sqlite:///{tmp_path / 'audit.db'}")
    create_schema(engine)
    chained = SqlAuditLog(engine)
    made = [decision(f"d-{index}", request_id=f"r-{index}") for index in range(3)]
    for index, each in enumerate(made):
        chained.record_decision(each, {"amount": 12.5}, event(f"e-{index}", decision_id=each.decision_id))
    override = stolen_card("d-0")
    # Accepted, not yet chained: the audit writer has not moved it into SQL.
    DynamoAuditLog(table, dynamodb, clock=time.time).record_override(
        override, "card_fraud", event("e-override", action="review.override")
    )
    oversight = AcceptedFirstOversight(engine, DynamoDecisions(table, dynamodb))

    queue = oversight.pending_reviews(["card_fraud"], after=None, limit=2)

    assert [stored.response.decision_id for stored in queue] == ["d-1", "d-2"]
    assert SqlOversight(engine).override_of("d-0") is None
    assert oversight.override_of("d-0") == override
    stored = oversight.decision("d-0")
    assert stored is not None
    assert stored.final_outcome == "decline"
