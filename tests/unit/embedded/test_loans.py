"""The shipped loan applications: the generator's output, accepted by the contract drafted from them, and learnable.

A model trained on them by the training worker's code, with the drafted manifest, passes the drafted gates.
"""

from __future__ import annotations

import csv
import time
from typing import TYPE_CHECKING

import pytest

from contracts.training.v2 import TrainingRequest
from embedded.clients.records import read_records
from embedded.loans import ROWS, SHIPPED_FILE, loan_applications, write_loan_applications
from gpu_workers.training.trainer import train
from leaim.data.records import PreparedRecord, RecordPreparer
from leaim.domain.onboarding import draft_use_case
from leaim.lifecycle import gates

if TYPE_CHECKING:
    from pathlib import Path

    from leaim.domain.onboarding import Draft

PII_KEY = b"k" * 32


@pytest.fixture(scope="module")
def drafted() -> Draft:
    with SHIPPED_FILE.open(encoding="utf-8", newline="") as text:
        header = next(csv.reader(text))
    rows = read_records(SHIPPED_FILE)
    return draft_use_case(
        header, rows, target="defaulted", name="loan_default", dataset="loan_applications", source=SHIPPED_FILE.name
    )


@pytest.fixture(scope="module")
def prepared(drafted: Draft) -> list[PreparedRecord]:
    preparer = RecordPreparer(drafted.dataset, drafted.manifest, PII_KEY)
    results = [preparer.prepare(record) for record in read_records(SHIPPED_FILE)]
    refused = [result for result in results if not isinstance(result, PreparedRecord)]
    assert refused == []
    return [result for result in results if isinstance(result, PreparedRecord)]


def test_the_shipped_file_is_the_generators_output_with_its_seed(tmp_path: Path) -> None:
    written = tmp_path / "loan_applications.csv"
    write_loan_applications(written)

    assert written.read_bytes() == SHIPPED_FILE.read_bytes(), "write it again with: uv run python -m embedded.loans"


def test_the_same_seed_gives_the_same_applications_and_another_seed_others() -> None:
    assert loan_applications(200, seed=3) == loan_applications(200, seed=3)
    assert loan_applications(200, seed=3) != loan_applications(200, seed=4)


def test_applications_are_unique_oldest_first_and_applicants_apply_again() -> None:
    applications = loan_applications()
    ids = [application["application_id"] for application in applications]
    times = [str(application["applied_at"]) for application in applications]

    assert len(applications) == ROWS == len(set(ids))
    assert times == sorted(times)
    assert len({application["applicant_id"] for application in applications}) < ROWS
    assert {application["defaulted"] for application in applications} == {0, 1}


def test_the_drafted_contract_accepts_every_row_and_minimizes_the_personal_data(
    drafted: Draft, prepared: list[PreparedRecord]
) -> None:
    assert len(prepared) == ROWS
    assert drafted.manifest.entity_key == "applicant_id"
    assert {field.name: field.pii for field in drafted.dataset.fields if field.pii} == {
        "applicant_id": "tokenize",
        "applicant_name": "drop",
    }
    assert [field.name for field in drafted.manifest.inputs if field.protected] == ["age_band"]
    assert all("applicant_name" not in record.values for record in prepared)
    assert all(str(record.values["applicant_id"]).startswith("tok_") for record in prepared)


def test_a_model_trained_on_the_shipped_file_passes_the_drafted_gates(
    drafted: Draft, prepared: list[PreparedRecord], tmp_path: Path
) -> None:
    manifest = drafted.manifest
    request = TrainingRequest(
        job_id="job-loans",
        model_name=manifest.model.name,
        model_version="v1",
        family=manifest.model.family,
        params=dict(manifest.model.params),
        seed=7,
        feature_names=manifest.feature_names,
        rows=[list(record.features) for record in prepared],
        labels=[int(str(record.values["defaulted"])) for record in prepared],
        groups={"age_band": [str(record.values["age_band"]) for record in prepared]},
        threshold=manifest.decision.threshold,
        deadline_unix_ms=int(time.time() * 1000) + 600_000,
    )

    result = train(request, tmp_path, worker="test")
    verdicts = {gate.gate: gate for gate in gates.evaluate(manifest, result.metrics)}

    # Latency depends on the machine running the test; the others on the data and the drafted manifest alone.
    for name in ("auc", "calibration_error", "disparate_impact:age_band", "onnx_parity"):
        assert verdicts[name].passed, verdicts[name].message
    assert result.metrics.auc >= 0.85
    assert result.metrics.calibration_error <= 0.045
