"""Modal app `leaim-training`: trains one model version per call on a GPU container.

Deploy with `modal deploy -m gpu_workers.training.modal_app`; the orchestration code calls `train`
through `modal.Function.from_name`, and the local worker host calls `train.local`.
"""

from __future__ import annotations

from typing import Any

import modal

from contracts.training.v2 import TrainingRequest
from gpu_workers import settings

image = (
    modal.Image.debian_slim(python_version=settings.PYTHON_VERSION)
    .uv_pip_install(*settings.TRAINING_PACKAGES)
    .add_local_python_source(*settings.LOCAL_SOURCES)
)

artifacts = modal.Volume.from_name(settings.ARTIFACTS_VOLUME_NAME, create_if_missing=True)

app = modal.App(settings.TRAINING_APP_NAME)


@app.function(
    gpu=settings.GPU,
    image=image,
    volumes={settings.DEFAULT_ARTIFACT_ROOT: artifacts},
    timeout=settings.TRAINING_TIMEOUT_S,
)
def train(request: dict[str, Any]) -> dict[str, Any]:
    """Validate a `training.v2` request, train, store the artifact on the volume and return the result.

    Errors propagate as exceptions: a training call is one job, there are no batch-mates to protect.
    """
    # Imported here, inside the container, so that deploying needs no scikit-learn on the deploying machine.
    from gpu_workers.training.trainer import train as train_model

    parsed = TrainingRequest.model_validate(request)
    result = train_model(parsed, settings.artifact_root(), worker=settings.worker_id())
    # Outside a container (`train.local`) there is no mounted volume to commit; the file is already on disk.
    if not modal.is_local():
        artifacts.commit()
    return result.model_dump(mode="json")
