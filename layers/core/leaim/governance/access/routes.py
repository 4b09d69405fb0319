"""Every route of every API function: who serves it, who may call it, what it takes and what it answers.

This table is the one description of the HTTP surface. The OpenAPI document (`leaim.governance.access.openapi`)
is built from it and the contracts, and the tests hold it equal to the routes the Chalice apps declare and to
the `Api` events of `template.yaml`, so that none of the three drifts from the others. Paths are written as
Chalice and the template write them: API Gateway allows one variable name per path level, so `{id}` is a use
case on `POST /v1/decisions/{id}` and a decision everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, get_args

from contracts.audit.v1 import Outcome
from contracts.decision.v1 import AdverseActionNotice, DecisionRequest, DecisionResponse
from contracts.governance.v1 import (
    AlertList,
    BiasReport,
    CoverageReport,
    DriftReports,
    Explanation,
    LegalHold,
    LegalHoldList,
    LegalHoldRelease,
    LegalHoldRequest,
    OutcomeReport,
    ProcessKpis,
    QualityReport,
    RecordedOutcome,
    Review,
    ReviewList,
    ReviewOverride,
    UsageReport,
)
from contracts.ingest.v1 import (
    QUARANTINE_ID_PATTERN,
    IngestBatch,
    IngestReport,
    QuarantinePage,
    ReplayReport,
    ReplayRequest,
    SnapshotList,
    SnapshotManifest,
    SnapshotRequest,
)
from contracts.model.v1 import (
    DOCUMENT_FORMATS,
    ArchivedDocument,
    ArchivedDocumentContent,
    ArchivedDocumentList,
    DocumentArchiveRequest,
    ModelList,
    ModelVersionView,
    ResumeRequest,
    RetrainingRequest,
    Rollback,
    StopRequest,
    StopState,
    TrafficChange,
    TrafficPolicy,
    TrainingJob,
    TrainingJobRequest,
)
from contracts.policy.v1 import (
    PolicyHead,
    PolicyList,
    PolicyProposal,
    PolicyShadowReport,
    PolicyTransition,
    PolicyVersion,
)
from contracts.replay.v1 import DecisionReplay, DecisionReplayRequest
from contracts.trail.v1 import AuditPage
from leaim.governance.access.policy import Permission

if TYPE_CHECKING:
    from pydantic import BaseModel

DECISION_API = "DecisionApiFunction"
GOVERNANCE_API = "GovernanceApiFunction"
INGEST_API = "IngestApiFunction"
LIFECYCLE_API = "LifecycleApiFunction"

# What every route that asks for a key can answer, whatever it does.
KEYED_ERRORS = frozenset({401, 403, 429, 500, 503})
# What the public route can answer: it asks for no key, but its audit event must still be stored.
PUBLIC_ERRORS = frozenset({500, 503})
# The statuses whose answers carry `Retry-After`: the caller may send the same request again after it.
RETRY_AFTER = frozenset({429, 503})

ERROR_STATUSES: dict[int, str] = {
    400: "The body is not JSON (`malformed_json`); `fields` names `body`.",
    401: "No API key was sent in `x-api-key`, or the key is unknown or revoked (`unauthorized`).",
    403: "The key's role may not call this route, or its scope does not span what the route reads (`forbidden`).",
    404: (
        "What the path or a filter names does not exist, or is out of the key's scope, which is answered the same "
        "(`not_found`, `unknown_use_case`, `unknown_decision`)."
    ),
    409: "The change conflicts with what is stored (`conflict` and its kinds, such as `revision_conflict`).",
    413: (
        "The body is over the API's limit (`body_too_large`), or an export is over what one answer carries "
        "(`export_too_large`)."
    ),
    415: "The body is sent as a media type other than JSON, or not in UTF-8 (`unsupported_media_type`).",
    422: (
        "The body or a query parameter does not match the route's contract (`invalid_request`, `invalid_inputs`); "
        "`fields` names each offending one."
    ),
    429: "The key is over its rate limit or daily quota (`rate_limited`): send again after `Retry-After` seconds.",
    500: "Anything else (`internal_error`); the invocation's audit event holds the error.",
    503: (
        "A store the answer needs did not answer (`dependency_unavailable`), or the audit store did not accept the "
        "invocation's event (`audit_unavailable`): send again after `Retry-After` seconds."
    ),
}


class Touches(StrEnum):
    """The kind of object a route reads or changes, named by its path parameter; `none` for a collection."""

    NONE = "none"
    USE_CASE = "use_case"
    DATASET = "dataset"
    MODEL = "model"
    DECISION = "decision"
    REVIEW = "review"
    TRAINING_JOB = "training_job"


@dataclass(frozen=True, slots=True)
class Parameter:
    """A path or query parameter: its name, what it means, and the JSON Schema its value satisfies."""

    name: str
    description: str
    type: Literal["string", "integer"] = "string"
    format: str | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: str | int | None = None

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the parameter's value."""
        schema: dict[str, Any] = {"type": self.type}
        if self.format is not None:
            schema["format"] = self.format
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.default is not None:
            schema["default"] = self.default
        return schema


@dataclass(frozen=True, slots=True)
class Answer:
    """A success answer: its status, what it means, and its body.

    The body is JSON of `contract`, or, without a contract, a JSON object of no contract of ours (the OpenAPI
    document itself). `text` names the other media types the route answers as text (an audit export).
    `headers` are the answer's own headers, each with what it means.
    """

    status: int
    description: str
    contract: type[BaseModel] | None = None
    text: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """One route: its function (a logical id of `template.yaml`), method and path, and its contract with callers.

    `action` is what the invocation's audit event and log line call it (`decision.create`). `permission` is None
    for a public route, which asks for no key. `request` is the body's contract, None when the route takes no
    body; `request_required` is False where the route reads an empty body as `{}` and the contract's defaults
    make that a whole request.
    """

    function: str
    method: str
    path: str
    operation_id: str
    action: str
    summary: str
    permission: Permission | None
    touches: Touches
    answers: tuple[Answer, ...]
    errors: frozenset[int]
    path_parameters: tuple[Parameter, ...] = ()
    query: tuple[Parameter, ...] = ()
    request: type[BaseModel] | None = None
    request_required: bool = True

    @property
    def public(self) -> bool:
        """Whether anyone may call the route, with no key."""
        return self.permission is None


def _keyed(*statuses: int) -> frozenset[int]:
    """The errors of a keyed route: those of every keyed route, and `statuses`."""
    return KEYED_ERRORS | frozenset(statuses)


# The errors a body adds: not JSON (400), too large (413), not sent as JSON (415), not the contract (422).
BODY_ERRORS = (400, 413, 415, 422)

USE_CASE = Parameter("use_case", "The use case, as its manifest names it (e.g. `card_fraud`).")
DATASET = Parameter("dataset", "The dataset, as its contract names it (e.g. `transactions`).")
MODEL = Parameter("model", "The model, as its use case's manifest names it (e.g. `card-fraud`).")
DECISION_ID = Parameter("id", "The decision's id, as its answer named it (`decision_id`).")
POLICY_VERSION = Parameter("version", "The version's number, counted from 1.", "integer", minimum=1)
HOLD_ID = Parameter("hold_id", "The legal hold's id, as placing it answered.")
REVIEW_ID = Parameter("review_id", "The review's id: the id of the decision under review.")
MODEL_VERSION = Parameter("version", "The model version (e.g. `v2`).")
DOCUMENT_KIND = Parameter(
    "kind",
    "The document: the technical documentation (Annex IV), the instructions for use (Art. 13) or the ML-BOM.",
    enum=tuple(DOCUMENT_FORMATS),
)

LIMIT = Parameter("limit", "How many items one page holds at most.", "integer", minimum=1, maximum=1000, default=100)
SINCE = Parameter(
    "since", "Only what happened at or after this ISO-8601 time (UTC without an offset).", format="date-time"
)
UNTIL = Parameter("until", "Only what happened before this ISO-8601 time (UTC without an offset).", format="date-time")
# The reports' range: since defaults to 24 hours before until, until to now.
REPORT_SINCE = Parameter(
    "since",
    "Start of the range, an ISO-8601 time (UTC without an offset); by default 24 hours before `until`.",
    format="date-time",
)
REPORT_UNTIL = Parameter(
    "until", "End of the range, an ISO-8601 time (UTC without an offset); by default now.", format="date-time"
)
AUDIT_QUERY = (
    Parameter(
        "format",
        "`json`: one page of records with their chain links; `jsonl` or `csv`: an export of every match "
        "(at most 100,000 events and 5.5 MB).",
        enum=("json", "jsonl", "csv"),
        default="json",
    ),
    Parameter(
        "limit",
        "How many records one page holds at most (`format=json`).",
        "integer",
        minimum=1,
        maximum=1000,
        default=100,
    ),
    Parameter("cursor", "The `next_cursor` of the page before (`format=json`): the page after it."),
    SINCE,
    UNTIL,
    Parameter("decision_id", "Only the events of this decision: its own, its outcome's and its reviews'."),
    Parameter("use_case", "Only the events of this use case."),
    Parameter("model_version", "Only the events of this model version."),
    Parameter("principal", "Only the events of this principal (`anonymous` for the public route)."),
    Parameter("action", "Only the events of this action (e.g. `decision.create`)."),
    Parameter("outcome", "Only the events of this outcome.", enum=get_args(Outcome)),
    Parameter("source", "Only the events of this function or worker (e.g. `DecisionApiFunction`)."),
    Parameter("trace_id", "Only the events of this trace."),
)

ROUTES: tuple[Route, ...] = (
    Route(
        function=DECISION_API,
        method="POST",
        path="/v1/decisions/{id}",
        operation_id="createDecision",
        action="decision.create",
        summary="Make a governed decision for the use case the path names.",
        permission=Permission.CREATE_DECISION,
        touches=Touches.USE_CASE,
        path_parameters=(Parameter("id", "The use case to decide for, as its manifest names it (e.g. `card_fraud`)."),),
        request=DecisionRequest,
        answers=(
            Answer(
                200,
                "The decision, with its reasons and the model version that scored it (or its fallback).",
                DecisionResponse,
                headers=(("x-idempotent-replay", "`true` when the request id was decided before: the same decision."),),
            ),
        ),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=DECISION_API,
        method="GET",
        path="/v1/decisions/{id}",
        operation_id="readDecision",
        action="decision.read",
        summary="Read the decision the path names.",
        permission=Permission.READ_DECISION,
        touches=Touches.DECISION,
        path_parameters=(DECISION_ID,),
        answers=(Answer(200, "The decision, with its override once a reviewer resolved it.", DecisionResponse),),
        errors=_keyed(404),
    ),
    Route(
        function=DECISION_API,
        method="POST",
        path="/v1/decisions/{id}/replay",
        operation_id="replayDecision",
        action="decision.replay",
        summary="Recompute the decision the path names from what it was made from, and say what differs and why.",
        permission=Permission.REPLAY_DECISIONS,
        touches=Touches.DECISION,
        path_parameters=(DECISION_ID,),
        request=DecisionReplayRequest,
        request_required=False,
        answers=(
            Answer(
                200,
                "The decision beside its replay under the policy and model it was made with (or those the body "
                "names): `same`, or each difference with why.",
                DecisionReplay,
            ),
        ),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=DECISION_API,
        method="GET",
        path="/v1/decisions/{id}/notice",
        operation_id="readDecisionNotice",
        action="decision.notice",
        summary="The adverse-action notice of the decision the path names: at most four principal reasons.",
        permission=Permission.READ_DECISION,
        touches=Touches.DECISION,
        path_parameters=(DECISION_ID,),
        answers=(Answer(200, "The notice, its reasons and its text.", AdverseActionNotice),),
        errors=_keyed(404, 409),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/audit/events",
        operation_id="searchAuditEvents",
        action="audit.search",
        summary="Search the audit trail, or export it as JSON lines or CSV.",
        permission=Permission.READ_AUDIT,
        touches=Touches.NONE,
        query=AUDIT_QUERY,
        answers=(
            Answer(
                200,
                "One page of matching records with their chain links, or with `format=jsonl` or `format=csv` "
                "every match (one `AuditRecord` a line, or one flattened event a row).",
                AuditPage,
                text=("application/x-ndjson", "text/csv"),
            ),
        ),
        errors=_keyed(404, 413, 422),
    ),
    Route(
        function=GOVERNANCE_API,
        method="POST",
        path="/v1/decisions/{id}/outcome",
        operation_id="recordOutcome",
        action="decision.outcome",
        summary="Record a decision's ground truth.",
        permission=Permission.RECORD_OUTCOME,
        touches=Touches.DECISION,
        path_parameters=(DECISION_ID,),
        request=OutcomeReport,
        answers=(
            Answer(201, "The outcome, joined to its decision.", RecordedOutcome),
            Answer(200, "The same truth was recorded before: the stored outcome.", RecordedOutcome),
        ),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/decisions/{id}/explanation",
        operation_id="readExplanation",
        action="decision.explanation",
        summary="The reasons and contributions stored with a decision.",
        permission=Permission.READ_DECISION,
        touches=Touches.DECISION,
        path_parameters=(DECISION_ID,),
        answers=(
            Answer(200, "The decision's reasons, score, threshold, model version and scored features.", Explanation),
        ),
        errors=_keyed(404),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/reviews",
        operation_id="listReviews",
        action="review.list",
        summary="Decisions waiting for a reviewer, oldest first.",
        permission=Permission.REVIEW_DECISIONS,
        touches=Touches.NONE,
        query=(
            Parameter("use_case", "Only the reviews of this use case."),
            Parameter("after", "The last review id of the page before: the page after it."),
            LIMIT,
        ),
        answers=(Answer(200, "One page of pending reviews.", ReviewList),),
        errors=_keyed(404, 422),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/reviews/{review_id}",
        operation_id="readReview",
        action="review.read",
        summary="One review, pending or resolved.",
        permission=Permission.REVIEW_DECISIONS,
        touches=Touches.REVIEW,
        path_parameters=(REVIEW_ID,),
        answers=(Answer(200, "The review.", Review),),
        errors=_keyed(404),
    ),
    Route(
        function=GOVERNANCE_API,
        method="POST",
        path="/v1/reviews/{review_id}",
        operation_id="overrideReview",
        action="review.override",
        summary="A reviewer's final outcome and justification.",
        permission=Permission.REVIEW_DECISIONS,
        touches=Touches.REVIEW,
        path_parameters=(REVIEW_ID,),
        request=ReviewOverride,
        answers=(
            Answer(201, "The review, resolved by this override.", Review),
            Answer(200, "The same override was stored before: the resolved review.", Review),
        ),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/use-cases/{use_case}/drift",
        operation_id="readDrift",
        action="monitor.drift.read",
        summary="The latest drift report of each live version, and the history.",
        permission=Permission.READ_MONITORING,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        answers=(Answer(200, "The drift reports.", DriftReports),),
        errors=_keyed(404),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/use-cases/{use_case}/bias",
        operation_id="readBias",
        action="monitor.bias.read",
        summary="The latest bias indicators per protected attribute and version.",
        permission=Permission.READ_MONITORING,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        answers=(Answer(200, "The latest bias report; 404 before the monitor first ran.", BiasReport),),
        errors=_keyed(404),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/use-cases/{use_case}/quality",
        operation_id="readQuality",
        action="monitor.quality.read",
        summary="AUC, precision and recall per version over time, from recorded outcomes.",
        permission=Permission.READ_MONITORING,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        query=(
            REPORT_SINCE,
            REPORT_UNTIL,
            Parameter(
                "bucket_minutes",
                "The width of each time bucket, in minutes.",
                "integer",
                minimum=1,
                maximum=44640,
                default=60,
            ),
        ),
        answers=(Answer(200, "Quality per version and time bucket.", QualityReport),),
        errors=_keyed(404, 422),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/use-cases/{use_case}/kpis",
        operation_id="readKpis",
        action="governance.kpis",
        summary="Process KPIs: deployment frequency, lead time, change failure rate, time to recovery, retraining "
        "cadence, review and override rates.",
        permission=Permission.READ_MONITORING,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        query=(
            Parameter(
                "since",
                "Start of the range, an ISO-8601 time (UTC without an offset); by default 30 days before `until`.",
                format="date-time",
            ),
            REPORT_UNTIL,
        ),
        answers=(Answer(200, "The use case's process KPIs over the range.", ProcessKpis),),
        errors=_keyed(404, 422),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/use-cases/{use_case}/legal-holds",
        operation_id="listLegalHolds",
        action="retention.holds.read",
        summary="The use case's legal holds, newest first, and whether one is on.",
        permission=Permission.READ_AUDIT,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        answers=(Answer(200, "The use case's legal holds.", LegalHoldList),),
        errors=_keyed(404),
    ),
    Route(
        function=GOVERNANCE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/legal-holds",
        operation_id="placeLegalHold",
        action="retention.hold",
        summary="Place a legal hold: the purge removes nothing of the use case until it is released.",
        permission=Permission.HOLD_RECORDS,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        request=LegalHoldRequest,
        answers=(Answer(201, "The hold placed.", LegalHold),),
        errors=_keyed(404, *BODY_ERRORS),
    ),
    Route(
        function=GOVERNANCE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/legal-holds/{hold_id}/release",
        operation_id="releaseLegalHold",
        action="retention.hold.release",
        summary="Release a legal hold, with the reason: the purge resumes once no hold is on.",
        permission=Permission.HOLD_RECORDS,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE, HOLD_ID),
        request=LegalHoldRelease,
        answers=(Answer(200, "The hold released.", LegalHold),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/alerts",
        operation_id="listAlerts",
        action="monitor.alerts.read",
        summary="Open drift and bias alerts, newest first.",
        permission=Permission.READ_MONITORING,
        touches=Touches.NONE,
        query=(
            Parameter("status", "`open` alerts only, or `all` of them.", enum=("open", "all"), default="open"),
            Parameter("use_case", "Only the alerts of this use case."),
        ),
        answers=(Answer(200, "The alerts.", AlertList),),
        errors=_keyed(404, 422),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/usage",
        operation_id="readUsage",
        action="analytics.usage",
        summary="Decisions per use case, version and principal.",
        permission=Permission.READ_MONITORING,
        touches=Touches.NONE,
        query=(REPORT_SINCE, REPORT_UNTIL, Parameter("use_case", "Only the usage of this use case.")),
        answers=(Answer(200, "Decisions, latency percentiles and fallback, review and override rates.", UsageReport),),
        errors=_keyed(404, 422),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/v1/governance/coverage",
        operation_id="readCoverage",
        action="governance.coverage",
        summary="The governance coverage report.",
        permission=Permission.READ_AUDIT,
        touches=Touches.NONE,
        query=(REPORT_SINCE, REPORT_UNTIL),
        answers=(Answer(200, "What share of invocations and live versions is governed.", CoverageReport),),
        errors=_keyed(422),
    ),
    Route(
        function=GOVERNANCE_API,
        method="GET",
        path="/openapi.json",
        operation_id="readOpenApi",
        action="openapi.read",
        summary="This OpenAPI document, to anyone: the one route that asks for no key.",
        permission=None,
        touches=Touches.NONE,
        answers=(Answer(200, "The OpenAPI 3.1 document of every API."),),
        errors=PUBLIC_ERRORS,
    ),
    Route(
        function=INGEST_API,
        method="POST",
        path="/v1/ingest/{dataset}",
        operation_id="ingestRecords",
        action="ingest.records",
        summary="Store a batch of records; bad records are quarantined with their reasons.",
        permission=Permission.INGEST_RECORDS,
        touches=Touches.DATASET,
        path_parameters=(DATASET,),
        request=IngestBatch,
        answers=(Answer(200, "What was stored, found stored before and quarantined, and why.", IngestReport),),
        errors=_keyed(404, *BODY_ERRORS),
    ),
    Route(
        function=INGEST_API,
        method="GET",
        path="/v1/ingest/{dataset}/quarantine",
        operation_id="listQuarantine",
        action="ingest.quarantine.list",
        summary="One page of the dataset's quarantined records, PII masked.",
        permission=Permission.READ_QUARANTINE,
        touches=Touches.DATASET,
        path_parameters=(DATASET,),
        query=(
            Parameter(
                "after",
                "The last quarantine id of the page before: the page after it.",
                pattern=QUARANTINE_ID_PATTERN,
            ),
            LIMIT,
        ),
        answers=(Answer(200, "One page of quarantined records with their reasons.", QuarantinePage),),
        errors=_keyed(404, 422),
    ),
    Route(
        function=INGEST_API,
        method="POST",
        path="/v1/ingest/{dataset}/quarantine/replay",
        operation_id="replayQuarantine",
        action="ingest.quarantine.replay",
        summary="Check quarantined records again and store those that now pass.",
        permission=Permission.REPLAY_QUARANTINE,
        touches=Touches.DATASET,
        path_parameters=(DATASET,),
        request=ReplayRequest,
        request_required=False,
        answers=(Answer(200, "What was replayed, stored and is still quarantined.", ReplayReport),),
        errors=_keyed(404, *BODY_ERRORS),
    ),
    Route(
        function=INGEST_API,
        method="POST",
        path="/v1/datasets/{dataset}/snapshots",
        operation_id="createSnapshot",
        action="dataset.snapshot.create",
        summary="Freeze the dataset's stored records into an immutable snapshot.",
        permission=Permission.CREATE_SNAPSHOT,
        touches=Touches.DATASET,
        path_parameters=(DATASET,),
        request=SnapshotRequest,
        request_required=False,
        answers=(Answer(201, "The snapshot's manifest, with its content hash.", SnapshotManifest),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=INGEST_API,
        method="GET",
        path="/v1/datasets/{dataset}/snapshots",
        operation_id="listSnapshots",
        action="dataset.snapshot.list",
        summary="The dataset's snapshots, newest first.",
        permission=Permission.READ_SNAPSHOTS,
        touches=Touches.DATASET,
        path_parameters=(DATASET,),
        answers=(Answer(200, "The snapshots' manifests.", SnapshotList),),
        errors=_keyed(404),
    ),
    Route(
        function=INGEST_API,
        method="GET",
        path="/v1/datasets/{dataset}/snapshots/{snapshot_id}",
        operation_id="readSnapshot",
        action="dataset.snapshot.read",
        summary="One snapshot's manifest.",
        permission=Permission.READ_SNAPSHOTS,
        touches=Touches.DATASET,
        path_parameters=(DATASET, Parameter("snapshot_id", "The snapshot's id.")),
        answers=(Answer(200, "The snapshot's manifest.", SnapshotManifest),),
        errors=_keyed(404),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/models",
        operation_id="listModels",
        action="model.list",
        summary="Every model, with its version counts and aliases.",
        permission=Permission.READ_MODELS,
        touches=Touches.NONE,
        answers=(Answer(200, "Every model a manifest names.", ModelList),),
        errors=_keyed(),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/models/{model}/training-jobs",
        operation_id="createTrainingJob",
        action="model.training_job.create",
        summary="Queue a training job on a dataset snapshot.",
        permission=Permission.TRAIN_MODELS,
        touches=Touches.MODEL,
        path_parameters=(MODEL,),
        request=TrainingJobRequest,
        answers=(Answer(202, "The queued job.", TrainingJob),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/models/{model}/versions/{version}",
        operation_id="readModelVersion",
        action="model.version.read",
        summary="One version's signed manifest.",
        permission=Permission.READ_MODELS,
        touches=Touches.MODEL,
        path_parameters=(MODEL, Parameter("version", "The model version (e.g. `v2`).")),
        answers=(
            Answer(200, "The signed manifest: metrics, gates, lineage, key id, signature, aliases.", ModelVersionView),
        ),
        errors=_keyed(404),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/models/{model}/versions/{version}/documents",
        operation_id="listModelDocuments",
        action="model.document.list",
        summary="Every archived document of the version, with its sha256, signature, key id and retention.",
        permission=Permission.READ_MODELS,
        touches=Touches.MODEL,
        path_parameters=(MODEL, MODEL_VERSION),
        answers=(Answer(200, "Every archived revision, by kind, format and revision.", ArchivedDocumentList),),
        errors=_keyed(404),
    ),
    Route(
        function=LIFECYCLE_API,
        method="PUT",
        path="/v1/models/{model}/versions/{version}/documents/{kind}",
        operation_id="archiveModelDocument",
        action="model.document.archive",
        summary="Archive a generated document beside the version, signed by the model signing key and locked for "
        "ten years (COMPLIANCE mode).",
        permission=Permission.ARCHIVE_DOCUMENTS,
        touches=Touches.MODEL,
        path_parameters=(MODEL, MODEL_VERSION, DOCUMENT_KIND),
        request=DocumentArchiveRequest,
        answers=(
            Answer(
                201,
                "The new revision's record: other bytes than any archived of this kind and format.",
                ArchivedDocument,
            ),
            Answer(200, "The record of the same bytes, archived before: nothing is written.", ArchivedDocument),
        ),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/models/{model}/versions/{version}/documents/{kind}/{sha256}",
        operation_id="readModelDocument",
        action="model.document.read",
        summary="An archived document's record and its bytes, checked against its sha256.",
        permission=Permission.READ_MODELS,
        touches=Touches.MODEL,
        path_parameters=(
            MODEL,
            MODEL_VERSION,
            DOCUMENT_KIND,
            Parameter("sha256", "The document's sha256, as its record names it.", pattern="^[0-9a-f]{64}$"),
        ),
        answers=(Answer(200, "The record and the bytes, in base64.", ArchivedDocumentContent),),
        errors=_keyed(404, 409, 422),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/training-jobs/{job_id}",
        operation_id="readTrainingJob",
        action="model.training_job.read",
        summary="A training job's state and progress.",
        permission=Permission.READ_MODELS,
        touches=Touches.TRAINING_JOB,
        path_parameters=(Parameter("job_id", "The training job's id."),),
        answers=(Answer(200, "The job: its state, stage, progress and reasons.", TrainingJob),),
        errors=_keyed(404),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/use-cases/{use_case}/traffic",
        operation_id="readTraffic",
        action="model.traffic.read",
        summary="The use case's champion, challenger and policy.",
        permission=Permission.READ_MODELS,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        answers=(Answer(200, "The traffic policy and its revision.", TrafficPolicy),),
        errors=_keyed(404),
    ),
    Route(
        function=LIFECYCLE_API,
        method="PUT",
        path="/v1/use-cases/{use_case}/traffic",
        operation_id="changeTraffic",
        action="model.traffic.change",
        summary="Promote a version, or make it the challenger under shadow or canary.",
        permission=Permission.PROMOTE_MODELS,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        request=TrafficChange,
        answers=(Answer(200, "The traffic policy after the change.", TrafficPolicy),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/rollback",
        operation_id="rollbackTraffic",
        action="model.traffic.rollback",
        summary="Take the challenger out of traffic, or restore the previous champion.",
        permission=Permission.PROMOTE_MODELS,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        request=Rollback,
        request_required=False,
        answers=(Answer(200, "The traffic policy after the rollback.", TrafficPolicy),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/use-cases/{use_case}/stop",
        operation_id="readStop",
        action="use_case.stop.read",
        summary="Whether the use case is stopped, and who last stopped or resumed it, when and why.",
        permission=Permission.READ_MONITORING,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        answers=(Answer(200, "The stop switch.", StopState),),
        errors=_keyed(404),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/stop",
        operation_id="stopUseCase",
        action="use_case.stop",
        summary="Stop the use case: from the next request on, every decision gets its fallback or goes to review.",
        permission=Permission.STOP_USE_CASES,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        request=StopRequest,
        answers=(Answer(200, "The stop switch after the change.", StopState),),
        errors=_keyed(404, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/resume",
        operation_id="resumeUseCase",
        action="use_case.resume",
        summary="Resume a stopped use case: its models and rules decide again from the next request on.",
        permission=Permission.STOP_USE_CASES,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        request=ResumeRequest,
        answers=(Answer(200, "The stop switch after the change.", StopState),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/retraining",
        operation_id="requestRetraining",
        action="model.retraining.request",
        summary="Snapshot the use case's data now and queue a training job on it.",
        permission=Permission.TRAIN_MODELS,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        request=RetrainingRequest,
        answers=(Answer(202, "The queued job.", TrainingJob),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/use-cases/{use_case}/policies",
        operation_id="listPolicies",
        action="policy.list",
        summary="The use case's policy head and every version of its manifest.",
        permission=Permission.READ_POLICIES,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        answers=(Answer(200, "The head and every version, newest first.", PolicyList),),
        errors=_keyed(404),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/policies",
        operation_id="proposePolicy",
        action="policy.propose",
        summary="Register a proposed version of the use case's manifest; another principal approves it.",
        permission=Permission.PROPOSE_POLICIES,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        request=PolicyProposal,
        answers=(Answer(201, "The registered version.", PolicyVersion),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/policies/rollback",
        operation_id="rollbackPolicy",
        action="policy.rollback",
        summary="Make the version active before the active one active again.",
        permission=Permission.ACTIVATE_POLICIES,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE,),
        request=PolicyTransition,
        request_required=False,
        answers=(Answer(200, "The head after the change.", PolicyHead),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/use-cases/{use_case}/policies/{version}",
        operation_id="readPolicy",
        action="policy.read",
        summary="One version of the use case's manifest: document, digest, signature, diff and state.",
        permission=Permission.READ_POLICIES,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE, POLICY_VERSION),
        answers=(Answer(200, "The version.", PolicyVersion),),
        errors=_keyed(404),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/policies/{version}/approve",
        operation_id="approvePolicy",
        action="policy.approve",
        summary="Approve a version another principal proposed (four eyes).",
        permission=Permission.APPROVE_POLICIES,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE, POLICY_VERSION),
        request=PolicyTransition,
        request_required=False,
        answers=(Answer(200, "The version.", PolicyVersion),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/policies/{version}/activate",
        operation_id="activatePolicy",
        action="policy.activate",
        summary="Make an approved version the active one: it decides from the next read of the heads on.",
        permission=Permission.ACTIVATE_POLICIES,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE, POLICY_VERSION),
        request=PolicyTransition,
        request_required=False,
        answers=(Answer(200, "The head after the change.", PolicyHead),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/policies/{version}/shadow",
        operation_id="shadowPolicy",
        action="policy.shadow",
        summary="Run a version in shadow: the active one decides, this one's outcome is recorded beside it.",
        permission=Permission.ACTIVATE_POLICIES,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE, POLICY_VERSION),
        request=PolicyTransition,
        request_required=False,
        answers=(Answer(200, "The head after the change.", PolicyHead),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/use-cases/{use_case}/policies/{version}/retire",
        operation_id="retirePolicy",
        action="policy.retire",
        summary="Retire a version that is not active.",
        permission=Permission.ACTIVATE_POLICIES,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE, POLICY_VERSION),
        request=PolicyTransition,
        request_required=False,
        answers=(Answer(200, "The head after the change.", PolicyHead),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/use-cases/{use_case}/policies/{version}/shadow-report",
        operation_id="readPolicyShadowReport",
        action="policy.shadow_report",
        summary="How many decisions a shadow version would have changed, by outcome.",
        permission=Permission.READ_POLICIES,
        touches=Touches.USE_CASE,
        path_parameters=(USE_CASE, POLICY_VERSION),
        query=(REPORT_SINCE, REPORT_UNTIL),
        answers=(Answer(200, "The comparison of outcomes.", PolicyShadowReport),),
        errors=_keyed(404, 422),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/datasets/{dataset}/contracts",
        operation_id="listDatasetContracts",
        action="dataset_contract.list",
        summary="The dataset's contract head and every version.",
        permission=Permission.READ_POLICIES,
        touches=Touches.DATASET,
        path_parameters=(DATASET,),
        answers=(Answer(200, "The head and every version, newest first.", PolicyList),),
        errors=_keyed(404),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/datasets/{dataset}/contracts",
        operation_id="proposeDatasetContract",
        action="dataset_contract.propose",
        summary="Register a proposed version of the dataset's contract; another principal approves it.",
        permission=Permission.PROPOSE_POLICIES,
        touches=Touches.DATASET,
        path_parameters=(DATASET,),
        request=PolicyProposal,
        answers=(Answer(201, "The registered version.", PolicyVersion),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/datasets/{dataset}/contracts/rollback",
        operation_id="rollbackDatasetContract",
        action="dataset_contract.rollback",
        summary="Stop accepting the newest accepted version; the one before is active again.",
        permission=Permission.ACTIVATE_POLICIES,
        touches=Touches.DATASET,
        path_parameters=(DATASET,),
        request=PolicyTransition,
        request_required=False,
        answers=(Answer(200, "The head after the change.", PolicyHead),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="GET",
        path="/v1/datasets/{dataset}/contracts/{version}",
        operation_id="readDatasetContract",
        action="dataset_contract.read",
        summary="One version of the dataset's contract.",
        permission=Permission.READ_POLICIES,
        touches=Touches.DATASET,
        path_parameters=(DATASET, POLICY_VERSION),
        answers=(Answer(200, "The version.", PolicyVersion),),
        errors=_keyed(404),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/datasets/{dataset}/contracts/{version}/approve",
        operation_id="approveDatasetContract",
        action="dataset_contract.approve",
        summary="Approve a contract version another principal proposed (four eyes).",
        permission=Permission.APPROVE_POLICIES,
        touches=Touches.DATASET,
        path_parameters=(DATASET, POLICY_VERSION),
        request=PolicyTransition,
        request_required=False,
        answers=(Answer(200, "The version.", PolicyVersion),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/datasets/{dataset}/contracts/{version}/activate",
        operation_id="activateDatasetContract",
        action="dataset_contract.activate",
        summary="Accept records of an approved contract version.",
        permission=Permission.ACTIVATE_POLICIES,
        touches=Touches.DATASET,
        path_parameters=(DATASET, POLICY_VERSION),
        request=PolicyTransition,
        request_required=False,
        answers=(Answer(200, "The head after the change.", PolicyHead),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
    Route(
        function=LIFECYCLE_API,
        method="POST",
        path="/v1/datasets/{dataset}/contracts/{version}/retire",
        operation_id="retireDatasetContract",
        action="dataset_contract.retire",
        summary="Stop accepting records of a version that is not the active one.",
        permission=Permission.ACTIVATE_POLICIES,
        touches=Touches.DATASET,
        path_parameters=(DATASET, POLICY_VERSION),
        request=PolicyTransition,
        request_required=False,
        answers=(Answer(200, "The head after the change.", PolicyHead),),
        errors=_keyed(404, 409, *BODY_ERRORS),
    ),
)
