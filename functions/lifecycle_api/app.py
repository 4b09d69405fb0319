"""Lifecycle API function (LEAIM layer 2). The Chalice `app` object is the Lambda handler.

Routes translate API Gateway requests into calls on `leaim.lifecycle.api.LifecycleApi`, which
authenticates, validates, queues training jobs, reads the registry, changes traffic policies and
audits, on the policy registry's API, and on `leaim.lifecycle.document_api.DocumentApi`, which archives the
documents of a model version; this module only maps results to HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice.app import Chalice

from leaim.adapters.chalice import CONTENT_TYPES, body_of, current_request, invocation_of, respond_logged
from leaim.bootstrap.lifecycle import build_document_api, build_lifecycle, build_lifecycle_api, build_policy_api
from leaim.bootstrap.runtime import once

if TYPE_CHECKING:
    from chalice.app import Response


SERVICE = "lifecycle-api"
SOURCE = "LifecycleApiFunction"

app = Chalice(app_name="leaim-lifecycle-api")
logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first request of a container and reused by the following ones.
lifecycle = once(lambda: build_lifecycle(SERVICE))
lifecycle_api = once(lambda: build_lifecycle_api(lifecycle(), source=SOURCE))
# The policy registry's API; its first build seeds the bootstrap manifests and contracts not registered yet.
policy_api = once(lambda: build_policy_api(lifecycle(), source=SOURCE))
document_api = once(lambda: build_document_api(lifecycle(), source=SOURCE))


@app.route("/v1/models", methods=["GET"], content_types=CONTENT_TYPES)
def list_models() -> Response:
    """Every model, with its version counts and aliases."""
    request = current_request(app)
    return respond_logged(logger, "model.list", lifecycle_api().list_models(invocation_of(app, request)))


@app.route("/v1/models/{model}/training-jobs", methods=["POST"], content_types=CONTENT_TYPES)
def create_training_job(model: str) -> Response:
    """Queue a training job on a dataset snapshot."""
    request = current_request(app)
    answer = lifecycle_api().create_training_job(model, body_of(request), invocation_of(app, request))
    if answer.status == 202:
        metrics.add_metric(name="TrainingJobsQueued", unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()
    return respond_logged(logger, "model.training_job.create", answer)


@app.route("/v1/models/{model}/versions/{version}", methods=["GET"], content_types=CONTENT_TYPES)
def read_version(model: str, version: str) -> Response:
    """One version's signed manifest."""
    request = current_request(app)
    return respond_logged(
        logger, "model.version.read", lifecycle_api().read_version(model, version, invocation_of(app, request))
    )


@app.route("/v1/models/{model}/versions/{version}/documents", methods=["GET"], content_types=CONTENT_TYPES)
def list_documents(model: str, version: str) -> Response:
    """Every archived document of the version, with its sha256, signature and retention."""
    request = current_request(app)
    answer = document_api().list(model, version, invocation_of(app, request))
    return respond_logged(logger, "model.document.list", answer)


@app.route("/v1/models/{model}/versions/{version}/documents/{kind}", methods=["PUT"], content_types=CONTENT_TYPES)
def archive_document(model: str, version: str, kind: str) -> Response:
    """Archive a generated document of the version, signed and locked for ten years."""
    request = current_request(app)
    answer = document_api().archive(model, version, kind, body_of(request), invocation_of(app, request))
    return respond_logged(logger, "model.document.archive", answer)


@app.route(
    "/v1/models/{model}/versions/{version}/documents/{kind}/{sha256}", methods=["GET"], content_types=CONTENT_TYPES
)
def read_document(model: str, version: str, kind: str, sha256: str) -> Response:
    """An archived document's record and its bytes."""
    request = current_request(app)
    answer = document_api().read(model, version, kind, sha256, invocation_of(app, request))
    return respond_logged(logger, "model.document.read", answer)


@app.route("/v1/training-jobs/{job_id}", methods=["GET"], content_types=CONTENT_TYPES)
def read_training_job(job_id: str) -> Response:
    """A training job's state and progress."""
    request = current_request(app)
    return respond_logged(
        logger, "model.training_job.read", lifecycle_api().read_training_job(job_id, invocation_of(app, request))
    )


@app.route("/v1/use-cases/{use_case}/traffic", methods=["GET"], content_types=CONTENT_TYPES)
def read_traffic(use_case: str) -> Response:
    """The use case's champion, challenger and policy."""
    request = current_request(app)
    return respond_logged(
        logger, "model.traffic.read", lifecycle_api().read_traffic(use_case, invocation_of(app, request))
    )


@app.route("/v1/use-cases/{use_case}/traffic", methods=["PUT"], content_types=CONTENT_TYPES)
def change_traffic(use_case: str) -> Response:
    """Promote a version, or make it the challenger under shadow or canary."""
    request = current_request(app)
    answer = lifecycle_api().change_traffic(use_case, body_of(request), invocation_of(app, request))
    return respond_logged(logger, "model.traffic.change", answer)


@app.route("/v1/use-cases/{use_case}/rollback", methods=["POST"], content_types=CONTENT_TYPES)
def rollback(use_case: str) -> Response:
    """Take the challenger out of traffic, or restore the previous champion."""
    request = current_request(app)
    return respond_logged(
        logger,
        "model.traffic.rollback",
        lifecycle_api().rollback(use_case, body_of(request), invocation_of(app, request)),
    )


@app.route("/v1/use-cases/{use_case}/stop", methods=["GET"], content_types=CONTENT_TYPES)
def read_stop(use_case: str) -> Response:
    """Whether the use case is stopped, and its last stop or resume."""
    request = current_request(app)
    answer = lifecycle_api().read_stop(use_case, invocation_of(app, request))
    return respond_logged(logger, "use_case.stop.read", answer)


@app.route("/v1/use-cases/{use_case}/stop", methods=["POST"], content_types=CONTENT_TYPES)
def stop_use_case(use_case: str) -> Response:
    """Send every decision of the use case to its fallback or to review, from the next request on."""
    request = current_request(app)
    answer = lifecycle_api().stop(use_case, body_of(request), invocation_of(app, request))
    return respond_logged(logger, "use_case.stop", answer)


@app.route("/v1/use-cases/{use_case}/resume", methods=["POST"], content_types=CONTENT_TYPES)
def resume_use_case(use_case: str) -> Response:
    """Let the use case's models and rules decide again."""
    request = current_request(app)
    answer = lifecycle_api().resume(use_case, body_of(request), invocation_of(app, request))
    return respond_logged(logger, "use_case.resume", answer)


@app.route("/v1/use-cases/{use_case}/retraining", methods=["POST"], content_types=CONTENT_TYPES)
def request_retraining(use_case: str) -> Response:
    """Snapshot the use case's data now and queue a training job on it."""
    request = current_request(app)
    answer = lifecycle_api().request_retraining(use_case, body_of(request), invocation_of(app, request))
    return respond_logged(logger, "model.retraining.request", answer)


@app.route("/v1/use-cases/{use_case}/policies", methods=["GET"], content_types=CONTENT_TYPES)
def list_policies(use_case: str) -> Response:
    """The use case's policy head and every version."""
    request = current_request(app)
    return respond_logged(logger, "policy.list", policy_api().list("use_case", use_case, invocation_of(app, request)))


@app.route("/v1/use-cases/{use_case}/policies", methods=["POST"], content_types=CONTENT_TYPES)
def propose_policy(use_case: str) -> Response:
    """Register a proposed version of the use case's manifest."""
    request = current_request(app)
    return respond_logged(
        logger,
        "policy.propose",
        policy_api().propose("use_case", use_case, body_of(request), invocation_of(app, request)),
    )


@app.route("/v1/use-cases/{use_case}/policies/rollback", methods=["POST"], content_types=CONTENT_TYPES)
def rollback_policy(use_case: str) -> Response:
    """Make the version active before the active one active again."""
    request = current_request(app)
    return respond_logged(
        logger,
        "policy.rollback",
        policy_api().rollback("use_case", use_case, body_of(request), invocation_of(app, request)),
    )


@app.route("/v1/use-cases/{use_case}/policies/{version}", methods=["GET"], content_types=CONTENT_TYPES)
def read_policy(use_case: str, version: str) -> Response:
    """One version of the use case's manifest, its signature, diff and state."""
    request = current_request(app)
    return respond_logged(
        logger, "policy.read", policy_api().read("use_case", use_case, version, invocation_of(app, request))
    )


@app.route("/v1/use-cases/{use_case}/policies/{version}/approve", methods=["POST"], content_types=CONTENT_TYPES)
def approve_policy(use_case: str, version: str) -> Response:
    """Approve a version another principal proposed."""
    request = current_request(app)
    return respond_logged(
        logger,
        "policy.approve",
        policy_api().approve("use_case", use_case, version, body_of(request), invocation_of(app, request)),
    )


@app.route("/v1/use-cases/{use_case}/policies/{version}/activate", methods=["POST"], content_types=CONTENT_TYPES)
def activate_policy(use_case: str, version: str) -> Response:
    """Make an approved version the active one."""
    request = current_request(app)
    return respond_logged(
        logger,
        "policy.activate",
        policy_api().activate("use_case", use_case, version, body_of(request), invocation_of(app, request)),
    )


@app.route("/v1/use-cases/{use_case}/policies/{version}/shadow", methods=["POST"], content_types=CONTENT_TYPES)
def shadow_policy(use_case: str, version: str) -> Response:
    """Run a version in shadow beside the active one."""
    request = current_request(app)
    answer = policy_api().shadow(use_case, version, body_of(request), invocation_of(app, request))
    return respond_logged(logger, "policy.shadow", answer)


@app.route("/v1/use-cases/{use_case}/policies/{version}/retire", methods=["POST"], content_types=CONTENT_TYPES)
def retire_policy(use_case: str, version: str) -> Response:
    """Retire a version that is not active."""
    request = current_request(app)
    return respond_logged(
        logger,
        "policy.retire",
        policy_api().retire("use_case", use_case, version, body_of(request), invocation_of(app, request)),
    )


@app.route("/v1/use-cases/{use_case}/policies/{version}/shadow-report", methods=["GET"], content_types=CONTENT_TYPES)
def policy_shadow_report(use_case: str, version: str) -> Response:
    """What a shadow version would have changed, by outcome."""
    request = current_request(app)
    query = dict(request.query_params or {})
    answer = policy_api().shadow_report(use_case, version, query, invocation_of(app, request))
    return respond_logged(logger, "policy.shadow_report", answer)


@app.route("/v1/datasets/{dataset}/contracts", methods=["GET"], content_types=CONTENT_TYPES)
def list_dataset_contracts(dataset: str) -> Response:
    """The dataset's contract head and every version."""
    request = current_request(app)
    return respond_logged(
        logger, "dataset_contract.list", policy_api().list("dataset", dataset, invocation_of(app, request))
    )


@app.route("/v1/datasets/{dataset}/contracts", methods=["POST"], content_types=CONTENT_TYPES)
def propose_dataset_contract(dataset: str) -> Response:
    """Register a proposed version of the dataset's contract."""
    request = current_request(app)
    return respond_logged(
        logger,
        "dataset_contract.propose",
        policy_api().propose("dataset", dataset, body_of(request), invocation_of(app, request)),
    )


@app.route("/v1/datasets/{dataset}/contracts/rollback", methods=["POST"], content_types=CONTENT_TYPES)
def rollback_dataset_contract(dataset: str) -> Response:
    """Stop accepting the newest accepted version: the one before becomes the active one again."""
    request = current_request(app)
    return respond_logged(
        logger,
        "dataset_contract.rollback",
        policy_api().rollback("dataset", dataset, body_of(request), invocation_of(app, request)),
    )


@app.route("/v1/datasets/{dataset}/contracts/{version}", methods=["GET"], content_types=CONTENT_TYPES)
def read_dataset_contract(dataset: str, version: str) -> Response:
    """One version of the dataset's contract."""
    request = current_request(app)
    return respond_logged(
        logger, "dataset_contract.read", policy_api().read("dataset", dataset, version, invocation_of(app, request))
    )


@app.route("/v1/datasets/{dataset}/contracts/{version}/approve", methods=["POST"], content_types=CONTENT_TYPES)
def approve_dataset_contract(dataset: str, version: str) -> Response:
    """Approve a contract version another principal proposed."""
    request = current_request(app)
    return respond_logged(
        logger,
        "dataset_contract.approve",
        policy_api().approve("dataset", dataset, version, body_of(request), invocation_of(app, request)),
    )


@app.route("/v1/datasets/{dataset}/contracts/{version}/activate", methods=["POST"], content_types=CONTENT_TYPES)
def activate_dataset_contract(dataset: str, version: str) -> Response:
    """Accept records of an approved contract version."""
    request = current_request(app)
    return respond_logged(
        logger,
        "dataset_contract.activate",
        policy_api().activate("dataset", dataset, version, body_of(request), invocation_of(app, request)),
    )


@app.route("/v1/datasets/{dataset}/contracts/{version}/retire", methods=["POST"], content_types=CONTENT_TYPES)
def retire_dataset_contract(dataset: str, version: str) -> Response:
    """Stop accepting records of a contract version that is not the active one."""
    request = current_request(app)
    return respond_logged(
        logger,
        "dataset_contract.retire",
        policy_api().retire("dataset", dataset, version, body_of(request), invocation_of(app, request)),
    )
