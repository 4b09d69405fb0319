"""Feature-level access over decisions really made and stored: every read that shows a record's inputs, or values
computed from them, masks the fields marked pii or protected unless the caller's role is granted them."""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from contracts.audit.v1 import AuditEvent
from leaim.adapters.sql import SqlDecisionStore
from leaim.adapters.sql.retention import SqlRetention
from leaim.domain.manifests import ManifestCatalog
from leaim.governance.access.masking import MASK
from leaim.governance.access.policy import FIELD_GRANTS, FieldClass
from leaim.governance.api import GovernanceApi
from leaim.governance.oversight.outcomes import OutcomeService
from leaim.governance.oversight.reviews import ReviewService
from leaim.orchestration.api import DecisionApi
from leaim.orchestration.decisions import DecisionService
from leaim.serving.breaker import BreakerBoard
from tests.integration.governance.harness import USE_CASE, GovernanceBench, transaction
from tests.support.fakes import PII_KEY, MemoryStops
from tests.support.openapi import document

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Engine

    from tests.integration.governance.harness import Reply

# At night, card present, an ordinary amount, abroad: inside the review band, with `foreign` among its reasons.
IN_REVIEW = {"hour_of_day": 2, "card_present": True, "amount": 50.0, "merchant_category": "grocery", "country": "US"}
MARKED = {"cardholder_name": "Erika Mustermann", "cardholder_age_band": "65+"}


class MarkedCountryBench(GovernanceBench):
    """The bench, with its governance and decision APIs once more over a card_fraud whose country is marked PII:
    the feature `foreign` (country against home_country) is then computed from a marked input.

    Decisions are made, and stored, by the bench's own APIs; the `marked_` APIs read them by the other marks.
    """

    def __init__(self, engine: Engine, tmp_path: Path) -> None:
        super().__init__(engine, tmp_path)
        inputs = [
            spec.model_copy(update={"pii": True}) if spec.name == "country" else spec for spec in self.manifest.inputs
        ]
        catalog = ManifestCatalog({USE_CASE: self.manifest.model_copy(update={"inputs": inputs})})
        self.marked_api = GovernanceApi(
            trail=self.audit_log,
            outcomes=OutcomeService(store=self.store, catalog=catalog, clock=self.clock),
            reviews=ReviewService(store=self.store, catalog=catalog, clock=self.clock),
            reports=self.reports,
            store=self.store,
            catalog=catalog,
            holds=SqlRetention(engine),
            openapi=document(),
            gate=self.gate("GovernanceApiFunction"),
        )
        service = DecisionService(
            catalog=catalog,
            features=self.features,
            router=self.registry,
            stops=MemoryStops(),
            workers=self.worker,
            audit_log=self.audit_log,
            decisions=SqlDecisionStore(engine),
            overrides=self.store,
            telemetry=self.telemetry,
            clock=self.clock,
            breakers=BreakerBoard(5, 30.0, self.clock.monotonic),
            pii_key=PII_KEY,
            deadline_margin_ms=0,
        )
        self.marked_decisions = DecisionApi(service=service, gate=self.gate("DecisionApiFunction"))


@pytest.fixture
def bench(engine: Engine, tmp_path: Path) -> MarkedCountryBench:
    built = MarkedCountryBench(engine, tmp_path)
    built.publish_champion()
    return built


def in_review(bench: GovernanceBench) -> dict[str, Any]:
    decision = bench.decide({**transaction(random.Random(1)), **IN_REVIEW, **MARKED})
    assert decision["review_required"] is True
    return decision


def grant(monkeypatch: pytest.MonkeyPatch, field_class: FieldClass, *roles: str) -> None:
    monkeypatch.setitem(FIELD_GRANTS, field_class, frozenset(roles))


def reviews(bench: GovernanceBench, decision_id: str) -> tuple[Reply, Reply]:
    listed = bench.call(lambda inv: bench.api.list_reviews({}, inv), "reviewer-key")
    read = bench.call(lambda inv: bench.api.read_review(decision_id, inv), "reviewer-key")
    return listed, read


def test_a_review_masks_pii_and_the_protected_age_band_from_the_reviewer(bench: MarkedCountryBench) -> None:
    decision = in_review(bench)

    listed, read = reviews(bench, decision["decision_id"])
    body = {"outcome": "approved", "justification": "Cardholder confirmed the purchase by phone."}
    resolved = bench.call(
        lambda inv: bench.api.override(decision["decision_id"], json.dumps(body).encode(), inv), "reviewer-key"
    )

    [pending] = listed.body["reviews"]
    for inputs in (pending["inputs"], read.body["inputs"], resolved.body["inputs"]):
        assert (inputs["card_id"], inputs["cardholder_name"], inputs["cardholder_age_band"]) == (MASK, MASK, MASK)
        assert (inputs["hour_of_day"], inputs["country"]) == (2, "US")
    assert resolved.status == 201
    # Not even the token is shown: two reviews of one card cannot be linked.
    assert "tok_" not in json.dumps([listed.body, read.body, resolved.body])


def test_a_review_shows_the_fields_a_reviewer_is_granted(
    bench: MarkedCountryBench, monkeypatch: pytest.MonkeyPatch
) -> None:
    decision = in_review(bench)
    grant(monkeypatch, FieldClass.PROTECTED, "reviewer")

    listed, read = reviews(bench, decision["decision_id"])

    for inputs in (listed.body["reviews"][0]["inputs"], read.body["inputs"]):
        assert inputs["cardholder_age_band"] == "65+"
        assert inputs["card_id"] == MASK

    grant(monkeypatch, FieldClass.PII, "reviewer")
    read = bench.call(lambda inv: bench.api.read_review(decision["decision_id"], inv), "reviewer-key")
    # PII is stored as tokens only: a role granted it reads the token, never the clear value.
    assert read.body["inputs"]["card_id"].startswith("tok_")
    assert read.body["inputs"]["cardholder_name"].startswith("tok_")


def test_an_explanation_leaves_out_a_feature_computed_from_an_input_the_role_is_not_granted(
    bench: MarkedCountryBench,
) -> None:
    decision = in_review(bench)

    plain = bench.call(lambda inv: bench.api.explanation(decision["decision_id"], inv), "auditor-key")
    marked = bench.call(lambda inv: bench.marked_api.explanation(decision["decision_id"], inv), "auditor-key")

    assert plain.body["features"]["foreign"] == 1.0
    assert plain.body["masked_features"] == []
    assert "foreign" not in marked.body["features"]
    assert marked.body["features"]["night"] == 1.0
    assert marked.body["masked_features"] == ["foreign"]
    [foreign] = [reason for reason in marked.body["reasons"] if reason.get("feature") == "foreign"]
    assert (foreign["value"], foreign["contribution"], foreign["message"]) == (None, None, f"foreign={MASK}")
    [night] = [reason for reason in marked.body["reasons"] if reason.get("feature") == "night"]
    assert night["contribution"] is not None


def test_an_explanation_shows_a_feature_whose_input_the_role_is_granted(
    bench: MarkedCountryBench, monkeypatch: pytest.MonkeyPatch
) -> None:
    decision = in_review(bench)
    grant(monkeypatch, FieldClass.PII, "auditor")

    marked = bench.call(lambda inv: bench.marked_api.explanation(decision["decision_id"], inv), "auditor-key")

    assert marked.body["features"]["foreign"] == 1.0
    assert marked.body["masked_features"] == []
    assert marked.body["reasons"] == decision["reasons"]


def test_a_decision_read_hides_the_reasons_of_a_feature_computed_from_an_input_not_granted(
    bench: MarkedCountryBench, monkeypatch: pytest.MonkeyPatch
) -> None:
    decision = in_review(bench)

    def read(key: str) -> Reply:
        return bench.call(
            lambda inv: bench.marked_decisions.read(decision["decision_id"], inv), key, "DecisionApiFunction"
        )

    hidden = {key: read(key) for key in ("client-key", "reviewer-key", "auditor-key")}
    grant(monkeypatch, FieldClass.PII, "reviewer")
    granted = read("reviewer-key")

    for reply in hidden.values():
        [foreign] = [reason for reason in reply.body["reasons"] if reason.get("feature") == "foreign"]
        assert (foreign["value"], foreign["contribution"]) == (None, None)
    assert granted.body["reasons"] == decision["reasons"]


def marked_event(bench: GovernanceBench, decision_id: str) -> AuditEvent:
    """An event whose details carry input values, as a function that kept them would write it."""
    event = AuditEvent(
        event_id=uuid.uuid4().hex,
        occurred_at=datetime.now(UTC),
        source="DecisionApiFunction",
        action="decision.inputs",
        invocation_id=uuid.uuid4().hex,
        outcome="success",
        trace_id="trace-marked",
        duration_ms=1.0,
        use_case=USE_CASE,
        decision_id=decision_id,
        details={"inputs": {"card_id": "tok_0011", "cardholder_age_band": "65+", "amount": 50.0}},
    )
    bench.audit_log.append(event)
    return event


def exported(bench: GovernanceBench) -> list[dict[str, Any]]:
    """The marked event's details, as the search, the JSONL export and the CSV export show them to the auditor."""
    query = {"action": "decision.inputs"}
    page = bench.call(lambda inv: bench.api.audit_events(query, inv), "auditor-key")
    jsonl = bench.call(lambda inv: bench.api.audit_events({**query, "format": "jsonl"}, inv), "auditor-key")
    table = bench.call(lambda inv: bench.api.audit_events({**query, "format": "csv"}, inv), "auditor-key")
    [searched] = [record["event"]["details"] for record in page.body["records"]]
    [line] = [json.loads(line)["event"]["details"] for line in (jsonl.text or "").splitlines()]
    [row] = [json.loads(row["details"]) for row in csv.DictReader(io.StringIO(table.text or ""))]
    return [searched, line, row]


def test_the_audit_search_and_exports_mask_pii_and_show_the_auditor_protected_values(
    bench: MarkedCountryBench,
) -> None:
    marked_event(bench, in_review(bench)["decision_id"])

    for details in exported(bench):
        assert details == {"inputs": {"card_id": MASK, "cardholder_age_band": "65+", "amount": 50.0}}


def test_the_audit_search_and_exports_follow_the_grants(
    bench: MarkedCountryBench, monkeypatch: pytest.MonkeyPatch
) -> None:
    marked_event(bench, in_review(bench)["decision_id"])
    grant(monkeypatch, FieldClass.PROTECTED)
    grant(monkeypatch, FieldClass.PII, "auditor")

    for details in exported(bench):
        assert details == {"inputs": {"card_id": "tok_0011", "cardholder_age_band": MASK, "amount": 50.0}}
