"""The `logistic_regression` family: StandardScaler + LogisticRegression, exported as an explicit ONNX graph.

The log-odds are a sum of one term per feature, coef * (x - mean) / scale, plus the intercept; the
graph computes those terms as the `contributions` output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from onnx import helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from gpu_workers.model_format import CONTRIBUTIONS_OUTPUT, INPUT_NAME
from gpu_workers.training.export import ArtifactIdentity, serialize

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from contracts.training.v2 import ParamValue


@dataclass(frozen=True, slots=True)
class LogisticRegressionModel:
    """A fitted scaler and classifier: score = sigmoid(sum(coef * (x - mean) / scale) + intercept)."""

    scaler: StandardScaler
    classifier: LogisticRegression

    def predict(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Native probability of the positive label for each row of `features`."""
        return np.asarray(self.classifier.predict_proba(self.scaler.transform(features))[:, 1], dtype=np.float64)

    def export(self, identity: ArtifactIdentity) -> bytes:
        """The ONNX artifact: standardize, multiply by the coefficients, sum with the intercept."""
        initializers = [
            numpy_helper.from_array(np.asarray(self.scaler.mean_, dtype=np.float32), "mean"),
            numpy_helper.from_array(np.asarray(self.scaler.scale_, dtype=np.float32), "scale"),
            numpy_helper.from_array(np.asarray(self.classifier.coef_[0], dtype=np.float32), "coef"),
        ]
        nodes = [
            helper.make_node("Sub", [INPUT_NAME, "mean"], ["centered"], name="center"),
            helper.make_node("Div", ["centered", "scale"], ["standardized"], name="standardize"),
            helper.make_node("Mul", ["standardized", "coef"], [CONTRIBUTIONS_OUTPUT], name="contribute"),
        ]
        return serialize(identity, nodes, initializers, float(self.classifier.intercept_[0]))


def fit_logistic_regression(
    features: NDArray[np.float64], labels: NDArray[np.int64], params: dict[str, ParamValue], seed: int
) -> LogisticRegressionModel:
    """Standardize the features and fit a seeded LogisticRegression with `params` (C, max_iter, tol, class_weight)."""
    scaler = StandardScaler().fit(features)
    classifier = LogisticRegression(random_state=seed, **params)
    classifier.fit(scaler.transform(features), labels)
    return LogisticRegressionModel(scaler, classifier)
