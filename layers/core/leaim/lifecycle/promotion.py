"""Promotion: manual traffic changes and rollbacks, and the controller that judges a challenger on live traffic.

A challenger starts in shadow (scored on every request, the champion decides) or canary (a sticky share
of requests). The controller compares it with the champion over the manifest's window, counting only
traffic since the challenger took its current policy: a challenger that errs, falls back or slows down
more than the manifest allows is rolled back; one that holds up over enough requests advances from
shadow to canary, and from canary to champion. Every write is conditional on the policy's revision, so
a manual change racing the controller makes one of them fail cleanly instead of mixing both.

A manual change verifies the version first (`VersionVerifier`): its artifact and its signed manifest, as
stored, must verify, and where workers run one of them must load it; a version that fails is refused
with VersionUnverifiedError naming every problem, before any write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import ValidationError

from contracts.model.v1 import PromotionDecision, SignedManifest
from leaim.exceptions import (
    ConflictError,
    LeaimError,
    NotFoundError,
    RevisionConflictError,
    VersionUnverifiedError,
    WorkerError,
)
from leaim.lifecycle.training import manifest_key

if TYPE_CHECKING:
    from collections.abc import Callable

    from contracts.manifest.v1 import Promotion, UseCaseManifest
    from contracts.model.v1 import Rollback, TrafficChange, TrafficPolicy, VersionStats
    from leaim.data.ports import ObjectStore
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog
    from leaim.lifecycle.ports import ModelLoader, ModelRegistry, VersionStatsSource

CONTROLLER = "controller:promotion"
# How long one worker may take to load a version before a promotion gives up on it.
LOAD_TIMEOUT_S = 10.0

Action = Literal["promote", "advance", "rollback", "wait"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the controller does with a challenger, and why."""

    action: Action
    reasons: list[str]


def judge(settings: Promotion, policy: str, champion: VersionStats | None, challenger: VersionStats | None) -> Verdict:
    """Compare a challenger with its champion; pure, so every threshold is tested without a stack.

    Rates are taken over the requests a version handled: worker calls, or fallbacks where an open
    circuit meant no call was made. Rollback needs evidence, not a full window: as soon as the
    challenger has handled `min_requests`, or has already failed more often than `min_requests`
    requests could excuse.
    """
    seen = _seen(challenger)
    if challenger is None or seen == 0:
        return Verdict("wait", ["the challenger has served no request in the window yet"])
    base_error, base_fallback = (
        (champion.errors / _seen(champion), champion.fallbacks / _seen(champion))
        if champion and _seen(champion)
        else (0.0, 0.0)
    )
    error_rate, fallback_rate = challenger.errors / seen, challenger.fallbacks / seen
    problems: list[str] = []
    error_limit = base_error + settings.max_error_rate_increase
    fallback_limit = base_fallback + settings.max_fallback_rate_increase
    if error_rate > error_limit:
        problems.append(
            f"error rate {error_rate:.3f} exceeds the champion's {base_error:.3f} "
            f"by more than {settings.max_error_rate_increase:.3f}"
        )
    if fallback_rate > fallback_limit:
        problems.append(
            f"fallback rate {fallback_rate:.3f} exceeds the champion's {base_fallback:.3f} "
            f"by more than {settings.max_fallback_rate_increase:.3f}"
        )
    if champion and champion.latency_p95_ms and challenger.latency_p95_ms:
        ratio = challenger.latency_p95_ms / champion.latency_p95_ms
        slower_ms = challenger.latency_p95_ms - champion.latency_p95_ms
        # Both: a few milliseconds more on a fast champion is noise, not a regression a caller would feel.
        if ratio > settings.max_latency_ratio and slower_ms > settings.min_latency_increase_ms:
            problems.append(
                f"p95 latency {challenger.latency_p95_ms:.1f} ms is {ratio:.2f}x the champion's "
                f"{champion.latency_p95_ms:.1f} ms (limit {settings.max_latency_ratio:.2f}x), "
                f"{slower_ms:.1f} ms slower (limit {settings.min_latency_increase_ms:.1f} ms)"
            )
    enough = seen >= settings.min_requests
    # Failures so many that even a full window of clean calls would leave the rate above its limit.
    hopeless = challenger.errors > error_limit * settings.min_requests or (
        challenger.fallbacks > fallback_limit * settings.min_requests
    )
    if problems and (enough or hopeless):
        return Verdict("rollback", problems)
    if not enough:
        return Verdict("wait", [f"{seen} of {settings.min_requests} challenger requests in the window"])
    reason = f"{seen} requests within every limit"
    if policy == "shadow":
        return Verdict("advance", [f"{reason}: shadow advances to canary"])
    return Verdict("promote", [f"{reason}: canary becomes champion"])


def _seen(stats: VersionStats | None) -> int:
    """Requests a version handled: its worker calls, or its fallbacks when an open circuit spared the calls."""
    return 0 if stats is None else max(stats.requests, stats.fallbacks)


class VersionVerifier:
    """Checks a version as stored before it takes traffic, so that a promotion cannot turn traffic into fallbacks.

    The registry's signed manifest must carry a valid signature (`verifies`); the copy stored beside the
    artifact must be that same signed manifest; the artifact's stored bytes must have the manifest's size
    and sha256; and, given a `loader` (where workers run), one worker must load the version, which
    verifies the workers' own copy of the artifact and manifest.
    """

    def __init__(
        self,
        *,
        artifacts: ObjectStore,
        verifies: Callable[[SignedManifest], bool],
        loader: ModelLoader | None = None,
        load_timeout_s: float = LOAD_TIMEOUT_S,
    ) -> None:
        self._artifacts = artifacts
        self._verifies = verifies
        self._loader = loader
        self._load_timeout_s = load_timeout_s

    def problems(self, signed: SignedManifest) -> list[str]:
        """Why the version must not take traffic; empty when every check passes."""
        manifest = signed.manifest
        problems = []
        if not self._verifies(signed):
            problems.append("the registered manifest's signature does not verify")
        problems += self._stored_manifest_problems(signed)
        artifact = self._artifacts.get(manifest.artifact_key)
        if artifact is None:
            problems.append(f"no artifact is stored at {manifest.artifact_key}")
        else:
            digest = hashlib.sha256(artifact).hexdigest()
            if len(artifact) != manifest.artifact_bytes or digest != manifest.artifact_digest:
                problems.append(
                    f"the stored artifact ({len(artifact)} bytes, sha256 {digest}) is not the signed one "
                    f"({manifest.artifact_bytes} bytes, sha256 {manifest.artifact_digest})"
                )
        # A worker is asked only about a version whose stored copies verify: it would refuse the others anyway.
        if not problems and self._loader is not None:
            try:
                self._loader.load(signed, self._load_timeout_s)
            except WorkerError as error:
                problems.append(f"no worker loaded it: {error}")
        return problems

    def _stored_manifest_problems(self, signed: SignedManifest) -> list[str]:
        key = manifest_key(signed.manifest.model_name, signed.manifest.model_version)
        document = self._artifacts.get(key)
        if document is None:
            return [f"no signed manifest is stored at {key}"]
        try:
            stored = SignedManifest.model_validate_json(document)
        except ValidationError:
            return [f"the signed manifest stored at {key} is not a model.v1 signed manifest"]
        if stored != signed:
            return [f"the signed manifest stored at {key} differs from the registered one"]
        return []


class PromotionService:
    """Manual traffic changes through the API; the caller audits them with the actor."""

    def __init__(self, *, registry: ModelRegistry, manifests: ManifestCatalog, verifier: VersionVerifier) -> None:
        self._registry = registry
        self._manifests = manifests
        self._verifier = verifier

    def traffic(self, use_case: str) -> TrafficPolicy:
        """The use case's policy; NotFoundError for an unknown use case or one that has no champion yet."""
        self._manifests.get(use_case)
        policy = self._registry.traffic(use_case)
        if policy is None:
            raise NotFoundError(f"use case {use_case!r} has no champion yet")
        return policy

    def change(self, use_case: str, change: TrafficChange, *, actor: str) -> tuple[TrafficPolicy | None, TrafficPolicy]:
        """Make a version champion (`full`) or challenger (`shadow`, `canary`); returns the policy before and after.

        Without an expected revision the write is conditional on the revision read here, so the policy
        returned as "before" is exactly the one replaced. Raises NotFoundError (use case or version), and
        ConflictError subclasses: a rejected version, a version that does not verify as stored
        (VersionUnverifiedError), a stale expected revision or a concurrent change, or a change the
        current policy does not allow.
        """
        manifest = self._manifests.get(use_case)
        model = manifest.model.name
        signed = self._registry.get(model, change.version)
        if signed is None:
            raise NotFoundError(f"model {model!r} has no version {change.version!r}")
        before = self._registry.traffic(use_case)
        expected = change.expected_revision
        if expected is None:
            expected = before.revision if before is not None else 0
        elif before is not None and before.revision != expected:
            raise RevisionConflictError(
                f"traffic of {use_case!r} is at revision {before.revision}, not {expected}: read it again"
            )
        # A rejected version is refused by the registry's write, with its own code; only the others are verified.
        if signed.manifest.status == "approved":
            problems = self._verifier.problems(signed)
            if problems:
                raise VersionUnverifiedError(
                    f"model version {model}:{change.version} cannot take traffic: {'; '.join(problems)}"
                )
        if change.policy == "full":
            after = self._registry.set_champion(
                use_case, model, change.version, actor=actor, expected_revision=expected
            )
        else:
            after = self._registry.set_challenger(
                use_case,
                model,
                change.version,
                change.policy,
                change.canary_percent,
                actor=actor,
                expected_revision=expected,
            )
        return before, after

    def rollback(self, use_case: str, request: Rollback, *, actor: str) -> tuple[TrafficPolicy, TrafficPolicy]:
        """Take the challenger out of traffic, or, without one, restore the previous champion.

        Returns the policy before and after; the write is conditional on the revision of "before".
        """
        before = self.traffic(use_case)
        expected = request.expected_revision if request.expected_revision is not None else before.revision
        if before.challenger is not None:
            return before, self._registry.clear_challenger(use_case, actor=actor, expected_revision=expected)
        return before, self._registry.restore_previous(use_case, actor=actor, expected_revision=expected)


class PromotionController:
    """Runs on a schedule: judges every use case's challenger and applies the verdict."""

    def __init__(
        self,
        *,
        registry: ModelRegistry,
        stats: VersionStatsSource,
        manifests: ManifestCatalog,
        clock: Clock,
    ) -> None:
        self._registry = registry
        self._stats = stats
        self._manifests = manifests
        self._clock = clock

    def run(self) -> list[PromotionDecision]:
        """One decision per use case; a use case whose evaluation failed is reported, the others go on."""
        decisions = []
        for name in self._manifests.names():
            try:
                decisions.append(self.evaluate(self._manifests.get(name)))
            except LeaimError as error:
                decisions.append(
                    PromotionDecision(
                        use_case=name,
                        action="none",
                        champion=None,
                        challenger=None,
                        reasons=[f"evaluation failed: {type(error).__name__}: {error}"],
                        revision=None,
                    )
                )
        return decisions

    def evaluate(self, manifest: UseCaseManifest) -> PromotionDecision:
        """Judge the use case's challenger and apply the verdict with a revision-checked write."""
        use_case = manifest.name
        policy = self._registry.traffic(use_case)
        if policy is None or policy.challenger is None or policy.policy is None:
            return PromotionDecision(
                use_case=use_case,
                action="none",
                champion=None,
                challenger=None,
                reasons=["no challenger"],
                revision=policy.revision if policy else None,
            )
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        since = max(now - timedelta(minutes=manifest.promotion.window_minutes), policy.updated_at)
        stats = self._stats.version_stats(use_case, policy.model_name, since)
        champion = stats.get(policy.champion) if policy.champion else None
        challenger = stats.get(policy.challenger)
        verdict = judge(manifest.promotion, policy.policy, champion, challenger)
        revision = policy.revision
        reasons = list(verdict.reasons)
        try:
            revision = self._apply(manifest, policy, verdict.action)
        except ConflictError as conflict:
            reasons.append(f"not applied: {conflict}")
            return PromotionDecision(
                use_case=use_case,
                action="wait",
                champion=champion,
                challenger=challenger,
                reasons=reasons,
                revision=policy.revision,
            )
        return PromotionDecision(
            use_case=use_case,
            action=verdict.action,
            champion=champion,
            challenger=challenger,
            reasons=reasons,
            revision=revision,
        )

    def _apply(self, manifest: UseCaseManifest, policy: TrafficPolicy, action: Action) -> int:
        use_case, model, challenger = manifest.name, policy.model_name, policy.challenger
        if challenger is None or action == "wait":
            return policy.revision
        if action == "rollback":
            changed = self._registry.clear_challenger(use_case, actor=CONTROLLER, expected_revision=policy.revision)
        elif action == "advance":
            changed = self._registry.set_challenger(
                use_case,
                model,
                challenger,
                "canary",
                manifest.promotion.canary_percent,
                actor=CONTROLLER,
                expected_revision=policy.revision,
            )
        else:
            changed = self._registry.set_champion(
                use_case, model, challenger, actor=CONTROLLER, expected_revision=policy.revision
            )
        return changed.revision
