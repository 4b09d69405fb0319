"""Ingestion API function (LEAIM layer 1). The Chalice `app` object is the Lambda handler.

Routes translate API Gateway requests into calls on `leaim.ingestion.api.IngestionApi`, which
authenticates, validates, stores or quarantines, and audits; this module only maps results to HTTP.
"""

from __future__ import annotations

import functools
import json
import threading
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice.app import Chalice, Response

from leaim.bootstrap import build_ingestion, build_ingestion_api
from leaim.governance.http import Invocation

if TYPE_CHECKING:
    from chalice.app import Request

    from leaim.governance.http import HttpAnswer
    from leaim.ingestion.api import IngestionApi

SERVICE = "ingest-api"
SOURCE = "IngestApiFunction"
# Every content type reaches the API, so that no request is answered (unaudited) by the framework alone.
CONTENT_TYPES = ["*/*"]

app = Chalice(app_name="leaim-ingest-api")
logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

_build_lock = threading.Lock()


@functools.cache
def _built() -> IngestionApi:
    return build_ingestion_api(build_ingestion(SERVICE), source=SOURCE)


def ingestion_api() -> IngestionApi:
    """Built on the first request of a container and reused by the following ones."""
    with _build_lock:
        return _built()


@app.route("/v1/ingest/{dataset}", methods=["POST"], content_types=CONTENT_TYPES)
def ingest(dataset: str) -> Response:
    """Store a batch of records of `dataset`; bad records are quarantined with their reasons."""
    request = _current_request()
    answer = ingestion_api().ingest(dataset, _body(request), _invocation(request))
    _observe("ingest.records", answer)
    if answer.status == 200:
        for name in ("received", "stored", "duplicates", "quarantined"):
            metrics.add_metric(name=f"Records{name.title()}", unit=MetricUnit.Count, value=answer.body[name])
        metrics.flush_metrics()
    return _respond(answer)


@app.route("/v1/ingest/{dataset}/quarantine", methods=["GET"], content_types=CONTENT_TYPES)
def list_quarantine(dataset: str) -> Response:
    """One page of the dataset's quarantined records."""
    request = _current_request()
    query = dict(request.query_params or {})
    answer = ingestion_api().quarantine(dataset, query, _invocation(request))
    _observe("ingest.quarantine.list", answer)
    return _respond(answer)


@app.route("/v1/ingest/{dataset}/quarantine/replay", methods=["POST"], content_types=CONTENT_TYPES)
def replay_quarantine(dataset: str) -> Response:
    """Check quarantined records again and store those that now pass."""
    request = _current_request()
    answer = ingestion_api().replay(dataset, _body(request), _invocation(request))
    _observe("ingest.quarantine.replay", answer)
    return _respond(answer)


@app.route("/v1/datasets/{dataset}/snapshots", methods=["POST"], content_types=CONTENT_TYPES)
def create_snapshot(dataset: str) -> Response:
    """Freeze the dataset's stored records into an immutable snapshot."""
    request = _current_request()
    answer = ingestion_api().create_snapshot(dataset, _body(request), _invocation(request))
    _observe("dataset.snapshot.create", answer)
    return _respond(answer)


@app.route("/v1/datasets/{dataset}/snapshots", methods=["GET"], content_types=CONTENT_TYPES)
def list_snapshots(dataset: str) -> Response:
    """The dataset's snapshots, newest first."""
    request = _current_request()
    answer = ingestion_api().list_snapshots(dataset, _invocation(request))
    _observe("dataset.snapshot.list", answer)
    return _respond(answer)


@app.route("/v1/datasets/{dataset}/snapshots/{snapshot_id}", methods=["GET"], content_types=CONTENT_TYPES)
def read_snapshot(dataset: str, snapshot_id: str) -> Response:
    """One snapshot's manifest."""
    request = _current_request()
    answer = ingestion_api().read_snapshot(dataset, snapshot_id, _invocation(request))
    _observe("dataset.snapshot.read", answer)
    return _respond(answer)


def _current_request() -> Request:
    request = app.current_request
    if request is None:
        raise RuntimeError("a route ran outside of a request")
    return request


def _body(request: Request) -> bytes:
    raw = request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def _invocation(request: Request) -> Invocation:
    context = app.lambda_context
    return Invocation(
        invocation_id=context.aws_request_id,
        headers={name.lower(): value for name, value in request.headers.items()},
        remaining_ms=float(context.get_remaining_time_in_millis()),
    )


def _respond(answer: HttpAnswer) -> Response:
    return Response(
        body=json.dumps(answer.body, separators=(",", ":")),
        status_code=answer.status,
        headers={"content-type": "application/json", **answer.headers},
    )


def _observe(action: str, answer: HttpAnswer) -> None:
    """One log line per invocation, tagged with its trace id."""
    body = answer.body
    logger.info(action, extra={"trace_id": body.get("trace_id"), "status": answer.status, "error": body.get("error")})
