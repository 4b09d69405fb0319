"""The ingestion service over in-memory ports: stored once or quarantined, PII minimized, replayed, snapshotted."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from contracts.ingest.v1 import QuarantinedRecord, ReplayRequest
from leaim.data.ingestion import offline_key, offline_prefix, quarantine_prefix
from leaim.data.parquet import decode, encode
from leaim.data.ports import LedgerEntry
from leaim.data.privacy import token
from leaim.data.records import (
    FEATURE_VERSION,
    PreparedRecord,
    RecordPreparer,
    column_data,
    feature_column,
    feature_version,
    stored_columns,
)
from leaim.exceptions import DependencyUnavailableError, EmptySnapshotError, NotFoundError, SnapshotIntegrityError
from tests.support.ingestion import PII_KEY, START, IngestionWorld, incoming

if TYPE_CHECKING:
    from collections.abc import Sequence

    from contracts.ingest.v1 import Source
    from leaim.data.ingestion import IngestResult

TRACE = "0123456789abcdef0123456789abcdef"
DATASET = "transactions"


def ingest(
    world: IngestionWorld, records: Sequence[object], version: str | None = "v1", source: Source = "http"
) -> IngestResult:
    return world.service.ingest(DATASET, incoming(records, version), source=source, trace_id=TRACE)


def offline_rows(world: IngestionWorld) -> list[dict[str, object | None]]:
    return [row for blob in world.objects.under(offline_prefix(DATASET)).values() for row in decode(blob).rows()]


def quarantined(world: IngestionWorld) -> list[QuarantinedRecord]:
    return [QuarantinedRecord.model_validate_json(b) for b in world.objects.under(quarantine_prefix(DATASET)).values()]


def _break(kind: str, record: dict[str, object]) -> tuple[object, str]:
    """A broken copy of `record` and the field its problem names."""
    broken = dict(record)
    if kind == "missing":
        del broken["amount"]
        return broken, "record.amount"
    if kind == "range":
        broken["hour_of_day"] = 24
        return broken, "record.hour_of_day"
    if kind == "type":
        broken["card_present"] = "true"
        return broken, "record.card_present"
    if kind == "unknown":
        broken["loyalty_tier"] = "gold"
        return broken, "record.loyalty_tier"
    if kind == "naive_time":
        broken["event_time"] = str(broken["event_time"]).removesuffix("Z")
        return broken, "record.event_time"
    if kind == "category":
        broken["country"] = "Atlantis"
        return broken, "record.country"
    return [broken], "record"


KINDS = ["missing", "range", "type", "unknown", "naive_time", "category", "not_object"]


def test_a_large_batch_stores_the_good_records_and_quarantines_exactly_the_bad_ones() -> None:
    world = IngestionWorld()
    good = world.records(10_000, cards=800)
    records: list[object] = list(good)
    bad = sorted(random.Random(3).sample(range(len(records)), 350))
    named: dict[int, str] = {}
    for index, position in enumerate(bad):
        records[position], named[position] = _break(KINDS[index % len(KINDS)], good[position])

    result = ingest(world, records)

    report = result.report
    assert report.received == 10_000
    assert report.stored == 10_000 - len(bad)
    assert report.quarantined == len(bad)
    assert report.received == report.stored + report.quarantined
    assert report.duplicates == 0
    assert report.contract_versions == {"v1": report.stored}
    assert sorted(result.quarantined) == bad
    assert result.stored_positions == set(range(10_000)) - set(bad)
    for position, record in result.quarantined.items():
        assert record.origin == f"records[{position}]"
        assert named[position] in [error.field for error in record.fields]
        assert named[position] in record.reason or record.reason == "record is not a JSON object"
    assert len(report.quarantine) == len(bad)
    assert len(quarantined(world)) == len(bad)
    assert len(world.ledger.entries) == report.stored
    rows = offline_rows(world)
    assert len(rows) == report.stored
    good_ids = {good[p]["transaction_id"] for p in result.stored_positions}
    assert {row["transaction_id"] for row in rows} == good_ids
    assert sorted(report.partitions) == sorted(world.objects.under(offline_prefix(DATASET)))


def test_an_unknown_contract_version_is_quarantined_with_that_reason() -> None:
    world = IngestionWorld()
    records = world.records(3)
    result = ingest(world, records, version="v9")
    assert (result.report.stored, result.report.quarantined) == (0, 3)
    for record in result.quarantined.values():
        assert record.reason == "unknown contract version 'v9' of dataset 'transactions' (known: v1, v2)"
        assert [error.field for error in record.fields] == ["contract_version"]
        assert record.contract_version == "v9"
        assert record.payload in records
    assert world.ledger.entries == {}
    assert world.objects.under(offline_prefix(DATASET)) == {}


def test_the_same_batch_delivered_twice_is_stored_once() -> None:
    world = IngestionWorld()
    records: list[object] = list(world.records(20))
    records.append({"transaction_id": "broken"})
    first = ingest(world, records).report
    ledger = dict(world.ledger.entries)
    quarantine = world.objects.under(quarantine_prefix(DATASET))
    online = dict(world.online.rows)

    second = ingest(world, records).report

    assert (first.stored, first.duplicates, first.quarantined) == (20, 0, 1)
    assert (second.stored, second.duplicates, second.quarantined) == (20, 20, 1)
    assert world.ledger.entries == ledger
    assert world.ledger.claims[-1] == {}
    assert world.objects.under(quarantine_prefix(DATASET)).keys() == quarantine.keys()
    assert world.online.rows == online
    assert len(offline_rows(world)) == 20
    assert world.snapshots.cut(DATASET, principal="tests").row_count == 20


def test_the_same_records_in_another_batch_are_duplicates_and_not_written_again() -> None:
    world = IngestionWorld()
    records = world.records(10)
    ingest(world, records[:6])
    report = ingest(world, records[3:]).report
    assert (report.stored, report.duplicates) == (7, 3)
    assert len(world.ledger.entries) == 10
    assert world.snapshots.cut(DATASET, principal="tests").row_count == 10


def test_a_record_id_sent_again_with_other_content_is_quarantined_as_a_conflict() -> None:
    world = IngestionWorld()
    records = world.records(5)
    ingest(world, records[:3])
    changed = {**records[1], "amount": 1234.5}
    result = ingest(world, [changed, records[3]])
    assert (result.report.stored, result.report.quarantined) == (1, 1)
    conflict = result.quarantined[0]
    assert conflict.record_id == records[1]["transaction_id"]
    assert "already stored with other content" in conflict.reason
    assert [error.type for error in conflict.fields] == ["conflict"]
    snapshot, table = world.snapshots.read(DATASET, world.snapshots.cut(DATASET, principal="t").snapshot_id)
    amounts = dict(zip(table.data["transaction_id"], table.data["amount"], strict=True))
    assert amounts[records[1]["transaction_id"]] == records[1]["amount"]
    assert snapshot.row_count == 4


def test_a_redelivered_batch_with_one_changed_record_keeps_every_stored_row() -> None:
    world = IngestionWorld()
    records = world.records(4)
    ingest(world, records)
    changed = [dict(record) for record in records]
    changed[1]["amount"] = 1.5

    report = ingest(world, changed).report

    assert (report.stored, report.duplicates, report.quarantined) == (3, 3, 1)
    # The record first stored under that id must still be in the offline store, where its ledger entry says.
    stored_ids = {row["transaction_id"] for row in offline_rows(world)}
    assert records[1]["transaction_id"] in stored_ids
    assert world.snapshots.cut(DATASET, principal="tests").row_count == 4


def test_duplicate_ids_within_a_batch() -> None:
    world = IngestionWorld()
    records = world.records(4)
    same = dict(records[0])
    other = {**records[1], "amount": 9.99}
    result = ingest(world, [*records, same, other])
    report = result.report
    assert (report.received, report.stored, report.duplicates, report.quarantined) == (6, 5, 1, 1)
    assert list(result.quarantined) == [5]
    assert "an earlier record of the same batch" in result.quarantined[5].reason
    rows = offline_rows(world)
    assert sorted(str(row["transaction_id"]) for row in rows) == sorted(str(r["transaction_id"]) for r in records)


def test_an_unknown_dataset_is_not_found() -> None:
    world = IngestionWorld()
    with pytest.raises(NotFoundError, match="unknown dataset 'payments'"):
        world.service.ingest("payments", incoming(world.records(1)), source="http", trace_id=TRACE)
    assert world.objects.objects == {}


def test_pii_is_never_stored_or_reported_in_clear() -> None:
    world = IngestionWorld()
    records = world.records(300, cards=40)
    v2 = [{**record, "transaction_id": f"v2-{i}", "device_id": f"device-{i:04d}"} for i, record in enumerate(records)]
    bad_card, bad_name = "card-of-a-bad-record", "Bad Record Holder"
    bad = [{**records[0], "transaction_id": "bad-1", "amount": -5, "card_id": bad_card, "cardholder_name": bad_name}]
    reports = [ingest(world, records).report, ingest(world, v2, version="v2").report, ingest(world, bad).report]
    world.snapshots.cut(DATASET, principal="tests")

    card_ids = {str(r["card_id"]) for r in records}
    names = {str(r["cardholder_name"]) for r in records}
    devices = {str(r["device_id"]) for r in v2}
    secrets = card_ids | names | devices | {bad_card, bad_name}
    stored_values: set[str] = set()
    for key, blob in world.objects.objects.items():
        if key.endswith(".parquet"):
            table = decode(blob)
            assert "cardholder_name" not in table.data
            assert {token(PII_KEY, "card_id", card) for card in card_ids} >= set(map(str, table.data["card_id"]))
            stored_values |= {str(value) for column in table.data.values() for value in column}
        elif not key.startswith(quarantine_prefix(DATASET)):
            stored_values.add(blob.decode())
    for secret in secrets:
        assert not any(secret in value for value in stored_values), secret
    # The quarantine keeps the raw payload of the bad record, and nothing of the good ones.
    quarantine = b"".join(world.objects.under(quarantine_prefix(DATASET)).values()).decode()
    assert bad_card in quarantine
    assert not any(secret in quarantine for secret in card_ids | devices)
    for report in reports:
        text = report.model_dump_json()
        assert not any(secret in text for secret in secrets)
    online = repr(world.online.rows) + repr(world.ledger.entries)
    assert not any(secret in online for secret in secrets)
    assert {entity for _, entity in world.online.rows} <= {token(PII_KEY, "card_id", card) for card in card_ids}


def test_online_features_keep_the_latest_event_per_card() -> None:
    world = IngestionWorld()
    [older, newer] = world.records(2, cards=1)
    newer = {**newer, "avg_amount_30d": 999.0, "event_time": "2026-03-02T00:00:00Z"}
    assert ingest(world, [newer]).report.stale_online_updates == 0
    report = ingest(world, [older]).report
    assert (report.stored, report.stale_online_updates) == (1, 1)
    [(key, update)] = world.online.rows.items()
    assert key == ("card_fraud", token(PII_KEY, "card_id", newer["card_id"]))
    assert update.features["avg_amount_30d"] == 999.0
    assert update.feature_version == feature_version(world.manifest)


def test_a_record_claimed_first_by_a_concurrent_delivery_is_a_duplicate_or_a_conflict() -> None:
    world = IngestionWorld()
    records = world.records(3)
    contract = world.datasets.get(DATASET, "v1")
    assert contract is not None
    prepare = RecordPreparer(contract, world.manifest, PII_KEY)
    # The racing delivery stored records[0] with the same content, records[1] with other content.
    identical = prepare.prepare(records[0])
    different = prepare.prepare({**records[1], "amount": 3.0})
    assert isinstance(identical, PreparedRecord)
    assert isinstance(different, PreparedRecord)
    elsewhere = "offline/transactions/date=2026-03-01/other-batch.parquet"
    world.ledger.racing = {
        (DATASET, str(records[0]["transaction_id"])): LedgerEntry(identical.digest, elsewhere),
        (DATASET, str(records[1]["transaction_id"])): LedgerEntry(different.digest, elsewhere),
    }
    result = ingest(world, records)
    report = result.report
    assert (report.stored, report.duplicates, report.quarantined) == (2, 1, 1)
    assert list(result.quarantined) == [1]
    assert elsewhere in result.quarantined[1].reason
    # The stored records feed the online store (a duplicate again: the write is conditional); the conflict does not.
    assert len(world.online.updates) == 2


def test_replay_with_a_fixed_contract_version_stores_records_and_empties_the_quarantine() -> None:
    world = IngestionWorld()
    records = world.records(6)
    still_bad = {**records[5], "hour_of_day": 99}
    ingest(world, [*records[:5], still_bad], version="v9")
    assert len(quarantined(world)) == 6

    report = world.quarantine.replay(DATASET, ReplayRequest(contract_version="v1"), trace_id=TRACE)

    assert (report.replayed, report.stored, report.still_quarantined) == (6, 5, 1)
    [left] = quarantined(world)
    assert left.payload == still_bad
    assert "record.hour_of_day" in left.reason
    assert left.contract_version == "v1"
    assert len(world.ledger.entries) == 5
    snapshot = world.snapshots.cut(DATASET, principal="tests")
    assert snapshot.sources == {"replay": 5}
    assert snapshot.contract_versions == {"v1": 5}


def test_replay_of_named_records_leaves_the_others_quarantined() -> None:
    world = IngestionWorld()
    records = world.records(4)
    result = ingest(world, records, version="v9")
    chosen = [result.quarantined[0].quarantine_id, result.quarantined[2].quarantine_id]
    report = world.quarantine.replay(
        DATASET, ReplayRequest(quarantine_ids=chosen, contract_version="v2"), trace_id=TRACE
    )
    assert (report.replayed, report.stored, report.still_quarantined) == (2, 2, 0)
    left = {record.quarantine_id for record in quarantined(world)}
    assert left == {result.quarantined[1].quarantine_id, result.quarantined[3].quarantine_id}
    with pytest.raises(NotFoundError):
        world.quarantine.replay("payments", ReplayRequest(), trace_id=TRACE)


def test_a_snapshot_freezes_the_stored_rows_sorted_and_described() -> None:
    world = IngestionWorld()
    day1 = world.records(30, seed=1, start=datetime(2026, 3, 1, 22, 0, tzinfo=UTC))
    day2 = world.records(20, seed=2, start=datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
    shuffled = day1 + day2
    random.Random(5).shuffle(shuffled)
    ingest(world, shuffled[:25])
    ingest(world, [{**r, "channel": "pos"} for r in shuffled[25:40]], version="v2", source="sqs")
    ingest(world, shuffled[40:], source="kinesis")

    snapshot = world.snapshots.cut(DATASET, principal="data-steward")
    blob = world.objects.get(snapshot.data_key)
    assert blob is not None
    assert hashlib.sha256(blob).hexdigest() == snapshot.content_sha256
    manifest, table = world.snapshots.read(DATASET, snapshot.snapshot_id)
    assert manifest == snapshot
    times = table.data["event_time"]
    assert times == sorted(times)  # type: ignore[type-var]
    assert table.num_rows == snapshot.row_count == 50
    labels = [r["is_fraud"] for r in shuffled if "is_fraud" in r]
    assert snapshot.labeled_rows == len(labels) == sum(label is not None for label in table.data["is_fraud"])
    assert snapshot.contract_versions == {"v1": 35, "v2": 15}
    assert snapshot.sources == {"http": 25, "sqs": 15, "kinesis": 10}
    assert snapshot.event_time_min == datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    assert snapshot.event_time_max == datetime(2026, 3, 3, 8, 19, tzinfo=UTC)
    assert snapshot.created_by == "data-steward"
    assert snapshot.feature_version == feature_version(world.manifest)
    assert snapshot.feature_names == world.manifest.feature_names
    assert all(feature_column(name) in table.data for name in world.manifest.feature_names)
    assert sorted(snapshot.partitions) == sorted(world.objects.under(offline_prefix(DATASET)))


def test_a_snapshot_holds_only_the_rows_the_ledger_confirms() -> None:
    world = IngestionWorld()
    records = world.records(8)
    ingest(world, records)
    [(key, blob)] = world.objects.under(offline_prefix(DATASET)).items()
    # A copy of the rows in another object (a raced or retried batch) is not where the ledger says they are.
    world.objects.objects[key.replace(".parquet", "-copy.parquet")] = blob
    snapshot, table = world.snapshots.read(DATASET, world.snapshots.cut(DATASET, principal="t").snapshot_id)
    assert snapshot.row_count == 8
    assert sorted(map(str, table.data["transaction_id"])) == sorted(str(r["transaction_id"]) for r in records)


def test_reading_a_tampered_snapshot_fails() -> None:
    world = IngestionWorld()
    ingest(world, world.records(5))
    snapshot = world.snapshots.cut(DATASET, principal="t")
    table = decode(world.objects.objects[snapshot.data_key])
    assert table.num_rows == 5
    blob = bytearray(world.objects.objects[snapshot.data_key])
    blob[len(blob) // 2] ^= 0xFF
    world.objects.objects[snapshot.data_key] = bytes(blob)
    with pytest.raises(SnapshotIntegrityError, match="content hash"):
        world.snapshots.read(DATASET, snapshot.snapshot_id)
    del world.objects.objects[snapshot.data_key]
    with pytest.raises(SnapshotIntegrityError, match="is missing"):
        world.snapshots.read(DATASET, snapshot.snapshot_id)


def test_snapshots_are_listed_newest_first_and_filtered_by_event_time() -> None:
    world = IngestionWorld()
    records = world.records(48, start=datetime(2026, 3, 1, 0, 0, tzinfo=UTC))  # one every minute, 00:00 to 00:47
    ingest(world, records)
    everything = world.snapshots.cut(DATASET, principal="t")
    world.clock.wall += 60
    since, until = datetime(2026, 3, 1, 0, 10, tzinfo=UTC), datetime(2026, 3, 1, 0, 20, tzinfo=UTC)
    window = world.snapshots.cut(DATASET, principal="t", since=since, until=until)
    world.clock.wall += 60
    later = world.snapshots.cut(DATASET, principal="t", since=datetime(2026, 3, 1, 0, 40, tzinfo=UTC))

    assert (everything.row_count, window.row_count, later.row_count) == (48, 10, 8)
    assert (window.event_time_min, window.event_time_max) == (since, until - timedelta(minutes=1))
    assert (window.since, window.until) == (since, until)
    assert [s.snapshot_id for s in world.snapshots.list(DATASET)] == [
        later.snapshot_id,
        window.snapshot_id,
        everything.snapshot_id,
    ]
    assert world.snapshots.get(DATASET, window.snapshot_id) == window
    with pytest.raises(NotFoundError):
        world.snapshots.get(DATASET, "transactions-nope")
    with pytest.raises(EmptySnapshotError):
        world.snapshots.cut(DATASET, principal="t", since=datetime(2026, 4, 1, tzinfo=UTC))
    with pytest.raises(EmptySnapshotError):
        world.snapshots.cut(DATASET, principal="t", until=START - timedelta(days=1))


def test_a_snapshot_range_in_another_time_zone_means_the_same_instants() -> None:
    world = IngestionWorld()
    ingest(world, world.records(120, start=datetime(2026, 3, 1, 23, 0, tzinfo=UTC)))  # 23:00 to 00:59 UTC
    plus_two = timezone(timedelta(hours=2))
    snapshot = world.snapshots.cut(DATASET, principal="t", since=datetime(2026, 3, 2, 1, 30, tzinfo=plus_two))
    assert snapshot.row_count == 90
    assert snapshot.event_time_min == datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


def test_an_empty_dataset_cannot_be_snapshotted() -> None:
    world = IngestionWorld()
    with pytest.raises(EmptySnapshotError, match="no stored record"):
        world.snapshots.cut(DATASET, principal="t")
    assert world.snapshots.list(DATASET) == []


def test_batches_whose_record_ids_join_to_the_same_text_keep_their_own_objects() -> None:
    world = IngestionWorld()
    records = world.records(3)
    ids = ["a\nb", "a", "b"]
    joined, first, second = ({**record, "transaction_id": rid} for record, rid in zip(records, ids, strict=True))
    ingest(world, [joined])
    ingest(world, [first, second])
    # Both batches hold events of the same day: named after their ids joined by newlines, they shared an object.
    assert len(world.objects.under(offline_prefix(DATASET))) == 2
    snapshot, table = world.snapshots.read(DATASET, world.snapshots.cut(DATASET, principal="t").snapshot_id)
    assert snapshot.row_count == 3
    assert sorted(map(str, table.data["transaction_id"])) == sorted(ids)


def test_a_delivery_retried_after_the_online_store_failed_reaches_the_online_store() -> None:
    world = IngestionWorld()
    records = world.records(4, cards=4)
    world.online.failures = 1
    with pytest.raises(DependencyUnavailableError):
        ingest(world, records)
    assert world.online.rows == {}

    report = ingest(world, records).report

    # The first attempt stored and claimed every record: the retry finds only duplicates, and must still
    # bring the online store up to date.
    assert (report.stored, report.duplicates, report.quarantined, report.stale_online_updates) == (4, 4, 0, 0)
    expected = {
        token(PII_KEY, "card_id", str(record["card_id"])): {
            name: record[name] for name in ("avg_amount_30d", "txn_count_24h", "home_country")
        }
        for record in records
    }
    held = {entity: dict(update.features) for (use_case, entity), update in world.online.rows.items()}
    assert held == expected
    assert {use_case for use_case, _ in world.online.rows} == {"card_fraud"}


def test_copies_of_a_record_whose_id_is_stored_with_other_content_are_all_quarantined() -> None:
    world = IngestionWorld()
    [record] = world.records(1)
    other_content = {**record, "amount": 4321.0}
    assert ingest(world, [other_content]).report.stored == 1
    # Two copies of the same stored record: the name is dropped before storing, so only the payloads differ,
    # and each copy is kept under its own quarantine id.
    copies = [{**record, "cardholder_name": "First Copy"}, {**record, "cardholder_name": "Second Copy"}]

    result = ingest(world, copies)

    report = result.report
    assert (report.received, report.stored, report.duplicates, report.quarantined) == (2, 0, 0, 2)
    assert result.stored_positions == set()
    assert sorted(result.quarantined) == [0, 1]
    assert all("already stored with other content" in q.reason for q in result.quarantined.values())
    assert len(quarantined(world)) == 2

    replay = world.quarantine.replay(DATASET, ReplayRequest(), trace_id=TRACE)

    assert (replay.replayed, replay.stored, replay.duplicates, replay.still_quarantined) == (2, 0, 0, 2)
    assert len(quarantined(world)) == 2
    [row] = offline_rows(world)
    assert row["amount"] == 4321.0


@pytest.mark.parametrize(
    ("event_time", "message"),
    [
        ("0001-01-01T00:30:00+01:00", "outside the years 1 to 9999"),
        ("9999-12-31T23:30:00-01:00", "outside the years 1 to 9999"),
        ("2027-01-16T08:00:01Z", "ahead of the time of ingestion"),
        ("1969-12-31T23:59:59Z", "before 1970-01-01"),
    ],
    ids=["before-year-1-in-utc", "after-year-9999-in-utc", "more-than-a-day-ahead", "before-1970"],
)
def test_an_event_time_out_of_range_is_quarantined_not_raised(event_time: str, message: str) -> None:
    world = IngestionWorld()
    assert datetime.fromtimestamp(world.clock.now(), UTC) == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
    [record, fine] = world.records(2)
    within_a_day = {**fine, "event_time": "2027-01-16T08:00:00Z"}

    result = ingest(world, [{**record, "event_time": event_time}, within_a_day])

    assert (result.report.stored, result.report.quarantined) == (1, 1)
    [problem] = result.quarantined.values()
    assert [(error.field, error.type) for error in problem.fields] == [("record.event_time", "out_of_range")]
    assert message in problem.reason
    assert problem.record_id == record["transaction_id"]
    assert quarantined(world) == [problem]


def test_a_lone_surrogate_is_quarantined_and_the_quarantine_record_can_be_stored() -> None:
    world = IngestionWorld()
    [named, identified] = world.records(2)
    records = [{**named, "cardholder_name": "\ud800"}, {**identified, "transaction_id": "\ud800"}]

    result = ingest(world, records)

    assert (result.report.stored, result.report.quarantined) == (0, 2)
    assert [error.field for error in result.quarantined[0].fields] == ["record.cardholder_name"]
    assert [error.field for error in result.quarantined[1].fields] == ["record.transaction_id"]
    assert result.quarantined[0].record_id == named["transaction_id"]
    # The id cannot be shown: it is not text that can be written.
    assert result.quarantined[1].record_id is None
    for record in result.quarantined.values():
        assert record.model_dump_json().encode()
    assert sorted(q.quarantine_id for q in quarantined(world)) == sorted(
        q.quarantine_id for q in result.quarantined.values()
    )
    assert result.report.model_dump_json()
    assert world.ledger.entries == {}


def test_a_snapshot_leaves_out_rows_of_other_feature_definitions_and_counts_them() -> None:
    world = IngestionWorld()
    current, older = world.records(6, seed=1), world.records(4, seed=2, start=START + timedelta(hours=1))
    ingest(world, current)
    # Rows stored by an earlier release whose features were computed by other definitions.
    contract = world.datasets.get(DATASET, "v1")
    assert contract is not None
    prepare = RecordPreparer(contract, world.manifest, PII_KEY)
    prepared = [prepare.prepare(record) for record in older]
    assert all(isinstance(record, PreparedRecord) for record in prepared)
    rows = [record for record in prepared if isinstance(record, PreparedRecord)]
    columns = stored_columns(world.datasets.latest(DATASET), world.manifest)
    data = column_data(columns, rows, manifest=world.manifest, source="http", ingested_at=START)
    data[FEATURE_VERSION] = ["fv-000000000000"] * len(rows)
    key = offline_key(DATASET, "2026-03-01", "written-by-an-earlier-release")
    world.objects.put(key, encode(columns, data), content_type="application/vnd.apache.parquet")
    for record in rows:
        world.ledger.entries[(DATASET, record.record_id)] = LedgerEntry(record.digest, key)

    snapshot, table = world.snapshots.read(DATASET, world.snapshots.cut(DATASET, principal="t").snapshot_id)

    assert (snapshot.row_count, snapshot.excluded_rows) == (6, 4)
    assert sorted(map(str, table.data["transaction_id"])) == sorted(str(r["transaction_id"]) for r in current)
    assert set(table.data[FEATURE_VERSION]) == {feature_version(world.manifest)}
