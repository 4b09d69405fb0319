"""Replay: a stored decision recomputed from what it was made from, and exactly what differs and why.

A replay decides again as the decision service decided: the first rule of the policy that holds on the decision's
stored inputs (PII as tokens) and the online features its rules saw, else the model's score of the feature vector it
scored, under the policy's threshold and review band, else the policy's fallback. By default it replays under the
policy version the decision recorded (found by its digest) and the model version and artifact that scored it, so a
faithful store gives the same decision. Naming a registered policy version, or a model version the traffic plan
serves, shows what that change alone does to the decision. The worker call is audited as a `worker.inference`
event with role `replay`; nothing of the decision itself changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from contracts.decision.v1 import ModelRef
from contracts.replay.v1 import DecisionReplay, ReplayBinding, ReplayDifference, ReplayOutcome
from leaim.data.features import feature_vector, merge_online
from leaim.domain.deadline import Deadline
from leaim.exceptions import ConflictError, LeaimError, NotFoundError, WorkerError
from leaim.governance.audit.events import REPLAY_ROLE
from leaim.orchestration.rules import feature_reasons, match_rule, outcome_for_score, rule_reason
from leaim.orchestration.worker_calls import check_answer, inference_request, worker_call_event

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pydantic import JsonValue

    from contracts.audit.v1 import AuditEvent
    from contracts.decision.v1 import DecisionResponse, PolicyRef, Reason
    from contracts.inference.v1 import InferenceResult, RowScore
    from contracts.manifest.v1 import DecisionPolicy, ReviewBand, Rule, UseCaseManifest
    from contracts.replay.v1 import DecisionReplayRequest, ReplayedField
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import BoundManifest, ManifestCatalog
    from leaim.governance.audit.events import InvocationAudit
    from leaim.governance.ports import Telemetry
    from leaim.orchestration.ports import DecisionRecords, RecordedDecision
    from leaim.serving.ports import ModelRouter, WorkerClient

REPLAY_ACTION = "decision.replay"
# A replay waits for its model at most this long, and never past its function's remaining time.
REPLAY_BUDGET_MS = 5_000.0
# Scores this close are the same score: a worker on other hardware may round the last digits otherwise.
SCORE_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Evaluation:
    """How one side of a replay decided: its outcome, score and reasons, and the rule or threshold behind them.

    `threshold` is the message of the threshold reason where a score decided, e.g. "score 0.612 is in the review
    band [0.15, 0.4)"; `rule` the name of the rule that decided, if one did.
    """

    outcome: str
    score: float | None
    review_required: bool
    fallback_reason: str | None
    reason_codes: tuple[str, ...]
    rule: str | None = None
    threshold: str | None = None

    @property
    def fallback(self) -> bool:
        """Whether the side fell back."""
        return self.fallback_reason is not None

    def summary(self) -> ReplayOutcome:
        """The side as the report shows it."""
        return ReplayOutcome(
            outcome=self.outcome,
            score=self.score,
            review_required=self.review_required,
            fallback=self.fallback,
            fallback_reason=self.fallback_reason,
            reason_codes=list(self.reason_codes),
        )


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a replay: its policy (the manifest where it is known), its model, and how it decided.

    `recomputed` is None where the model scored the decision's stored feature vector, else the names of the features
    whose recomputed value differs from the stored one (none where nothing was stored).
    """

    policy: PolicyRef | None
    manifest: UseCaseManifest | None
    model: ModelRef | None
    evaluation: Evaluation
    recomputed: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        """The side's policy, as the explanations name it."""
        return policy_label(self.policy)

    @property
    def binding(self) -> ReplayBinding:
        """The side's policy and model, as the report shows them."""
        return ReplayBinding(policy=self.policy, model=self.model)


def recorded_evaluation(response: DecisionResponse) -> Evaluation:
    """How a stored decision decided, read from its answer."""
    return Evaluation(
        outcome=response.outcome,
        score=response.score,
        review_required=response.review_required,
        fallback_reason=(response.fallback_reason or "no reason recorded") if response.fallback else None,
        reason_codes=tuple(reason.code for reason in response.reasons),
        rule=next((reason.code for reason in response.reasons if reason.kind == "rule"), None),
        threshold=next((reason.message for reason in response.reasons if reason.kind == "threshold"), None),
    )


def _review_outcome(manifest: UseCaseManifest) -> str | None:
    band = manifest.decision.review_band
    return None if band is None else band.outcome


def ruled(manifest: UseCaseManifest, rule: Rule) -> Evaluation:
    """The evaluation of a rule that decided."""
    return Evaluation(
        outcome=rule.outcome,
        score=None,
        review_required=rule.outcome == _review_outcome(manifest),
        fallback_reason=None,
        reason_codes=(rule_reason(rule).code,),
        rule=rule.name,
    )


def scored(manifest: UseCaseManifest, row: RowScore) -> Evaluation:
    """The evaluation of a model's score under the manifest's threshold and review band."""
    outcome, threshold, _ = outcome_for_score(manifest.decision, row.score)
    contributions = [(c.feature, c.value, c.contribution) for c in row.contributions]
    reasons: list[Reason] = [threshold, *feature_reasons(contributions)]
    return Evaluation(
        outcome=outcome,
        score=row.score,
        review_required=outcome == _review_outcome(manifest),
        fallback_reason=None,
        reason_codes=tuple(reason.code for reason in reasons),
        threshold=threshold.message,
    )


def fell_back(manifest: UseCaseManifest, reason: str) -> Evaluation:
    """The evaluation of the manifest's fallback, for `reason`."""
    outcome = manifest.fallback.outcome
    return Evaluation(
        outcome=outcome,
        score=None,
        review_required=outcome == _review_outcome(manifest),
        fallback_reason=reason,
        reason_codes=("fallback",),
    )


def policy_label(ref: PolicyRef | None) -> str:
    """A policy as an explanation names it: `policy version 2`, or the bootstrap file by its digest."""
    if ref is None:
        return "no recorded policy"
    if ref.version is None:
        return f"the bootstrap file (digest {ref.digest[:12]})"
    return f"policy version {ref.version}"


def _short_label(ref: PolicyRef | None) -> str:
    if ref is not None and ref.version is not None:
        return f"version {ref.version}"
    return policy_label(ref)


def model_label(ref: ModelRef) -> str:
    """A model version as an explanation names it, with the start of its artifact's digest."""
    return f"model {ref.name} {ref.version} (artifact {ref.artifact_digest[:12]})"


def _band(band: ReviewBand) -> str:
    return f"[{band.low:g}, {band.high:g})"


def policy_changes(before: DecisionPolicy, after: DecisionPolicy, before_label: str) -> list[str]:
    """What `after` changes of how a score becomes an outcome, against `before` (named `before_label`)."""
    changes: list[str] = []
    if after.threshold != before.threshold:
        changes.append(f"sets the threshold to {after.threshold:g} ({before_label}: {before.threshold:g})")
    old, new = before.review_band, after.review_band
    if old is not None and new is not None:
        if (new.low, new.high) != (old.low, old.high):
            changes.append(f"moves the review band to {_band(new)} ({before_label}: {_band(old)})")
        if new.outcome != old.outcome:
            changes.append(f"gives the review band {new.outcome} ({before_label}: {old.outcome})")
    elif new is not None:
        changes.append(f"adds the review band {_band(new)} ({before_label} has none)")
    elif old is not None:
        changes.append(f"drops the review band ({before_label}: {_band(old)})")
    if after.positive_outcome != before.positive_outcome:
        changes.append(
            f"gives {after.positive_outcome} at or above the threshold ({before_label}: {before.positive_outcome})"
        )
    if after.negative_outcome != before.negative_outcome:
        changes.append(
            f"gives {after.negative_outcome} below the threshold ({before_label}: {before.negative_outcome})"
        )
    return changes


def _rule_named(manifest: UseCaseManifest | None, name: str) -> Rule | None:
    if manifest is None:
        return None
    return next((rule for rule in manifest.decision.rules if rule.name == name), None)


def _same_score(left: float | None, right: float | None) -> bool:
    if left is None or right is None:
        return left is right
    return math.isclose(left, right, rel_tol=0.0, abs_tol=SCORE_TOLERANCE)


def _score_text(score: float | None) -> str:
    return "none" if score is None else f"{score:.3f}"


def _how_replay_decided(replayed: Side) -> str:
    evaluation = replayed.evaluation
    if evaluation.rule is not None:
        return f"rule {evaluation.rule} decides it under {replayed.label}"
    if evaluation.fallback:
        return f"the replay fell back: {evaluation.fallback_reason}"
    model = "the model" if replayed.model is None else model_label(replayed.model)
    return f"{model} scores it {_score_text(evaluation.score)}, and {evaluation.threshold} under {replayed.label}"


def _rule_gone(name: str, original: Side, replayed: Side) -> str:
    rule = _rule_named(replayed.manifest, name)
    if rule is None:
        return f"rule {name} decided under {original.label}, and {replayed.label} has no rule {name}"
    before = _rule_named(original.manifest, name)
    if before is not None and before.when != rule.when:
        return (
            f"rule {name} decided under {original.label}; {replayed.label} changes its conditions and it does not hold"
        )
    return f"rule {name} decided under {original.label}; under {replayed.label} it does not hold"


def _rule_fires(name: str, original: Side, replayed: Side) -> str:
    before = _rule_named(original.manifest, name)
    rule = _rule_named(replayed.manifest, name)
    if original.manifest is not None and before is None:
        return f"rule {name} of {replayed.label} holds, and {original.label} has no such rule"
    if before is not None and rule is not None and before.when != rule.when:
        return f"rule {name} holds under {replayed.label}, whose conditions differ from those of {original.label}"
    return f"rule {name} holds under {replayed.label}"


def _outcome_why(original: Side, replayed: Side) -> str:
    old, new = original.evaluation, replayed.evaluation
    if old.rule != new.rule:
        parts = []
        if new.rule is not None:
            parts.append(_rule_fires(new.rule, original, replayed))
        if old.rule is not None:
            parts.append(_rule_gone(old.rule, original, replayed))
        if new.rule is None:
            parts.append(_how_replay_decided(replayed))
        return "; ".join(parts)
    if old.rule is not None:
        before = _short_label(original.policy)
        return f"rule {old.rule} gives {new.outcome} under {replayed.label} ({before}: {old.outcome})"
    if old.fallback and new.fallback:
        return (
            f"{replayed.label} falls back to {new.outcome} ({_short_label(original.policy)}: {old.outcome}); "
            f"the replay fell back: {new.fallback_reason}"
        )
    if old.fallback:
        return f"the decision fell back ({old.fallback_reason}); {_how_replay_decided(replayed)}"
    if new.fallback:
        return f"the replay fell back: {new.fallback_reason}"
    return _scored_outcome_why(original, replayed)


def _scored_outcome_why(original: Side, replayed: Side) -> str:
    """Why two scored sides decided otherwise: the policy change, the new score, or both (and what each alone does)."""
    old, new = original.evaluation, replayed.evaluation
    parts: list[str] = []
    changes: list[str] = []
    if original.manifest is None:
        parts.append(f"the policy that made the decision is not known; the replay decides under {replayed.label}")
    elif replayed.manifest is not None:
        changes = policy_changes(original.manifest.decision, replayed.manifest.decision, _short_label(original.policy))
        if changes:
            parts.append(f"{replayed.label} {', '.join(changes)}")
    changed_score = not _same_score(old.score, new.score)
    if changed_score:
        model = "the model" if replayed.model is None else model_label(replayed.model)
        parts.append(f"{model} scores {_score_text(new.score)} (when it was made: {_score_text(old.score)})")
    parts.append(f"{new.threshold}")
    if changes and changed_score:
        parts.append(_each_alone(original, replayed))
    return "; ".join(parts)


def _each_alone(original: Side, replayed: Side) -> str:
    """What the policy change alone (the old score, the new policy) and the new score alone would give."""
    old, new = original.evaluation.score, replayed.evaluation.score
    if original.manifest is None or replayed.manifest is None or old is None or new is None:
        return "each change alone cannot be told"
    by_policy = outcome_for_score(replayed.manifest.decision, old)[0]
    by_score = outcome_for_score(original.manifest.decision, new)[0]
    return f"the policy change alone gives {by_policy}, the new score alone {by_score}"


def _features_text(replayed: Side) -> str:
    if replayed.recomputed is None:
        return "the stored features"
    changed = f" ({', '.join(replayed.recomputed)} differ from the stored ones)" if replayed.recomputed else ""
    return f"the features computed again under {replayed.label} from the stored inputs and online features{changed}"


def _score_why(original: Side, replayed: Side) -> str:
    old, new = original.evaluation, replayed.evaluation
    if new.score is None:
        if new.rule is not None:
            return f"no model scored the replay: rule {new.rule} decides it under {replayed.label}"
        return f"no model scored the replay: it fell back ({new.fallback_reason})"
    model = "the model" if replayed.model is None else model_label(replayed.model)
    if old.score is None:
        before = f"rule {old.rule} decided it" if old.rule is not None else f"it fell back ({old.fallback_reason})"
        return f"no model scored the decision: {before}; {model} scores {_features_text(replayed)}"
    if replayed.model != original.model:
        made = "" if original.model is None else f" ({model_label(original.model)} scored the decision)"
        return f"{model} scored {_features_text(replayed)}{made}"
    if replayed.recomputed:
        return f"{model}, which scored the decision, scored {_features_text(replayed)}"
    return (
        f"{model}, which scored the decision, answered another score for the same features: the worker or its "
        "artifact is not what scored the decision"
    )


def _review_why(replayed: Side) -> str:
    new = replayed.evaluation
    band = None if replayed.manifest is None else replayed.manifest.decision.review_band
    if band is None:
        return f"{replayed.label} has no review band, so nothing goes to review"
    if new.review_required:
        return f"{new.outcome} is the outcome of the review band of {replayed.label}"
    return f"{new.outcome} is not {band.outcome}, the outcome of the review band of {replayed.label}"


def _fallback_why(original: Side, replayed: Side) -> str:
    if original.evaluation.fallback:
        return f"the decision fell back ({original.evaluation.fallback_reason}); {_how_replay_decided(replayed)}"
    return f"the replay fell back: {replayed.evaluation.fallback_reason}"


def _codes_why(old: Sequence[str], new: Sequence[str]) -> str:
    added = [code for code in new if code not in old]
    dropped = [code for code in old if code not in new]
    parts = [f"added {', '.join(added)}"] if added else []
    if dropped:
        parts.append(f"dropped {', '.join(dropped)}")
    changed = "; ".join(parts) or "the same codes in another order"
    return f"{changed}: the reasons follow what decided (a rule, the threshold, the fallback) and the top contributions"


def differences(original: Side, replayed: Side) -> list[ReplayDifference]:
    """Each field on which `replayed` differs from `original`, with why; empty when the replay is the same."""
    old, new = original.evaluation, replayed.evaluation
    found: list[ReplayDifference] = []

    def differ(field: ReplayedField, before: JsonValue, after: JsonValue, why: str) -> None:
        found.append(ReplayDifference(field=field, original=before, replayed=after, why=why))

    if new.outcome != old.outcome:
        differ("outcome", old.outcome, new.outcome, _outcome_why(original, replayed))
    if not _same_score(old.score, new.score):
        differ("score", old.score, new.score, _score_why(original, replayed))
    if new.review_required != old.review_required:
        differ("review_required", old.review_required, new.review_required, _review_why(replayed))
    if new.fallback != old.fallback:
        differ("fallback", old.fallback, new.fallback, _fallback_why(original, replayed))
    if new.reason_codes != old.reason_codes:
        differ(
            "reason_codes",
            list(old.reason_codes),
            list(new.reason_codes),
            _codes_why(old.reason_codes, new.reason_codes),
        )
    return found


@dataclass(frozen=True, slots=True)
class _Target:
    """The model version a replay asks to score, and the features it takes, in order."""

    name: str
    version: str
    artifact_digest: str
    feature_names: tuple[str, ...]

    @property
    def ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version, artifact_digest=self.artifact_digest)


def _pii_features(manifest: UseCaseManifest) -> list[str]:
    pii = {field.name for field in manifest.inputs if field.pii}
    return [feature.name for feature in manifest.features if {feature.source, feature.other} & pii]


def _replay_features(
    target: _Target, policy: UseCaseManifest, made: UseCaseManifest | None, recorded: RecordedDecision, label: str
) -> tuple[list[float], tuple[str, ...] | None] | str:
    """The row the replay scores, and which features were computed again (None: the stored vector), or why none.

    The stored vector is scored where the model takes its features and the replayed policy computes them as the
    policy that made the decision did; otherwise they are computed again, by the replayed policy, from the stored
    inputs and online features.
    """
    stored = recorded.features
    names = list(target.feature_names)
    unchanged = made is None or made.features == policy.features
    if stored is not None and unchanged and set(names) <= set(stored):
        return [float(stored[name]) for name in names], None
    if names != policy.feature_names:
        return f"{model_label(target.ref)} was trained on other features than {label} declares"
    if recorded.online is None:
        return (
            "the decision recorded no online features (the feature store did not answer, or it predates their "
            "recording), so its features cannot be computed again"
        )
    pii = _pii_features(policy)
    if pii:
        return (
            f"features {', '.join(pii)} read PII fields, which are stored only as tokens, so cannot be computed again"
        )
    try:
        row = feature_vector(policy, recorded.inputs, merge_online(policy, recorded.online))
    except (ValueError, OverflowError) as error:
        return f"features could not be computed again: {error}"
    changed = tuple(
        name
        for name, value in zip(names, row, strict=True)
        if stored is not None and name in stored and not math.isclose(float(stored[name]), value, abs_tol=1e-12)
    )
    return row, changed


class DecisionReplayer:
    """Recomputes stored decisions. Every dependency is a port, so it runs without AWS or Modal."""

    def __init__(
        self,
        *,
        catalog: ManifestCatalog,
        records: DecisionRecords,
        router: ModelRouter,
        workers: WorkerClient,
        telemetry: Telemetry,
        clock: Clock,
        deadline_margin_ms: float,
    ) -> None:
        self._catalog = catalog
        self._records = records
        self._router = router
        self._workers = workers
        self._telemetry = telemetry
        self._clock = clock
        self._margin_ms = deadline_margin_ms

    def recorded(self, decision_id: str) -> RecordedDecision | None:
        """A stored decision with what it was made from, or None."""
        return self._records.recorded(decision_id)

    def replay(
        self,
        recorded: RecordedDecision,
        request: DecisionReplayRequest,
        audit: InvocationAudit,
        calls: list[AuditEvent],
        *,
        remaining_ms: float | None,
    ) -> DecisionReplay:
        """Decide `recorded` again under the bindings `request` names (by default those that made it).

        The event of the worker call, if one was made, is added to `calls` for the caller to store. Raises
        NotFoundError for a policy or model version there is none of, ConflictError when the policy that made the
        decision is no longer known (a version must be named then).
        """
        response = recorded.response
        made = self._made_policy(response)
        policy = self._replay_policy(response, request.policy_version, made)
        manifest = policy.manifest
        asked = None if request.model_version is None else self._asked_model(recorded, request.model_version)
        original = Side(
            response.policy, None if made is None else made.manifest, response.model, recorded_evaluation(response)
        )
        fields = dict(recorded.inputs)
        if recorded.online is not None:
            fields = {**merge_online(manifest, recorded.online), **fields}
        rule = match_rule(manifest.decision, fields)
        if rule is not None:
            replayed = Side(policy.ref, manifest, None, ruled(manifest, rule))
        else:
            target = asked or self._default_model(recorded, manifest)
            replayed = self._by_model(target, policy, original, recorded, audit, calls, remaining_ms)
        evaluation = replayed.evaluation
        found = differences(original, replayed)
        return DecisionReplay(
            decision_id=response.decision_id,
            use_case=response.use_case,
            made_with=original.binding,
            replayed_with=replayed.binding,
            same=not found,
            original=original.evaluation.summary(),
            replayed=evaluation.summary(),
            differences=found,
            trace_id=audit.trace_id,
            replayed_at=datetime.fromtimestamp(self._clock.now(), UTC),
        )

    def _by_model(
        self,
        target: _Target | str,
        policy: BoundManifest,
        original: Side,
        recorded: RecordedDecision,
        audit: InvocationAudit,
        calls: list[AuditEvent],
        remaining_ms: float | None,
    ) -> Side:
        """The replayed side where no rule holds: the target's score of the decision's features, else the fallback."""
        manifest = policy.manifest
        if isinstance(target, str):
            return Side(policy.ref, manifest, None, fell_back(manifest, target))
        features = _replay_features(target, manifest, original.manifest, recorded, policy_label(policy.ref))
        if isinstance(features, str):
            return Side(policy.ref, manifest, None, fell_back(manifest, features))
        row, recomputed = features
        answer = self._score(target, row, recorded.response.decision_id, audit, calls, remaining_ms)
        evaluation = fell_back(manifest, answer) if isinstance(answer, str) else scored(manifest, answer)
        return Side(policy.ref, manifest, target.ref, evaluation, recomputed)

    def _made_policy(self, response: DecisionResponse) -> BoundManifest | None:
        """The policy that made the decision, found by the digest it recorded; None where it is not known."""
        if response.policy is None:
            return None
        return self._catalog.by_digest(response.use_case, response.policy.digest)

    def _replay_policy(
        self, response: DecisionResponse, version: int | None, made: BoundManifest | None
    ) -> BoundManifest:
        use_case = response.use_case
        if version is not None:
            found = self._catalog.version(use_case, version)
            if found is None:
                raise NotFoundError(f"use case {use_case!r} has no policy version {version}")
            return found
        if made is not None:
            return made
        if response.policy is not None:
            raise ConflictError(
                f"the policy that made decision {response.decision_id!r} ({policy_label(response.policy)}, digest "
                f"{response.policy.digest[:12]}) is neither registered nor the bootstrap file: name a policy version"
            )
        # A decision made before decisions recorded their policy: the active version is the nearest there is.
        return self._catalog.bound(use_case)

    def _recorded_model(self, recorded: RecordedDecision) -> _Target | None:
        model = recorded.response.model
        if model is None or recorded.features is None:
            return None
        # The stored vector keeps the order the model took its features in.
        return _Target(model.name, model.version, model.artifact_digest, tuple(recorded.features))

    def _asked_model(self, recorded: RecordedDecision, version: str) -> _Target:
        """The version asked for: the one that scored the decision, or one the traffic plan serves now."""
        made = self._recorded_model(recorded)
        if made is not None and made.version == version:
            return made
        use_case = recorded.response.use_case
        plan = self._router.plan(use_case)
        serving = [] if plan is None else [plan.champion, *([plan.challenger] if plan.challenger else [])]
        for active in serving:
            if active.version == version:
                return _Target(active.name, active.version, active.artifact_digest, tuple(active.feature_names))
        served = ", ".join(active.version for active in serving) or "none"
        raise NotFoundError(
            f"model version {version!r} neither scored decision {recorded.response.decision_id!r} nor serves "
            f"{use_case!r} now (serving: {served})"
        )

    def _default_model(self, recorded: RecordedDecision, manifest: UseCaseManifest) -> _Target | str:
        """The version that scored the decision, else the use case's champion now; or why there is none."""
        made = self._recorded_model(recorded)
        if made is not None:
            return made
        try:
            plan = self._router.plan(manifest.name)
        except LeaimError as error:
            return f"model registry unavailable: {error}"
        if plan is None:
            return "no model version is active for this use case"
        champion = plan.champion
        return _Target(champion.name, champion.version, champion.artifact_digest, tuple(champion.feature_names))

    def _score(
        self,
        target: _Target,
        row: list[float],
        decision_id: str,
        audit: InvocationAudit,
        calls: list[AuditEvent],
        remaining_ms: float | None,
    ) -> RowScore | str:
        """The worker's score of `row`, or why there is none; the call's event is added to `calls`."""
        deadline = Deadline.within(
            REPLAY_BUDGET_MS,
            now=self._clock.now(),
            monotonic=self._clock.monotonic,
            remaining_ms=remaining_ms,
            margin_ms=self._margin_ms,
        )
        timeout_s = deadline.remaining_s()
        label = f"{target.name}@{target.version}"
        if timeout_s <= 0.0:
            return "no time was left for the model call"
        with self._telemetry.span("worker.inference", {"model": label, "role": REPLAY_ROLE}):
            request = inference_request(target, row, decision_id, self._telemetry.carrier(), deadline)
            started = self._clock.monotonic()
            try:
                result = self._workers.score(request, timeout_s)
                check_answer(request, result)
            except WorkerError as error:
                failure = f"{type(error).__name__}: {error}"
                calls.append(self._worker_event(audit, target, decision_id, started, error=failure))
                return f"model {label} failed: {failure}"
        answer = result.results[0]
        calls.append(self._worker_event(audit, target, decision_id, started, result=result, score=answer.score))
        return answer

    def _worker_event(
        self,
        audit: InvocationAudit,
        target: _Target,
        decision_id: str,
        started: float,
        *,
        result: InferenceResult | None = None,
        score: float | None = None,
        error: str | None = None,
    ) -> AuditEvent:
        """The audit event of the replay's worker call, as the decision service writes its own, with role replay."""
        return worker_call_event(
            audit,
            target,
            decision_id,
            (self._clock.monotonic() - started) * 1000.0,
            role=REPLAY_ROLE,
            worker=None if result is None else result.worker,
            batch_size=None if result is None else result.batch_size,
            score=score,
            error=error,
        )
