"""The `gradient_boosted_trees` family: scikit-learn's GradientBoostingClassifier, exported by hand to ONNX.

Contributions follow the Saabas path decomposition. Every node of a tree gets an expected value: a
leaf its fitted value, an inner node the sample-weighted mean of its children's, that is, the mean
output of the training samples that reached it. Walking from the root to a leaf, each split moves the
expected value from the parent's to the child's, and that change (times the learning rate) is
credited to the split's feature. A leaf's contribution vector is the sum along its path, so

    leaf value * learning rate = root value * learning rate + sum of the leaf's contributions,

and over all trees the raw log-odds are exactly `sum(contributions) + bias`, with
`bias = initial log-odds + learning rate * sum of the root values`. One `ai.onnx.ml`
TreeEnsembleRegressor with one target per feature adds the leaves' contribution vectors over trees.

The expected values of inner nodes are recomputed rather than read from `tree_.value`: for the
binomial loss scikit-learn replaces only the leaves' values with a Newton step, so inner nodes still
hold the mean gradient, on another scale, and the last split of every path would absorb the jump.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from onnx import helper
from scipy.special import logit
from sklearn.ensemble import GradientBoostingClassifier

from gpu_workers.model_format import CONTRIBUTIONS_OUTPUT, INPUT_NAME
from gpu_workers.training.export import ONNX_ML_DOMAIN, ArtifactIdentity, serialize

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from onnx import NodeProto
    from sklearn.tree._tree import Tree

    from contracts.training.v2 import ParamValue

# The child id scikit-learn gives a leaf (`sklearn.tree._tree.TREE_LEAF`).
LEAF = -1


@dataclass(frozen=True, slots=True)
class BoostedTreesModel:
    """A fitted binary GradientBoostingClassifier; every input is rounded to float32, as the artifact sees it."""

    classifier: GradientBoostingClassifier

    def predict(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Native probability of the positive label for each row of `features`."""
        return np.asarray(self.classifier.predict_proba(as_float32(features))[:, 1], dtype=np.float64)

    @property
    def bias(self) -> float:
        """The log-odds of a row whose contributions are all zero: initial log-odds plus the trees' roots."""
        learning_rate = float(self.classifier.learning_rate)
        roots = sum(expected_values(estimator.tree_)[0] for estimator in self.classifier.estimators_[:, 0])
        return float(self.initial_log_odds + learning_rate * roots)

    @property
    def initial_log_odds(self) -> float:
        """The ensemble's starting point: the log-odds of the positive share of the training labels."""
        # The same clipped prior scikit-learn's default `init` predicts before the first tree.
        eps = np.finfo(np.float64).eps
        prior = float(np.clip(self.classifier.init_.class_prior_[1], eps, 1 - eps))
        return float(logit(prior))

    def export(self, identity: ArtifactIdentity) -> bytes:
        """The ONNX artifact: one TreeEnsembleRegressor with a target per feature, then the shared head."""
        ensemble = _Ensemble(width=len(identity.feature_names), learning_rate=float(self.classifier.learning_rate))
        for tree_id, estimator in enumerate(self.classifier.estimators_[:, 0]):
            ensemble.add(tree_id, estimator.tree_)
        return serialize(identity, [ensemble.node()], [], self.bias)


def fit_gradient_boosted_trees(
    features: NDArray[np.float64], labels: NDArray[np.int64], params: dict[str, ParamValue], seed: int
) -> BoostedTreesModel:
    """Fit a seeded GradientBoostingClassifier with `params` on the float32-rounded features."""
    classifier = GradientBoostingClassifier(random_state=seed, **params)
    classifier.fit(as_float32(features), labels)
    return BoostedTreesModel(classifier)


def as_float32(features: NDArray[np.float64]) -> NDArray[np.float32]:
    """The features as the artifact receives them."""
    return np.asarray(features, dtype=np.float32)


def expected_values(tree: Tree) -> NDArray[np.float64]:
    """Per node: its value for a leaf, the sample-weighted mean of its children's values for an inner node."""
    values = np.asarray(tree.value[:, 0, 0], dtype=np.float64).copy()
    weights = np.asarray(tree.weighted_n_node_samples, dtype=np.float64)
    # scikit-learn numbers children after their parent, so walking ids backwards visits children first.
    for node in range(tree.node_count - 1, -1, -1):
        left, right = tree.children_left[node], tree.children_right[node]
        if left != LEAF:
            values[node] = (weights[left] * values[left] + weights[right] * values[right]) / (
                weights[left] + weights[right]
            )
    return values


def float32_thresholds(thresholds: NDArray[np.float64]) -> NDArray[np.float32]:
    """The largest float32 at or below each threshold.

    scikit-learn compares float32 inputs with float64 thresholds; for a float32 `x`, `x <= t` holds
    exactly when `x <= largest_float32_at_or_below(t)`, so the artifact takes the same branches.
    """
    rounded = thresholds.astype(np.float32)
    above = rounded.astype(np.float64) > thresholds
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


class _Ensemble:
    """The attributes of one TreeEnsembleRegressor, gathered tree by tree."""

    def __init__(self, width: int, learning_rate: float) -> None:
        self.width = width
        self.learning_rate = learning_rate
        # Attribute name to its values, all lists; typed loosely because they are passed on as keywords.
        self.attributes: defaultdict[str, Any] = defaultdict(list)

    def add(self, tree_id: int, tree: Tree) -> None:
        """Append the nodes of `tree` and the contribution vectors of its leaves."""
        count = tree.node_count
        left = np.asarray(tree.children_left)
        right = np.asarray(tree.children_right)
        feature = np.asarray(tree.feature)
        leaf = left == LEAF
        thresholds = float32_thresholds(np.asarray(tree.threshold, dtype=np.float64))
        self._extend(
            nodes_treeids=[tree_id] * count,
            nodes_nodeids=list(range(count)),
            nodes_featureids=np.where(leaf, 0, feature).tolist(),
            nodes_modes=["LEAF" if is_leaf else "BRANCH_LEQ" for is_leaf in leaf],
            nodes_values=np.where(leaf, np.float32(0), thresholds).tolist(),
            # scikit-learn sends `x <= threshold` to the left child.
            nodes_truenodeids=np.where(leaf, 0, left).tolist(),
            nodes_falsenodeids=np.where(leaf, 0, right).tolist(),
        )
        contributions = self._path_contributions(tree, left, right, feature)
        for node in np.flatnonzero(leaf):
            # A leaf with nothing to credit (a tree that never split) still gets one zero weight, so the
            # target lists are never empty.
            used = np.flatnonzero(contributions[node]) if contributions[node].any() else np.array([0])
            self._extend(
                target_treeids=[tree_id] * len(used),
                target_nodeids=[int(node)] * len(used),
                target_ids=used.tolist(),
                target_weights=contributions[node, used].astype(np.float32).tolist(),
            )

    def node(self) -> NodeProto:
        """The TreeEnsembleRegressor node from `features` to `contributions`."""
        return helper.make_node(
            "TreeEnsembleRegressor",
            [INPUT_NAME],
            [CONTRIBUTIONS_OUTPUT],
            domain=ONNX_ML_DOMAIN,
            name="contribute",
            n_targets=self.width,
            aggregate_function="SUM",
            post_transform="NONE",
            **self.attributes,
        )

    def _path_contributions(
        self, tree: Tree, left: NDArray[np.intp], right: NDArray[np.intp], feature: NDArray[np.intp]
    ) -> NDArray[np.float64]:
        values = expected_values(tree)
        contributions = np.zeros((tree.node_count, self.width), dtype=np.float64)
        # Parents come before their children in scikit-learn's numbering.
        for node in np.flatnonzero(left != LEAF):
            for child in (left[node], right[node]):
                contributions[child] = contributions[node]
                contributions[child, feature[node]] += self.learning_rate * (values[child] - values[node])
        return contributions

    def _extend(self, **items: list[Any]) -> None:
        for name, values in items.items():
            self.attributes[name].extend(values)
