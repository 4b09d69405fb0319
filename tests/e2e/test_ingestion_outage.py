"""A storage outage under the ingest stream: nothing is checkpointed past the failed records, nothing is lost."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from embedded.world import LocalWorld, WorldOptions
from leaim.governance.ports import AuditQuery
from tests.e2e.ingestion import DATASET, client, ledger, message, put_on_stream, records, stored_rows, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

POLLER = "IngestStreamFunction.IngestRecords"


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    with LocalWorld(
        WorldOptions(state_dir=tmp_path_factory.mktemp("outage"), worker_processes=1, stack_name="e2e-outage")
    ) as running:
        yield running


def test_stream_records_wait_out_a_ledger_outage_and_are_stored_once(world: LocalWorld) -> None:
    dynamodb = client(world, "dynamodb")
    table = world.running.table_name("IngestLedgerTable")
    schema = dynamodb.describe_table(TableName=table)["Table"]
    dynamodb.delete_table(TableName=table)
    batch = records(world, 30, seed=31)
    put_on_stream(world, [message(r) for r in batch])
    wait_for(lambda: world.running.stats.pollers[POLLER].failures > 0, what="a failed delivery")
    stats = world.running.stats.pollers[POLLER]
    assert stats.checkpoints == {}, "checkpointed past records that were not stored"
    assert stats.discarded == 0
    dynamodb.create_table(
        TableName=table,
        KeySchema=schema["KeySchema"],
        AttributeDefinitions=schema["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    ids = [r["transaction_id"] for r in batch]
    wait_for(lambda: len(ledger(world).lookup(DATASET, ids)) == 30, what="records stored after the outage")
    wait_for(lambda: world.running.stats.pollers[POLLER].checkpoints, what="a checkpoint")
    rows = stored_rows(world)
    assert sorted(rid for rid in rows if rid in ids) == sorted(ids)
    assert world.running.stats.pollers[POLLER].discarded == 0
    outcomes = [e.outcome for e in world.audit_log.events(AuditQuery(source="IngestStreamFunction"), limit=1000)]
    assert "error" in outcomes and outcomes[-1] == "success"
