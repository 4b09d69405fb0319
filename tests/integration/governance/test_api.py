"""The governance API over decisions really made and stored: outcomes, reviews and overrides, explanations,
audit search and export, usage and coverage; each call answered as a user relies on and audited once."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from contracts.governance.v1 import Alert
from contracts.model.v1 import RetrainingRequest
from leaim.adapters.sql.intake import SqlAuditIntake
from leaim.adapters.sql.jobs import SqlTrainingJobStore
from leaim.governance.access.gate import Invocation
from tests.integration.governance.harness import MODEL, USE_CASE, GovernanceBench, transaction
from tests.support.accepted import bundle, events_item
from tests.support.openapi import document

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy import Engine

    from tests.integration.governance.harness import Reply

# Daytime, card present, an ordinary amount: below the review band. At night: inside it.
APPROVED = {"hour_of_day": 14, "card_present": True, "amount": 50.0, "merchant_category": "grocery", "country": "DE"}
IN_REVIEW = {**APPROVED, "hour_of_day": 2}


@pytest.fixture
def bench(engine: Engine, tmp_path: Path) -> GovernanceBench:
    built = GovernanceBench(engine, tmp_path)
    built.publish_champion()
    return built


def invocation(key: str) -> Invocation:
    return Invocation(invocation_id=uuid.uuid4().hex, headers={"x-api-key": key})


def decided(bench: GovernanceBench, **inputs: object) -> dict[str, Any]:
    return bench.decide({**transaction(random.Random(1)), **inputs})


def outcome(bench: GovernanceBench, decision_id: str, body: object, key: str = "client-key") -> Reply:
    raw = json.dumps(body).encode()
    return bench.call(lambda inv: bench.api.record_outcome(decision_id, raw, inv), key)


def override(bench: GovernanceBench, review_id: str, body: object, key: str = "reviewer-key") -> Reply:
    raw = json.dumps(body).encode()
    return bench.call(lambda inv: bench.api.override(review_id, raw, inv), key)


def search(bench: GovernanceBench, key: str = "auditor-key", **query: str) -> Reply:
    return bench.call(lambda inv: bench.api.audit_events(query, inv), key)


def test_an_outcome_is_joined_to_its_decision_once(bench: GovernanceBench) -> None:
    decision = decided(bench, **APPROVED)
    first = outcome(bench, decision["decision_id"], {"label": False, "source": "chargebacks"})
    again = outcome(bench, decision["decision_id"], {"label": False, "source": "chargebacks"})
    other = outcome(bench, decision["decision_id"], {"label": True, "source": "chargebacks"})

    assert first.status == 201
    assert first.body["label"] is False
    assert first.body["model"]["version"] == "v1"
    assert first.body["score"] == decision["score"]
    assert first.body["reported_by"] == "checkout-service"
    assert (first.event.action, first.event.decision_id, first.event.use_case) == (
        "decision.outcome",
        decision["decision_id"],
        USE_CASE,
    )
    assert again.status == 200
    assert again.body["recorded_at"] == first.body["recorded_at"]
    assert other.status == 409
    assert other.body["error"] == "outcome_conflict"
    assert "label=False" in other.body["message"]
    assert (other.event.outcome, other.event.status_code) == ("rejected", 409)


def test_an_outcome_for_an_unknown_decision_or_a_bad_body_is_refused(bench: GovernanceBench) -> None:
    decision = decided(bench, **APPROVED)

    unknown = outcome(bench, "no-such-decision", {"label": True})
    bad = outcome(bench, decision["decision_id"], {"label": "maybe"})
    reviewer = outcome(bench, decision["decision_id"], {"label": True}, key="reviewer-key")

    assert unknown.status == 404
    assert "no-such-decision" in unknown.body["message"]
    assert bad.status == 422
    assert [field["field"] for field in bad.body["fields"]] == ["label"]
    assert reviewer.status == 403
    assert (reviewer.event.outcome, reviewer.event.principal) == ("rejected", "risk-analyst")


def test_a_reviewer_overrides_a_decision_in_the_review_band_and_the_decision_reads_final(
    bench: GovernanceBench,
) -> None:
    decision = decided(bench, **IN_REVIEW)
    assert (decision["outcome"], decision["review_required"]) == ("review", True)

    pending = bench.call(lambda inv: bench.api.list_reviews({}, inv), "reviewer-key")
    assert [review["review_id"] for review in pending.body["reviews"]] == [decision["decision_id"]]
    assert pending.body["reviews"][0]["inputs"]["hour_of_day"] == 2

    body = {"outcome": "approved", "justification": "Cardholder confirmed the purchase by phone."}
    answer = override(bench, decision["decision_id"], body)

    assert answer.status == 201
    assert answer.body["status"] == "resolved"
    assert answer.body["override"]["original_outcome"] == "review"
    assert answer.body["override"]["outcome"] == "approved"
    assert answer.body["override"]["event_id"] == answer.event.event_id
    # The override's event is linked to the decision it overrides, and says what changed and why.
    assert (answer.event.action, answer.event.decision_id, answer.event.principal) == (
        "review.override",
        decision["decision_id"],
        "risk-analyst",
    )
    assert answer.event.details["original_outcome"] == "review"
    assert answer.event.details["justification"] == body["justification"]
    trail = search(bench, decision_id=decision["decision_id"])
    actions = [record["event"]["action"] for record in trail.body["records"]]
    assert {"decision.create", "review.override"} <= set(actions)

    read = bench.call(
        lambda inv: bench.decision_api.read(decision["decision_id"], inv), "client-key", "DecisionApiFunction"
    )
    assert read.body["outcome"] == "approved"
    assert read.body["override"]["reviewer"] == "risk-analyst"
    assert read.body["score"] == decision["score"]
    left = bench.call(lambda inv: bench.api.list_reviews({}, inv), "reviewer-key")
    assert left.body["reviews"] == []


def test_an_override_is_refused_to_other_roles_and_given_once(bench: GovernanceBench) -> None:
    decision = decided(bench, **IN_REVIEW)
    body = {"outcome": "declined", "justification": "Card reported stolen this morning."}

    forbidden = [override(bench, decision["decision_id"], body, key=key) for key in ("client-key", "auditor-key")]
    listing = bench.call(lambda inv: bench.api.list_reviews({}, inv), "ml-key")
    unknown_outcome = override(bench, decision["decision_id"], {**body, "outcome": "maybe"})
    short = override(bench, decision["decision_id"], {**body, "justification": "no"})
    first = override(bench, decision["decision_id"], body)
    retry = override(bench, decision["decision_id"], body)
    second = override(bench, decision["decision_id"], {**body, "outcome": "approved"})

    assert [reply.status for reply in forbidden] == [403, 403]
    assert "decisions:review" in forbidden[0].body["message"]
    assert listing.status == 403
    assert unknown_outcome.status == 422
    assert unknown_outcome.body["fields"][0]["field"] == "outcome"
    assert short.status == 422
    assert [field["field"] for field in short.body["fields"]] == ["justification"]
    assert first.status == 201
    assert retry.status == 200
    assert retry.body["override"]["event_id"] == first.event.event_id
    assert second.status == 409
    assert second.body["error"] == "review_closed"


def test_only_decisions_sent_to_review_can_be_overridden(bench: GovernanceBench) -> None:
    decision = decided(bench, **APPROVED)
    assert decision["review_required"] is False

    answer = override(bench, decision["decision_id"], {"outcome": "declined", "justification": "Looks odd to me."})

    assert answer.status == 404
    assert decision["decision_id"] in answer.body["message"]


def test_an_explanation_returns_the_reasons_as_stored_at_decision_time(bench: GovernanceBench) -> None:
    decision = decided(bench, **IN_REVIEW)

    answer = bench.call(lambda inv: bench.api.explanation(decision["decision_id"], inv), "auditor-key")
    missing = bench.call(lambda inv: bench.api.explanation("nope", inv), "auditor-key")

    assert answer.status == 200
    assert answer.body["reasons"] == decision["reasons"]
    contributions = [reason for reason in answer.body["reasons"] if reason["kind"] == "feature"]
    assert contributions and all(reason["contribution"] is not None for reason in contributions)
    assert answer.body["features"]["night"] == 1.0
    assert answer.body["threshold"] == 0.4
    assert answer.body["model"]["version"] == "v1"
    assert missing.status == 404


def test_the_auditor_searches_and_exports_the_trail(bench: GovernanceBench) -> None:
    decisions = [decided(bench, **APPROVED) for _ in range(3)]
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()

    page = search(bench, action="decision.create", limit="2", since=since)
    rest = search(bench, action="decision.create", since=since, cursor=page.body["next_cursor"])
    jsonl = search(bench, format="jsonl", principal="checkout-service", action="decision.create")
    table = search(bench, format="csv", model_version="v1", action="decision.create")
    by_id = search(bench, decision_id=decisions[1]["decision_id"])

    ids = [record["event"]["decision_id"] for record in page.body["records"] + rest.body["records"]]
    assert ids == [decision["decision_id"] for decision in decisions]
    assert page.event.action == "audit.search"
    lines = [json.loads(line) for line in (jsonl.text or "").splitlines()]
    assert [line["event"]["decision_id"] for line in lines] == ids
    assert all(line["chain"]["hash"] for line in lines)
    rows = list(csv.DictReader(io.StringIO(table.text or "")))
    assert [row["decision_id"] for row in rows] == ids
    assert rows[0]["event_hash"] and json.loads(rows[0]["details"])["outcome"] == "approved"
    assert {record["event"]["decision_id"] for record in by_id.body["records"]} == {decisions[1]["decision_id"]}


def test_the_trail_is_for_auditors_and_bad_filters_are_named(bench: GovernanceBench) -> None:
    refused = search(bench, key="client-key")
    bad_time = search(bench, since="yesterday")
    bad_format = search(bench, format="xml")

    assert refused.status == 403
    assert bad_time.status == 422
    assert bad_time.body["fields"][0]["field"] == "query.since"
    assert bad_format.status == 422
    assert bad_format.body["fields"][0]["field"] == "query.format"


def test_usage_counts_decisions_per_version_and_principal_with_their_rates(bench: GovernanceBench) -> None:
    decisions = [decided(bench, **APPROVED) for _ in range(3)] + [decided(bench, **IN_REVIEW) for _ in range(2)]
    override(bench, decisions[3]["decision_id"], {"outcome": "approved", "justification": "Known traveller, fine."})

    answer = bench.call(lambda inv: bench.api.usage({}, inv), "auditor-key")

    [row] = answer.body["rows"]
    assert (row["use_case"], row["model_version"], row["principal"], row["decisions"]) == (
        USE_CASE,
        "v1",
        "checkout-service",
        5,
    )
    assert row["review_rate"] == pytest.approx(2 / 5)
    assert row["override_rate"] == pytest.approx(1 / 2)
    assert row["fallback_rate"] == 0.0
    assert 0.0 < row["latency_p50_ms"] <= row["latency_p95_ms"] <= row["latency_p99_ms"]


def test_coverage_measures_audited_invocations_explained_decisions_and_governed_versions(
    bench: GovernanceBench,
) -> None:
    for _ in range(3):
        decided(bench, **APPROVED)
    full = bench.call(lambda inv: bench.api.coverage({}, inv), "auditor-key")
    # An invocation the platform counted but that stored no event, and a version whose manifest was altered.
    bench.ledger.record("IngestApiFunction", "lost-invocation", datetime.now(UTC))
    altered = bench.signer.sign(
        bench.registry.get("card-fraud", "v1").manifest.model_copy(update={"model_version": "v2"})
    )
    bench.registry.publish(altered.model_copy(update={"signature": altered.signature[::-1]}))
    bench.registry.set_champion(USE_CASE, "card-fraud", "v2", actor="tester")
    partial = bench.call(lambda inv: bench.api.coverage({}, inv), "auditor-key")

    assert full.status == 200
    assert full.body["audit_coverage"] == 1.0
    assert full.body["invocations"] == full.body["invocations_audited"] >= 3
    assert full.body["explanation_coverage"] == 1.0
    assert (full.body["live_versions"], full.body["version_coverage"]) == (1, 1.0)
    assert full.body["coverage_ratio"] == 1.0
    [evidence] = full.body["evidence"]
    statuses = {item["anchor"]: item["status"] for item in evidence["items"]}
    assert evidence["use_case"] == USE_CASE
    assert statuses["EU AI Act Art. 12"] == statuses["EU AI Act Art. 15"] == statuses["EU AI Act Art. 86"] == "evidence"
    # The monitor has not run in this window; the reference declares its retention.
    assert statuses["NIST AI RMF: Measure"] == "gap"
    assert statuses["EU AI Act Art. 19, 26"] == "evidence"
    assert partial.body["audit_coverage"] < 1.0
    assert partial.body["unaudited_invocations"] == ["IngestApiFunction:lost-invocation"]
    assert partial.body["version_coverage"] == 0.0
    assert "signature does not verify" in partial.body["ungoverned_versions"][0]
    items = {item["anchor"]: item for item in partial.body["evidence"][0]["items"]}
    assert items["EU AI Act Art. 12"]["gaps"] == ["1 invocations of the window have no audit event"]
    assert items["EU AI Act Art. 15"]["gaps"] == ["the champion has a manifest whose signature does not verify"]
    refused = bench.call(lambda inv: bench.api.coverage({}, inv), "ml-key")
    assert refused.status == 403


def test_coverage_reports_how_long_accepted_events_waited_for_their_chain(bench: GovernanceBench) -> None:
    empty = bench.call(lambda inv: bench.api.coverage({}, inv), "auditor-key")
    now = time.time()
    intake = SqlAuditIntake(bench.engine, clock=lambda: now)
    for waited in (0.2, 0.4, 3.0):
        intake.store([bundle(events_item(accepted_at=now - waited)), bundle(events_item(accepted_at=now))])
    report = bench.call(lambda inv: bench.api.coverage({}, inv), "auditor-key")

    assert empty.body["audit_lag"] == {
        "batches": 0,
        "events": 0,
        "lag_p50_s": None,
        "lag_p99_s": None,
        "lag_max_s": None,
    }
    lag = report.body["audit_lag"]
    assert (lag["batches"], lag["events"]) == (3, 6)
    assert lag["lag_p50_s"] == pytest.approx(0.4)
    assert lag["lag_p99_s"] == lag["lag_max_s"] == pytest.approx(3.0)


def trained(bench: GovernanceBench, version: str, hours_ago: float) -> None:
    """A succeeded training job of `version`, created `hours_ago`."""
    created = datetime.now(UTC) - timedelta(hours=hours_ago)
    job = bench.retrain(USE_CASE, RetrainingRequest(reason="new data", trigger="person"), principal="fraud-ml")
    SqlTrainingJobStore(bench.engine).create(
        job.model_copy(
            update={"job_id": f"job-{version}", "version": version, "state": "succeeded", "created_at": created}
        )
    )


def test_kpis_measure_deployments_lead_time_failures_recovery_and_oversight(bench: GovernanceBench) -> None:
    # The fixture made v1 champion just now; its training job started five hours ago.
    trained(bench, "v1", hours_ago=5)
    trained(bench, "v2", hours_ago=2)
    bench.registry.publish(
        bench.signer.sign(bench.registry.get(MODEL, "v1").manifest.model_copy(update={"model_version": "v2"}))
    )
    bench.registry.set_challenger(USE_CASE, MODEL, "v2", "canary", 10.0, actor="fraud-ml")
    bench.registry.clear_challenger(USE_CASE, actor="controller:promotion")
    now = datetime.now(UTC)
    bench.store.open_alert(
        Alert(
            alert_id="a-1",
            use_case=USE_CASE,
            kind="drift",
            model_version="v1",
            subject="amount_to_avg",
            message="PSI 0.31 over 0.2",
            opened_at=now - timedelta(hours=3),
            report_id="r-1",
        )
    )
    bench.store.close_alerts(USE_CASE, "drift", still_open=[], at=now - timedelta(hours=1))
    decisions = [decided(bench, **APPROVED) for _ in range(3)] + [decided(bench, **IN_REVIEW)]
    override(bench, decisions[3]["decision_id"], {"outcome": "approved", "justification": "Known traveller, fine."})

    answer = bench.call(lambda inv: bench.api.kpis(USE_CASE, {}, inv), "auditor-key")

    assert answer.status == 200
    kpis = answer.body
    assert (kpis["deployments"], kpis["promotions"], kpis["rollbacks"]) == (2, 1, 1)
    assert kpis["change_failure_rate"] == pytest.approx(0.5)
    # One promotion in the default window of 30 days.
    assert kpis["deployments_per_week"] == pytest.approx(7 / 30)
    assert kpis["lead_time_p50_hours"] == pytest.approx(5, abs=0.05)
    assert kpis["mean_time_to_recovery_hours"] == pytest.approx(2, abs=0.01)
    assert (kpis["alerts_opened"], kpis["alerts_closed"], kpis["alerts_open"]) == (1, 1, 0)
    assert (kpis["training_jobs"], kpis["versions_trained"], kpis["training_jobs_by_trigger"]) == (2, 2, {"person": 2})
    assert kpis["retraining_interval_days"] == pytest.approx(3 / 24, abs=0.01)
    assert (kpis["decisions"], kpis["review_rate"], kpis["override_rate"]) == (4, 0.25, 1.0)
    assert answer.event.details == {"promotions": 1, "rollbacks": 1, "decisions": 4}
    coverage = bench.call(lambda inv: bench.api.coverage({}, inv), "auditor-key")
    assert [(row["use_case"], row["promotions"], row["rollbacks"]) for row in coverage.body["kpis"]] == [
        (USE_CASE, 1, 1)
    ]


def test_kpis_are_refused_for_an_unknown_use_case_a_bad_range_and_a_decision_client(bench: GovernanceBench) -> None:
    unknown = bench.call(lambda inv: bench.api.kpis("no_such_use_case", {}, inv), "auditor-key")
    backwards = bench.call(
        lambda inv: bench.api.kpis(USE_CASE, {"since": "2026-12-02T00:00:00", "until": "2026-12-01T00:00:00"}, inv),
        "auditor-key",
    )
    client = bench.call(lambda inv: bench.api.kpis(USE_CASE, {}, inv), "client-key")

    assert unknown.status == 404
    assert (backwards.status, backwards.body["fields"][0]["field"]) == (422, "query.since")
    assert client.status == 403


def test_an_auditor_places_lists_and_releases_a_legal_hold_each_audited(bench: GovernanceBench) -> None:
    placed = bench.call(
        lambda inv: bench.api.place_legal_hold(USE_CASE, b'{"reason": "matter 2026-114"}', inv), "auditor-key"
    )
    hold_id = placed.body["hold_id"]
    listed = bench.call(lambda inv: bench.api.legal_holds(USE_CASE, inv), "auditor-key")
    release = json.dumps({"reason": "matter closed"}).encode()
    released = bench.call(lambda inv: bench.api.release_legal_hold(USE_CASE, hold_id, release, inv), "auditor-key")
    again = bench.call(lambda inv: bench.api.release_legal_hold(USE_CASE, hold_id, release, inv), "auditor-key")
    after = bench.call(lambda inv: bench.api.legal_holds(USE_CASE, inv), "auditor-key")

    assert (placed.status, placed.body["placed_by"], placed.body["released_at"]) == (201, "audit-team", None)
    assert (placed.event.action, placed.event.details) == (
        "retention.hold",
        {"hold_id": hold_id, "reason": "matter 2026-114"},
    )
    assert (listed.body["held"], [hold["hold_id"] for hold in listed.body["holds"]]) == (True, [hold_id])
    assert (released.status, released.body["released_by"], released.body["release_reason"]) == (
        200,
        "audit-team",
        "matter closed",
    )
    assert (again.status, again.body["error"]) == (409, "conflict")
    assert after.body["held"] is False


def test_legal_holds_refuse_other_roles_unknown_use_cases_and_holds_and_an_empty_reason(bench: GovernanceBench) -> None:
    body = b'{"reason": "matter"}'
    engineer = bench.call(lambda inv: bench.api.place_legal_hold(USE_CASE, body, inv), "ml-key")
    unknown = bench.call(lambda inv: bench.api.place_legal_hold("no_such_use_case", body, inv), "auditor-key")
    empty = bench.call(lambda inv: bench.api.place_legal_hold(USE_CASE, b'{"reason": ""}', inv), "auditor-key")
    no_hold = bench.call(lambda inv: bench.api.release_legal_hold(USE_CASE, "hold-0", body, inv), "auditor-key")
    reviewer = bench.call(lambda inv: bench.api.legal_holds(USE_CASE, inv), "reviewer-key")

    assert (engineer.status, unknown.status, no_hold.status, reviewer.status) == (403, 404, 404, 403)
    assert (empty.status, empty.body["fields"][0]["field"]) == (422, "reason")


def test_quality_per_version_comes_from_decisions_with_outcomes(bench: GovernanceBench) -> None:
    risky = {**APPROVED, "hour_of_day": 2, "card_present": False, "merchant_category": "digital_goods"}
    safe = [decided(bench, **APPROVED) for _ in range(4)]
    flagged = [decided(bench, **risky) for _ in range(2)]
    decided(bench, **APPROVED)  # no outcome yet: not counted
    # The model caught both frauds and one legitimate payment was in the middle: AUC 1, precision and recall 1.
    for decision in safe:
        assert outcome(bench, decision["decision_id"], {"label": False}).status == 201
    for decision in flagged:
        assert decision["outcome"] == "declined"
        assert outcome(bench, decision["decision_id"], {"label": True}).status == 201

    answer = bench.call(lambda inv: bench.api.quality(USE_CASE, {"bucket_minutes": "1440"}, inv), "ml-key")
    unknown = bench.call(lambda inv: bench.api.quality("no_such_use_case", {}, inv), "ml-key")

    assert answer.status == 200
    [point] = answer.body["points"]
    assert (point["model_version"], point["rows"], point["positives"]) == ("v1", 6, 2)
    assert (point["auc"], point["precision"], point["recall"]) == (1.0, 1.0, 1.0)
    assert answer.body["bucket_minutes"] == 1440
    assert unknown.status == 404


def test_a_refused_override_is_found_in_the_decisions_trail(bench: GovernanceBench) -> None:
    decision = decided(bench, **IN_REVIEW)

    refused = override(
        bench, decision["decision_id"], {"outcome": "approved", "justification": "I am allowed to."}, key="client-key"
    )
    trail = search(bench, decision_id=decision["decision_id"], action="review.override")

    assert refused.status == 403
    assert refused.event.decision_id == decision["decision_id"]
    [record] = trail.body["records"]
    assert (record["event"]["outcome"], record["event"]["principal"]) == ("rejected", "checkout-service")


def test_a_bad_cursor_or_an_empty_range_is_a_422_naming_it(bench: GovernanceBench) -> None:
    cursor = search(bench, cursor="not-a-cursor")
    empty = search(bench, since="2026-11-02T00:00:00+00:00", until="2026-11-01T00:00:00+00:00")

    assert cursor.status == 422 and cursor.body["fields"][0]["field"] == "query.cursor"
    assert empty.status == 422 and empty.body["fields"][0]["field"] == "query.since"


def test_the_same_outcome_with_a_time_without_offset_is_a_retry_not_a_conflict(bench: GovernanceBench) -> None:
    decision = decided(bench, **APPROVED)
    body = {"label": True, "observed_at": "2026-11-20T10:00:00"}

    first = outcome(bench, decision["decision_id"], body)
    again = outcome(bench, decision["decision_id"], body)

    assert (first.status, again.status) == (201, 200)
    assert first.body["observed_at"].startswith("2026-11-20T10:00:00")


@contextlib.contextmanager
def audit_store_refusing(engine: Engine) -> Iterator[None]:
    """The audit store refuses every new event (a trigger aborts the insert) until the block ends."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'the audit store refuses writes'); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION audit_refused() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'the audit store refuses writes'; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_events "
                "FOR EACH ROW EXECUTE FUNCTION audit_refused()"
            )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "DROP TRIGGER audit_refused" + ("" if engine.dialect.name == "sqlite" else " ON audit_events")
            )


def test_an_override_or_outcome_the_audit_store_refuses_is_not_kept(bench: GovernanceBench) -> None:
    decision = decided(bench, **IN_REVIEW)
    decision_id = decision["decision_id"]
    body = {"outcome": "declined", "justification": "Card reported stolen this morning."}
    truth = json.dumps({"label": True, "source": "chargebacks"}).encode()

    with audit_store_refusing(bench.engine):
        refused = [
            bench.api.override(decision_id, json.dumps(body).encode(), invocation("reviewer-key")),
            bench.api.record_outcome(decision_id, truth, invocation("client-key")),
        ]

    assert [(answer.status, answer.body["error"]) for answer in refused] == [(503, "audit_unavailable")] * 2
    # Nothing stands without its audit event: the review still waits, and the decision has no truth.
    assert bench.store.override_of(decision_id) is None
    assert bench.store.outcome_of(decision_id) is None
    pending = bench.call(lambda inv: bench.api.list_reviews({}, inv), "reviewer-key")
    assert [review["review_id"] for review in pending.body["reviews"]] == [decision_id]
    # The same calls once the store takes events again: stored, each with its event.
    resolved = override(bench, decision_id, body)
    recorded = bench.call(lambda inv: bench.api.record_outcome(decision_id, truth, inv), "client-key")
    assert (resolved.status, recorded.status) == (201, 201)
    assert resolved.body["override"]["event_id"] == resolved.event.event_id
    assert bench.store.outcome_of(decision_id) is not None


def test_the_openapi_document_is_served_without_a_key_and_audited_as_anonymous(bench: GovernanceBench) -> None:
    served = bench.call(bench.api.openapi_document, None)
    assert (served.status, served.body) == (200, document())
    assert (served.event.source, served.event.action, served.event.outcome) == (
        "GovernanceApiFunction",
        "openapi.read",
        "success",
    )
    assert (served.event.principal, served.event.role, served.event.status_code) == ("anonymous", None, 200)
    # A key is neither asked for nor looked at: an unknown one gets the same document, still as anonymous.
    unknown_key = bench.call(bench.api.openapi_document, "not-a-key")
    assert (unknown_key.status, unknown_key.event.principal) == (200, "anonymous")

    with audit_store_refusing(bench.engine):
        refused = bench.api.openapi_document(invocation("not-a-key"))
    assert (refused.status, refused.body["error"], refused.headers) == (503, "audit_unavailable", {"retry-after": "1"})
