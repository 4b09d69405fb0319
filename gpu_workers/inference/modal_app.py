"""Modal app `leaim-inference`: one container pool per model version, scoring batched requests on a GPU.

Deploy with `modal deploy -m gpu_workers.inference.modal_app`. Callers look the class up with
`modal.Cls.from_name`, build `InferenceWorker(artifact_digest=...)` and call `score.remote(request)`
with ONE request dict; Modal gathers concurrent calls into the list `score` receives. The local
worker host instead calls `score.local(list_of_requests)`, which runs the same method directly.

The worker loads an artifact only when its `<digest>.manifest.json`, published beside it in the
volume, is approved and signed by a key in `$LEAIM_MANIFEST_PUBLIC_KEYS`, which the Modal secret
`leaim-manifest-keys` sets: `modal secret create leaim-manifest-keys LEAIM_MANIFEST_PUBLIC_KEYS=<base64>`.
"""

# No `from __future__ import annotations` here: Modal reads the class parameter's annotation as a real
# type when it builds the class, and a postponed (string) annotation is rejected.

import time
from typing import TYPE_CHECKING, Any

import modal
from pydantic import ValidationError

from contracts.inference.v1 import InferenceRequest
from gpu_workers import settings
from gpu_workers.exceptions import GpuWorkerError, InvalidRequestError

image = (
    modal.Image.debian_slim(python_version=settings.PYTHON_VERSION)
    .uv_pip_install(*settings.INFERENCE_PACKAGES)
    .add_local_python_source(*settings.LOCAL_SOURCES)
)

if TYPE_CHECKING:
    from gpu_workers.inference.runtime import ModelRuntime

artifacts = modal.Volume.from_name(settings.ARTIFACTS_VOLUME_NAME, create_if_missing=True)

app = modal.App(settings.INFERENCE_APP_NAME)


@app.cls(
    gpu=settings.GPU,
    image=image,
    volumes={settings.DEFAULT_ARTIFACT_ROOT: artifacts},
    # Sets the trusted manifest keys variable in the container; resolved only when deployed or run.
    secrets=[modal.Secret.from_name(settings.MANIFEST_KEYS_SECRET_NAME)],
    timeout=settings.INFERENCE_TIMEOUT_S,
    scaledown_window=settings.INFERENCE_SCALEDOWN_WINDOW_S,
)
class InferenceWorker:
    """Serves one artifact, loaded once per container after its signed manifest and its bytes are verified."""

    artifact_digest: str = modal.parameter()

    @modal.enter()
    def load(self) -> None:
        """Verify and load the artifact; a failure is kept and reported per request, not as a crash loop.

        Each call retries a failed load, since the manifest may be published after the container started.
        """
        self._runtime: ModelRuntime | None = None
        self._load_error: GpuWorkerError | None = None
        self._try_load()

    @modal.batched(max_batch_size=settings.MAX_BATCH_SIZE, wait_ms=settings.BATCH_WAIT_MS)
    def score(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Score a batch of `inference.v1` request dicts in one session run, answering in the same order.

        Each output is either an `InferenceResult` as JSON-ready dict, or, for an item that cannot be
        scored, `{"error": {"type": <error class name>, "message": <text>}}` so that one bad item (an
        invalid payload, another artifact, other features, an expired deadline, a missing, unsigned or
        tampered artifact) never fails its batch-mates. Only an unexpected failure of the session itself
        raises, and then Modal fails every call of the batch.
        """
        if self._runtime is None:
            self._try_load()
        runtime = self._runtime
        if runtime is None:
            error = self._load_error or InvalidRequestError(f"artifact {self.artifact_digest} is not loaded")
            return [_error_entry(error) for _ in requests]

        now_ms = time.time() * 1000
        outputs: list[dict[str, Any]] = [{} for _ in requests]
        accepted: list[tuple[int, InferenceRequest]] = []
        for index, payload in enumerate(requests):
            try:
                request = InferenceRequest.model_validate(payload)
                runtime.check(request, now_ms)
            except ValidationError as invalid:
                outputs[index] = _error_entry(InvalidRequestError(f"invalid inference.v1 request: {invalid}"))
            except GpuWorkerError as refused:
                outputs[index] = _error_entry(refused)
            else:
                accepted.append((index, request))
        if accepted:
            results = runtime.score_many([request for _, request in accepted], now_ms)
            for (index, _), result in zip(accepted, results, strict=True):
                outputs[index] = result.model_dump(mode="json")
        return outputs

    def _try_load(self) -> None:
        # Imported here, inside the container, so that deploying needs no onnxruntime on the deploying machine.
        from gpu_workers.inference.runtime import ModelRuntime
        from gpu_workers.inference.signatures import load_public_keys

        # A container started before the artifact was written sees the volume as of its start.
        if not modal.is_local():
            artifacts.reload()
        try:
            public_keys = load_public_keys(settings.manifest_public_keys())
            self._runtime = ModelRuntime.load(settings.artifact_root(), self.artifact_digest, public_keys)
            self._load_error = None
        except GpuWorkerError as error:
            self._load_error = error


def _error_entry(error: GpuWorkerError) -> dict[str, Any]:
    return {"error": {"type": error.code, "message": str(error)}}
