"""The lifecycle API, independent of the web framework: training jobs, the registry, traffic policies and the
stop switch.

Every invocation stores one audit event naming its principal; a traffic change's event records the
policy before and after, so the trail shows who moved which version where, and a stop or resume records the
switch before and after with its reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contracts.model.v1 import (
    ModelList,
    ModelSummary,
    ModelVersionView,
    ResumeRequest,
    RetrainingRequest,
    Rollback,
    StopRequest,
    TrafficChange,
    TrainingJobRequest,
)
from leaim.exceptions import InvalidJobError, NotFoundError, SnapshotExistsError
from leaim.governance.access.exceptions import InvalidRequestError
from leaim.governance.access.gate import GovernedHttp, HttpAnswer
from leaim.governance.access.policy import Permission, require_use_case

if TYPE_CHECKING:
    from pydantic import BaseModel

    from contracts.model.v1 import SignedManifest, StopState, TrafficPolicy
    from leaim.governance.access.gate import HttpGate, Invocation
    from leaim.governance.audit.events import InvocationAudit
    from leaim.governance.ports import Principal
    from leaim.lifecycle.ports import ModelRegistry
    from leaim.lifecycle.promotion import PromotionService
    from leaim.lifecycle.stops import StopService
    from leaim.lifecycle.training import TrainingJobs


class LifecycleApi(GovernedHttp):
    """`/v1/models`, `/v1/training-jobs` and `/v1/use-cases/{use_case}/...` routes."""

    def __init__(
        self,
        *,
        jobs: TrainingJobs,
        promotions: PromotionService,
        registry: ModelRegistry,
        stops: StopService,
        gate: HttpGate,
    ) -> None:
        super().__init__(gate)
        self._jobs = jobs
        self._promotions = promotions
        self._registry = registry
        self._stops = stops

    def create_training_job(self, model: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/models/{model}/training-jobs`: check the request, queue the job, answer 202 with it."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            self._require_model(principal, model, f"no use case manifest names model {model!r}")
            request = self._parse(TrainingJobRequest, self._json(body or b"{}", invocation), "a training job request")
            try:
                job = self._jobs.submit(model, request, principal=principal.name)
            except InvalidJobError as error:
                raise InvalidRequestError(str(error), error.fields) from error
            audit.note(use_case=job.use_case, model_name=model, model_version=job.version)
            return job, _job_details(job.job_id, job.snapshot_id, job.family, job.params, job.seed, job.deploy)

        return self._serve(
            invocation, "model.training_job.create", Permission.TRAIN_MODELS, {"model": model}, work, status=202
        )

    def read_training_job(self, job_id: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/training-jobs/{job_id}`: the job's state, stage and progress."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            job = self._jobs.get(job_id)
            if not principal.may_use(job.use_case):
                raise NotFoundError(f"no training job {job_id!r}")
            return job, {"job_id": job_id, "state": job.state}

        return self._serve(invocation, "model.training_job.read", Permission.READ_MODELS, {"job_id": job_id}, work)

    def list_models(self, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/models`: every model a manifest names, with its version counts and aliases."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            published = {summary.model_name: summary for summary in self._registry.models()}
            names = [name for name in self._jobs.model_names() if self._in_scope(principal, name)]
            summaries = [published.get(name) or self._untrained(name) for name in names]
            return ModelList(models=summaries), {"listed": len(summaries)}

        return self._serve(invocation, "model.list", Permission.READ_MODELS, {}, work)

    def read_version(self, model: str, version: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/models/{model}/versions/{version}`: the signed manifest, metrics, gates, lineage, aliases."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            unknown = f"model {model!r} has no version {version!r}"
            self._require_model(principal, model, unknown)
            signed = self._registry.get(model, version)
            if signed is None:
                raise NotFoundError(unknown)
            audit.note(model_name=model, model_version=version, artifact_digest=signed.manifest.artifact_digest)
            return self._view(signed), {"status": signed.manifest.status}

        return self._serve(
            invocation, "model.version.read", Permission.READ_MODELS, {"model": model, "version": version}, work
        )

    def read_traffic(self, use_case: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/use-cases/{use_case}/traffic`: champion, challenger, policy and revision."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            audit.note(use_case=use_case)
            require_use_case(principal, use_case)
            policy = self._promotions.traffic(use_case)
            return policy, {"revision": policy.revision}

        return self._serve(invocation, "model.traffic.read", Permission.READ_MODELS, {"use_case": use_case}, work)

    def change_traffic(self, use_case: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`PUT /v1/use-cases/{use_case}/traffic`: promote a version (full) or make it the challenger."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            audit.note(use_case=use_case)
            require_use_case(principal, use_case)
            change = self._parse(TrafficChange, self._json(body, invocation), "a traffic change")
            before, after = self._promotions.change(use_case, change, actor=principal.name)
            audit.note(model_name=after.model_name, model_version=change.version)
            return after, _change_details(f"set {change.policy}", before, after, change.reason)

        return self._serve(invocation, "model.traffic.change", Permission.PROMOTE_MODELS, {"use_case": use_case}, work)

    def rollback(self, use_case: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/use-cases/{use_case}/rollback`: drop the challenger, or restore the previous champion."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            audit.note(use_case=use_case)
            require_use_case(principal, use_case)
            request = self._parse(Rollback, self._json(body or b"{}", invocation), "a rollback request")
            before, after = self._promotions.rollback(use_case, request, actor=principal.name)
            return after, _change_details("rollback", before, after, request.reason)

        return self._serve(
            invocation, "model.traffic.rollback", Permission.PROMOTE_MODELS, {"use_case": use_case}, work
        )

    def read_stop(self, use_case: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/use-cases/{use_case}/stop`: whether the use case is stopped, and its last stop or resume."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            audit.note(use_case=use_case)
            require_use_case(principal, use_case)
            state = self._stops.state(use_case)
            return state, {"stopped": state.stopped, "mode": state.mode}

        return self._serve(invocation, "use_case.stop.read", Permission.READ_MONITORING, {"use_case": use_case}, work)

    def stop(self, use_case: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/use-cases/{use_case}/stop`: from the next request on, no model or rule decides for the use
        case; every decision gets its fallback, or goes to review."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            audit.note(use_case=use_case)
            require_use_case(principal, use_case)
            request = self._parse(StopRequest, self._json(body, invocation), "a stop request")
            before, after = self._stops.stop(use_case, request, actor=principal.name)
            return after, _switch_details("stop", before, after, request.reason)

        return self._serve(invocation, "use_case.stop", Permission.STOP_USE_CASES, {"use_case": use_case}, work)

    def resume(self, use_case: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/use-cases/{use_case}/resume`: the use case's models and rules decide again."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            audit.note(use_case=use_case)
            require_use_case(principal, use_case)
            request = self._parse(ResumeRequest, self._json(body, invocation), "a resume request")
            before, after = self._stops.resume(use_case, request, actor=principal.name)
            return after, _switch_details("resume", before, after, request.reason)

        return self._serve(invocation, "use_case.resume", Permission.STOP_USE_CASES, {"use_case": use_case}, work)

    def request_retraining(self, use_case: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/use-cases/{use_case}/retraining`: snapshot the data now and queue a training job on it."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            audit.note(use_case=use_case)
            require_use_case(principal, use_case)
            request = self._parse(RetrainingRequest, self._json(body or b"{}", invocation), "a retraining request")
            try:
                job = self._jobs.retrain(use_case, request, principal=principal.name)
            except SnapshotExistsError as error:
                raise SnapshotExistsError(f"{error}: send the request again") from error
            audit.note(model_name=job.model_name, model_version=job.version)
            details = _job_details(job.job_id, job.snapshot_id, job.family, job.params, job.seed, job.deploy)
            return job, {**details, "trigger": request.trigger, "reason": request.reason}

        return self._serve(
            invocation, "model.retraining.request", Permission.TRAIN_MODELS, {"use_case": use_case}, work, status=202
        )

    def _in_scope(self, principal: Principal, model: str) -> bool:
        return model_in_scope(self._jobs, principal, model)

    def _require_model(self, principal: Principal, model: str, unknown: str) -> None:
        require_model(self._jobs, principal, model, unknown)

    def _untrained(self, model: str) -> ModelSummary:
        """A model a manifest names but no version of which is published yet."""
        manifest = self._jobs.manifest_of_model(model)
        return ModelSummary(
            model_name=model,
            use_case=manifest.name,
            family=manifest.model.family,
            versions=0,
            approved=0,
            rejected=0,
            champion=None,
            challenger=None,
            latest_version=None,
        )

    def _view(self, signed: SignedManifest) -> ModelVersionView:
        manifest = signed.manifest
        policy = self._registry.traffic(manifest.use_case)
        aliases = []
        if policy is not None and policy.model_name == manifest.model_name:
            aliases += ["champion"] if policy.champion == manifest.model_version else []
            aliases += ["challenger"] if policy.challenger == manifest.model_version else []
        return ModelVersionView(manifest=manifest, key_id=signed.key_id, signature=signed.signature, aliases=aliases)


def model_in_scope(jobs: TrainingJobs, principal: Principal, model: str) -> bool:
    """Whether the key is scoped to the use case that `model` serves (a model no manifest names is in no scope)."""
    try:
        return principal.may_use(jobs.manifest_of_model(model).name)
    except NotFoundError:
        return principal.every_use_case


def require_model(jobs: TrainingJobs, principal: Principal, model: str, unknown: str) -> None:
    """NotFoundError with the route's own message for an unknown model, when the model is out of the key's scope."""
    if not model_in_scope(jobs, principal, model):
        raise NotFoundError(unknown)


def _job_details(
    job_id: str, snapshot_id: str, family: str, params: dict[str, Any], seed: int, deploy: str
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "snapshot_id": snapshot_id,
        "family": family,
        "params": params,
        "seed": seed,
        "deploy": deploy,
    }


def _change_details(change: str, before: TrafficPolicy | None, after: TrafficPolicy, reason: str) -> dict[str, Any]:
    return {
        "change": change,
        "reason": reason,
        "before": before.model_dump(mode="json") if before else None,
        "after": after.model_dump(mode="json"),
    }


def _switch_details(change: str, before: StopState, after: StopState, reason: str) -> dict[str, Any]:
    return {
        "change": change,
        "reason": reason,
        "before": before.model_dump(mode="json"),
        "after": after.model_dump(mode="json"),
    }
