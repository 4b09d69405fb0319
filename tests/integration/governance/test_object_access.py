"""Object-level access and scoped keys over decisions really made and stored: a decision, its explanation, its
outcome and its review reach only the principal that made it and the roles granted its use case; everything else
is answered as if the object did not exist, and audited."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

import pytest

from leaim.governance.ports import Principal
from tests.integration.governance.harness import KEYS, USE_CASE, GovernanceBench, transaction
from tests.support.fakes import MemoryKeys

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Engine

    from tests.integration.governance.harness import Reply

OTHER = "loan_limits"
UNKNOWN = "no-such-decision"
SCOPED_KEYS = {
    **KEYS,
    # Another business service, allowed the same use case: it did not make the checkout service's decisions.
    "billing-key": Principal("billing-service", "decision_client", use_cases=frozenset({USE_CASE})),
    # People and services whose keys name another use case only.
    "other-client-key": Principal("loans-service", "decision_client", use_cases=frozenset({OTHER})),
    "other-reviewer-key": Principal("loan-analyst", "reviewer", use_cases=frozenset({OTHER})),
    "other-auditor-key": Principal("loan-audit", "auditor", use_cases=frozenset({OTHER})),
    "other-steward-key": Principal("loan-office", "data_steward", use_cases=frozenset({OTHER})),
    # An auditor of the card fraud use case only.
    "fraud-auditor-key": Principal("fraud-audit", "auditor", use_cases=frozenset({USE_CASE})),
}
IN_REVIEW = {"hour_of_day": 2, "card_present": True, "amount": 50.0, "merchant_category": "grocery", "country": "DE"}


@pytest.fixture
def bench(engine: Engine, tmp_path: Path) -> GovernanceBench:
    built = GovernanceBench(engine, tmp_path, keys=MemoryKeys(SCOPED_KEYS))
    built.publish_champion()
    return built


@pytest.fixture
def decision(bench: GovernanceBench) -> dict[str, Any]:
    """A decision in the review band, made by the checkout service."""
    return bench.decide({**transaction(random.Random(1)), **IN_REVIEW})


def read(bench: GovernanceBench, decision_id: str, key: str) -> Reply:
    return bench.call(lambda inv: bench.decision_api.read(decision_id, inv), key, "DecisionApiFunction")


def explanation(bench: GovernanceBench, decision_id: str, key: str) -> Reply:
    return bench.call(lambda inv: bench.api.explanation(decision_id, inv), key)


def outcome(bench: GovernanceBench, decision_id: str, key: str) -> Reply:
    body = json.dumps({"label": True, "source": "chargebacks"}).encode()
    return bench.call(lambda inv: bench.api.record_outcome(decision_id, body, inv), key)


def review(bench: GovernanceBench, review_id: str, key: str) -> Reply:
    return bench.call(lambda inv: bench.api.read_review(review_id, inv), key)


def override(bench: GovernanceBench, review_id: str, key: str) -> Reply:
    body = json.dumps({"outcome": "approved", "justification": "known traveller, confirmed by phone"}).encode()
    return bench.call(lambda inv: bench.api.override(review_id, body, inv), key)


def unseen(reply: Reply, unknown: Reply) -> None:
    """`reply` is answered exactly as the request for an object that does not exist (`unknown`, sent for the id
    `no-such-decision`), and audited as refused."""
    assert reply.status == unknown.status == 404
    shown = reply.event.decision_id
    assert shown is not None
    expected = {k: v for k, v in unknown.body.items() if k != "trace_id"}
    expected["message"] = expected["message"].replace(UNKNOWN, shown)
    assert {k: v for k, v in reply.body.items() if k != "trace_id"} == expected
    assert reply.event.outcome == "rejected"
    assert reply.event.status_code == 404


def test_the_maker_reads_its_decision_and_another_client_is_told_it_does_not_exist(
    bench: GovernanceBench, decision: dict[str, Any]
) -> None:
    decision_id = decision["decision_id"]

    mine = read(bench, decision_id, "client-key")
    assert mine.status == 200
    assert mine.body["decision_id"] == decision_id
    assert explanation(bench, decision_id, "client-key").status == 200

    for key in ("billing-key", "other-client-key"):
        unseen(read(bench, decision_id, key), read(bench, UNKNOWN, key))
        unseen(explanation(bench, decision_id, key), explanation(bench, UNKNOWN, key))
        unseen(outcome(bench, decision_id, key), outcome(bench, UNKNOWN, key))
    refused = read(bench, decision_id, "billing-key")
    assert refused.event.decision_id == decision_id
    assert refused.event.principal == "billing-service"


def test_reviewers_and_auditors_reach_the_decisions_of_their_use_cases_only(
    bench: GovernanceBench, decision: dict[str, Any]
) -> None:
    decision_id = decision["decision_id"]

    for key in ("reviewer-key", "auditor-key", "fraud-auditor-key"):
        assert read(bench, decision_id, key).status == 200
        assert explanation(bench, decision_id, key).status == 200
    assert review(bench, decision_id, "reviewer-key").status == 200

    for key in ("other-reviewer-key", "other-auditor-key"):
        unseen(read(bench, decision_id, key), read(bench, UNKNOWN, key))
        unseen(explanation(bench, decision_id, key), explanation(bench, UNKNOWN, key))
    unseen(review(bench, decision_id, "other-reviewer-key"), review(bench, UNKNOWN, "other-reviewer-key"))
    unseen(override(bench, decision_id, "other-reviewer-key"), override(bench, UNKNOWN, "other-reviewer-key"))
    assert review(bench, decision_id, "reviewer-key").body["status"] == "pending", "the refused override changed it"

    resolved = override(bench, decision_id, "reviewer-key")
    assert resolved.status == 201
    assert resolved.body["override"]["reviewer"] == "risk-analyst"


def test_a_steward_of_the_use_case_records_an_outcome_and_one_of_another_cannot(
    bench: GovernanceBench, decision: dict[str, Any]
) -> None:
    decision_id = decision["decision_id"]

    unseen(outcome(bench, decision_id, "other-steward-key"), outcome(bench, UNKNOWN, "other-steward-key"))
    recorded = outcome(bench, decision_id, "steward-key")
    assert recorded.status == 201
    assert recorded.body["reported_by"] == "data-office"


def test_a_key_scoped_to_another_use_case_cannot_decide_and_nothing_is_decided(bench: GovernanceBench) -> None:
    body = json.dumps({"request_id": "loans-1", "inputs": transaction(random.Random(2))}).encode()

    refused = bench.call(
        lambda inv: bench.decision_api.create(USE_CASE, body, inv), "other-client-key", "DecisionApiFunction"
    )
    unknown = bench.call(
        lambda inv: bench.decision_api.create("no_such_use_case", body, inv), "client-key", "DecisionApiFunction"
    )

    assert refused.status == unknown.status == 404
    assert refused.body["error"] == unknown.body["error"] == "unknown_use_case"
    assert refused.body["message"] == f"unknown use case {USE_CASE!r}"
    assert (refused.event.outcome, refused.event.use_case, refused.event.decision_id) == ("rejected", USE_CASE, None)
    assert bench.service.get("loans-1") is None


def test_a_scoped_auditor_searches_only_its_use_cases_and_cannot_read_the_whole_trail(
    bench: GovernanceBench, decision: dict[str, Any]
) -> None:
    mine = bench.call(lambda inv: bench.api.audit_events({}, inv), "fraud-auditor-key")
    other = bench.call(lambda inv: bench.api.audit_events({}, inv), "other-auditor-key")
    everyone = bench.call(lambda inv: bench.api.audit_events({}, inv), "auditor-key")

    assert mine.status == other.status == everyone.status == 200
    assert {record["event"]["use_case"] for record in mine.body["records"]} == {USE_CASE}
    assert other.body["records"] == []
    assert len(everyone.body["records"]) > len(mine.body["records"]), "events of no use case are the whole trail's"
    named = bench.call(lambda inv: bench.api.audit_events({"use_case": USE_CASE}, inv), "other-auditor-key")
    assert (named.status, named.body["error"]) == (404, "not_found")

    coverage = bench.call(lambda inv: bench.api.coverage({}, inv), "fraud-auditor-key")
    assert (coverage.status, coverage.body["error"]) == (403, "forbidden")
    assert bench.call(lambda inv: bench.api.coverage({}, inv), "auditor-key").status == 200


def test_the_review_queue_and_the_monitoring_reads_show_a_reviewer_its_use_cases_only(
    bench: GovernanceBench, decision: dict[str, Any]
) -> None:
    queue = bench.call(lambda inv: bench.api.list_reviews({}, inv), "reviewer-key")
    other = bench.call(lambda inv: bench.api.list_reviews({}, inv), "other-reviewer-key")
    named = bench.call(lambda inv: bench.api.list_reviews({"use_case": USE_CASE}, inv), "other-reviewer-key")

    assert [item["review_id"] for item in queue.body["reviews"]] == [decision["decision_id"]]
    assert other.body["reviews"] == []
    assert (named.status, named.body["error"]) == (404, "not_found")

    drift = bench.call(lambda inv: bench.api.drift(USE_CASE, inv), "other-auditor-key")
    unknown = bench.call(lambda inv: bench.api.drift("no_such_use_case", inv), "auditor-key")
    assert drift.status == unknown.status == 404
    assert drift.body["message"] == f"unknown use case {USE_CASE!r}"
    usage = bench.call(lambda inv: bench.api.usage({}, inv), "other-auditor-key")
    assert usage.status == 200
    assert usage.body["rows"] == []
    assert bench.call(lambda inv: bench.api.usage({}, inv), "fraud-auditor-key").body["rows"]
