"""Principal reasons and the adverse-action notice: at most four, ranked, only factors that pushed toward it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.decision.v1 import DecisionResponse, Override
from contracts.manifest.v1 import AdverseAction, ReasonStatement
from leaim.domain.manifests import ManifestCatalog
from leaim.orchestration.adverse import NoAdverseActionError, adverse_action_notice, principal_reasons
from tests.support.fakes import World, decide

CATALOG = ManifestCatalog.from_directory(None)
CARD_FRAUD = CATALOG.get("card_fraud")
# Every card_fraud feature, one contribution each: five raise the risk, three lower it.
CONTRIBUTIONS = [
    ("foreign", 2.1),
    ("night", 1.4),
    ("log_amount", 0.9),
    ("card_not_present", 0.7),
    ("risky_merchant", 0.3),
    ("amount_to_avg", -1.6),
    ("txn_count_24h", -0.2),
    ("gambling", -0.05),
]


def test_a_declined_decision_states_the_four_factors_that_raised_its_risk_most() -> None:
    reasons = principal_reasons(CARD_FRAUD, "declined", contributions=CONTRIBUTIONS)
    assert reasons is not None
    assert [(r.rank, r.code, r.factor) for r in reasons] == [
        (1, "GEO01", "foreign"),
        (2, "TIM01", "night"),
        (3, "AMT01", "log_amount"),
        (4, "CNP01", "card_not_present"),
    ]
    assert [r.contribution for r in reasons] == [2.1, 1.4, 0.9, 0.7]
    assert reasons[0].statement == "The transaction was made outside the card's home country."
    # amount_to_avg moved the decision most after foreign, but toward approval: never a reason to decline.
    assert "amount_to_avg" not in {r.factor for r in reasons}


def test_fewer_factors_toward_the_outcome_give_fewer_reasons_and_shared_codes_count_once() -> None:
    adverse = CARD_FRAUD.adverse_action
    assert adverse is not None
    shared = adverse.model_copy(
        update={"features": {**adverse.features, "night": adverse.features["foreign"]}, "max_reasons": 3}
    )
    manifest = CARD_FRAUD.model_copy(update={"adverse_action": shared})
    reasons = principal_reasons(
        manifest, "declined", contributions=[("foreign", 0.5), ("night", 1.2), ("gambling", -1)]
    )
    assert reasons is not None
    assert [(r.code, r.factor, r.contribution) for r in reasons] == [("GEO01", "night", 1.2)]


def test_an_adverse_negative_outcome_takes_the_factors_that_lowered_the_score() -> None:
    adverse = CARD_FRAUD.adverse_action
    assert adverse is not None
    manifest = CARD_FRAUD.model_copy(update={"adverse_action": adverse.model_copy(update={"outcomes": ["approved"]})})
    reasons = principal_reasons(manifest, "approved", contributions=CONTRIBUTIONS)
    assert reasons is not None
    assert [(r.factor, r.contribution) for r in reasons] == [
        ("amount_to_avg", 1.6),
        ("txn_count_24h", 0.2),
        ("gambling", 0.05),
    ]


def test_a_rule_or_a_fallback_that_decided_is_the_one_reason() -> None:
    rules = {rule.name: rule for rule in CARD_FRAUD.decision.rules}
    [sanctioned] = principal_reasons(CARD_FRAUD, "declined", rule=rules["sanctioned_country"]) or []
    assert (sanctioned.kind, sanctioned.code, sanctioned.factor) == ("rule", "SAN01", "sanctioned_country")
    # A rule with no statement of its own is stated by its reason.
    [limit] = principal_reasons(CARD_FRAUD, "review", rule=rules["amount_over_limit"]) or []
    assert (limit.code, limit.statement) == ("amount_over_limit", rules["amount_over_limit"].reason)
    [fallback] = principal_reasons(CARD_FRAUD, "review", fallback=True) or []
    assert (fallback.kind, fallback.code, fallback.statement) == ("fallback", "FALLBACK", CARD_FRAUD.fallback.reason)


def test_only_adverse_and_review_outcomes_carry_reasons() -> None:
    assert principal_reasons(CARD_FRAUD, "approved", contributions=CONTRIBUTIONS) is None
    assert principal_reasons(CARD_FRAUD, "review", contributions=CONTRIBUTIONS) is not None
    without = CARD_FRAUD.model_copy(update={"adverse_action": None})
    assert principal_reasons(without, "declined", contributions=CONTRIBUTIONS) is None


def test_the_decision_path_asks_the_worker_for_every_contribution_and_shows_three() -> None:
    world = World()
    response = decide(world, "r-1", country="US", hour_of_day=2, card_present=False, merchant_category="digital_goods")[
        0
    ].response
    assert response.outcome == "declined"
    assert world.worker.requests[0].top_reasons == len(CARD_FRAUD.features)
    assert len([r for r in response.reasons if r.kind == "feature"]) == 3
    reasons = response.principal_reasons
    assert reasons is not None and 1 <= len(reasons) <= 4
    pushes = [r.contribution or 0.0 for r in reasons]
    assert pushes == sorted(pushes, reverse=True) and all(push > 0 for push in pushes)
    approved = decide(world, "r-2", amount=12.0)[0].response
    assert approved.outcome == "approved" and approved.principal_reasons is None


def decision(outcome: str, *, override: Override | None = None) -> DecisionResponse:
    return DecisionResponse(
        decision_id="d-1",
        request_id="checkout-1",
        use_case="card_fraud",
        outcome=outcome,
        score=0.9,
        reasons=[],
        model=None,
        fallback=False,
        review_required=outcome == "review",
        trace_id="t" * 32,
        decided_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        latency_ms=12.0,
        principal_reasons=principal_reasons(CARD_FRAUD, "declined", contributions=CONTRIBUTIONS),
        override=override,
    )


def test_the_notice_states_the_creditor_the_numbered_reasons_and_how_to_ask() -> None:
    notice = adverse_action_notice(decision("declined"), CARD_FRAUD)
    assert [reason.code for reason in notice.reasons] == ["GEO01", "TIM01", "AMT01", "CNP01"]
    lines = notice.text.splitlines()
    assert lines[0] == "Notice of adverse action"
    assert "Decision d-1 of 2026-12-01 09:30 UTC on request checkout-1: declined." in lines
    assert "1. The transaction was made outside the card's home country." in lines
    assert "4. The card was not present at the transaction." in lines
    assert not any(line.startswith("5.") for line in lines)
    assert notice.text.endswith(CARD_FRAUD.adverse_action.contact)  # type: ignore[union-attr]
    assert not notice.reviewed


def test_a_review_a_person_declined_gets_its_notice_and_one_approved_gets_none() -> None:
    def override(outcome: str) -> Override:
        return Override(
            review_id="d-1",
            original_outcome="review",
            outcome=outcome,
            justification="checked with the cardholder",
            reviewer="rev-1",
            reviewed_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
            event_id="e-1",
        )

    declined = decision("review", override=override("declined")).model_copy(update={"outcome": "declined"})
    notice = adverse_action_notice(declined, CARD_FRAUD)
    assert notice.reviewed and "A person reviewed this decision." in notice.text.splitlines()
    with pytest.raises(NoAdverseActionError, match="'approved', not an adverse action"):
        adverse_action_notice(decision("approved"), CARD_FRAUD)
    with pytest.raises(NoAdverseActionError, match="declares no adverse-action notices"):
        adverse_action_notice(decision("declined"), CARD_FRAUD.model_copy(update={"adverse_action": None}))


def test_no_manifest_may_ask_for_more_than_four_reasons() -> None:
    with pytest.raises(ValueError, match="less than or equal to 4"):
        AdverseAction(
            outcomes=["declined"],
            features={"foreign": ReasonStatement(code="GEO01", statement="Abroad.")},
            max_reasons=5,
            creditor="Bank",
            contact="Write to us.",
        )
