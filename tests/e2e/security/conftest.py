"""One local stack for the security suites: a trained champion, seeded features, the local key of each role, and
keys scoped to another use case and dataset made through key management."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import pytest

from embedded.synthetic import CardFraudGenerator
from embedded.world import LocalWorld, WorldOptions
from leaim.adapters.dynamodb import DynamoApiKeyStore
from leaim.adapters.dynamodb_audit import DynamoAuditLog
from leaim.domain.clock import SystemClock
from leaim.governance.access.keys import KeyAdministration

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

# A use case and a dataset the shipped manifests do not define: keys scoped to them reach nothing of card_fraud's.
OTHER_USE_CASE = "loan_limits"
OTHER_DATASET = "loan_applications"


@dataclass(frozen=True)
class SecurityStack:
    """The running stack, and its keys: `keys[role]` reaches every use case, `foreign[role]` another one only, and
    `peer` is a second decision client of card_fraud."""

    world: LocalWorld
    keys: dict[str, str]
    foreign: dict[str, str]
    peer: str

    @property
    def api_url(self) -> str:
        return self.world.running.api_url


@pytest.fixture(scope="package")
def security(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurityStack]:
    options = WorldOptions(
        state_dir=tmp_path_factory.mktemp("security"), stack_name="e2e-security", run_schedules=False
    )
    with LocalWorld(options) as world:
        world.train(rows=4_000)
        world.seed(CardFraudGenerator(world.manifest, seed=99).cards(50))
        stack = world.running
        client = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
        # Built without the catalogs, so that keys may name a use case and a dataset no manifest defines.
        admin = KeyAdministration(
            registry=DynamoApiKeyStore(stack.table_name("ApiKeysTable"), client),
            audit_log=DynamoAuditLog(stack.table_name("AcceptedTable"), client, clock=time.time),
            clock=SystemClock(),
            operator="e2e-security",
            trace_id=uuid.uuid4().hex,
        )
        foreign = {
            role: admin.create(
                principal=f"foreign-{role}",
                role=role,
                use_cases=[OTHER_USE_CASE],
                datasets=[OTHER_DATASET],
                plan="internal",
            ).secret
            for role in world.api_keys
        }
        peer = admin.create(
            principal="peer-client", role="decision_client", use_cases=["card_fraud"], plan="internal"
        ).secret
        yield SecurityStack(world=world, keys=dict(world.api_keys), foreign=foreign, peer=peer)
