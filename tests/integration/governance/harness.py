"""A decision service and the governance API over one real SQL store, with card_fraud traffic to feed them.

Decisions are made by the real `DecisionService` on the real `SqlAuditLog`, scored by a linear worker
fake; the governance API, the monitor and the reports then read what was stored.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from contracts.model.v1 import TrainingJob
from gpu_workers.training.evaluation import baseline
from leaim.adapters.invocations import JsonlInvocationLedger
from leaim.adapters.sql import SqlAuditLog, SqlDecisionStore, SqlModelRegistry
from leaim.adapters.sql.intake import SqlIntakeHistory
from leaim.adapters.sql.oversight import SqlOversight
from leaim.adapters.sql.process import SqlProcessHistory
from leaim.adapters.sql.retention import SqlRetention
from leaim.data.features import feature_vector, merge_online
from leaim.data.validation import validate_inputs
from leaim.domain.manifests import ManifestCatalog
from leaim.governance.access.gate import HttpGate, Invocation
from leaim.governance.api import GovernanceApi
from leaim.governance.oversight.monitor import Monitor
from leaim.governance.oversight.outcomes import OutcomeService
from leaim.governance.oversight.reviews import ReviewService
from leaim.governance.ports import AuditQuery, Principal
from leaim.governance.reports import GovernanceReports
from leaim.lifecycle.signing import ManifestSigner
from leaim.orchestration.api import DecisionApi
from leaim.orchestration.decisions import DecisionService
from leaim.serving.breaker import BreakerBoard
from tests.support.factories import model_manifest
from tests.support.fakes import PII_KEY, LinearWorker, MemoryFeatures, MemoryKeys, MemoryStops, StaticTelemetry
from tests.support.openapi import assert_documented, document

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from sqlalchemy import Engine

    from contracts.audit.v1 import AuditEvent
    from contracts.model.v1 import RetrainingRequest
    from leaim.domain.clock import Clock
    from leaim.governance.access.gate import HttpAnswer
    from leaim.governance.access.limits import RateLimits
    from leaim.governance.ports import ApiKeyStore

USE_CASE = "card_fraud"
MIN_ROWS = 200
MODEL = "card-fraud"
KEYS = {
    "client-key": Principal("checkout-service", "decision_client"),
    "reviewer-key": Principal("risk-analyst", "reviewer"),
    "auditor-key": Principal("audit-team", "auditor"),
    "ml-key": Principal("fraud-ml", "ml_engineer"),
    "steward-key": Principal("data-office", "data_steward"),
}
# Foreign, night and card-not-present transactions are risky; the weights follow the manifest's feature order.
WEIGHTS = {"amount_to_avg": 0.3, "foreign": 1.6, "night": 1.2, "card_not_present": 1.0, "risky_merchant": 0.8}
BIAS = -3.6
COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "GB", "US"]
MERCHANTS = ["grocery", "fuel", "restaurants", "travel", "electronics", "digital_goods", "other"]
AGE_BANDS = ["18-25", "26-40", "41-65", "65+"]


class RealClock:
    """Wall time: decisions' times and the store's own timestamps agree."""

    def now(self) -> float:
        return datetime.now(UTC).timestamp()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer and the one audit event its invocation stored."""

    status: int
    body: dict[str, Any]
    text: str | None
    event: AuditEvent


def transaction(rng: random.Random, *, shifted: bool = False, age_band: str | None = None) -> dict[str, object]:
    """A card_fraud input; `shifted` traffic has far larger amounts and far more foreign, card-not-present payments."""
    amount = rng.lognormvariate(math.log(400.0 if shifted else 50.0), 0.6)
    return {
        "transaction_id": uuid.uuid4().hex[:16],
        "card_id": f"card-{rng.randrange(1000)}",
        "amount": round(min(max(amount, 0.01), 99_000.0), 2),
        "merchant_category": rng.choice(MERCHANTS),
        "country": rng.choice(["BR", "NG", "US"] if shifted and rng.random() < 0.6 else COUNTRIES),
        "hour_of_day": rng.randrange(24),
        "card_present": rng.random() < (0.3 if shifted else 0.8),
        "cardholder_age_band": age_band or rng.choice(AGE_BANDS),
    }


class GovernanceBench:
    """The decision service, the governance API and the monitor on one engine."""

    def __init__(
        self,
        engine: Engine,
        tmp_path: Path,
        *,
        keys: ApiKeyStore | None = None,
        limits: RateLimits | None = None,
        clock: Clock | None = None,
    ) -> None:
        """`keys` are the callers' (the five of `KEYS` by default), `limits` the rate plans enforced (none by
        default), `clock` the time everything runs on (the wall clock by default)."""
        self.engine = engine
        self.keys = keys or MemoryKeys(KEYS)
        self.limits = limits
        shipped = ManifestCatalog.from_directory(None).get(USE_CASE)
        # The shipped manifest judges a day of traffic; these tests judge a few hundred decisions.
        monitoring = shipped.monitoring.model_copy(update={"min_rows": MIN_ROWS})
        self.manifest = shipped.model_copy(update={"monitoring": monitoring})
        self.catalog = ManifestCatalog({USE_CASE: self.manifest})
        self.clock = clock or RealClock()
        self.audit_log = SqlAuditLog(engine)
        self.store = SqlOversight(engine)
        self.registry = SqlModelRegistry(engine)
        self.signer = ManifestSigner.generate()
        self.telemetry = StaticTelemetry()
        names = self.manifest.feature_names
        self.worker = LinearWorker([WEIGHTS.get(name, 0.0) for name in names], bias=BIAS)
        self.features = MemoryFeatures()
        self.retraining: list[tuple[str, RetrainingRequest, str]] = []
        self.ledger_file = tmp_path / "invocations.jsonl"
        self.service = DecisionService(
            catalog=self.catalog,
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
        gate = self.gate("GovernanceApiFunction")
        self.ledger = JsonlInvocationLedger(self.ledger_file)
        self.reports = GovernanceReports(
            store=self.store,
            catalog=self.catalog,
            router=self.registry,
            registry=self.registry,
            ledger=self.ledger,
            verifies=self.signer.verifies,
            history=SqlProcessHistory(engine),
            clock=self.clock,
            intake=SqlIntakeHistory(engine),
        )
        self.api = GovernanceApi(
            trail=self.audit_log,
            outcomes=OutcomeService(store=self.store, catalog=self.catalog, clock=self.clock),
            reviews=ReviewService(store=self.store, catalog=self.catalog, clock=self.clock),
            reports=self.reports,
            store=self.store,
            catalog=self.catalog,
            holds=SqlRetention(engine),
            openapi=document(),
            gate=gate,
        )
        self.decision_api = DecisionApi(service=self.service, gate=self.gate("DecisionApiFunction"))
        self.monitor = Monitor(
            catalog=self.catalog,
            router=self.registry,
            registry=self.registry,
            store=self.store,
            retrainer=self,
            clock=self.clock,
        )

    def gate(self, source: str) -> HttpGate:
        return HttpGate(
            keys=self.keys,
            audit_log=self.audit_log,
            telemetry=self.telemetry,
            clock=self.clock,
            max_body_bytes=64 * 1024,
            source=source,
            limits=self.limits,
        )

    def retrain(self, use_case: str, request: RetrainingRequest, *, principal: str) -> TrainingJob:
        """The lifecycle's side of the monitor, recorded: a queued job."""
        self.retraining.append((use_case, request, principal))
        now = datetime.now(UTC)
        return TrainingJob(
            job_id=f"job-{len(self.retraining)}",
            model_name=MODEL,
            use_case=use_case,
            version=f"v{len(self.retraining) + 1}",
            snapshot_id="snap-drift",
            family="logistic_regression",
            params={},
            seed=7,
            deploy=request.deploy,
            trigger=request.trigger,
            reason=request.reason,
            requested_by=principal,
            state="queued",
            stage="queued",
            progress=0.0,
            reasons=[],
            created_at=now,
            updated_at=now,
        )

    def publish_champion(self, version: str = "v1", *, rows: int = 4000, seed: int = 3, **overrides: Any) -> None:
        """Publish `version` with a baseline of `rows` unshifted transactions, signed, and make it champion."""
        rng = random.Random(seed)
        matrix = np.array([self.feature_row(transaction(rng)) for _ in range(rows)], dtype=np.float64)
        scores = np.array([self.score(row) for row in matrix], dtype=np.float64)
        manifest = model_manifest(version, baseline=baseline(self.manifest.feature_names, matrix, scores), **overrides)
        self.registry.publish(self.signer.sign(manifest))
        self.registry.set_champion(USE_CASE, MODEL, version, actor="tester")

    def feature_row(self, inputs: dict[str, object]) -> list[float]:
        cleaned, errors = validate_inputs(self.manifest, inputs)
        assert not errors, errors
        return feature_vector(self.manifest, cleaned, merge_online(self.manifest, None))

    def score(self, row: Any) -> float:
        total = sum(
            WEIGHTS.get(name, 0.0) * value for name, value in zip(self.manifest.feature_names, row, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-(total + BIAS)))

    def decide(self, inputs: dict[str, object], *, request_id: str | None = None) -> dict[str, Any]:
        """One decision over the decision API, as the checkout service makes it."""
        body = json.dumps({"request_id": request_id or uuid.uuid4().hex, "inputs": inputs}).encode()
        reply = self.call(
            lambda inv: self.decision_api.create(USE_CASE, body, inv), "client-key", "DecisionApiFunction"
        )
        assert reply.status == 200, reply.body
        return reply.body

    def traffic(self, count: int, *, seed: int, shifted: bool = False) -> list[dict[str, Any]]:
        rng = random.Random(seed)
        return [self.decide(transaction(rng, shifted=shifted)) for _ in range(count)]

    def call(
        self, route: Callable[[Invocation], HttpAnswer], key: str | None, function: str = "GovernanceApiFunction"
    ) -> Reply:
        """Invoke a route as its function would, record the invocation as Lambda counts it, and find its one event."""
        invocation = Invocation(invocation_id=uuid.uuid4().hex, headers={"x-api-key": key} if key else {})
        started = datetime.now(UTC)
        answer = route(invocation)
        self.ledger.record(function, invocation.invocation_id, datetime.now(UTC))
        events = [
            event
            for event in self.audit_log.events(AuditQuery(since=started - timedelta(seconds=1)), limit=100_000)
            if event.invocation_id == invocation.invocation_id and not event.source.startswith("worker:")
        ]
        assert len(events) == 1, events
        assert_documented(answer, events[0])
        return Reply(answer.status, answer.body, answer.text, events[0])
