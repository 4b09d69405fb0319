"""The ONNX graph every family exports: per-feature log-odds `contributions`, summed with a bias into `score`.

A family builds the nodes that turn `features` [N, F] into `contributions` [N, F]; `serialize` adds the
shared head (logit = sum of contributions + bias, score = sigmoid(logit)), the metadata the runtime
checks, and pinned opsets, so the same model always serializes to the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from gpu_workers.model_format import (
    CONTRIBUTIONS_OUTPUT,
    INPUT_NAME,
    METADATA_FAMILY,
    METADATA_FEATURE_NAMES,
    METADATA_MODEL_NAME,
    METADATA_MODEL_VERSION,
    SCORE_OUTPUT,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from onnx import NodeProto

# Pinned so an artifact's bytes, and so its digest, do not change with the installed onnx version.
ONNX_OPSET = 17
ONNX_ML_OPSET = 3
ONNX_ML_DOMAIN = "ai.onnx.ml"
ONNX_IR_VERSION = 10
PRODUCER_NAME = "leaim-training"
PRODUCER_VERSION = "1"
CPU_PROVIDERS = ["CPUExecutionProvider"]


@dataclass(frozen=True, slots=True)
class ArtifactIdentity:
    """What an artifact says it is, in its metadata; the runtime checks it against the signed manifest."""

    model_name: str
    model_version: str
    feature_names: list[str]
    family: str


def serialize(
    identity: ArtifactIdentity, contribution_nodes: list[NodeProto], initializers: list[TensorProto], bias: float
) -> bytes:
    """The checked, deterministically serialized model whose `contribution_nodes` compute `contributions`."""
    width = len(identity.feature_names)
    head = [
        helper.make_node("ReduceSum", [CONTRIBUTIONS_OUTPUT, "feature_axis"], ["weighted"], keepdims=0, name="sum"),
        helper.make_node("Add", ["weighted", "bias"], ["logit"], name="bias"),
        helper.make_node("Sigmoid", ["logit"], [SCORE_OUTPUT], name="sigmoid"),
    ]
    graph = helper.make_graph(
        [*contribution_nodes, *head],
        name=f"{identity.model_name}-{identity.model_version}",
        inputs=[helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", width])],
        outputs=[
            helper.make_tensor_value_info(SCORE_OUTPUT, TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info(CONTRIBUTIONS_OUTPUT, TensorProto.FLOAT, ["N", width]),
        ],
        initializer=[
            *initializers,
            numpy_helper.from_array(np.array(bias, dtype=np.float32), "bias"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "feature_axis"),
        ],
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid(ONNX_ML_DOMAIN, ONNX_ML_OPSET)],
        producer_name=PRODUCER_NAME,
        producer_version=PRODUCER_VERSION,
        ir_version=ONNX_IR_VERSION,
    )
    helper.set_model_props(
        proto,
        {
            METADATA_MODEL_NAME: identity.model_name,
            METADATA_MODEL_VERSION: identity.model_version,
            METADATA_FEATURE_NAMES: json.dumps(list(identity.feature_names)),
            METADATA_FAMILY: identity.family,
        },
    )
    onnx.checker.check_model(proto, full_check=True)
    return bytes(proto.SerializeToString(deterministic=True))


def cpu_session(artifact: bytes) -> ort.InferenceSession:
    """An onnxruntime session of the serialized model on the CPU, as training evaluates it."""
    return ort.InferenceSession(artifact, providers=CPU_PROVIDERS)


def run_session(
    session: ort.InferenceSession, features: NDArray[np.float64]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Scores and contributions of `features` (sent as float32, as the runtime sends them)."""
    score, contributions = session.run([SCORE_OUTPUT, CONTRIBUTIONS_OUTPUT], {INPUT_NAME: features.astype(np.float32)})
    return np.asarray(score), np.asarray(contributions)
