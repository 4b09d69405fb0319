"""The governed decision: validate, enrich, route, score within a deadline, apply rules, audit."""

from __future__ import annotations

import math
import threading
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contracts.decision.v1 import DecisionResponse, ModelRef, Reason, StopNotice
from leaim.data.features import feature_vector, merge_online
from leaim.data.privacy import entity_id, minimize
from leaim.data.validation import validate_inputs
from leaim.domain.deadline import Deadline
from leaim.exceptions import DuplicateDecisionError, LeaimError, WorkerError
from leaim.orchestration.adverse import principal_reasons
from leaim.orchestration.exceptions import InputValidationError, RequestIdReusedError
from leaim.orchestration.rules import (
    feature_reasons,
    match_rule,
    outcome_for_score,
    policy_outcome,
    rule_reason,
    stop_reason,
)
from leaim.orchestration.worker_calls import DEFAULT_TOP_REASONS, check_answer, inference_request, worker_call_event
from leaim.serving.routing import serving_model

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contracts.audit.v1 import AuditEvent
    from contracts.decision.v1 import DecisionRequest
    from contracts.inference.v1 import RowScore
    from contracts.manifest.v1 import Rule, UseCaseManifest
    from leaim.data.ports import FeatureStore
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import BoundManifest, ManifestCatalog
    from leaim.governance.audit.events import InvocationAudit
    from leaim.governance.ports import AuditLog, Telemetry
    from leaim.lifecycle.ports import StopSwitch
    from leaim.orchestration.ports import DecisionStore, MadeDecision, OverrideReader
    from leaim.serving.breaker import BreakerBoard
    from leaim.serving.ports import ActiveModel, ModelRouter, WorkerClient

# The feature reasons a decision shows, the largest contributions first; a use case with adverse-action notices has
# the worker return every feature's contribution, for its principal reasons.
SHOWN_REASONS = DEFAULT_TOP_REASONS
# Threads per container for shadow calls, which run beside the champion's call.
SHADOW_THREADS = 4
# The recent commits whose 90th percentile sizes the time kept for the durable write, and the largest share of a
# budget ever kept for it.
COMMIT_SAMPLES = 50
COMMIT_QUANTILE = 0.9
COMMIT_RESERVE_MAX_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """A decision and whether it was made earlier for the same request id."""

    response: DecisionResponse
    replay: bool


@dataclass(frozen=True, slots=True)
class _Scored:
    row: RowScore
    model: ActiveModel
    features: dict[str, float]


@dataclass(frozen=True, slots=True)
class _Verdict:
    """How a decision came out: its outcome and reasons, the fields its rules saw, the online features read (None
    when the store was not read or failed), and the model's score when one decided."""

    outcome: str
    reasons: list[Reason]
    fields: dict[str, Any]
    online: dict[str, Any] | None
    score: float | None = None
    model: ModelRef | None = None
    features: dict[str, float] | None = None
    fallback_reason: str | None = None
    stopped: StopNotice | None = None
    rule: Rule | None = None
    contributions: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class _Call:
    """One worker call: the row's score, or why there is none, and the call's audit event if it was made."""

    row: RowScore | None
    event: AuditEvent | None
    failure: str | None


class CommitReserve:
    """How much of a decision's budget to keep for its durable write, which comes after the worker call.

    The 90th percentile of the last `COMMIT_SAMPLES` commits of this container, and never less than `floor_ms`:
    the write's duration depends on where the store runs (a DynamoDB transaction in the region, or the local
    endpoint on a busy machine), so it is measured rather than guessed, and covers nine commits in ten. The
    container's first commit is left out: it also opens the store's connection, which the next ones reuse. The
    reserve never takes more than `COMMIT_RESERVE_MAX_SHARE` of the budget, so that a slow store does not leave
    the decisions without time for a model.
    """

    def __init__(self, floor_ms: float) -> None:
        self.floor_ms = floor_ms
        self._recent: deque[float] = deque(maxlen=COMMIT_SAMPLES)
        self._first = True
        self._lock = threading.Lock()

    def record(self, duration_ms: float) -> None:
        """A commit took `duration_ms`."""
        with self._lock:
            if self._first:
                self._first = False
                return
            self._recent.append(duration_ms)

    def of(self, budget_ms: float) -> float:
        """Milliseconds of `budget_ms` kept for the commit."""
        with self._lock:
            recent = sorted(self._recent)
        quantile = recent[max(math.ceil(COMMIT_QUANTILE * len(recent)) - 1, 0)] if recent else 0.0
        return min(max(self.floor_ms, quantile), budget_ms * COMMIT_RESERVE_MAX_SHARE)


class DecisionService:
    """Makes governed decisions. Every dependency is a port, so it runs without AWS or Modal."""

    def __init__(
        self,
        *,
        catalog: ManifestCatalog,
        features: FeatureStore,
        router: ModelRouter,
        stops: StopSwitch,
        workers: WorkerClient,
        audit_log: AuditLog,
        decisions: DecisionStore,
        overrides: OverrideReader,
        telemetry: Telemetry,
        clock: Clock,
        breakers: BreakerBoard,
        pii_key: bytes,
        deadline_margin_ms: float,
        commit_reserve_ms: float = 0.0,
    ) -> None:
        self._catalog = catalog
        self._features = features
        self._router = router
        self._stops = stops
        self._workers = workers
        self._audit_log = audit_log
        self._decisions = decisions
        self._overrides = overrides
        self._telemetry = telemetry
        self._clock = clock
        self._breakers = breakers
        self._pii_key = pii_key
        self._margin_ms = deadline_margin_ms
        self._commit_reserve = CommitReserve(commit_reserve_ms)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def manifest(self, use_case: str) -> UseCaseManifest:
        """The use case's manifest; raises NotFoundError for an unknown use case."""
        return self._catalog.get(use_case)

    def get(self, decision_id: str) -> MadeDecision | None:
        """A stored decision as it stands (with a reviewer's outcome once it was overridden), and who made it."""
        found = self._decisions.get(decision_id)
        if found is None or not found.response.review_required:
            return found
        override = self._overrides.override_of(decision_id)
        if override is None:
            return found
        response = found.response.model_copy(update={"outcome": override.outcome, "override": override})
        return replace(found, response=response)

    def decide(
        self, use_case: str, request: DecisionRequest, audit: InvocationAudit, *, remaining_ms: float | None
    ) -> DecisionResult:
        """Decide `request` for `use_case` and store the decision with the invocation's audit event.

        Raises NotFoundError (unknown use case), InputValidationError, or RequestIdReusedError (the id was
        decided for other inputs); the caller audits those.
        Failures of the model path (registry, features, worker, breaker, deadline) give the manifest's
        fallback decision, and so does a stopped use case (or its review outcome, if it was stopped into review),
        read afresh for every new request; a stop switch that cannot be read counts as a failure of the path.
        Should anything else fail after a worker call, that call's event is still stored.

        The manifest's latency budget (or the invocation's remaining time less the margin, if earlier) covers
        the answer of a new request from its idempotency lookup on: enrichment and the worker call run against
        a deadline that keeps the commit reserve back for the durable write which follows them.
        """
        started = self._clock.monotonic()
        bound = self._catalog.bound(use_case)
        manifest = bound.manifest
        audit.note(use_case=use_case, request_id=request.request_id)
        cleaned, errors = validate_inputs(manifest, request.inputs)
        if errors:
            raise InputValidationError(errors)
        previous = self._decisions.by_request(use_case, request.request_id)
        if previous is not None:
            if previous.inputs != minimize(manifest, cleaned, self._pii_key):
                raise RequestIdReusedError(
                    f"request id {request.request_id!r} was decided as {previous.response.decision_id!r} "
                    "for other inputs"
                )
            return self._replay(previous.response, audit)
        # From here: a retried request was answered above, from one read, without a model call to bound.
        deadline = self._work_deadline(manifest.latency_budget_ms, remaining_ms)
        worker_events: list[AuditEvent] = []
        try:
            return self._decide(bound, request, cleaned, deadline, audit, worker_events, started)
        except DuplicateDecisionError:
            raise
        except Exception:
            if worker_events:
                self._audit_log.append_many(worker_events)
            raise

    def _work_deadline(self, budget_ms: float, remaining_ms: float | None) -> Deadline:
        """The deadline of everything before the durable write: the answer's deadline less the commit reserve."""
        reserve_ms = self._commit_reserve.of(budget_ms)
        return Deadline.within(
            budget_ms - reserve_ms,
            now=self._clock.now(),
            monotonic=self._clock.monotonic,
            remaining_ms=remaining_ms,
            margin_ms=self._margin_ms + reserve_ms,
        )

    def _decide(
        self,
        bound: BoundManifest,
        request: DecisionRequest,
        cleaned: dict[str, Any],
        deadline: Deadline,
        audit: InvocationAudit,
        worker_events: list[AuditEvent],
        started: float,
    ) -> DecisionResult:
        manifest = bound.manifest
        decision_id = uuid.uuid4().hex
        verdict = self._verdict(manifest, decision_id, cleaned, deadline, audit, worker_events)
        review_outcome = manifest.decision.review_band.outcome if manifest.decision.review_band else None
        response = DecisionResponse(
            decision_id=decision_id,
            request_id=request.request_id,
            use_case=manifest.name,
            outcome=verdict.outcome,
            score=verdict.score,
            reasons=verdict.reasons,
            model=verdict.model,
            policy=bound.ref,
            fallback=verdict.fallback_reason is not None,
            fallback_reason=verdict.fallback_reason,
            review_required=verdict.outcome == review_outcome,
            principal_reasons=principal_reasons(
                manifest,
                verdict.outcome,
                contributions=verdict.contributions,
                rule=verdict.rule,
                fallback=verdict.fallback_reason is not None,
            ),
            stopped=verdict.stopped,
            trace_id=audit.trace_id,
            decided_at=datetime.fromtimestamp(self._clock.now(), UTC),
            latency_ms=round((self._clock.monotonic() - started) * 1000.0, 3),
        )
        stored_inputs = minimize(manifest, cleaned, self._pii_key)
        committing = self._clock.monotonic()
        try:
            with self._telemetry.span("decision.audit"):
                audit.store_decision(
                    response,
                    stored_inputs,
                    status_code=200,
                    related=worker_events,
                    features=verdict.features,
                    details=self._policy_details(bound, verdict),
                )
        except DuplicateDecisionError as duplicate:
            self._commit_reserve.record((self._clock.monotonic() - committing) * 1000.0)
            # A concurrent delivery of the same request won: its decision stands, our worker calls are still audited.
            if worker_events:
                self._audit_log.append_many(worker_events)
            return self._replay(duplicate.decision, audit)
        self._commit_reserve.record((self._clock.monotonic() - committing) * 1000.0)
        return DecisionResult(response, replay=False)

    def _verdict(
        self,
        manifest: UseCaseManifest,
        decision_id: str,
        cleaned: dict[str, Any],
        deadline: Deadline,
        audit: InvocationAudit,
        worker_events: list[AuditEvent],
    ) -> _Verdict:
        """What decides: the stop switch, else the first matching rule, else the model's score; the fallback
        whenever the path to the one that would decide fails."""
        policy = manifest.decision
        review_outcome = policy.review_band.outcome if policy.review_band else None
        stopped, stop_error = self._stop_notice(manifest.name)
        if stopped is not None:
            reasons = [stop_reason(stopped)]
            if stopped.mode == "review" and review_outcome is not None:
                return _Verdict(review_outcome, reasons, dict(cleaned), None, stopped=stopped)
            fallback = f"use case stopped: {stopped.reason}"
            return _Verdict(
                manifest.fallback.outcome, reasons, dict(cleaned), None, stopped=stopped, fallback_reason=fallback
            )
        if stop_error is not None:
            return self._fallback(manifest, dict(cleaned), None, stop_error)
        with self._telemetry.span("decision.enrich", {"use_case": manifest.name}):
            online, enrich_error = self._enrich(manifest, cleaned, deadline)
        # Inputs win over online features of the same name, as in the model's features; with the store
        # down, only rules on the caller's own inputs may decide.
        fields: dict[str, Any] = dict(cleaned) if enrich_error else {**online, **cleaned}
        rule = match_rule(policy, fields)
        if rule is not None:
            return _Verdict(rule.outcome, [rule_reason(rule)], fields, None if enrich_error else online, rule=rule)
        if enrich_error is not None:
            return self._fallback(manifest, fields, None, enrich_error)
        scored = self._score(
            manifest,
            decision_id,
            cleaned=cleaned,
            online=online,
            routing_key=entity_id(manifest, cleaned, self._pii_key),
            deadline=deadline,
            audit=audit,
            worker_events=worker_events,
        )
        if isinstance(scored, str):
            return self._fallback(manifest, fields, online, scored)
        model = ModelRef(
            name=scored.model.name, version=scored.model.version, artifact_digest=scored.model.artifact_digest
        )
        outcome, threshold_reason, _ = outcome_for_score(policy, scored.row.score)
        shown = [(c.feature, c.value, c.contribution) for c in scored.row.contributions[:SHOWN_REASONS]]
        return _Verdict(
            outcome,
            [threshold_reason, *feature_reasons(shown)],
            fields,
            online,
            score=scored.row.score,
            model=model,
            features=scored.features,
            contributions=tuple((c.feature, c.contribution) for c in scored.row.contributions),
        )

    @staticmethod
    def _fallback(
        manifest: UseCaseManifest, fields: dict[str, Any], online: dict[str, Any] | None, why: str
    ) -> _Verdict:
        reason = Reason(kind="fallback", code="fallback", message=f"{manifest.fallback.reason} ({why})")
        return _Verdict(manifest.fallback.outcome, [reason], fields, online, fallback_reason=why)

    def _stop_notice(self, use_case: str) -> tuple[StopNotice | None, str | None]:
        """The use case's stop switch as a notice on the answer, or None while it runs; or why it could not be read."""
        try:
            with self._telemetry.span("decision.stop_switch", {"use_case": use_case}):
                state = self._stops.stop_state(use_case)
        except LeaimError as error:
            return None, f"stop switch unavailable: {error}"
        if state is None or not state.stopped or state.mode is None:
            return None, None
        return StopNotice(mode=state.mode, reason=state.reason or "", stopped_at=state.changed_at), None

    def _policy_details(self, bound: BoundManifest, verdict: _Verdict) -> dict[str, Any]:
        """What the decision's event records of its policy: the version and digest that decided, the online features
        its rules saw, and the outcome the shadow version (if any) would have given on the same fields and score.
        A stopped use case's decision records the stop instead: its policy decided nothing to compare."""
        details: dict[str, Any] = {"policy_version": bound.version, "policy_digest": bound.digest}
        if verdict.online is not None:
            details["online"] = dict(verdict.online)
        if verdict.stopped is not None:
            details["stopped"] = verdict.stopped.model_dump(mode="json")
            return details
        try:
            shadow = self._catalog.shadow(bound.manifest.name)
        except LeaimError:
            return details
        if shadow is not None and shadow.version != bound.version:
            details["policy_shadow"] = {
                "version": shadow.version,
                "digest": shadow.digest,
                "outcome": policy_outcome(shadow.manifest, verdict.fields, verdict.score),
            }
        return details

    def _replay(self, previous: DecisionResponse, audit: InvocationAudit) -> DecisionResult:
        audit.note(decision_id=previous.decision_id)
        audit.store("duplicate", status_code=200, details={"outcome": previous.outcome, "replay": True})
        return DecisionResult(previous, replay=True)

    def _enrich(
        self, manifest: UseCaseManifest, cleaned: Mapping[str, Any], deadline: Deadline
    ) -> tuple[dict[str, str | int | float], str | None]:
        if deadline.expired():
            return merge_online(manifest, None), "latency budget spent before enrichment"
        entity = entity_id(manifest, cleaned, self._pii_key)
        try:
            stored = self._features.get(manifest.name, entity)
        except LeaimError as error:
            return merge_online(manifest, None), f"online feature store unavailable: {error}"
        return merge_online(manifest, stored), None

    def _score(
        self,
        manifest: UseCaseManifest,
        decision_id: str,
        *,
        cleaned: Mapping[str, Any],
        online: Mapping[str, Any],
        routing_key: str,
        deadline: Deadline,
        audit: InvocationAudit,
        worker_events: list[AuditEvent],
    ) -> _Scored | str:
        """Score on the version the traffic plan picks, or say why not (the fallback reason).

        Under a shadow policy the challenger scores the same row concurrently; its answer is only
        recorded. The event of each worker call is added to `worker_events`, stored with the decision.
        """
        try:
            plan = self._router.plan(manifest.name)
        except LeaimError as error:
            return f"model registry unavailable: {error}"
        if plan is None:
            return "no model version is active for this use case"
        active, role = serving_model(plan, manifest.name, routing_key)
        label = f"{active.name}@{active.version}"
        audit.note(model_name=active.name, model_version=active.version, artifact_digest=active.artifact_digest)
        if list(active.feature_names) != manifest.feature_names:
            return f"model {label} was trained on other features than the manifest declares"
        try:
            row = feature_vector(manifest, cleaned, online)
        except (ValueError, OverflowError) as error:
            return f"features could not be computed: {error}"
        timeout_s = deadline.remaining_s()
        if timeout_s <= 0.0:
            return "latency budget spent before the model call"
        with self._telemetry.span("worker.inference", {"model": label, "timeout_ms": round(timeout_s * 1000)}):
            carrier, trace_id = self._telemetry.carrier(), self._telemetry.trace_id()
            top = len(manifest.features) if manifest.adverse_action is not None else SHOWN_REASONS
            shadow: Future[_Call] | None = None
            challenger = plan.challenger if plan.policy == "shadow" else None
            if challenger is not None and list(challenger.feature_names) == manifest.feature_names:
                shadow = self._shadow_pool().submit(
                    self._call, challenger, row, decision_id, deadline, carrier, trace_id, audit, "shadow", top
                )
            elif challenger is not None:
                # Never scored, so the controller must see it fail rather than wait for it forever.
                mismatch = f"ModelMismatchError: {challenger.name}@{challenger.version} was trained on other features"
                worker_events.append(
                    self._worker_event(
                        audit, challenger, decision_id, self._clock.monotonic(), trace_id, role="shadow", error=mismatch
                    )
                )
            call = self._call(active, row, decision_id, deadline, carrier, trace_id, audit, role, top)
        if call.event is not None:
            worker_events.append(call.event)
        if shadow is not None and challenger is not None:
            worker_events.append(self._shadow_event(shadow, challenger, deadline, decision_id, trace_id, audit))
        if call.row is None:
            return call.failure or f"model {label} gave no score"
        return _Scored(call.row, active, dict(zip(manifest.feature_names, row, strict=True)))

    def _call(
        self,
        model: ActiveModel,
        row: list[float],
        decision_id: str,
        deadline: Deadline,
        carrier: dict[str, str],
        trace_id: str,
        audit: InvocationAudit,
        role: str,
        top_reasons: int,
    ) -> _Call:
        """One worker call for one version, guarded by that version's breaker, with its audit event."""
        label = f"{model.name}@{model.version}"
        breaker = self._breakers.for_target(model.artifact_digest)
        if not breaker.allow():
            return _Call(None, None, f"CircuitOpenError: circuit open for model {label}")
        timeout_s = deadline.remaining_s()
        if timeout_s <= 0.0:
            return _Call(None, None, "DeadlineExceededError: latency budget spent before the model call")
        request = inference_request(model, row, decision_id, carrier, deadline, top_reasons=top_reasons)
        started = self._clock.monotonic()
        try:
            result = self._workers.score(request, timeout_s)
            check_answer(request, result)
        except WorkerError as error:
            breaker.record_failure()
            failure = f"{type(error).__name__}: {error}"
            event = self._worker_event(audit, model, decision_id, started, trace_id, role=role, error=failure)
            return _Call(None, event, f"model {label} failed: {failure}")
        except BaseException:
            # Whatever happened, the breaker's probe slot must not stay taken.
            breaker.record_failure()
            raise
        breaker.record_success()
        scored = result.results[0]
        event = self._worker_event(
            audit,
            model,
            decision_id,
            started,
            trace_id,
            role=role,
            worker=result.worker,
            batch_size=result.batch_size,
            score=scored.score,
        )
        return _Call(scored, event, None)

    def _shadow_event(
        self,
        shadow: Future[_Call],
        challenger: ActiveModel,
        deadline: Deadline,
        decision_id: str,
        trace_id: str,
        audit: InvocationAudit,
    ) -> AuditEvent:
        """The shadow call's event; one still running at the deadline is recorded as timed out."""
        started = self._clock.monotonic()
        try:
            call = shadow.result(timeout=max(deadline.remaining_s(), 0.0))
        except FutureTimeoutError:
            error = "WorkerTimeoutError: the shadow call had not answered at the decision's deadline"
            return self._worker_event(audit, challenger, decision_id, started, trace_id, role="shadow", error=error)
        if call.event is not None:
            return call.event
        return self._worker_event(audit, challenger, decision_id, started, trace_id, role="shadow", error=call.failure)

    def _shadow_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=SHADOW_THREADS, thread_name_prefix="shadow")
            return self._pool

    def _worker_event(
        self,
        audit: InvocationAudit,
        model: ActiveModel,
        decision_id: str,
        started: float,
        trace_id: str,
        *,
        role: str,
        worker: str | None = None,
        batch_size: int | None = None,
        score: float | None = None,
        error: str | None = None,
    ) -> AuditEvent:
        """The audit event of one inference worker call that started at `started` (the clock's monotonic time)."""
        duration_ms = (self._clock.monotonic() - started) * 1000.0
        return worker_call_event(
            audit,
            model,
            decision_id,
            duration_ms,
            role=role,
            trace_id=trace_id,
            worker=worker,
            batch_size=batch_size,
            score=score,
            error=error,
        )
