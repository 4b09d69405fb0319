"""Model contract, version 1: signed model manifests, training jobs, registry views and traffic policies.

A model version is described by a `ModelManifest`; the lifecycle signs its canonical bytes with Ed25519
and the inference worker checks the signature and the artifact's sha256 before it loads anything.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from contracts._base import Contract, Instant
from contracts.decision.v1 import StopMode
from contracts.inference.v1 import Digest
from contracts.training.v2 import Baseline, Family, ParamValue, TrainingMetrics

ModelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9\-]{0,62}$")]
Version = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")]
VersionStatus = Literal["approved", "rejected"]
Trigger = Literal["person", "schedule", "drift"]
JobState = Literal["queued", "running", "succeeded", "rejected", "failed"]
Policy = Literal["shadow", "canary", "full"]


class GateResult(Contract):
    """One evaluation gate: what was measured, the limit, and whether the version passed."""

    gate: str
    passed: bool
    value: float | None
    limit: float | None
    message: str


class Lineage(Contract):
    """Where a version came from: the snapshot, the code, and the job."""

    dataset: str
    snapshot_id: str
    snapshot_sha256: Digest
    feature_version: str
    code_version: str
    training_job_id: str
    trigger: Trigger
    requested_by: str


class ModelManifest(Contract):
    """Everything that defines an immutable model version; its canonical bytes are what gets signed."""

    schema_version: Literal["model.v1"] = "model.v1"
    model_name: ModelName
    model_version: Version
    use_case: str
    family: Family
    artifact_digest: Digest
    artifact_bytes: int
    artifact_key: str = Field(description="Object key of the artifact in the artifacts bucket.")
    feature_names: list[str]
    params: dict[str, ParamValue]
    seed: int
    threshold: float
    metrics: TrainingMetrics
    gates: list[GateResult]
    status: VersionStatus
    reasons: list[str] = Field(default_factory=list, description="Why a rejected version failed its gates.")
    lineage: Lineage
    baseline: Baseline
    created_at: Instant

    def canonical_bytes(self) -> bytes:
        """The bytes that are signed: JSON with sorted keys and no whitespace."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()


class SignedManifest(Contract):
    """A manifest and the Ed25519 signature of its canonical bytes."""

    schema_version: Literal["model.v1"] = "model.v1"
    manifest: ModelManifest
    key_id: str = Field(description="First 16 hex digits of the sha256 of the raw public key.")
    signature: str = Field(description="Base64 of the 64-byte Ed25519 signature.")


class ModelVersionView(Contract):
    """Body of `GET /v1/models/{model}/versions/{version}`."""

    manifest: ModelManifest
    key_id: str
    signature: str
    aliases: list[str] = Field(description="Aliases this version holds in its use case: champion, challenger.")


class ModelSummary(Contract):
    """One model in `GET /v1/models`."""

    model_name: str
    use_case: str
    family: str
    versions: int
    approved: int
    rejected: int
    champion: str | None
    challenger: str | None
    latest_version: str | None


class ModelList(Contract):
    """Body of `GET /v1/models`."""

    models: list[ModelSummary]


class TrainingJobRequest(Contract):
    """Body of `POST /v1/models/{model}/training-jobs`."""

    snapshot_id: str = Field(min_length=1, max_length=128)
    version: Version | None = Field(default=None, description="Defaults to v<n+1> after the latest version.")
    family: str | None = Field(default=None, description="Defaults to the manifest's model family.")
    params: dict[str, ParamValue] | None = Field(default=None, description="Defaults to the manifest's params.")
    seed: int = Field(default=7, ge=0, le=2**31 - 1)
    deploy: Literal["none", "shadow", "canary"] = Field(
        default="none", description="Make an approved version the challenger under this policy."
    )


class RetrainingRequest(Contract):
    """Body of `POST /v1/use-cases/{use_case}/retraining`: cut a fresh snapshot and train on it."""

    reason: str = Field(min_length=1, max_length=500)
    trigger: Trigger = "person"
    deploy: Literal["none", "shadow", "canary"] = "shadow"
    since: Instant | None = Field(
        default=None, description="Train only on records with an event time from then on; all records by default."
    )


class TrainingJob(Contract):
    """A training job's state; body of `GET /v1/training-jobs/{job_id}`."""

    schema_version: Literal["model.v1"] = "model.v1"
    job_id: str
    model_name: str
    use_case: str
    version: str
    snapshot_id: str
    family: str
    params: dict[str, ParamValue]
    seed: int
    deploy: Literal["none", "shadow", "canary"]
    trigger: Trigger
    reason: str | None = None
    requested_by: str
    state: JobState
    stage: str
    progress: float = Field(ge=0.0, le=1.0)
    message: str | None = None
    reasons: list[str] = Field(default_factory=list)
    created_at: Instant
    updated_at: Instant


class TrafficPolicy(Contract):
    """Which versions serve a use case; body of `GET /v1/use-cases/{use_case}/traffic`."""

    use_case: str
    model_name: str
    champion: str | None
    challenger: str | None = None
    policy: Literal["shadow", "canary"] | None = None
    canary_percent: float = Field(default=0.0, ge=0.0, le=100.0)
    previous_champion: str | None = Field(default=None, description="Restored by a rollback with no challenger.")
    revision: int = Field(description="Increases with every change; send it back to change the policy safely.")
    updated_at: Instant
    updated_by: str

    @model_validator(mode="after")
    def _consistent(self) -> TrafficPolicy:
        if (self.challenger is None) != (self.policy is None):
            raise ValueError("a challenger needs a policy, and a policy needs a challenger")
        return self


class TrafficChange(Contract):
    """Body of `PUT /v1/use-cases/{use_case}/traffic`."""

    version: Version
    policy: Policy = Field(description="shadow or canary make the version the challenger; full makes it champion.")
    canary_percent: float = Field(default=10.0, gt=0.0, lt=100.0)
    expected_revision: int | None = Field(
        default=None, ge=0, description="Refuse the change (409) unless the policy is still at this revision."
    )
    reason: str = Field(default="", max_length=500)


class Rollback(Contract):
    """Body of `POST /v1/use-cases/{use_case}/rollback`."""

    expected_revision: int | None = Field(default=None, ge=0)
    reason: str = Field(default="", max_length=500)


class StopRequest(Contract):
    """Body of `POST /v1/use-cases/{use_case}/stop`."""

    mode: StopMode = Field(
        default="fallback",
        description="fallback: every decision gets the manifest's fallback; review: every decision goes to a person.",
    )
    reason: str = Field(min_length=1, max_length=500, description="Why the use case is stopped; audited.")


class ResumeRequest(Contract):
    """Body of `POST /v1/use-cases/{use_case}/resume`."""

    reason: str = Field(min_length=1, max_length=500, description="Why the use case may decide again; audited.")


class StopState(Contract):
    """Whether a use case is stopped, and the last change of that state; body of the stop routes."""

    use_case: str
    stopped: bool
    mode: StopMode | None = Field(default=None, description="Where decisions go while stopped.")
    reason: str | None = Field(default=None, description="The reason given with the last stop or resume.")
    changed_by: str | None = Field(default=None, description="The principal of the last stop or resume.")
    changed_at: Instant | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StopState:
        if self.stopped != (self.mode is not None):
            raise ValueError("a stopped use case has a mode, and a running one has none")
        return self


class VersionStats(Contract):
    """What the promotion controller saw of one version over its window."""

    version: str
    requests: int
    errors: int
    fallbacks: int
    error_rate: float
    fallback_rate: float
    latency_p95_ms: float | None


class PromotionDecision(Contract):
    """One evaluation of the promotion controller for a use case."""

    use_case: str
    action: Literal["promote", "advance", "rollback", "wait", "none"]
    champion: VersionStats | None
    challenger: VersionStats | None
    reasons: list[str]
    revision: int | None


# The generated documents of a model version that are archived beside it, and the forms each one comes in.
DocumentKind = Literal["technical-documentation", "instructions", "bom"]
DocumentFormat = Literal["markdown", "html", "pdf", "cyclonedx-json"]
DOCUMENT_FORMATS: dict[str, tuple[str, ...]] = {
    "technical-documentation": ("markdown", "html", "pdf"),
    "instructions": ("markdown", "html", "pdf"),
    "bom": ("cyclonedx-json",),
}


class DocumentArchiveRequest(Contract):
    """Body of `PUT /v1/models/{model}/versions/{version}/documents/{kind}`: one generated document's bytes."""

    format: DocumentFormat = Field(
        description="`markdown`, `html` or `pdf` for the technical documentation and the instructions for use; "
        "`cyclonedx-json` for the bill of materials."
    )
    content_base64: str = Field(min_length=1, description="The document's bytes, in base64.")


class ArchivedDocument(Contract):
    """One archived revision of a generated document, and the server's signature of it.

    The signature is the Ed25519 signature, by the model signing key, of the statement
    `leaim-document/v1\\n{model_name}\\n{model_version}\\n{kind}\\n{format}\\n{sha256}`.
    """

    model_name: ModelName
    model_version: Version
    kind: DocumentKind
    format: DocumentFormat
    revision: int = Field(ge=1, description="Counted from 1 per kind and format: other bytes make the next one.")
    sha256: Digest
    size_bytes: int = Field(ge=1)
    content_type: str
    location: str = Field(description="Where the bytes are: s3://bucket/key, beside the version's manifest.")
    key_id: str = Field(description="First 16 hex digits of the sha256 of the raw public key.")
    signature: str = Field(description="Base64 of the 64-byte Ed25519 signature of the document's statement.")
    archived_at: Instant
    archived_by: str
    retain_until: Instant = Field(description="The end of the COMPLIANCE object lock of the bytes and this record.")


class ArchivedDocumentList(Contract):
    """Body of `GET /v1/models/{model}/versions/{version}/documents`: every archived revision, oldest first."""

    model_name: str
    model_version: str
    documents: list[ArchivedDocument]


class ArchivedDocumentContent(Contract):
    """Body of `GET /v1/models/{model}/versions/{version}/documents/{kind}/{sha256}`: a document and its bytes."""

    document: ArchivedDocument
    content_base64: str = Field(description="The document's bytes, in base64.")
