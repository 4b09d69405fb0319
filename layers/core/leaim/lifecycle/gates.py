"""Evaluation gates: what a trained version must show on its held-out split before it may serve traffic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.model.v1 import GateResult

if TYPE_CHECKING:
    from contracts.manifest.v1 import Gates, UseCaseManifest
    from contracts.training.v2 import TrainingMetrics


def evaluate(manifest: UseCaseManifest, metrics: TrainingMetrics) -> list[GateResult]:
    """Every gate of the manifest applied to `metrics`, in a fixed order; a version passes when all pass."""
    gates = manifest.gates
    results = [
        _at_least("auc", metrics.auc, gates.min_auc),
        _at_least("precision", metrics.precision, gates.min_precision),
        _at_least("recall", metrics.recall, gates.min_recall),
        _at_most("calibration_error", metrics.calibration_error, gates.max_calibration_error),
        _at_most("onnx_parity", metrics.parity_max_abs_diff, gates.max_parity_diff),
        _at_most("latency_p99_ms", metrics.latency_p99_ms, gates.max_latency_p99_ms),
    ]
    protected = [field.name for field in manifest.inputs if field.protected]
    results += [_disparate_impact(attribute, metrics, gates) for attribute in protected]
    return results


def reasons(results: list[GateResult]) -> list[str]:
    """The messages of the gates that failed."""
    return [result.message for result in results if not result.passed]


def disparate_impact(rates: dict[str, float]) -> float | None:
    """Lowest favorable-outcome rate over the highest, or None when no group has a favorable outcome."""
    highest = max(rates.values(), default=0.0)
    if highest <= 0.0:
        return None
    return min(rates.values()) / highest


def _at_least(gate: str, value: float, limit: float) -> GateResult:
    return _bound(gate, value, limit, value >= limit, "at least", "below the minimum")


def _at_most(gate: str, value: float, limit: float) -> GateResult:
    return _bound(gate, value, limit, value <= limit, "at most", "above the maximum")


def _bound(gate: str, value: float, limit: float, passed: bool, within: str, outside: str) -> GateResult:
    relation = within if passed else outside
    return GateResult(
        gate=gate, passed=passed, value=value, limit=limit, message=f"{gate} {value:.6g} is {relation} {limit:.6g}"
    )


def _disparate_impact(attribute: str, metrics: TrainingMetrics, gates: Gates) -> GateResult:
    gate = f"disparate_impact:{attribute}"
    limit = gates.min_disparate_impact
    groups = metrics.group_rates.get(attribute, {})
    if not groups:
        return GateResult(
            gate=gate,
            passed=False,
            value=None,
            limit=limit,
            message=f"no held-out row carries protected attribute {attribute!r}: bias cannot be evaluated",
        )
    eligible = {name: rate.favorable_rate for name, rate in groups.items() if rate.rows >= gates.min_group_rows}
    small = sorted(name for name, rate in groups.items() if rate.rows < gates.min_group_rows)
    note = f" (not gated, fewer than {gates.min_group_rows} rows: {', '.join(small)})" if small else ""
    if len(eligible) < 2:
        return GateResult(
            gate=gate,
            passed=False,
            value=None,
            limit=limit,
            message=f"{attribute}: fewer than 2 groups with {gates.min_group_rows} held-out rows{note}",
        )
    ratio = disparate_impact(eligible)
    if ratio is None:
        return GateResult(
            gate=gate,
            passed=False,
            value=0.0,
            limit=limit,
            message=f"{attribute}: no group receives the favorable outcome{note}",
        )
    lowest = min(eligible, key=lambda name: eligible[name])
    highest = max(eligible, key=lambda name: eligible[name])
    passed = ratio >= limit
    verdict = "at least" if passed else "below the minimum"
    return GateResult(
        gate=gate,
        passed=passed,
        value=ratio,
        limit=limit,
        message=(
            f"disparate impact on {attribute} {ratio:.3f} ({lowest} {eligible[lowest]:.3f} / "
            f"{highest} {eligible[highest]:.3f}) is {verdict} {limit:.3g}{note}"
        ),
    )
