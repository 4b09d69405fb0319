"""Clients of the ingestion, lifecycle and governance APIs over HTTP, and the record files that `leaim ingest` sends.

The clients only speak HTTP, so they work the same against the local stack of `leaim up` and a deployed API.
"""

from __future__ import annotations

import csv
import http.client
import json
import math
import re
import socket
import urllib.parse
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from contracts.governance.v1 import (
    AlertList,
    BiasReport,
    CoverageReport,
    DriftReports,
    Explanation,
    QualityReport,
    RecordedOutcome,
    Review,
    ReviewList,
    UsageReport,
)
from contracts.ingest.v1 import IngestReport, QuarantinePage, ReplayReport, SnapshotList, SnapshotManifest
from contracts.model.v1 import ModelList, ModelVersionView, TrafficPolicy, TrainingJob
from contracts.trail.v1 import AuditPage
from embedded.demos.traffic import Answer, Sent, send
from leaim.exceptions import LeaimError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from pathlib import Path

    from pydantic import JsonValue

RecordFormat = Literal["jsonl", "csv"]
Model = TypeVar("Model", bound=BaseModel)
Client = TypeVar("Client", bound="ApiClient")

# The ingest API's default body limit (`Settings.max_ingest_body_bytes`); batches are cut to stay under it.
MAX_BODY_BYTES = 5 * 1024 * 1024
# Room for the batch envelope around the records.
_ENVELOPE_BYTES = 1024
# Where `leaim up` (`LocalWorld`) writes its keys and its stack's address under the state folder. Read as plain
# files, so that a client of a deployed API never imports the local stack and moto.
API_KEYS_FILE = "api-keys.json"
STACK_FILE = "stack/stack.json"
NO_LOCAL_STACK = "no local stack is running: start one with `leaim up` or pass --api-url and --api-key"
# A CSV cell that is a number: a whole number of at most 18 digits, or a decimal with a fraction or an exponent.
# Leading zeros keep a cell text, so codes such as "007" are not turned into 7.
_INTEGER = re.compile(r"[+-]?(0|[1-9][0-9]{0,17})")
_DECIMAL = re.compile(r"[+-]?(0|[1-9][0-9]*)(\.[0-9]+([eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)")
# A CSV row with more cells than the header keeps the extra cells under this name, so the server reports them.
EXTRA_CELLS = "_extra_cells"


class ApiCallError(LeaimError):
    """A call of the API got no answer, or an answer other than 2xx."""


class ApiTargetError(LeaimError):
    """Which API to call, or with which key, cannot be told from the arguments and the state folder."""


class RecordFileError(LeaimError):
    """A record file cannot be read: unknown format or not UTF-8 text."""


class ApiClient:
    """Calls the API at one URL with one key; a non-2xx answer raises `ApiCallError` with a one-line message."""

    def __init__(self, api_url: str, api_key: str, *, timeout_s: float = 120.0) -> None:
        """Call the API at `api_url` (the stage's base URL) with `api_key` in `x-api-key`."""
        self.api_url = api_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s

    def _call(self, model: type[Model], method: str, path: str, body: object | None = None) -> Model:
        return self._parsed(model, method, path, self._send(method, path, body))

    def _send(self, method: str, path: str, body: object | None = None) -> Answer:
        """The 2xx answer to one call; `ApiCallError` for no answer or another status."""
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"x-api-key": self._api_key, "content-type": "application/json"}
        route = _route(method, path)
        try:
            answer = send(self.api_url, Sent(route, method, path, payload, headers), self._timeout_s)
        except (OSError, http.client.HTTPException) as error:
            raise ApiCallError(f"{route}: no answer from {self.api_url}: {getattr(error, 'reason', error)}") from error
        if not 200 <= answer.status < 300:
            raise ApiCallError(f"{route} answered {answer.status} {_problem(answer.body)}")
        return answer

    @staticmethod
    def _parsed(model: type[Model], method: str, path: str, answer: Answer) -> Model:
        try:
            return model.model_validate(answer.body)
        except ValidationError as error:
            raise ApiCallError(
                f"{_route(method, path)} answered {answer.status} with a body that is not {model.__name__}"
            ) from error


class IngestClient(ApiClient):
    """The ingestion API's routes as methods."""

    def ingest_batch(self, dataset: str, records: Sequence[JsonValue], contract_version: str = "v1") -> IngestReport:
        """`POST /v1/ingest/{dataset}`: store the good records, quarantine the bad ones, report both."""
        body = {"contract_version": contract_version, "records": list(records)}
        return self._call(IngestReport, "POST", f"/v1/ingest/{_segment(dataset)}", body)

    def quarantine_page(self, dataset: str, *, after: str | None = None, limit: int = 100) -> QuarantinePage:
        """`GET /v1/ingest/{dataset}/quarantine`: up to `limit` (at most 1000) quarantined records after `after`."""
        query = {"limit": str(limit)} | ({"after": after} if after else {})
        path = f"/v1/ingest/{_segment(dataset)}/quarantine?{urllib.parse.urlencode(query)}"
        return self._call(QuarantinePage, "GET", path)

    def replay(
        self, dataset: str, *, quarantine_ids: Sequence[str] | None = None, contract_version: str | None = None
    ) -> ReplayReport:
        """`POST /v1/ingest/{dataset}/quarantine/replay`: check the records again (all when no ids are given)."""
        body: dict[str, object] = {}
        if quarantine_ids is not None:
            body["quarantine_ids"] = list(quarantine_ids)
        if contract_version is not None:
            body["contract_version"] = contract_version
        return self._call(ReplayReport, "POST", f"/v1/ingest/{_segment(dataset)}/quarantine/replay", body)

    def create_snapshot(
        self, dataset: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> SnapshotManifest:
        """`POST /v1/datasets/{dataset}/snapshots`: freeze the stored records of an event-time range (default: all)."""
        body = {name: moment.isoformat() for name, moment in (("since", since), ("until", until)) if moment}
        return self._call(SnapshotManifest, "POST", f"/v1/datasets/{_segment(dataset)}/snapshots", body)

    def list_snapshots(self, dataset: str) -> list[SnapshotManifest]:
        """`GET /v1/datasets/{dataset}/snapshots`: the dataset's snapshots, newest first."""
        return self._call(SnapshotList, "GET", f"/v1/datasets/{_segment(dataset)}/snapshots").items


class LifecycleClient(ApiClient):
    """The lifecycle API's routes as methods."""

    def create_training_job(self, model: str, request: Mapping[str, object]) -> TrainingJob:
        """`POST /v1/models/{model}/training-jobs`: queue a training job."""
        return self._call(TrainingJob, "POST", f"/v1/models/{_segment(model)}/training-jobs", dict(request))

    def training_job(self, job_id: str) -> TrainingJob:
        """`GET /v1/training-jobs/{job_id}`: a job's state and progress."""
        return self._call(TrainingJob, "GET", f"/v1/training-jobs/{_segment(job_id)}")

    def models(self) -> ModelList:
        """`GET /v1/models`: every model with its version counts and aliases."""
        return self._call(ModelList, "GET", "/v1/models")

    def version(self, model: str, version: str) -> ModelVersionView:
        """`GET /v1/models/{model}/versions/{version}`: a version's signed manifest."""
        return self._call(ModelVersionView, "GET", f"/v1/models/{_segment(model)}/versions/{_segment(version)}")

    def traffic(self, use_case: str) -> TrafficPolicy:
        """`GET /v1/use-cases/{use_case}/traffic`: champion, challenger and policy."""
        return self._call(TrafficPolicy, "GET", f"/v1/use-cases/{_segment(use_case)}/traffic")

    def change_traffic(self, use_case: str, change: Mapping[str, object]) -> TrafficPolicy:
        """`PUT /v1/use-cases/{use_case}/traffic`: promote a version, or make it the challenger."""
        return self._call(TrafficPolicy, "PUT", f"/v1/use-cases/{_segment(use_case)}/traffic", dict(change))

    def rollback(self, use_case: str, reason: str) -> TrafficPolicy:
        """`POST /v1/use-cases/{use_case}/rollback`: drop the challenger, or restore the previous champion."""
        return self._call(TrafficPolicy, "POST", f"/v1/use-cases/{_segment(use_case)}/rollback", {"reason": reason})

    def request_retraining(self, use_case: str, request: Mapping[str, object]) -> TrainingJob:
        """`POST /v1/use-cases/{use_case}/retraining`: snapshot the data now and queue a job on it."""
        return self._call(TrainingJob, "POST", f"/v1/use-cases/{_segment(use_case)}/retraining", dict(request))


class GovernanceClient(ApiClient):
    """The governance API's routes as methods."""

    def audit_events(
        self, filters: Mapping[str, str | datetime | None], *, cursor: str | None = None, limit: int = 100
    ) -> AuditPage:
        """`GET /v1/audit/events`: one page of the events matching `filters` (the route's query names), oldest first."""
        return self._call(AuditPage, "GET", _query("/v1/audit/events", {**filters, "cursor": cursor, "limit": limit}))

    def export_audit(self, filters: Mapping[str, str | datetime | None], kind: RecordFormat = "jsonl") -> str:
        """`GET /v1/audit/events?format=jsonl|csv`: every matching event with its chain link, as text."""
        answer = self._send("GET", _query("/v1/audit/events", {**filters, "format": kind}))
        return answer.raw.decode("utf-8")

    def record_outcome(
        self, decision_id: str, label: bool, *, observed_at: datetime | None = None, source: str | None = None
    ) -> tuple[RecordedOutcome, bool]:
        """`POST /v1/decisions/{id}/outcome`: the decision's ground truth, and whether it was new (201, not 200)."""
        body: dict[str, object] = {"label": label}
        if observed_at is not None:
            body["observed_at"] = observed_at.isoformat()
        if source is not None:
            body["source"] = source
        path = f"/v1/decisions/{_segment(decision_id)}/outcome"
        answer = self._send("POST", path, body)
        return self._parsed(RecordedOutcome, "POST", path, answer), answer.status == 201

    def explanation(self, decision_id: str) -> Explanation:
        """`GET /v1/decisions/{id}/explanation`: the reasons and features stored with the decision."""
        return self._call(Explanation, "GET", f"/v1/decisions/{_segment(decision_id)}/explanation")

    def reviews(self, use_case: str | None = None, *, after: str | None = None, limit: int = 100) -> ReviewList:
        """`GET /v1/reviews`: pending reviews, oldest first."""
        return self._call(
            ReviewList, "GET", _query("/v1/reviews", {"use_case": use_case, "after": after, "limit": limit})
        )

    def review(self, review_id: str) -> Review:
        """`GET /v1/reviews/{review_id}`: one review, pending or resolved."""
        return self._call(Review, "GET", f"/v1/reviews/{_segment(review_id)}")

    def override(self, review_id: str, outcome: str, justification: str) -> Review:
        """`POST /v1/reviews/{review_id}`: the reviewer's final outcome; the resolved review comes back."""
        body = {"outcome": outcome, "justification": justification}
        return self._call(Review, "POST", f"/v1/reviews/{_segment(review_id)}", body)

    def drift(self, use_case: str) -> DriftReports:
        """`GET /v1/use-cases/{use_case}/drift`: the latest drift report per live version, then the history."""
        return self._call(DriftReports, "GET", f"/v1/use-cases/{_segment(use_case)}/drift")

    def bias(self, use_case: str) -> BiasReport:
        """`GET /v1/use-cases/{use_case}/bias`: the latest bias indicators."""
        return self._call(BiasReport, "GET", f"/v1/use-cases/{_segment(use_case)}/bias")

    def quality(
        self,
        use_case: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        bucket_minutes: int | None = None,
    ) -> QualityReport:
        """`GET /v1/use-cases/{use_case}/quality`: AUC, precision and recall per version and time bucket."""
        query = {"since": since, "until": until, "bucket_minutes": bucket_minutes}
        return self._call(QualityReport, "GET", _query(f"/v1/use-cases/{_segment(use_case)}/quality", query))

    def alerts(self, use_case: str | None = None, *, include_closed: bool = False) -> AlertList:
        """`GET /v1/alerts`: open drift and bias alerts (closed ones too with `include_closed`), newest first."""
        query = {"use_case": use_case, "status": "all" if include_closed else None}
        return self._call(AlertList, "GET", _query("/v1/alerts", query))

    def usage(
        self, *, since: datetime | None = None, until: datetime | None = None, use_case: str | None = None
    ) -> UsageReport:
        """`GET /v1/usage`: decisions per use case, version and principal."""
        return self._call(
            UsageReport, "GET", _query("/v1/usage", {"since": since, "until": until, "use_case": use_case})
        )

    def coverage(self, *, since: datetime | None = None, until: datetime | None = None) -> CoverageReport:
        """`GET /v1/governance/coverage`: the governance coverage report (the API's default: the last 24 hours)."""
        return self._call(CoverageReport, "GET", _query("/v1/governance/coverage", {"since": since, "until": until}))


def _segment(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _route(method: str, path: str) -> str:
    return f"{method} {path.partition('?')[0]}"


def _query(path: str, values: Mapping[str, object]) -> str:
    """`path` with the values that are not None as its query string; times in ISO 8601."""
    shown = {
        name: value.isoformat() if isinstance(value, datetime) else str(value)
        for name, value in values.items()
        if value is not None
    }
    return f"{path}?{urllib.parse.urlencode(shown)}" if shown else path


def _problem(body: Mapping[str, Any]) -> str:
    """The error code, message and offending fields of an error body, on one line."""
    if "error" not in body:
        return _one_line(str(body.get("raw", body)))[:300]
    text = f"{body['error']}: {body.get('message', '')}"
    fields = [f"{field.get('field')} {field.get('message')}" for field in body.get("fields") or []]
    if fields:
        text += f" ({'; '.join(fields)})"
    return _one_line(text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def local_client(
    kind: type[Client],
    state_dir: Path,
    role: str,
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 120.0,
) -> Client:
    """A `kind` client of `api_url` with `api_key`; what is missing comes from the stack `leaim up` runs in `state_dir`.

    The local key of `role` is only used against the local stack's own URL. Raises `ApiTargetError` when no
    URL is given and no local stack runs, or when no key can be had for the URL.
    """
    local_url, local_keys = _local_stack(state_dir)
    url = api_url or local_url
    if url is None:
        raise ApiTargetError(NO_LOCAL_STACK)
    if api_key is not None:
        return kind(url, api_key, timeout_s=timeout_s)
    if local_url is None or url.rstrip("/") != local_url.rstrip("/"):
        raise ApiTargetError(f"pass --api-key with --api-url {url}")
    if role not in local_keys:
        raise ApiTargetError(f"{state_dir / API_KEYS_FILE} holds no {role} key: pass --api-key")
    return kind(url, local_keys[role], timeout_s=timeout_s)


def _local_stack(state_dir: Path) -> tuple[str | None, dict[str, str]]:
    """The API URL and keys of the local stack, or (None, {}) when none runs from `state_dir`.

    A stack that was killed leaves its state behind, so the URL only counts when something listens there.
    """
    stack_file, keys_file = state_dir / STACK_FILE, state_dir / API_KEYS_FILE
    if not stack_file.is_file() or not keys_file.is_file():
        return None, {}
    try:
        url = str(json.loads(stack_file.read_text(encoding="utf-8"))["api_url"])
        keys = json.loads(keys_file.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as error:
        raise ApiTargetError(
            f"{state_dir} holds an unreadable local stack state ({error}): {NO_LOCAL_STACK}"
        ) from error
    if not _listening(url):
        return None, {}
    return url, {str(role): str(key) for role, key in keys.items()}


def _listening(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def batches(
    records: Iterable[JsonValue], max_records: int, max_bytes: int = MAX_BODY_BYTES
) -> Iterator[list[JsonValue]]:
    """`records` in batches of at most `max_records` whose request body stays under `max_bytes`.

    A record too large for any batch goes alone, and the API refuses it.
    """
    batch: list[JsonValue] = []
    size = _ENVELOPE_BYTES
    for record in records:
        record_size = len(json.dumps(record, separators=(",", ":")).encode()) + 1
        if batch and (len(batch) == max_records or size + record_size > max_bytes):
            yield batch
            batch, size = [], _ENVELOPE_BYTES
        batch.append(record)
        size += record_size
    if batch:
        yield batch


def record_format(path: Path) -> RecordFormat:
    """`jsonl` or `csv`, from the file's suffix."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise RecordFileError(f"{path}: expected a .jsonl or .csv file")


def count_records(path: Path) -> int:
    """How many records `read_records(path)` yields, counted without converting them."""
    if record_format(path) == "jsonl":
        with path.open("rb") as lines:
            return sum(1 for line in lines if line.strip())
    try:
        with path.open(encoding="utf-8-sig", newline="") as text:
            return max(sum(1 for row in csv.reader(text) if row) - 1, 0)
    except UnicodeDecodeError as error:
        raise RecordFileError(f"{path}: not UTF-8 text ({error})") from error


def read_records(path: Path) -> Iterator[JsonValue]:
    """Stream the records of a `.jsonl` file (one JSON value a line) or a `.csv` file (a header row, then records).

    A JSON Lines line that is not JSON is yielded as its text, so the API quarantines it with a reason instead of
    the client dropping it; blank lines are skipped. CSV cells become numbers where the text is one,
    `true`/`false` become booleans, and an empty cell leaves its field out.
    """
    if record_format(path) == "jsonl":
        return _json_lines(path)
    return _csv_rows(path)


def _json_lines(path: Path) -> Iterator[JsonValue]:
    with path.open("rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                yield json.loads(line, parse_constant=_refuse_constant)
            except ValueError:
                yield line.decode("utf-8", "replace").strip()


def _refuse_constant(name: str) -> float:
    """NaN and Infinity are not JSON: a line holding them is sent as text like any other line that is not JSON."""
    raise ValueError(f"{name} is not JSON")


def _csv_rows(path: Path) -> Iterator[JsonValue]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as text:
            for row in csv.DictReader(text, restkey=EXTRA_CELLS):
                yield {name: _cell(value) for name, value in row.items() if value not in (None, "")}
    except UnicodeDecodeError as error:
        raise RecordFileError(f"{path}: not UTF-8 text ({error})") from error


def _cell(value: str | list[str]) -> JsonValue:
    if isinstance(value, list):
        return list(value)
    if _INTEGER.fullmatch(value):
        return int(value)
    if _DECIMAL.fullmatch(value):
        number = float(value)
        return number if math.isfinite(number) else value
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def write_records(path: Path, records: Sequence[Mapping[str, JsonValue]], kind: RecordFormat) -> None:
    """Write records as JSON Lines or as CSV (columns in order of first appearance, booleans as true/false)."""
    if kind == "jsonl":
        with path.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(record) + "\n" for record in records)
        return
    columns = list(dict.fromkeys(name for record in records for name in record))
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns, restval="")
        writer.writeheader()
        for record in records:
            writer.writerow({name: _csv_text(value) for name, value in record.items()})


def _csv_text(value: JsonValue) -> JsonValue:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
