"""In-memory fakes of the ingestion ports, and an ingestion world wired from them for unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from embedded.synthetic import CardFraudGenerator, transaction_record
from leaim.data.datasets import DatasetCatalog
from leaim.data.ingestion import Incoming, IngestionService
from leaim.data.quarantine import QuarantineService
from leaim.data.snapshots import SnapshotService
from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import DependencyUnavailableError
from tests.support.fakes import ManualClock

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from leaim.data.ports import LedgerEntry, OnlineUpdate

PII_KEY = b"ingestion-test-pii-key-0123456789"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class MemoryObjectStore:
    """A bucket in a dict; writes under one of `failing` prefixes raise as an unreachable bucket would."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.writes: list[str] = []
        self.failing: set[str] = set()

    def _check(self, key: str) -> None:
        if any(key.startswith(prefix) for prefix in self.failing):
            raise DependencyUnavailableError(f"bucket unreachable for {key}")

    def put(self, key: str, body: bytes, *, content_type: str, if_absent: bool = False) -> bool:
        self._check(key)
        if if_absent and key in self.objects:
            return False
        self.objects[key] = bytes(body)
        self.content_types[key] = content_type
        self.writes.append(key)
        return True

    def put_many(self, objects: Mapping[str, bytes], *, content_type: str) -> None:
        for key in objects:
            self._check(key)
        for key, body in objects.items():
            self.put(key, body, content_type=content_type)

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        return {key: body for key in keys if (body := self.get(key)) is not None}

    def keys(self, prefix: str, *, start_after: str | None = None, limit: int | None = None) -> list[str]:
        found = sorted(
            key for key in self.objects if key.startswith(prefix) and (start_after is None or key > start_after)
        )
        return found if limit is None else found[:limit]

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def under(self, prefix: str) -> dict[str, bytes]:
        return {key: body for key, body in self.objects.items() if key.startswith(prefix)}


class MemoryLedger:
    """At most one entry per record id; `claim` never replaces an entry, as the port promises."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], LedgerEntry] = {}
        self.claims: list[dict[str, LedgerEntry]] = []
        # Entries another delivery claims just before this one does: simulates a concurrent writer.
        self.racing: dict[tuple[str, str], LedgerEntry] = {}

    def lookup(self, dataset: str, record_ids: Sequence[str]) -> dict[str, LedgerEntry]:
        return {rid: self.entries[(dataset, rid)] for rid in record_ids if (dataset, rid) in self.entries}

    def claim(self, dataset: str, entries: Mapping[str, LedgerEntry]) -> set[str]:
        self.claims.append(dict(entries))
        self.entries.update(self.racing)
        self.racing = {}
        lost = set()
        for record_id, entry in entries.items():
            held = self.entries.setdefault((dataset, record_id), entry)
            if held != entry:
                lost.add(record_id)
        return lost


class MemoryOnlineStore:
    """Latest features per entity: an update with an event time before the stored one is skipped.

    The next `failures` calls raise, as an unreachable table would, before writing anything.
    """

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], OnlineUpdate] = {}
        self.updates: list[OnlineUpdate] = []
        self.failures = 0

    def put_latest(self, use_case: str, updates: Sequence[OnlineUpdate]) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise DependencyUnavailableError("online feature table unreachable")
        skipped = 0
        for update in updates:
            self.updates.append(update)
            held = self.rows.get((use_case, update.entity))
            # Equal times are applied, as the DynamoDB store does: a retried delivery is not late.
            if held is not None and held.event_time > update.event_time:
                skipped += 1
                continue
            self.rows[(use_case, update.entity)] = update
        return skipped


class IngestionWorld:
    """The ingestion, quarantine and snapshot services over in-memory fakes, with handles on each fake."""

    def __init__(self, dataset_folder: Path | None = None) -> None:
        self.manifests = ManifestCatalog.from_directory(None)
        self.manifest = self.manifests.get("card_fraud")
        self.datasets = DatasetCatalog.from_directory(self.manifests, dataset_folder)
        self.clock = ManualClock()
        self.objects = MemoryObjectStore()
        self.ledger = MemoryLedger()
        self.online = MemoryOnlineStore()
        self.service = IngestionService(
            datasets=self.datasets,
            manifests=self.manifests,
            objects=self.objects,
            ledger=self.ledger,
            online=self.online,
            clock=self.clock,
            pii_key=PII_KEY,
        )
        self.quarantine = QuarantineService(ingestion=self.service, manifests=self.manifests, objects=self.objects)
        self.snapshots = SnapshotService(
            datasets=self.datasets, manifests=self.manifests, objects=self.objects, ledger=self.ledger, clock=self.clock
        )

    def records(self, n: int, *, seed: int = 7, cards: int = 50, start: datetime = START) -> list[dict[str, object]]:
        """`n` valid v1 records, one minute apart from `start`, the odd ones unlabeled."""
        generator = CardFraudGenerator(self.manifest, seed=seed)
        issued = generator.cards(cards)
        return [
            dict(transaction_record(tx, start + timedelta(minutes=index), labeled=index % 2 == 0))
            for index, tx in enumerate(generator.transactions(n, issued))
        ]


def incoming(records: Sequence[object], version: str | None = "v1") -> list[Incoming]:
    """Records as an HTTP batch delivers them."""
    return [
        Incoming(payload=record, contract_version=version, origin=f"records[{i}]") for i, record in enumerate(records)
    ]
