"""The compliance map of a use case, checked item by item: evidence where its source holds it, else the gaps."""

from __future__ import annotations

from typing import Any

from contracts.manifest.v1 import Retention
from contracts.model.v1 import SignedManifest
from leaim.domain.manifests import ManifestCatalog
from leaim.governance.evidence.checks import NO_RETENTION, UNARCHIVED, EvidenceFacts, compliance_evidence
from tests.support.factories import model_manifest

CARD_FRAUD = ManifestCatalog.from_directory(None).get("card_fraud")
CHAMPION = SignedManifest(manifest=model_manifest("v3"), key_id="0" * 16, signature="c2lnbmVk")
ANCHORS = [
    "EU AI Act Art. 12",
    "EU AI Act Art. 19, 26",
    "EU AI Act Art. 13",
    "EU AI Act Art. 14",
    "EU AI Act Art. 15",
    "EU AI Act Annex IV",
    "EU AI Act Art. 86",
    "US ECOA / Regulation B",
    "AI bill of materials",
    "NIST AI RMF: Measure",
    "Process KPIs",
]


def check(**changes: Any) -> dict[str, tuple[str, list[str]]]:
    facts: dict[str, Any] = {
        "use_case": CARD_FRAUD,
        "champion": CHAMPION,
        "champion_problem": None,
        "audit_coverage": 1.0,
        "unaudited": 0,
        "explanation_coverage": 1.0,
        "monitored": True,
        **changes,
    }
    evidence = compliance_evidence(EvidenceFacts(**facts))
    assert [item.anchor for item in evidence.items] == ANCHORS
    assert evidence.gaps == sum(item.status == "gap" for item in evidence.items)
    for item in evidence.items:
        assert (item.status == "gap") == bool(item.gaps)
    return {item.anchor: (item.status, item.gaps) for item in evidence.items}


def test_the_reference_use_case_with_a_governed_champion_has_evidence_but_for_what_is_not_built_or_declared() -> None:
    items = check()

    gaps = {anchor: found for anchor, (status, found) in items.items() if status == "gap"}
    assert gaps == {
        # The reference declares no harmonised standards nor a declaration of conformity.
        "EU AI Act Annex IV": [
            "7. Harmonised standards applied: none declared (documentation.standards)",
            "8. EU declaration of conformity: not declared (documentation.declaration_of_conformity)",
            UNARCHIVED,
        ],
    }


def test_without_a_champion_accuracy_documentation_and_the_bom_are_gaps() -> None:
    items = check(champion=None)

    for anchor in ("EU AI Act Art. 13", "EU AI Act Art. 15", "AI bill of materials"):
        assert items[anchor][0] == "gap"
        assert any("no champion" in gap for gap in items[anchor][1])
    assert "the use case has no champion yet" in items["EU AI Act Annex IV"][1]


def test_missing_events_unexplained_decisions_and_an_ungoverned_champion_are_named() -> None:
    items = check(
        audit_coverage=0.99,
        unaudited=3,
        explanation_coverage=0.75,
        champion_problem="has a manifest whose signature does not verify",
        monitored=False,
    )

    assert items["EU AI Act Art. 12"] == ("gap", ["3 invocations of the window have no audit event"])
    assert items["EU AI Act Art. 86"] == ("gap", ["25.0% of the window's decisions cannot be explained"])
    assert items["EU AI Act Art. 15"] == ("gap", ["the champion has a manifest whose signature does not verify"])
    assert items["NIST AI RMF: Measure"][0] == "gap"


def test_a_quiet_window_is_not_a_gap_of_the_logs_nor_of_the_explanations() -> None:
    items = check(audit_coverage=None, explanation_coverage=None)

    assert items["EU AI Act Art. 12"][0] == items["EU AI Act Art. 86"][0] == "evidence"


def test_a_policy_without_a_review_band_or_notices_leaves_oversight_and_ecoa_as_gaps() -> None:
    decision = CARD_FRAUD.decision.model_copy(update={"review_band": None})
    bare = CARD_FRAUD.model_copy(update={"decision": decision, "adverse_action": None})

    items = check(use_case=bare)

    assert items["EU AI Act Art. 14"] == (
        "gap",
        ["the policy has no review band: no scored decision reaches a reviewer"],
    )
    assert items["US ECOA / Regulation B"][0] == "gap"


def test_retention_is_evidence_with_its_periods_and_floor_and_a_gap_when_undeclared() -> None:
    declared = check()["EU AI Act Art. 19, 26"]
    credit = CARD_FRAUD.model_copy(
        update={"retention": Retention(credit=True, audit_events_days=800, decisions_days=800)}
    )
    undeclared = check(use_case=CARD_FRAUD.model_copy(update={"retention": None}))

    assert declared == ("evidence", [])
    evidence = (
        compliance_evidence(EvidenceFacts(CARD_FRAUD, CHAMPION, None, 1.0, 0, 1.0, monitored=True)).items[1].evidence
    )
    assert "audit events kept 730 days, decisions 730, inputs 365, reasons 730 (floor: six months)" in evidence
    credit_item = compliance_evidence(EvidenceFacts(credit, CHAMPION, None, 1.0, 0, 1.0, monitored=True)).items[1]
    assert "floor: 25 months: credit decisions" in credit_item.evidence
    assert undeclared["EU AI Act Art. 19, 26"] == ("gap", [NO_RETENTION])


def test_the_documentation_archived_beside_the_champion_closes_its_archiving_gap() -> None:
    archived = check(archived=frozenset({"technical-documentation", "bom"}))["EU AI Act Annex IV"][1]
    only_the_bom = check(archived=frozenset({"bom"}))["EU AI Act Annex IV"][1]

    assert UNARCHIVED not in archived
    assert UNARCHIVED in only_the_bom
