"""Sample records drawn from a dataset contract are what ingestion stores; the broken ones are what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from contracts.dataset.v1 import DatasetContract
from contracts.manifest.v1 import UseCaseManifest
from embedded.records import SAMPLE_DAYS, broken_kinds, contract_records, example_inputs
from leaim.data.datasets import DatasetCatalog, feed_problems
from leaim.data.records import PreparedRecord, RecordPreparer, RecordProblem
from leaim.data.validation import validate_inputs
from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import ConfigurationError
from tests.support.fakes import ManualClock

PII_KEY = b"records-test-pii-key-0123456789abcdef"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SHIPPED = ManifestCatalog.from_directory(None)

# A use case unlike the reference: a category entity key, an integer label, a timestamp besides the event time,
# a number bounded above only, a short record id, and an optional field a feature reads.
MACHINES = UseCaseManifest.model_validate(
    {
        "name": "machine_failure",
        "description": "Whether a machine fails within a week.",
        "owner": "plant-ops",
        "entity_key": "line",
        "inputs": [
            {"name": "reading_id", "type": "string", "max_length": 24},
            {"name": "line", "type": "category", "allowed": ["north", "south", "east"]},
            {"name": "temperature", "type": "number", "minimum": -40, "maximum": 150},
            {"name": "vibration", "type": "number", "maximum": 12.5},
            {"name": "hours_run", "type": "integer", "minimum": 0, "maximum": 100000, "required": False},
            {"name": "serviced", "type": "boolean"},
        ],
        "online_features": [{"name": "faults_7d", "type": "integer", "default": 0}],
        "features": [
            {"name": "temperature", "transform": "identity", "source": "temperature"},
            {"name": "vibration", "transform": "identity", "source": "vibration"},
            {"name": "log_hours", "transform": "log1p", "source": "hours_run"},
            {"name": "faults_7d", "transform": "identity", "source": "faults_7d"},
            {"name": "not_serviced", "transform": "indicator", "source": "serviced", "equals": False},
        ],
        "model": {"name": "machine-failure", "family": "logistic_regression", "target": "failed"},
        "decision": {
            "outcomes": ["inspect", "run"],
            "threshold": 0.5,
            "positive_outcome": "inspect",
            "negative_outcome": "run",
        },
        "fallback": {"outcome": "inspect", "reason": "The model could not answer."},
        "latency_budget_ms": 200,
    }
)
READINGS = DatasetContract.model_validate(
    {
        "dataset": "readings",
        "version": "v1",
        "description": "Sensor readings with the failure that followed.",
        "owner": "plant-ops",
        "record_id": "reading_id",
        "event_time": "read_at",
        "use_case": "machine_failure",
        "label": "failed",
        "fields": [
            {"name": "reading_id", "type": "string", "max_length": 24},
            {"name": "read_at", "type": "timestamp"},
            {"name": "installed_at", "type": "timestamp"},
            {"name": "line", "type": "category", "allowed": ["north", "south", "east"]},
            {"name": "temperature", "type": "number", "minimum": -40, "maximum": 150},
            {"name": "vibration", "type": "number", "maximum": 12.5},
            {"name": "hours_run", "type": "integer", "minimum": 0, "maximum": 100000, "required": False},
            {"name": "serviced", "type": "boolean"},
            {"name": "faults_7d", "type": "integer", "minimum": 0, "maximum": 50},
            {"name": "failed", "type": "integer", "minimum": 0, "maximum": 1, "required": False},
        ],
    }
)


def prepared(contract: DatasetContract, manifest: UseCaseManifest, records: list[dict]) -> list[object]:
    clock = ManualClock()
    clock.wall = NOW.timestamp()
    preparer = RecordPreparer(contract, manifest, PII_KEY, clock)
    return [preparer.prepare(record) for record in records]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_records_of_the_shipped_contract_are_all_stored_and_the_broken_ones_refused(version: str) -> None:
    datasets = DatasetCatalog.from_directory(SHIPPED)
    contract = datasets.get("transactions", version)
    assert contract is not None
    manifest = SHIPPED.get("card_fraud")

    records = contract_records(contract, manifest, 300, 8, seed=4, now=NOW)

    results = prepared(contract, manifest, records)
    valid = [r for r, record in zip(results, records, strict=True) if not record["transaction_id"].startswith("bad-")]
    broken = [r for r, record in zip(results, records, strict=True) if record["transaction_id"].startswith("bad-")]
    assert len(valid) == 300 and all(isinstance(result, PreparedRecord) for result in valid)
    assert len(broken) == 8 and all(isinstance(result, RecordProblem) for result in broken)
    kinds = broken_kinds(contract)
    assert kinds == ("missing field", "value out of range", "unknown category", "timestamp without offset")
    types = [[error.type for error in result.fields] for result in broken if isinstance(result, RecordProblem)]
    assert types == [[("missing", "out_of_range", "not_allowed", "type_error")[n % 4]] for n in range(8)]
    assert {type(record["is_fraud"]) for record in records} == {bool}
    # The online features are the card's: one set of values per card, as a feature store holds them.
    online: dict[object, set[tuple[object, ...]]] = {}
    records = [record for record in records if not record["transaction_id"].startswith("bad-")]
    for record in records:
        online.setdefault(record["card_id"], set()).add(
            (record["avg_amount_30d"], record["txn_count_24h"], record["home_country"])
        )
    assert len(online) > 50 and all(len(values) == 1 for values in online.values())


def test_records_keep_to_their_fields_and_times_and_ids_are_as_promised() -> None:
    records = contract_records(READINGS, MACHINES, 1_000, 0, seed=9, now=NOW)

    assert all(isinstance(result, PreparedRecord) for result in prepared(READINGS, MACHINES, records))
    ids = [record["reading_id"] for record in records]
    assert len(set(ids)) == len(ids) and all(len(str(i)) <= 24 for i in ids)
    times = [datetime.fromisoformat(str(record["read_at"])) for record in records]
    assert times == sorted(times) and all(NOW - SAMPLE_DAYS <= t < NOW for t in times)
    assert all(str(record["read_at"]).endswith("Z") for record in records)
    installed = [datetime.fromisoformat(str(record["installed_at"])) for record in records]
    assert all(NOW - SAMPLE_DAYS <= t <= NOW for t in installed)
    assert {record["line"] for record in records} == {"north", "south", "east"}
    assert all(-40 <= float(record["temperature"]) <= 150 and float(record["vibration"]) <= 12.5 for record in records)
    assert {record["failed"] for record in records} == {0, 1}
    assert all(0 <= int(record["faults_7d"]) <= 50 for record in records)


def test_the_same_seed_gives_the_same_records_and_another_seed_others() -> None:
    first = contract_records(READINGS, MACHINES, 50, 4, seed=3, now=NOW)

    assert contract_records(READINGS, MACHINES, 50, 4, seed=3, now=NOW) == first
    assert contract_records(READINGS, MACHINES, 50, 4, seed=4, now=NOW) != first


def test_the_labels_follow_the_model_features_so_a_model_has_something_to_learn() -> None:
    records = contract_records(READINGS, MACHINES, 6_000, 0, seed=21, now=NOW)
    rows = [r.features for r in prepared(READINGS, MACHINES, records) if isinstance(r, PreparedRecord)]
    labels = [int(record["failed"]) for record in records]

    model = LogisticRegression(max_iter=1_000).fit(rows[:4_000], labels[:4_000])

    assert 0.1 < sum(labels) / len(labels) < 0.5
    assert roc_auc_score(labels[4_000:], model.predict_proba(rows[4_000:])[:, 1]) > 0.8


def test_broken_records_are_only_of_the_kinds_the_contract_can_show() -> None:
    plain = READINGS.model_copy(
        update={
            "fields": [
                field.model_copy(update={"minimum": None, "maximum": None}) if field.name == "vibration" else field
                for field in READINGS.fields
                if field.name not in ("line", "temperature", "hours_run", "faults_7d")
            ]
        }
    )
    manifest = MACHINES.model_copy(
        update={
            "entity_key": "reading_id",
            "inputs": [i for i in MACHINES.inputs if i.name in ("reading_id", "vibration", "serviced")],
            "online_features": [],
            "features": [f for f in MACHINES.features if f.name in ("vibration", "not_serviced")],
        }
    )
    assert feed_problems(plain, ManifestCatalog({manifest.name: manifest})) == []
    assert broken_kinds(plain) == ("missing field", "timestamp without offset")

    records = contract_records(plain, manifest, 10, 4, seed=1, now=NOW)

    refused = [r for r in prepared(plain, manifest, records) if isinstance(r, RecordProblem)]
    assert [[error.type for error in problem.fields] for problem in refused] == [["missing"], ["type_error"]] * 2


def test_example_inputs_are_valid_inputs_of_their_use_case() -> None:
    for manifest in (SHIPPED.get("card_fraud"), MACHINES):
        inputs = example_inputs(manifest, seed=0)

        cleaned, errors = validate_inputs(manifest, inputs)
        assert errors == [] and set(cleaned) == {field.name for field in manifest.inputs}


def test_a_record_id_too_short_for_the_ids_is_refused_with_the_reason() -> None:
    short = READINGS.model_copy(
        update={
            "fields": [
                field.model_copy(update={"max_length": 8}) if field.name == "reading_id" else field
                for field in READINGS.fields
            ]
        }
    )
    with pytest.raises(ConfigurationError, match="record id 'reading_id' allows 8 characters"):
        contract_records(short, MACHINES, 5, 0, seed=1, now=NOW - timedelta(days=1))
