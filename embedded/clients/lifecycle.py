"""A client of the lifecycle API: training jobs, model versions with their manifests and archived documents, and
each use case's traffic."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from contracts.model.v1 import (
    ArchivedDocument,
    ArchivedDocumentContent,
    ArchivedDocumentList,
    ModelList,
    ModelVersionView,
    StopState,
    TrafficPolicy,
    TrainingJob,
)
from embedded.clients.base import ApiClient, segment

if TYPE_CHECKING:
    from collections.abc import Mapping


class LifecycleClient(ApiClient):
    """The lifecycle API's routes as methods."""

    def create_training_job(self, model: str, request: Mapping[str, object]) -> TrainingJob:
        """`POST /v1/models/{model}/training-jobs`: queue a training job."""
        return self._call(TrainingJob, "POST", f"/v1/models/{segment(model)}/training-jobs", dict(request))

    def training_job(self, job_id: str) -> TrainingJob:
        """`GET /v1/training-jobs/{job_id}`: a job's state and progress."""
        return self._call(TrainingJob, "GET", f"/v1/training-jobs/{segment(job_id)}")

    def models(self) -> ModelList:
        """`GET /v1/models`: every model with its version counts and aliases."""
        return self._call(ModelList, "GET", "/v1/models")

    def version(self, model: str, version: str) -> ModelVersionView:
        """`GET /v1/models/{model}/versions/{version}`: a version's signed manifest."""
        return self._call(ModelVersionView, "GET", f"/v1/models/{segment(model)}/versions/{segment(version)}")

    def archive_document(
        self, model: str, version: str, kind: str, document_format: str, content: bytes
    ) -> tuple[ArchivedDocument, bool]:
        """`PUT /v1/models/{model}/versions/{version}/documents/{kind}`: archive a generated document, signed; its
        record, and whether this call archived it (False: the same bytes were archived before)."""
        path = f"{_documents(model, version)}/{segment(kind)}"
        body = {"format": document_format, "content_base64": base64.b64encode(content).decode()}
        answer = self._send("PUT", path, body)
        return self._parsed(ArchivedDocument, "PUT", path, answer), answer.status == 201

    def documents(self, model: str, version: str) -> ArchivedDocumentList:
        """`GET /v1/models/{model}/versions/{version}/documents`: every archived document of the version."""
        return self._call(ArchivedDocumentList, "GET", _documents(model, version))

    def document(self, model: str, version: str, kind: str, sha256: str) -> ArchivedDocumentContent:
        """`GET /v1/models/{model}/versions/{version}/documents/{kind}/{sha256}`: a document's record and bytes."""
        path = f"{_documents(model, version)}/{segment(kind)}/{segment(sha256)}"
        return self._call(ArchivedDocumentContent, "GET", path)

    def traffic(self, use_case: str) -> TrafficPolicy:
        """`GET /v1/use-cases/{use_case}/traffic`: champion, challenger and policy."""
        return self._call(TrafficPolicy, "GET", f"/v1/use-cases/{segment(use_case)}/traffic")

    def change_traffic(self, use_case: str, change: Mapping[str, object]) -> TrafficPolicy:
        """`PUT /v1/use-cases/{use_case}/traffic`: promote a version, or make it the challenger."""
        return self._call(TrafficPolicy, "PUT", f"/v1/use-cases/{segment(use_case)}/traffic", dict(change))

    def rollback(self, use_case: str, reason: str) -> TrafficPolicy:
        """`POST /v1/use-cases/{use_case}/rollback`: drop the challenger, or restore the previous champion."""
        return self._call(TrafficPolicy, "POST", f"/v1/use-cases/{segment(use_case)}/rollback", {"reason": reason})

    def stop_state(self, use_case: str) -> StopState:
        """`GET /v1/use-cases/{use_case}/stop`: whether the use case is stopped, and its last stop or resume."""
        return self._call(StopState, "GET", f"/v1/use-cases/{segment(use_case)}/stop")

    def stop(self, use_case: str, mode: str, reason: str) -> StopState:
        """`POST /v1/use-cases/{use_case}/stop`: every decision goes to the fallback (or review) from now on."""
        body = {"mode": mode, "reason": reason}
        return self._call(StopState, "POST", f"/v1/use-cases/{segment(use_case)}/stop", body)

    def resume(self, use_case: str, reason: str) -> StopState:
        """`POST /v1/use-cases/{use_case}/resume`: the use case's models and rules decide again."""
        return self._call(StopState, "POST", f"/v1/use-cases/{segment(use_case)}/resume", {"reason": reason})

    def request_retraining(self, use_case: str, request: Mapping[str, object]) -> TrainingJob:
        """`POST /v1/use-cases/{use_case}/retraining`: snapshot the data now and queue a job on it."""
        return self._call(TrainingJob, "POST", f"/v1/use-cases/{segment(use_case)}/retraining", dict(request))


def _documents(model: str, version: str) -> str:
    return f"/v1/models/{segment(model)}/versions/{segment(version)}/documents"
