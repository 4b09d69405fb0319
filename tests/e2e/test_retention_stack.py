"""Retention on the local stack: decisions made over HTTP, sealed by `leaim audit digest`, held by a legal hold,
then purged two years on, from the SQL trail and the accepted store alike, and `leaim audit verify` (chains,
digests, archived copies, receipts and the accepted store reconciled) stays green.

The purge is the stack's own: its SQL store, its accepted table on moto's server, the use case's manifest and the
audit signing key of the state directory; only its clock is two years ahead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import pytest

from embedded.cli import main
from embedded.clients.http import Sent, send
from embedded.demos.traffic import decision_request
from embedded.emulation.trail import AUDIT_SIGNING_KEY
from embedded.synthetic import CardFraudGenerator
from embedded.world import LocalWorld, WorldOptions
from leaim.adapters.dynamodb_audit import DynamoAcceptedStore, decision_key
from leaim.adapters.sql import SqlAuditTrail
from leaim.adapters.sql.retention import SqlRetention
from leaim.domain.clock import SystemClock
from leaim.governance.audit.retention import Purger, PurgeSigner
from tests.support.fakes import ManualClock

if TYPE_CHECKING:
    from collections.abc import Iterator

    from contracts.trail.v1 import SignedPurge

TWO_YEARS_S = 2 * 366 * 86_400


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    options = WorldOptions(state_dir=tmp_path_factory.mktemp("retention"), stack_name="e2e-retention")
    with LocalWorld(options) as running:
        yield running


def leaim(world: LocalWorld, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(world.state_dir), *argv])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def purge_two_years_on(world: LocalWorld) -> SignedPurge | None:
    stack = world.running
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
    clock = ManualClock()
    clock.wall = SystemClock().now() + TWO_YEARS_S
    purger = Purger(
        manifests=lambda: [world.manifest],
        store=SqlRetention(world.engine),
        trail=SqlAuditTrail(world.engine),
        accepted=DynamoAcceptedStore(stack.table_name("AcceptedTable"), dynamodb, clock=clock.now),
        signer=lambda: PurgeSigner.from_pem((world.state_dir / AUDIT_SIGNING_KEY).read_bytes()),
        clock=clock,
    )
    return purger.purge().signed


def test_held_then_purged_two_years_on_and_audit_verify_stays_green(
    world: LocalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = world.running
    generator = CardFraudGenerator(world.manifest, seed=7)
    cards = generator.cards(20)
    decided = []
    for index, transaction in enumerate(generator.transactions(12, cards)):
        answer = send(
            stack.api_url,
            decision_request("card_fraud", f"kept-{index}", transaction.inputs, world.api_keys["decision_client"]),
        )
        assert answer.status == 200, answer.body
        decided.append(answer.body["decision_id"])
    world.settle()
    status, out, err = leaim(world, capsys, "audit", "digest")
    assert status == 0, err
    status, out, err = leaim(world, capsys, "audit", "purge")
    assert (status, out.strip()) == (0, "nothing is past its retention"), err

    status, out, err = leaim(world, capsys, "governance", "hold", "card_fraud", "--reason", "matter 2026-114")
    assert status == 0, err
    hold_id = out.split()[3]
    assert purge_two_years_on(world) is None
    status, out, err = leaim(world, capsys, "governance", "holds", "card_fraud")
    assert status == 0 and hold_id in out and "held: the purge removes nothing of it" in out, out + err
    status, out, err = leaim(world, capsys, "governance", "release", "card_fraud", hold_id, "--reason", "closed")
    assert status == 0, err

    signed = purge_two_years_on(world)

    assert signed is not None
    assert signed.purge.decisions.count == len(decided)
    # Each decision's event and its worker call, but the chain's last link, which stays.
    assert signed.purge.events.count >= len(decided)
    accepted = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
    table = stack.table_name("AcceptedTable")
    assert all("Item" not in accepted.get_item(TableName=table, Key={"pk": {"S": decision_key(d)}}) for d in decided)
    read = send(
        stack.api_url,
        Sent("read", "GET", f"/v1/decisions/{decided[0]}", b"", {"x-api-key": world.api_keys["auditor"]}),
    )
    assert read.status == 404, read.body
    status, out, err = leaim(world, capsys, "audit", "verify")
    assert status == 0, out + err
    assert "audit trail intact" in out and "archived copies checked" in out and "0 in no chain" in out
