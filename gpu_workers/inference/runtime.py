"""A signed, verified ONNX model loaded once, scoring many requests in one session run.

Plain Python: the Modal class in `modal_app` wraps `ModelRuntime`, and tests use it on a CPU.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

from contracts.inference.v1 import Contribution, InferenceRequest, InferenceResult, RowScore
from gpu_workers.artifacts import read_manifest
from gpu_workers.exceptions import (
    ArtifactNotFoundError,
    ArtifactVerificationError,
    DeadlineExceededError,
    InvalidRequestError,
    ManifestVerificationError,
    ModelMismatchError,
)
from gpu_workers.inference.signatures import verify_manifest
from gpu_workers.model_format import (
    CONTRIBUTIONS_OUTPUT,
    INPUT_NAME,
    METADATA_FAMILY,
    METADATA_FEATURE_NAMES,
    METADATA_MODEL_NAME,
    METADATA_MODEL_VERSION,
    REQUIRED_METADATA,
    SCORE_OUTPUT,
    artifact_filename,
)
from gpu_workers.settings import worker_id
from gpu_workers.telemetry import span_ids, start_child_span

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from numpy.typing import NDArray
    from opentelemetry.trace import Span, TracerProvider

    from contracts.model.v1 import ModelManifest

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class ModelRuntime:
    """One model whose signed manifest and content were verified, and its onnxruntime session."""

    def __init__(
        self,
        session: ort.InferenceSession,
        *,
        digest: str,
        model_name: str,
        model_version: str,
        feature_names: list[str],
        worker: str,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._session = session
        self._tracer_provider = tracer_provider
        self.digest = digest
        self.model_name = model_name
        self.model_version = model_version
        self.feature_names = feature_names
        self.worker = worker

    @classmethod
    def load(
        cls,
        artifact_root: Path,
        digest: str,
        public_keys: Mapping[str, Ed25519PublicKey],
        worker: str | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> ModelRuntime:
        """Verify the signed manifest of `digest`, then the artifact, and open one session (CUDA first).

        Loads only what a trusted key approved: `<digest>.manifest.json` must be signed by one of
        `public_keys` (by key id), describe this digest and be `approved`; `<digest>.onnx` must hash to
        the digest, and its metadata must name the manifest's model, version, family and features.
        Spans go to `tracer_provider`, or to the global provider when none is given.

        Raises ManifestVerificationError when no key is trusted, the manifest is malformed, signed by
        an untrusted key, does not verify, names another artifact or is not approved;
        ArtifactNotFoundError when the manifest or the artifact is missing; ArtifactVerificationError
        when the artifact hashes to another digest; ModelMismatchError when its metadata disagrees
        with the manifest.
        """
        if not _DIGEST.match(digest):
            raise InvalidRequestError(f"artifact digest must be 64 lowercase hex characters, got {digest!r}")
        if not public_keys:
            raise ManifestVerificationError(f"no trusted manifest keys are configured; artifact {digest} is refused")
        manifest = verify_manifest(read_manifest(artifact_root, digest), public_keys)
        if manifest.artifact_digest != digest:
            raise ManifestVerificationError(
                f"the manifest stored for artifact {digest} describes artifact {manifest.artifact_digest}"
            )
        if manifest.status != "approved":
            raise ManifestVerificationError(
                f"{manifest.model_name}:{manifest.model_version} is {manifest.status}, only approved versions load"
            )
        path = artifact_root / artifact_filename(digest)
        try:
            artifact = path.read_bytes()
        except FileNotFoundError as error:
            raise ArtifactNotFoundError(f"no artifact {digest} in {artifact_root}") from error
        actual = hashlib.sha256(artifact).hexdigest()
        if actual != digest:
            raise ArtifactVerificationError(expected=digest, actual=actual)
        # The session is built from the verified bytes, not the path, so the file cannot change in between.
        session = ort.InferenceSession(artifact, providers=_providers())
        _check_metadata(digest, session.get_modelmeta().custom_metadata_map, manifest)
        return cls(
            session=session,
            digest=digest,
            model_name=manifest.model_name,
            model_version=manifest.model_version,
            feature_names=list(manifest.feature_names),
            worker=worker or worker_id(),
            tracer_provider=tracer_provider,
        )

    @property
    def providers(self) -> list[str]:
        """Execution providers of the session, in priority order."""
        return list(self._session.get_providers())

    def check(self, request: InferenceRequest, now_ms: float | None = None) -> None:
        """Raise if `request` cannot be scored by this model at `now_ms` (default: now).

        `score_many` calls it for every request; a caller that checks requests one by one first passes
        the same `now_ms` to both, so a request it accepted cannot expire between the two checks.
        """
        if request.artifact_digest != self.digest:
            raise ModelMismatchError(
                f"request {request.request_id} is for artifact {request.artifact_digest}, loaded {self.digest}"
            )
        if (request.model_name, request.model_version) != (self.model_name, self.model_version):
            raise ModelMismatchError(
                f"request {request.request_id} names {request.model_name}:{request.model_version}, "
                f"artifact {self.digest} is {self.model_name}:{self.model_version}"
            )
        if request.feature_names != self.feature_names:
            raise ModelMismatchError(
                f"request {request.request_id} sends features {request.feature_names}, "
                f"model expects {self.feature_names}"
            )
        for index, row in enumerate(request.rows):
            if not all(math.isfinite(value) for value in row):
                raise InvalidRequestError(f"request {request.request_id} row {index} has a non-finite value")
        now_ms = time.time() * 1000 if now_ms is None else now_ms
        if now_ms >= request.deadline_unix_ms:
            raise DeadlineExceededError(
                f"request {request.request_id} deadline passed {now_ms - request.deadline_unix_ms:.0f} ms ago"
            )

    def score_many(self, requests: list[InferenceRequest], now_ms: float | None = None) -> list[InferenceResult]:
        """Score every row of every request in one session run and split the results back per request.

        Each request gets a "worker.score" span continuing its own trace context. Raises the first
        error `check` finds at `now_ms`; callers that must not fail batch-mates check requests first.
        """
        started = time.perf_counter()
        now_ms = time.time() * 1000 if now_ms is None else now_ms
        for request in requests:
            self.check(request, now_ms)
        spans = [start_child_span("worker.score", request.trace_context, self._tracer_provider) for request in requests]
        try:
            scores, contributions = self._run(requests)
        except Exception as error:
            for span in spans:
                span.record_exception(error)
                span.end()
            raise
        batch_size = len(scores)
        duration_ms = (time.perf_counter() - started) * 1000
        results = []
        offset = 0
        for request, span in zip(requests, spans, strict=True):
            end = offset + len(request.rows)
            results.append(
                self._result(
                    request,
                    span,
                    scores[offset:end],
                    contributions[offset:end],
                    batch_size=batch_size,
                    duration_ms=duration_ms,
                )
            )
            offset = end
        return results

    def _run(self, requests: list[InferenceRequest]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        matrix = np.asarray([row for request in requests for row in request.rows], dtype=np.float32)
        scores, contributions = self._session.run([SCORE_OUTPUT, CONTRIBUTIONS_OUTPUT], {INPUT_NAME: matrix})
        return np.asarray(scores), np.asarray(contributions)

    def _result(
        self,
        request: InferenceRequest,
        span: Span,
        scores: NDArray[np.float32],
        contributions: NDArray[np.float32],
        *,
        batch_size: int,
        duration_ms: float,
    ) -> InferenceResult:
        span.set_attribute("leaim.request_id", request.request_id)
        span.set_attribute("leaim.artifact_digest", self.digest)
        span.set_attribute("leaim.rows", len(request.rows))
        span.set_attribute("leaim.batch_size", batch_size)
        span.end()
        trace_id, span_id = span_ids(span)
        rows = [
            RowScore(score=float(score), contributions=self._top_reasons(row, row_contributions, request.top_reasons))
            for row, score, row_contributions in zip(request.rows, scores, contributions, strict=True)
        ]
        return InferenceResult(
            request_id=request.request_id,
            model_name=self.model_name,
            model_version=self.model_version,
            artifact_digest=self.digest,
            results=rows,
            worker=self.worker,
            batch_size=batch_size,
            duration_ms=duration_ms,
            trace_id=trace_id,
            span_id=span_id,
        )

    def _top_reasons(self, row: list[float], contributions: NDArray[np.float32], count: int) -> list[Contribution]:
        # A stable sort keeps feature order among equal magnitudes, so reasons are reproducible.
        order = np.argsort(-np.abs(contributions), kind="stable")[:count]
        return [
            Contribution(feature=self.feature_names[i], value=row[i], contribution=float(contributions[i]))
            for i in order
        ]


def _check_metadata(digest: str, metadata: Mapping[str, str], manifest: ModelManifest) -> None:
    missing = sorted(REQUIRED_METADATA - set(metadata))
    if missing:
        raise ModelMismatchError(f"artifact {digest} lacks metadata {missing}")
    described = {
        METADATA_MODEL_NAME: manifest.model_name,
        METADATA_MODEL_VERSION: manifest.model_version,
        METADATA_FAMILY: manifest.family,
        METADATA_FEATURE_NAMES: list(manifest.feature_names),
    }
    found = {**metadata, METADATA_FEATURE_NAMES: json.loads(metadata[METADATA_FEATURE_NAMES])}
    differing = sorted(key for key, value in described.items() if found[key] != value)
    if differing:
        raise ModelMismatchError(f"artifact {digest} metadata {differing} disagree with its signed manifest")


def _providers() -> list[str]:
    available = ort.get_available_providers()
    return [CUDA_PROVIDER, CPU_PROVIDER] if CUDA_PROVIDER in available else [CPU_PROVIDER]
