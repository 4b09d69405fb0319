"""Promotion: the controller's verdicts, and manual and automatic changes on a real registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from contracts.audit.v1 import AuditEvent
from contracts.manifest.v1 import Promotion
from contracts.model.v1 import Rollback, TrafficChange, VersionStats
from leaim.adapters.sql import SqlAuditLog, SqlModelRegistry, SqlVersionStats
from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import NotFoundError, RevisionConflictError, TrafficChangeError, VersionRejectedError
from leaim.governance.audit.events import ScheduleGate
from leaim.lifecycle.promotion import CONTROLLER, PromotionController, PromotionService, judge
from leaim.lifecycle.schedules import run_controller
from leaim.lifecycle.signing import ManifestSigner
from tests.support.factories import model_manifest
from tests.support.fakes import MemoryAuditLog, StaticTelemetry

if TYPE_CHECKING:
    from sqlalchemy import Engine

SETTINGS = Promotion(
    min_requests=20, max_error_rate_increase=0.05, max_fallback_rate_increase=0.05, max_latency_ratio=1.5
)
SIGNER = ManifestSigner.generate()


def stats(version: str, requests: int, errors: int = 0, fallbacks: int = 0, p95: float | None = 10.0) -> VersionStats:
    return VersionStats(
        version=version,
        requests=requests,
        errors=errors,
        fallbacks=fallbacks,
        error_rate=errors / requests if requests else 0.0,
        fallback_rate=fallbacks / requests if requests else 0.0,
        latency_p95_ms=p95,
    )


def test_a_challenger_within_every_limit_advances_from_shadow_and_is_promoted_from_canary() -> None:
    champion, challenger = stats("v1", 200, errors=2), stats("v2", 40, errors=1, p95=12.0)
    assert judge(SETTINGS, "shadow", champion, challenger).action == "advance"
    assert judge(SETTINGS, "canary", champion, challenger).action == "promote"


def test_the_controller_waits_for_enough_requests() -> None:
    verdict = judge(SETTINGS, "shadow", stats("v1", 200), stats("v2", 5))
    assert verdict.action == "wait" and "5 of 20" in verdict.reasons[0]
    assert judge(SETTINGS, "shadow", stats("v1", 200), None).action == "wait"


@pytest.mark.parametrize(
    ("challenger", "words"),
    [
        (stats("v2", 40, errors=8), "error rate 0.200 exceeds"),
        (stats("v2", 40, fallbacks=8), "fallback rate 0.200 exceeds"),
        (stats("v2", 40, p95=30.0), "3.00x the champion's"),
    ],
)
def test_a_worse_challenger_is_rolled_back_with_the_reason(challenger: VersionStats, words: str) -> None:
    verdict = judge(SETTINGS, "canary", stats("v1", 200), challenger)
    assert verdict.action == "rollback"
    assert any(words in reason for reason in verdict.reasons), verdict.reasons


def test_a_hopeless_challenger_is_rolled_back_before_the_window_fills() -> None:
    assert judge(SETTINGS, "shadow", stats("v1", 200), stats("v2", 5, errors=5)).action == "rollback"
    # Fallbacks without worker calls (its circuit is open) count as requests it handled.
    assert judge(SETTINGS, "canary", stats("v1", 200), stats("v2", 0, fallbacks=6)).action == "rollback"
    assert judge(SETTINGS, "shadow", stats("v1", 200), stats("v2", 5, errors=1)).action == "wait"


@pytest.fixture
def registry(engine: Engine) -> SqlModelRegistry:
    registry = SqlModelRegistry(engine)
    for version in ("v1", "v2", "v3"):
        registry.publish(SIGNER.sign(model_manifest(version)))
    registry.publish(SIGNER.sign(model_manifest("v4", status="rejected", reasons=["auc 0.5 is below the minimum 0.7"])))
    return registry


def service(registry: SqlModelRegistry) -> PromotionService:
    return PromotionService(registry=registry, manifests=ManifestCatalog.from_directory(None))


def test_manual_promotion_and_rollbacks_name_their_actor(registry: SqlModelRegistry) -> None:
    promotions = service(registry)
    _, first = promotions.change("card_fraud", TrafficChange(version="v1", policy="full"), actor="alice")
    assert (first.champion, first.updated_by, first.revision) == ("v1", "alice", 1)
    _, canary = promotions.change(
        "card_fraud", TrafficChange(version="v2", policy="canary", canary_percent=20), actor="bob"
    )
    assert (canary.challenger, canary.policy, canary.canary_percent, canary.updated_by) == ("v2", "canary", 20.0, "bob")
    _, dropped = promotions.rollback("card_fraud", Rollback(reason="looks off"), actor="carol")
    assert dropped.challenger is None and dropped.champion == "v1" and dropped.updated_by == "carol"
    _, promoted = promotions.change("card_fraud", TrafficChange(version="v3", policy="full"), actor="alice")
    assert (promoted.champion, promoted.previous_champion) == ("v3", "v1")
    _, restored = promotions.rollback("card_fraud", Rollback(), actor="alice")
    assert restored.champion == "v1"
    with pytest.raises(TrafficChangeError):
        promotions.rollback("card_fraud", Rollback(), actor="alice")


def test_bad_changes_are_refused(registry: SqlModelRegistry) -> None:
    promotions = service(registry)
    with pytest.raises(NotFoundError):
        promotions.traffic("card_fraud")
    with pytest.raises(TrafficChangeError, match="no champion"):
        promotions.change("card_fraud", TrafficChange(version="v2", policy="shadow"), actor="alice")
    with pytest.raises(VersionRejectedError):
        promotions.change("card_fraud", TrafficChange(version="v4", policy="full"), actor="alice")
    with pytest.raises(NotFoundError, match="v9"):
        promotions.change("card_fraud", TrafficChange(version="v9", policy="full"), actor="alice")
    with pytest.raises(NotFoundError):
        promotions.change("no_such_use_case", TrafficChange(version="v1", policy="full"), actor="alice")
    promotions.change("card_fraud", TrafficChange(version="v1", policy="full"), actor="alice")
    with pytest.raises(RevisionConflictError):
        promotions.change("card_fraud", TrafficChange(version="v2", policy="shadow", expected_revision=0), actor="bob")


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> float:
        return self.moment.timestamp()

    def monotonic(self) -> float:
        return self.moment.timestamp()


def inference_event(index: int, version: str, *, role: str, error: bool, at: datetime) -> AuditEvent:
    return AuditEvent(
        event_id=f"w-{version}-{index}",
        occurred_at=at,
        source="worker:leaim-inference",
        action="worker.inference",
        invocation_id=f"i-{index}",
        outcome="error" if error else "success",
        trace_id="0" * 32,
        duration_ms=5.0,
        use_case="card_fraud",
        model_name="card-fraud",
        model_version=version,
        details={"role": role},
    )


def test_the_controller_rolls_back_a_failing_shadow_and_promotes_a_good_canary(
    engine: Engine, registry: SqlModelRegistry
) -> None:
    promotions = service(registry)
    promotions.change("card_fraud", TrafficChange(version="v1", policy="full"), actor="alice")
    promotions.change("card_fraud", TrafficChange(version="v2", policy="shadow"), actor="alice")
    later = datetime.now(UTC) + timedelta(seconds=5)
    log = SqlAuditLog(engine)
    events = [inference_event(i, "v1", role="champion", error=False, at=later) for i in range(60)]
    events += [inference_event(i, "v2", role="shadow", error=True, at=later) for i in range(60)]
    log.append_many(events)
    catalog = ManifestCatalog.from_directory(None)
    controller = PromotionController(
        registry=registry,
        stats=SqlVersionStats(engine),
        manifests=catalog,
        clock=FixedClock(later + timedelta(seconds=1)),
    )
    decision = controller.evaluate(catalog.get("card_fraud"))
    assert decision.action == "rollback" and decision.challenger is not None and decision.challenger.errors == 60
    policy = registry.traffic("card_fraud")
    assert policy is not None and policy.challenger is None and policy.updated_by == CONTROLLER

    promotions.change("card_fraud", TrafficChange(version="v3", policy="canary", canary_percent=10), actor="alice")
    start = datetime.now(UTC) + timedelta(seconds=10)
    log.append_many([inference_event(100 + i, "v3", role="canary", error=False, at=start) for i in range(60)])
    log.append_many([inference_event(100 + i, "v1", role="champion", error=False, at=start) for i in range(60)])
    controller = PromotionController(
        registry=registry,
        stats=SqlVersionStats(engine),
        manifests=catalog,
        clock=FixedClock(start + timedelta(seconds=1)),
    )
    promoted = controller.evaluate(catalog.get("card_fraud"))
    assert promoted.action == "promote", promoted.reasons
    policy = registry.traffic("card_fraud")
    assert policy is not None and (policy.champion, policy.previous_champion, policy.challenger) == ("v3", "v1", None)


class BrokenStats:
    def version_stats(self, use_case: str, model_name: str, since: datetime) -> dict[str, VersionStats]:
        raise RuntimeError("stats query crashed")


def test_a_controller_run_that_crashes_still_stores_its_one_audit_event(registry: SqlModelRegistry) -> None:
    promotions = service(registry)
    promotions.change("card_fraud", TrafficChange(version="v1", policy="full"), actor="alice")
    promotions.change("card_fraud", TrafficChange(version="v2", policy="shadow"), actor="alice")
    controller = PromotionController(
        registry=registry,
        stats=BrokenStats(),
        manifests=ManifestCatalog.from_directory(None),
        clock=FixedClock(datetime.now(UTC)),
    )
    log = MemoryAuditLog()
    with pytest.raises(RuntimeError, match="stats query crashed"):
        run_controller(
            controller,
            ScheduleGate(
                audit_log=log,
                telemetry=StaticTelemetry(),
                clock=FixedClock(datetime.now(UTC)),
                source="PromotionControllerFunction",
            ),
            "run-1",
        )
    assert [(e.invocation_id, e.outcome, e.principal) for e in log.events] == [
        ("run-1", "error", "controller:promotion")
    ]
    assert "RuntimeError: stats query crashed" in (log.events[0].error or "")
