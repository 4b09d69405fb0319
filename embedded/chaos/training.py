"""The reference model trained and made the champion through the API of a stack, in this process or another.

As `LocalWorld.train` does, but the records go in requests of `INGEST_CHUNK`, each well inside API Gateway's
29 s however slowly the machine writes them, and any stack's API will do: a `LocalWorld`'s `call`, or `StackApi`
for a `leaim up` in a process of its own.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from contracts.model.v1 import TrainingJob
from embedded.chaos.exceptions import ChaosError
from embedded.clients.http import Sent, send
from embedded.synthetic import CardFraudGenerator, transaction_record
from embedded.world import REFERENCE_DATASET, REFERENCE_USE_CASE, TRAINING_DAYS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contracts.manifest.v1 import UseCaseManifest

# Training records per ingestion request.
INGEST_CHUNK = 250
TRAINING_TIMEOUT_S = 900.0
_ENDED = ("succeeded", "rejected", "failed")


class ApiCall(Protocol):
    """Call a stack's API as `role`; a status other than `expect` raises."""

    def __call__(self, method: str, path: str, role: str, body: object | None = None, *, expect: int = 200) -> Any:
        """The answer's JSON body."""


class StackApi:
    """`ApiCall` for a stack reached over HTTP with its API keys (`api-keys.json` of its state directory)."""

    def __init__(self, api_url: str, keys: Mapping[str, str]) -> None:
        self.api_url = api_url
        self.keys = dict(keys)

    def __call__(self, method: str, path: str, role: str, body: object | None = None, *, expect: int = 200) -> Any:
        """The answer's JSON body; ChaosError for another status."""
        payload = b"" if body is None else json.dumps(body).encode()
        answer = send(self.api_url, Sent(path, method, path, payload, {"x-api-key": self.keys[role]}), 60)
        if answer.status != expect:
            raise ChaosError(f"{method} {path} answered {answer.status}: {answer.body}")
        return answer.body


def train(call: ApiCall, manifest: UseCaseManifest, rows: int, *, seed: int) -> str:
    """Ingest `rows` generated transactions, snapshot them, train on them and make the version the champion.

    Returns the version; ChaosError when the training job does not succeed.
    """
    generator = CardFraudGenerator(manifest, seed=seed)
    transactions = generator.transactions(rows, generator.cards(max(1, rows // 5)))
    now = datetime.now(UTC)
    step = timedelta(days=TRAINING_DAYS) / max(rows, 1)
    records = [
        transaction_record(transaction, now - timedelta(days=TRAINING_DAYS) + index * step)
        for index, transaction in enumerate(transactions)
    ]
    for start in range(0, len(records), INGEST_CHUNK):
        chunk = records[start : start + INGEST_CHUNK]
        call("POST", f"/v1/ingest/{REFERENCE_DATASET}", "data_producer", {"contract_version": "v1", "records": chunk})
    snapshot = call("POST", f"/v1/datasets/{REFERENCE_DATASET}/snapshots", "ml_engineer", {}, expect=201)
    queued = TrainingJob.model_validate(
        call(
            "POST",
            f"/v1/models/{manifest.model.name}/training-jobs",
            "ml_engineer",
            {"snapshot_id": snapshot["snapshot_id"], "seed": seed},
            expect=202,
        )
    )
    deadline = time.monotonic() + TRAINING_TIMEOUT_S
    job = queued
    while job.state not in _ENDED:
        if time.monotonic() > deadline:
            raise ChaosError(f"training job {job.job_id} is still {job.state} after {TRAINING_TIMEOUT_S:g} s")
        time.sleep(0.5)
        job = TrainingJob.model_validate(call("GET", f"/v1/training-jobs/{job.job_id}", "ml_engineer"))
    if job.state != "succeeded":
        raise ChaosError(f"training job {job.job_id} ended {job.state}: {job.reasons or job.message}")
    call(
        "PUT",
        f"/v1/use-cases/{REFERENCE_USE_CASE}/traffic",
        "ml_engineer",
        {"version": job.version, "policy": "full", "reason": "trained for the fault suite"},
    )
    return job.version
