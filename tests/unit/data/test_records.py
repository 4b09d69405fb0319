"""One record: checked against its contract, minimized, featurized as serving does, and laid out for training."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from contracts.ingest.v1 import SnapshotManifest
from embedded.synthetic import CardFraudGenerator, LabeledTransaction, transaction_record
from leaim.data.datasets import DatasetCatalog
from leaim.data.features import feature_vector, merge_online
from leaim.data.parquet import decode, encode
from leaim.data.privacy import entity_id, token
from leaim.data.records import (
    PreparedRecord,
    RecordPreparer,
    RecordProblem,
    SnapshotFormatError,
    column_data,
    feature_column,
    feature_version,
    stored_columns,
    training_matrix,
)
from leaim.domain.manifests import ManifestCatalog

if TYPE_CHECKING:
    from contracts.dataset.v1 import DatasetContract
    from contracts.manifest.v1 import UseCaseManifest

KEY = b"records-test-pii-key-0123456789"
WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def manifest() -> UseCaseManifest:
    return ManifestCatalog.from_directory(None).get("card_fraud")


@pytest.fixture(scope="module")
def catalog() -> DatasetCatalog:
    return DatasetCatalog.from_directory(ManifestCatalog.from_directory(None))


@pytest.fixture(scope="module")
def transactions(manifest: UseCaseManifest) -> list[LabeledTransaction]:
    generator = CardFraudGenerator(manifest, seed=11)
    return generator.transactions(40, generator.cards(10))


def contract(catalog: DatasetCatalog, version: str) -> DatasetContract:
    found = catalog.get("transactions", version)
    assert found is not None
    return found


def preparer(catalog: DatasetCatalog, manifest: UseCaseManifest, version: str = "v1") -> RecordPreparer:
    return RecordPreparer(contract(catalog, version), manifest, KEY)


def prepared(outcome: PreparedRecord | RecordProblem) -> PreparedRecord:
    assert isinstance(outcome, PreparedRecord), outcome
    return outcome


def problem(outcome: PreparedRecord | RecordProblem) -> RecordProblem:
    assert isinstance(outcome, RecordProblem), outcome
    return outcome


def test_a_valid_v1_record_is_stored_minimized(
    catalog: DatasetCatalog, manifest: UseCaseManifest, transactions: list[LabeledTransaction]
) -> None:
    tx = transactions[0]
    record = transaction_record(tx, WHEN)
    result = prepared(preparer(catalog, manifest).prepare(record))
    assert result.record_id == record["transaction_id"]
    assert result.event_time == WHEN
    assert result.contract_version == "v1"
    assert result.values["card_id"] == token(KEY, "card_id", tx.inputs["card_id"])
    assert result.values["card_id"] != tx.inputs["card_id"]
    assert "cardholder_name" not in result.values
    assert str(tx.inputs["cardholder_name"]) not in repr(result)
    assert str(tx.inputs["card_id"]) not in repr(result)
    assert result.values["is_fraud"] is bool(tx.label)
    assert result.values["amount"] == tx.inputs["amount"]
    assert result.entity == entity_id(manifest, {"card_id": tx.inputs["card_id"]}, KEY)
    assert result.online == tx.online


def test_a_valid_v2_record_tokenizes_the_device_and_keeps_the_channel(
    catalog: DatasetCatalog, manifest: UseCaseManifest, transactions: list[LabeledTransaction]
) -> None:
    record = {**transaction_record(transactions[1], WHEN), "channel": "ecommerce", "device_id": "device-8841"}
    result = prepared(preparer(catalog, manifest, "v2").prepare(record))
    assert result.contract_version == "v2"
    assert result.values["channel"] == "ecommerce"
    assert result.values["device_id"] == token(KEY, "device_id", "device-8841")
    assert "device-8841" not in repr(result)


def test_a_v1_record_is_also_a_valid_v2_record(
    catalog: DatasetCatalog, manifest: UseCaseManifest, transactions: list[LabeledTransaction]
) -> None:
    record = transaction_record(transactions[2], WHEN)
    as_v1 = prepared(preparer(catalog, manifest, "v1").prepare(record))
    as_v2 = prepared(preparer(catalog, manifest, "v2").prepare(record))
    assert as_v2.contract_version == "v2"
    assert (as_v2.values, as_v2.features, as_v2.digest) == (as_v1.values, as_v1.features, as_v1.digest)


def test_features_equal_the_serving_transform_of_the_same_record(
    catalog: DatasetCatalog, manifest: UseCaseManifest, transactions: list[LabeledTransaction]
) -> None:
    prepare = preparer(catalog, manifest)
    input_names = {field.name for field in manifest.inputs}
    online_names = {feature.name for feature in manifest.online_features}
    for tx in transactions:
        record = transaction_record(tx, WHEN)
        inputs = {name: value for name, value in record.items() if name in input_names}
        online = {name: value for name, value in record.items() if name in online_names}
        expected = feature_vector(manifest, inputs, merge_online(manifest, online))
        result = prepared(prepare.prepare(record))
        assert list(result.features) == expected
        assert len(result.features) == len(manifest.feature_names)


def test_every_problem_of_a_record_is_named(
    catalog: DatasetCatalog, manifest: UseCaseManifest, transactions: list[LabeledTransaction]
) -> None:
    record: dict[str, object] = {
        **transaction_record(transactions[3], WHEN),
        "event_time": "2026-03-01T09:30:00",
        "amount": 250_000,
        "hour_of_day": 7.5,
        "card_present": "yes",
        "country": "XX",
        "loyalty_tier": "gold",
    }
    del record["merchant_category"]
    result = problem(preparer(catalog, manifest).prepare(record))
    by_field = {error.field: error.type for error in result.fields}
    assert by_field == {
        "record.event_time": "type_error",
        "record.amount": "out_of_range",
        "record.hour_of_day": "type_error",
        "record.card_present": "type_error",
        "record.country": "not_allowed",
        "record.loyalty_tier": "unknown_field",
        "record.merchant_category": "missing",
    }
    for name in by_field:
        assert name in result.reason
    assert result.record_id == record["transaction_id"]
    offset = next(error for error in result.fields if error.field == "record.event_time")
    assert "offset" in offset.message


def test_a_v2_field_is_unknown_to_v1(
    catalog: DatasetCatalog, manifest: UseCaseManifest, transactions: list[LabeledTransaction]
) -> None:
    record = {**transaction_record(transactions[4], WHEN), "device_id": "device-1"}
    result = problem(preparer(catalog, manifest, "v1").prepare(record))
    assert [(error.field, error.type) for error in result.fields] == [("record.device_id", "unknown_field")]


@pytest.mark.parametrize(
    "payload", [[1, 2], "a record", 42, None, True], ids=["array", "string", "number", "null", "bool"]
)
def test_a_payload_that_is_not_an_object_is_refused(
    catalog: DatasetCatalog, manifest: UseCaseManifest, payload: object
) -> None:
    result = problem(preparer(catalog, manifest).prepare(payload))
    assert result.reason == "record is not a JSON object"
    assert [error.field for error in result.fields] == ["record"]
    assert result.record_id is None


def test_digest_follows_the_stored_content(
    catalog: DatasetCatalog, manifest: UseCaseManifest, transactions: list[LabeledTransaction]
) -> None:
    prepare = preparer(catalog, manifest)
    record = transaction_record(transactions[5], WHEN)
    first = prepared(prepare.prepare(record))
    assert prepared(prepare.prepare(dict(record))).digest == first.digest
    reordered = dict(reversed(list(record.items())))
    assert prepared(prepare.prepare(reordered)).digest == first.digest
    same_instant = {**record, "event_time": "2026-03-01T11:30:00+02:00"}
    assert prepared(prepare.prepare(same_instant)).digest == first.digest
    other_amount = {**record, "amount": float(record["amount"]) + 1.0}
    assert prepared(prepare.prepare(other_amount)).digest != first.digest
    other_time = {**record, "event_time": "2026-03-01T09:31:00Z"}
    assert prepared(prepare.prepare(other_time)).digest != first.digest
    other_card = {**record, "card_id": "card-other"}
    assert prepared(prepare.prepare(other_card)).digest != first.digest


def test_record_ids_too_long_to_show_are_not_shown(catalog: DatasetCatalog, manifest: UseCaseManifest) -> None:
    result = problem(preparer(catalog, manifest).prepare({"transaction_id": "x" * 300}))
    assert result.record_id is None
    assert "record.transaction_id" in {error.field for error in result.fields}


def _table(
    catalog: DatasetCatalog, manifest: UseCaseManifest, transactions: list[LabeledTransaction]
) -> tuple[list[PreparedRecord], list[bool]]:
    prepare = preparer(catalog, manifest)
    records, labeled = [], []
    for index, tx in enumerate(transactions[:12]):
        keep_label = index % 3 != 0
        records.append(
            prepared(prepare.prepare(transaction_record(tx, WHEN + timedelta(minutes=index), labeled=keep_label)))
        )
        labeled.append(keep_label)
    return records, labeled


def _snapshot(manifest: UseCaseManifest, *, version: str, label: str | None) -> SnapshotManifest:
    return SnapshotManifest(
        snapshot_id="transactions-20260301T093000-abcdef01",
        dataset="transactions",
        use_case="card_fraud",
        created_at=WHEN,
        created_by="tests",
        data_key="snapshots/transactions/x/data.parquet",
        content_sha256="0" * 64,
        row_count=12,
        labeled_rows=8,
        contract_versions={"v1": 12},
        sources={"http": 12},
        event_time_min=WHEN,
        event_time_max=WHEN,
        feature_version=version,
        feature_names=manifest.feature_names,
        label=label,
        partitions=[],
    )


def test_training_matrix_holds_the_labeled_rows_in_feature_order(
    catalog: DatasetCatalog, manifest: UseCaseManifest, transactions: list[LabeledTransaction]
) -> None:
    records, labeled = _table(catalog, manifest, transactions)
    columns = stored_columns(contract(catalog, "v2"), manifest)
    names = [column.name for column in columns]
    assert "cardholder_name" not in names
    assert [feature_column(name) for name in manifest.feature_names] == names[-len(manifest.feature_names) :]
    data = column_data(columns, records, manifest=manifest, source="http", ingested_at=WHEN)
    table = decode(encode(columns, data))
    snapshot = _snapshot(manifest, version=feature_version(manifest), label="is_fraud")
    rows, targets = training_matrix(manifest, snapshot, table)
    kept = [record for record, has_label in zip(records, labeled, strict=True) if has_label]
    assert rows == [list(record.features) for record in kept]
    assert targets == [int(bool(record.values["is_fraud"])) for record in kept]
    assert len(rows) == sum(labeled) < len(records)


def test_training_matrix_refuses_other_features_and_a_missing_label(
    catalog: DatasetCatalog, manifest: UseCaseManifest, transactions: list[LabeledTransaction]
) -> None:
    records, _ = _table(catalog, manifest, transactions)
    columns = stored_columns(contract(catalog, "v1"), manifest)
    table = decode(encode(columns, column_data(columns, records, manifest=manifest, source="http", ingested_at=WHEN)))
    with pytest.raises(SnapshotFormatError, match="cut a new snapshot"):
        training_matrix(manifest, _snapshot(manifest, version="fv-000000000000", label="is_fraud"), table)
    with pytest.raises(SnapshotFormatError, match="has no label column"):
        training_matrix(manifest, _snapshot(manifest, version=feature_version(manifest), label=None), table)
    with pytest.raises(SnapshotFormatError, match="has no label column"):
        training_matrix(manifest, _snapshot(manifest, version=feature_version(manifest), label="chargeback"), table)


def test_feature_version_changes_with_the_feature_definitions(manifest: UseCaseManifest) -> None:
    changed = manifest.model_copy(
        update={"features": [manifest.features[0].model_copy(update={"transform": "identity"}), *manifest.features[1:]]}
    )
    assert feature_version(manifest) == feature_version(manifest.model_copy())
    assert feature_version(changed) != feature_version(manifest)


def test_a_record_with_many_long_unknown_fields_names_a_bounded_number_of_short_ones(
    catalog: DatasetCatalog, manifest: UseCaseManifest, transactions: list[LabeledTransaction]
) -> None:
    unknown = {f"{index:03d}{'x' * 4997}": index for index in range(500)}
    result = problem(preparer(catalog, manifest).prepare({**transaction_record(transactions[6], WHEN), **unknown}))
    assert len(result.fields) <= 20
    assert {error.type for error in result.fields} == {"unknown_field"}
    assert result.reason.count("is not a field of transactions v1") <= 20
    assert result.reason.endswith(f"; and {500 - len(result.fields)} more")
    for error in result.fields:
        assert error.field.startswith("record.")
        assert len(error.field.removeprefix("record.")) <= 64
    assert len(result.reason) < 5000
