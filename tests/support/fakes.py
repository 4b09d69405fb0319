"""In-memory fakes of the orchestration ports, for unit tests of the decision logic."""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from contracts.decision.v1 import DecisionRequest
from contracts.inference.v1 import Contribution, InferenceResult, RowScore
from leaim.data.privacy import token
from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import DuplicateDecisionError, LeaimError, WorkerError
from leaim.governance.audit.events import DECISION_ACTION, InvocationAudit
from leaim.orchestration.decisions import DecisionService
from leaim.orchestration.ports import MadeDecision, PriorDecision
from leaim.serving.breaker import BreakerBoard
from leaim.serving.ports import ActiveModel, TrafficPlan

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from contracts.audit.v1 import AuditEvent
    from contracts.decision.v1 import DecisionResponse, Override
    from contracts.inference.v1 import InferenceRequest
    from contracts.model.v1 import SignedManifest, StopState
    from contracts.training.v2 import TrainingRequest, TrainingResult
    from leaim.governance.ports import Principal

DIGEST = "ab" * 32
TRACE = "0123456789abcdef0123456789abcdef"


class ManualClock:
    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.mono = 50.0

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


class MemoryAuditLog:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.decisions: dict[str, DecisionResponse] = {}
        self.inputs: dict[str, Mapping[str, object]] = {}
        self.features: dict[str, dict[str, float] | None] = {}
        self.overrides: dict[str, Override] = {}

    def append(self, event: AuditEvent) -> None:
        self.events.append(event)

    def append_many(self, events) -> None:
        self.events.extend(events)

    def record_decision(
        self,
        decision: DecisionResponse,
        inputs: Mapping[str, object],
        event: AuditEvent,
        related=(),
        *,
        features: Mapping[str, float] | None = None,
    ) -> None:
        for existing in self.decisions.values():
            if (existing.use_case, existing.request_id) == (decision.use_case, decision.request_id):
                raise DuplicateDecisionError(existing)
        self.decisions[decision.decision_id] = decision
        self.inputs[decision.decision_id] = dict(inputs)
        self.features[decision.decision_id] = None if features is None else dict(features)
        self.events.extend(related)
        self.events.append(event)

    def get(self, decision_id: str) -> MadeDecision | None:
        decision = self.decisions.get(decision_id)
        if decision is None:
            return None
        makers = [e.principal for e in self.events if e.decision_id == decision_id and e.action == DECISION_ACTION]
        return MadeDecision(decision, makers[0] if makers else None)

    def override_of(self, decision_id: str) -> Override | None:
        return self.overrides.get(decision_id)

    def by_request(self, use_case: str, request_id: str) -> PriorDecision | None:
        for decision in self.decisions.values():
            if (decision.use_case, decision.request_id) == (use_case, request_id):
                return PriorDecision(decision, json.loads(json.dumps(self.inputs[decision.decision_id])))
        return None

    def actions(self) -> list[tuple[str, str]]:
        return [(event.action, event.outcome) for event in self.events]


class MemoryFeatures:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, float | int | str]] = {}
        self.down = False

    def get(self, use_case: str, entity_id: str) -> Mapping[str, float | int | str] | None:
        if self.down:
            from leaim.exceptions import LeaimError

            raise LeaimError("connection refused")
        return self.rows.get((use_case, entity_id))

    def put(self, use_case: str, entity_id: str, features: Mapping[str, float | int | str]) -> None:
        self.rows[(use_case, entity_id)] = dict(features)


class FixedRouter:
    def __init__(self, plan: TrafficPlan | None) -> None:
        self.traffic = plan

    def plan(self, use_case: str) -> TrafficPlan | None:
        return self.traffic


class MemoryStops:
    """Each use case's stop switch in a dict; can be told to fail like an unreachable table."""

    def __init__(self) -> None:
        self.states: dict[str, StopState] = {}
        self.failure: LeaimError | None = None

    def stop_state(self, use_case: str) -> StopState | None:
        if self.failure is not None:
            raise self.failure
        return self.states.get(use_case)

    def set_stop(self, state: StopState) -> None:
        self.states[state.use_case] = state


class LinearWorker:
    """Scores sum(weights * features) through a sigmoid; can be told to fail."""

    def __init__(self, weights: list[float], bias: float) -> None:
        self.weights = weights
        self.bias = bias
        self.failure: WorkerError | None = None
        self.failing: dict[str, WorkerError] = {}
        self.requests: list[InferenceRequest] = []
        self.manifests: list[SignedManifest] = []

    def score(self, request: InferenceRequest, timeout_s: float) -> InferenceResult:
        self.requests.append(request)
        if self.failure is not None:
            raise self.failure
        if request.artifact_digest in self.failing:
            raise self.failing[request.artifact_digest]
        results = []
        for row in request.rows:
            parts = [w * x for w, x in zip(self.weights, row, strict=True)]
            score = 1.0 / (1.0 + math.exp(-(sum(parts) + self.bias)))
            contributions = sorted(
                (
                    Contribution(feature=f, value=x, contribution=c)
                    for f, x, c in zip(request.feature_names, row, parts, strict=True)
                ),
                key=lambda c: -abs(c.contribution),
            )[: request.top_reasons]
            results.append(RowScore(score=score, contributions=contributions))
        return InferenceResult(
            request_id=request.request_id,
            model_name=request.model_name,
            model_version=request.model_version,
            artifact_digest=request.artifact_digest,
            results=results,
            worker="linear-test-worker",
            batch_size=len(request.rows),
            duration_ms=0.1,
            trace_id=request.trace_context.get("traceparent", "-").split("-")[1] if request.trace_context else "0" * 32,
            span_id="0" * 16,
        )

    def train(self, request: TrainingRequest, timeout_s: float) -> TrainingResult:
        raise WorkerError("training is not part of these tests")

    def publish_manifest(self, signed: SignedManifest, timeout_s: float) -> None:
        self.manifests.append(signed)


class StaticTelemetry:
    def __init__(self) -> None:
        self.spans: list[str] = []

    @contextmanager
    def span(self, name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[None]:
        self.spans.append(name)
        yield

    def trace_id(self) -> str:
        return TRACE

    def carrier(self) -> dict[str, str]:
        return {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}

    @contextmanager
    def attach(self, carrier: Mapping[str, str]) -> Iterator[None]:
        yield


class MemoryKeys:
    def __init__(self, keys: Mapping[str, Principal]) -> None:
        from leaim.governance.access.policy import key_digest

        self.by_digest = {key_digest(key): principal for key, principal in keys.items()}

    def lookup(self, key_digest: str) -> Principal | None:
        return self.by_digest.get(key_digest)


PII_KEY = b"unit-test-pii-key-0123456789"


class World:
    """A decision service over fakes, with handles on each fake."""

    def __init__(
        self, *, model_features: list[str] | None = None, active: bool = True, catalog: ManifestCatalog | None = None
    ) -> None:
        self.catalog = catalog or ManifestCatalog.from_directory(None)
        manifest = self.catalog.get("card_fraud")
        names = model_features or manifest.feature_names
        self.clock = ManualClock()
        self.audit = MemoryAuditLog()
        self.features = MemoryFeatures()
        # Weights that make foreign, night, card-not-present transactions risky.
        weights = {"amount_to_avg": 0.6, "foreign": 2.0, "night": 1.5, "card_not_present": 1.0, "risky_merchant": 1.2}
        self.worker = LinearWorker([weights.get(name, 0.0) for name in names], bias=-4.0)
        self.model = ActiveModel(name="card-fraud", version="v1", artifact_digest=DIGEST, feature_names=tuple(names))
        self.router = FixedRouter(self.plan() if active else None)
        self.stops = MemoryStops()
        self.telemetry = StaticTelemetry()
        self.breakers = BreakerBoard(failure_threshold=2, reset_s=30.0, monotonic=self.clock.monotonic)
        self.service = DecisionService(
            catalog=self.catalog,
            features=self.features,
            router=self.router,
            stops=self.stops,
            workers=self.worker,
            audit_log=self.audit,
            decisions=self.audit,
            overrides=self.audit,
            telemetry=self.telemetry,
            clock=self.clock,
            breakers=self.breakers,
            pii_key=PII_KEY,
            deadline_margin_ms=50,
        )

    def plan(
        self, challenger: ActiveModel | None = None, policy: str | None = None, canary_percent: float = 0.0
    ) -> TrafficPlan:
        """A traffic plan with this world's model as champion."""
        return TrafficPlan(champion=self.model, challenger=challenger, policy=policy, canary_percent=canary_percent)

    def put_card(self, card_id: str, features: dict[str, float | int | str]) -> None:
        """Store a card's online features under its token, as ingestion does."""
        self.features.put("card_fraud", token(PII_KEY, "card_id", card_id), features)


def transaction(**overrides: object) -> dict[str, object]:
    inputs: dict[str, object] = {
        "transaction_id": "t-1",
        "card_id": "card-42",
        "amount": 80.0,
        "merchant_category": "grocery",
        "country": "DE",
        "hour_of_day": 14,
        "card_present": True,
        "cardholder_name": "Erika Mustermann",
        "cardholder_age_band": "26-40",
    }
    inputs.update(overrides)
    return inputs


def decide(world: World, request_id: str = "r-1", remaining_ms: float | None = 5_000, **inputs: object):
    """Decide a card_fraud transaction through `world`'s service; returns the result and its audit."""
    audit = InvocationAudit(
        world.audit,
        world.clock,
        source="DecisionApiFunction",
        action="decision.create",
        invocation_id=request_id,
        trace_id=TRACE,
    )
    request = DecisionRequest(request_id=request_id, inputs=transaction(**inputs))
    return world.service.decide("card_fraud", request, audit, remaining_ms=remaining_ms), audit
