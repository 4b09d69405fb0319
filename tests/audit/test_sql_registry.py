"""Model registry and router, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest

from leaim.adapters.sql import ModelVersionExistsError, SqlModelRegistry
from leaim.exceptions import NotFoundError
from leaim.orchestration.ports import ActiveModel, ModelRouter

if TYPE_CHECKING:
    from sqlalchemy import Engine

DIGEST_1 = "sha256:" + "1" * 64
DIGEST_2 = "sha256:" + "2" * 64


def version_fields(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "artifact_digest": DIGEST_1,
        "family": "logistic_regression",
        "feature_names": ("income", "tenure_months", "utilisation"),
        "params": {"C": 0.5, "max_iter": 200, "penalty": "l2", "fit_intercept": True},
        "metrics": {"auc": 0.871, "precision": 0.8, "recall": 0.65, "train_rows": 800},
    }
    values.update(overrides)
    return values


def test_registry_implements_the_router_port(engine: Engine) -> None:
    router: ModelRouter = SqlModelRegistry(engine)
    assert router.active_model("credit_limit") is None


def test_register_and_read_back(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)

    registered = registry.register("credit", "1", **version_fields())

    assert registered == registry.get("credit", "1")
    assert registered.artifact_digest == DIGEST_1
    assert registered.feature_names == ("income", "tenure_months", "utilisation")
    assert registered.params == {"C": 0.5, "max_iter": 200, "penalty": "l2", "fit_intercept": True}
    assert registered.metrics["auc"] == 0.871
    assert registered.created_at.tzinfo is not None
    assert registry.get("credit", "2") is None


def test_identical_registration_is_a_no_op(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    first = registry.register("credit", "1", **version_fields())

    again = registry.register("credit", "1", **version_fields(feature_names=["income", "tenure_months", "utilisation"]))

    assert again == first
    assert registry.versions("credit") == [first]


@pytest.mark.parametrize(
    "change",
    [
        {"artifact_digest": DIGEST_2},
        {"family": "gradient_boosting"},
        {"feature_names": ("income", "utilisation", "tenure_months")},
        {"params": {"C": 1.0, "max_iter": 200, "penalty": "l2", "fit_intercept": True}},
        {"metrics": {"auc": 0.9}},
    ],
    ids=["digest", "family", "feature_order", "params", "metrics"],
)
def test_versions_are_immutable(engine: Engine, change: dict[str, Any]) -> None:
    registry = SqlModelRegistry(engine)
    first = registry.register("credit", "1", **version_fields())

    with pytest.raises(ModelVersionExistsError, match="versions are immutable") as caught:
        registry.register("credit", "1", **version_fields(**change))

    assert caught.value.existing == first
    assert registry.get("credit", "1") == first


def test_versions_lists_one_model_only(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    one = registry.register("credit", "1", **version_fields())
    two = registry.register("credit", "2", **version_fields(artifact_digest=DIGEST_2))
    registry.register("fraud", "1", **version_fields())

    assert sorted(registry.versions("credit"), key=lambda v: v.version) == [one, two]
    assert registry.versions("unknown") == []


def test_activate_routes_a_use_case_and_can_switch(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    registry.register("credit", "1", **version_fields())
    registry.register("credit", "2", **version_fields(artifact_digest=DIGEST_2, feature_names=["income"]))

    first = registry.activate("credit_limit", "credit", "1")
    assert first == ActiveModel(
        name="credit",
        version="1",
        artifact_digest=DIGEST_1,
        feature_names=("income", "tenure_months", "utilisation"),
    )
    assert registry.active_model("credit_limit") == first

    registry.activate("credit_limit", "credit", "2")
    assert registry.active_model("credit_limit") == ActiveModel(
        name="credit", version="2", artifact_digest=DIGEST_2, feature_names=("income",)
    )
    assert registry.active_model("fraud_check") is None


def test_activating_an_unknown_version_fails_and_keeps_the_route(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    registry.register("credit", "1", **version_fields())
    active = registry.activate("credit_limit", "credit", "1")

    with pytest.raises(NotFoundError, match="credit:9 is not registered"):
        registry.activate("credit_limit", "credit", "9")
    with pytest.raises(NotFoundError):
        registry.activate("fraud_check", "unknown", "1")

    assert registry.active_model("credit_limit") == active
    assert registry.active_model("fraud_check") is None


def test_parameters_that_are_not_json_are_refused(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    with pytest.raises(ValueError, match="metrics cannot be stored as JSON"):
        registry.register("credit", "1", **version_fields(metrics={"auc": float("nan")}))
    assert registry.get("credit", "1") is None


def test_concurrent_activations_from_many_threads_all_succeed(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    registry.register("credit", "1", **version_fields())
    registry.register("credit", "2", **version_fields(artifact_digest=DIGEST_2))
    threads, per_thread = 8, 25
    start = threading.Barrier(threads)

    def switch(worker: int) -> None:
        start.wait()
        for index in range(per_thread):
            registry.activate(f"use_case_{worker % 2}", "credit", str(1 + (worker + index) % 2))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for outcome in [pool.submit(switch, worker) for worker in range(threads)]:
            outcome.result()

    for use_case in ("use_case_0", "use_case_1"):
        active = registry.active_model(use_case)
        assert active is not None
        assert active.version in {"1", "2"}
