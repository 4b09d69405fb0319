"""The AI bill of materials of a model version, in CycloneDX 1.6 (ML-BOM).

Everything in it comes from what the platform recorded or pinned: the model card from the signed manifest (family,
parameters, features, the held-out metrics and the gates, the bias indicators per protected group), the dataset by
its snapshot and content hash, the training code version from the lineage, every dependency with its version from
the lock file, and the worker images with the packages they pin. Nothing is filled in by hand: what the manifest
does not say is left out rather than guessed. The same version gives the same BOM, serial number included.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from contracts.manifest.v1 import UseCaseManifest
    from contracts.model.v1 import SignedManifest

SPEC_VERSION = "1.6"
# Serial numbers are UUIDv5 in this namespace over the artifact's sha256: one version, one serial.
SERIAL_NAMESPACE = uuid.UUID("5f0c4b1e-2d57-4f57-9a4e-6c1c8e3b7a10")
FAMILY_ARCHITECTURE = {
    "logistic_regression": "standardized features, L2-regularized logistic regression",
    "gradient_boosted_trees": "histogram gradient boosted decision trees",
}


@dataclass(frozen=True, slots=True)
class Package:
    """A Python distribution at a pinned version."""

    name: str
    version: str

    @property
    def purl(self) -> str:
        """Its package URL (`pkg:pypi/name@version`, the name normalized as PyPI does)."""
        return f"pkg:pypi/{self.name.lower().replace('_', '-').replace('.', '-')}@{self.version}"


@dataclass(frozen=True, slots=True)
class WorkerImage:
    """A GPU worker's container image: its app, its Python and the packages it installs."""

    name: str
    python_version: str
    gpu: str
    packages: tuple[Package, ...]


def model_ref(signed: SignedManifest) -> str:
    """The bom-ref of the model component."""
    return f"model:{signed.manifest.model_name}@{signed.manifest.model_version}"


def ml_bom(
    signed: SignedManifest,
    use_case: UseCaseManifest,
    *,
    packages: Sequence[Package],
    images: Sequence[WorkerImage],
) -> dict[str, Any]:
    """The CycloneDX 1.6 document of the version `signed` of the model that serves `use_case`.

    `packages` are those of the lock file (the platform and its training code), `images` the worker images.
    """
    manifest = signed.manifest
    lineage = manifest.lineage
    dataset_ref = f"dataset:{lineage.dataset}@{lineage.snapshot_id}"
    code_ref = f"code:leaim@{lineage.code_version}"
    libraries = _libraries([*packages, *(package for image in images for package in image.packages)])
    model: dict[str, Any] = {
        "bom-ref": model_ref(signed),
        "type": "machine-learning-model",
        "name": manifest.model_name,
        "version": manifest.model_version,
        "description": use_case.description,
        "hashes": [{"alg": "SHA-256", "content": manifest.artifact_digest}],
        "properties": _properties(
            {
                "leaim:use_case": manifest.use_case,
                "leaim:status": manifest.status,
                "leaim:artifact_key": manifest.artifact_key,
                "leaim:artifact_bytes": manifest.artifact_bytes,
                "leaim:signature:algorithm": "Ed25519",
                "leaim:signature:key_id": signed.key_id,
                "leaim:signature": signed.signature,
                "leaim:training_job": lineage.training_job_id,
                "leaim:trigger": lineage.trigger,
                "leaim:requested_by": lineage.requested_by,
                "leaim:seed": manifest.seed,
                "leaim:threshold": manifest.threshold,
                **{f"leaim:param:{name}": value for name, value in sorted(manifest.params.items())},
            }
        ),
        "modelCard": _model_card(signed, use_case, dataset_ref),
    }
    dataset = {
        "bom-ref": dataset_ref,
        "type": "data",
        "name": lineage.dataset,
        "version": lineage.snapshot_id,
        "hashes": [{"alg": "SHA-256", "content": lineage.snapshot_sha256}],
        "data": [
            {
                "type": "dataset",
                "name": f"{lineage.dataset} snapshot {lineage.snapshot_id}",
                "description": (
                    f"Dataset snapshot of {manifest.metrics.train_rows + manifest.metrics.holdout_rows} rows "
                    f"({manifest.metrics.train_rows} for training, {manifest.metrics.holdout_rows} held out), "
                    f"features of version {lineage.feature_version}."
                ),
                "governance": {"owners": [{"organization": {"name": use_case.owner}}]},
            }
        ],
    }
    code = {
        "bom-ref": code_ref,
        "type": "application",
        "name": "leaim",
        "version": lineage.code_version,
        "description": "The platform code that computed the features, trained, evaluated and exported the model.",
    }
    containers = [
        {
            "bom-ref": f"image:{image.name}",
            "type": "container",
            "name": image.name,
            "description": f"GPU worker image: Debian slim, Python {image.python_version}, {image.gpu} GPU.",
            "properties": _properties({"leaim:python_version": image.python_version, "leaim:gpu": image.gpu}),
        }
        for image in images
    ]
    dependencies = [
        {"ref": model_ref(signed), "dependsOn": [dataset_ref, code_ref, *(c["bom-ref"] for c in containers)]},
        {"ref": dataset_ref, "dependsOn": []},
        {"ref": code_ref, "dependsOn": sorted(package.purl for package in packages)},
        *(
            {"ref": f"image:{image.name}", "dependsOn": sorted({package.purl for package in image.packages})}
            for image in images
        ),
        *({"ref": library["bom-ref"], "dependsOn": []} for library in libraries),
    ]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(SERIAL_NAMESPACE, manifest.artifact_digest)}",
        "version": 1,
        "metadata": {
            "timestamp": manifest.created_at.isoformat().replace("+00:00", "Z"),
            "tools": {"components": [{"type": "application", "name": "leaim", "version": lineage.code_version}]},
            "component": {key: model[key] for key in ("bom-ref", "type", "name", "version")},
            "supplier": {"name": use_case.owner},
        },
        "components": [model, dataset, code, *containers, *libraries],
        "dependencies": dependencies,
    }


def _model_card(signed: SignedManifest, use_case: UseCaseManifest, dataset_ref: str) -> dict[str, Any]:
    manifest = signed.manifest
    metrics = manifest.metrics
    measured = {
        "auc": metrics.auc,
        "precision": metrics.precision,
        "recall": metrics.recall,
        "brier_score": metrics.brier,
        "expected_calibration_error": metrics.calibration_error,
        "onnx_parity_max_abs_diff": metrics.parity_max_abs_diff,
        "latency_p50_ms": metrics.latency_p50_ms,
        "latency_p99_ms": metrics.latency_p99_ms,
    }
    performance = [
        {"type": name, "value": f"{value:.6g}", "slice": f"held-out split of {metrics.holdout_rows} rows"}
        for name, value in measured.items()
    ]
    fairness = [
        {
            "groupAtRisk": f"{attribute}={group}",
            "harms": (
                f"favorable-outcome rate {rate.favorable_rate:.4g} over {rate.rows} held-out rows; the gate requires "
                f"a disparate impact of at least {use_case.gates.min_disparate_impact:g} across {attribute}"
            ),
            "mitigationStrategy": "Gated before serving; monitored live for disparate impact and equal opportunity.",
        }
        for attribute, groups in sorted(metrics.group_rates.items())
        for group, rate in sorted(groups.items())
    ]
    gates = [f"{gate.gate}: {'passed' if gate.passed else 'failed'}" for gate in manifest.gates]
    considerations: dict[str, Any] = {
        "useCases": [use_case.description],
        "users": [f"business services calling the {use_case.name} decision API", "reviewers", "auditors"],
        "performanceTradeoffs": [f"decision threshold {manifest.threshold:g}", *gates],
    }
    if fairness:
        considerations["fairnessAssessments"] = fairness
    if manifest.reasons:
        considerations["technicalLimitations"] = list(manifest.reasons)
    return {
        "bom-ref": f"model-card:{manifest.model_name}@{manifest.model_version}",
        "modelParameters": {
            "approach": {"type": "supervised"},
            "task": "binary classification",
            "architectureFamily": manifest.family,
            "modelArchitecture": FAMILY_ARCHITECTURE.get(manifest.family, manifest.family),
            "datasets": [{"ref": dataset_ref}],
            "inputs": [{"format": f"float32 vector of features {', '.join(manifest.feature_names)}"}],
            "outputs": [{"format": f"probability of {use_case.model.target}, with per-feature log-odds contributions"}],
        },
        "quantitativeAnalysis": {"performanceMetrics": performance},
        "considerations": considerations,
    }


def _libraries(packages: Iterable[Package]) -> list[dict[str, Any]]:
    by_purl = {package.purl: package for package in packages}
    return [
        {"bom-ref": purl, "type": "library", "name": package.name, "version": package.version, "purl": purl}
        for purl, package in sorted(by_purl.items())
    ]


def _properties(values: dict[str, object]) -> list[dict[str, str]]:
    return [{"name": name, "value": str(value)} for name, value in values.items()]
