"""Loading a model version on a running inference worker before it takes traffic.

A worker verifies an artifact's digest and its signed manifest when it first loads it, and loads it on
its first score; so one probe row scored for the version is the load, and its answer the proof.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from contracts.inference.v1 import InferenceRequest

if TYPE_CHECKING:
    from collections.abc import Callable

    from contracts.model.v1 import SignedManifest
    from leaim.domain.clock import Clock
    from leaim.serving.ports import WorkerClient


class WorkerModelLoader:
    """The lifecycle's `ModelLoader` over the worker client: scores one row of zeros for the version."""

    def __init__(self, workers: Callable[[], WorkerClient], clock: Clock) -> None:
        self._workers = workers
        self._clock = clock

    def load(self, signed: SignedManifest, timeout_s: float) -> None:
        """Have one worker load the version; the worker client's WorkerError when it refuses or fails."""
        manifest = signed.manifest
        request = InferenceRequest(
            request_id=f"load:{manifest.model_name}:{manifest.model_version}",
            model_name=manifest.model_name,
            model_version=manifest.model_version,
            artifact_digest=manifest.artifact_digest,
            feature_names=list(manifest.feature_names),
            rows=[[0.0] * len(manifest.feature_names)],
            top_reasons=0,
            deadline_unix_ms=math.floor((self._clock.now() + timeout_s) * 1000),
        )
        self._workers().score(request, timeout_s)
