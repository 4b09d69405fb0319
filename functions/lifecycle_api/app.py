"""Lifecycle API function (LEAIM layer 2). The Chalice `app` object is the Lambda handler.

Routes translate API Gateway requests into calls on `leaim.lifecycle.api.LifecycleApi`, which
authenticates, validates, queues training jobs, reads the registry, changes traffic policies and
audits; this module only maps results to HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice.app import Chalice

from leaim.adapters.chalice import CONTENT_TYPES, body_of, current_request, invocation_of, respond_logged
from leaim.bootstrap.lifecycle import build_lifecycle, build_lifecycle_api
from leaim.bootstrap.runtime import once

if TYPE_CHECKING:
    from chalice.app import Response


SERVICE = "lifecycle-api"
SOURCE = "LifecycleApiFunction"

app = Chalice(app_name="leaim-lifecycle-api")
logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first request of a container and reused by the following ones.
lifecycle_api = once(lambda: build_lifecycle_api(build_lifecycle(SERVICE), source=SOURCE))


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


@app.route("/v1/use-cases/{use_case}/retraining", methods=["POST"], content_types=CONTENT_TYPES)
def request_retraining(use_case: str) -> Response:
    """Snapshot the use case's data now and queue a training job on it."""
    request = current_request(app)
    answer = lifecycle_api().request_retraining(use_case, body_of(request), invocation_of(app, request))
    return respond_logged(logger, "model.retraining.request", answer)
