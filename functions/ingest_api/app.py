"""Ingestion API function (LEAIM layer 1). The Chalice `app` object is the Lambda handler.

Routes translate API Gateway requests into calls on `leaim.data.api.IngestionApi`, which
authenticates, validates, stores or quarantines, and audits; this module only maps results to HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice.app import Chalice

from leaim.adapters.chalice import CONTENT_TYPES, body_of, current_request, invocation_of, respond_logged
from leaim.bootstrap.ingestion import build_ingestion, build_ingestion_api
from leaim.bootstrap.runtime import once

if TYPE_CHECKING:
    from chalice.app import Response


SERVICE = "ingest-api"
SOURCE = "IngestApiFunction"

app = Chalice(app_name="leaim-ingest-api")
logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first request of a container and reused by the following ones.
ingestion_api = once(lambda: build_ingestion_api(build_ingestion(SERVICE), source=SOURCE))


@app.route("/v1/ingest/{dataset}", methods=["POST"], content_types=CONTENT_TYPES)
def ingest(dataset: str) -> Response:
    """Store a batch of records of `dataset`; bad records are quarantined with their reasons."""
    request = current_request(app)
    answer = ingestion_api().ingest(dataset, body_of(request), invocation_of(app, request))
    if answer.status == 200:
        for name in ("received", "stored", "duplicates", "quarantined"):
            metrics.add_metric(name=f"Records{name.title()}", unit=MetricUnit.Count, value=answer.body[name])
        metrics.flush_metrics()
    return respond_logged(logger, "ingest.records", answer)


@app.route("/v1/ingest/{dataset}/quarantine", methods=["GET"], content_types=CONTENT_TYPES)
def list_quarantine(dataset: str) -> Response:
    """One page of the dataset's quarantined records."""
    request = current_request(app)
    query = dict(request.query_params or {})
    answer = ingestion_api().quarantine(dataset, query, invocation_of(app, request))
    return respond_logged(logger, "ingest.quarantine.list", answer)


@app.route("/v1/ingest/{dataset}/quarantine/replay", methods=["POST"], content_types=CONTENT_TYPES)
def replay_quarantine(dataset: str) -> Response:
    """Check quarantined records again and store those that now pass."""
    request = current_request(app)
    answer = ingestion_api().replay(dataset, body_of(request), invocation_of(app, request))
    return respond_logged(logger, "ingest.quarantine.replay", answer)


@app.route("/v1/datasets/{dataset}/snapshots", methods=["POST"], content_types=CONTENT_TYPES)
def create_snapshot(dataset: str) -> Response:
    """Freeze the dataset's stored records into an immutable snapshot."""
    request = current_request(app)
    answer = ingestion_api().create_snapshot(dataset, body_of(request), invocation_of(app, request))
    return respond_logged(logger, "dataset.snapshot.create", answer)


@app.route("/v1/datasets/{dataset}/snapshots", methods=["GET"], content_types=CONTENT_TYPES)
def list_snapshots(dataset: str) -> Response:
    """The dataset's snapshots, newest first."""
    request = current_request(app)
    answer = ingestion_api().list_snapshots(dataset, invocation_of(app, request))
    return respond_logged(logger, "dataset.snapshot.list", answer)


@app.route("/v1/datasets/{dataset}/snapshots/{snapshot_id}", methods=["GET"], content_types=CONTENT_TYPES)
def read_snapshot(dataset: str, snapshot_id: str) -> Response:
    """One snapshot's manifest."""
    request = current_request(app)
    answer = ingestion_api().read_snapshot(dataset, snapshot_id, invocation_of(app, request))
    return respond_logged(logger, "dataset.snapshot.read", answer)
