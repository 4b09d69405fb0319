"""Model manifests of the card_fraud use case, for lifecycle tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from contracts.model.v1 import GateResult, Lineage, ModelManifest
from contracts.training.v2 import Baseline, GroupRate, Histogram, TrainingMetrics
from leaim.domain.manifests import ManifestCatalog

MANIFEST = ManifestCatalog.from_directory(None).get("card_fraud")


def model_manifest(version: str = "v1", **overrides: Any) -> ModelManifest:
    """An approved card-fraud version with plausible metrics; `overrides` replace any field."""
    digest = hashlib.sha256(f"card-fraud:{version}".encode()).hexdigest()
    values: dict[str, Any] = {
        "model_name": "card-fraud",
        "model_version": version,
        "use_case": "card_fraud",
        "family": "logistic_regression",
        "artifact_digest": digest,
        "artifact_bytes": 1024,
        "artifact_key": f"artifacts/sha256/{digest}.onnx",
        "feature_names": MANIFEST.feature_names,
        "params": {"C": 1.0, "max_iter": 200},
        "seed": 7,
        "threshold": 0.4,
        "metrics": TrainingMetrics(
            auc=0.9,
            precision=0.7,
            recall=0.6,
            threshold=0.4,
            brier=0.05,
            calibration_error=0.02,
            train_rows=800,
            holdout_rows=200,
            positive_rate=0.1,
            parity_max_abs_diff=1e-7,
            latency_p50_ms=0.05,
            latency_p99_ms=0.2,
            group_rates={"cardholder_age_band": {"26-40": GroupRate(rows=100, favorable_rate=0.9)}},
        ),
        "gates": [GateResult(gate="auc", passed=True, value=0.9, limit=0.7, message="auc 0.9 is at least 0.7")],
        "status": "approved",
        "lineage": Lineage(
            dataset="transactions",
            snapshot_id="snap-1",
            snapshot_sha256="0" * 64,
            feature_version="f1",
            code_version="test",
            training_job_id=f"job-{version}",
            trigger="person",
            requested_by="tester",
        ),
        "baseline": Baseline(
            features={"log_amount": Histogram(edges=[0.0, 3.0, 6.0], counts=[400, 400])},
            score=Histogram(edges=[0.0, 0.5, 1.0], counts=[180, 20]),
            rows=800,
        ),
        "created_at": datetime(2026, 11, 1, tzinfo=UTC),
    }
    values.update(overrides)
    return ModelManifest(**values)
