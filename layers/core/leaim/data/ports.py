"""Ports of the data layer; adapters implement them and `leaim.bootstrap` wires them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime


class ObjectStore(Protocol):
    """A bucket: the offline store, the quarantine and the snapshots live under their own prefixes."""

    def put(self, key: str, body: bytes, *, content_type: str, if_absent: bool = False) -> bool:
        """Store `body` at `key`; with `if_absent`, only when nothing is there yet. True when it was written."""
        ...

    def put_many(self, objects: Mapping[str, bytes], *, content_type: str) -> None:
        """Store several objects; every one is stored when this returns."""
        ...

    def get(self, key: str) -> bytes | None:
        """The object at `key`, or None."""
        ...

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The objects at `keys` that exist, by key."""
        ...

    def keys(self, prefix: str, *, start_after: str | None = None, limit: int | None = None) -> list[str]:
        """Keys under `prefix` in lexical order, after `start_after`, at most `limit` of them."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object at `key` (a versioned bucket keeps its history)."""
        ...


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """Where a stored record lives, and the digest of its stored content."""

    digest: str
    location: str


class RecordLedger(Protocol):
    """Which records of a dataset are stored, and where: at most one entry per record id."""

    def lookup(self, dataset: str, record_ids: Sequence[str]) -> dict[str, LedgerEntry]:
        """The entries of those of `record_ids` that are stored."""
        ...

    def claim(self, dataset: str, entries: Mapping[str, LedgerEntry]) -> set[str]:
        """Record `entries` (ids the caller found unstored); returns the ids whose entry turned out to be another's.

        An id claimed by a concurrent delivery is returned, so the caller counts it as that delivery's.
        """
        ...


@dataclass(frozen=True, slots=True)
class OnlineUpdate:
    """The latest online features of one entity, as of `event_time`."""

    entity: str
    features: Mapping[str, float | int | str]
    feature_version: str
    event_time: datetime


class OnlineFeatureWriter(Protocol):
    """Writes the online store: a value is replaced only by one with a later event time."""

    def put_latest(self, use_case: str, updates: Sequence[OnlineUpdate]) -> int:
        """Apply `updates` (one per entity); returns how many were older than what is stored, and skipped."""
        ...


class FeatureStore(Protocol):
    """Online features: the latest values per entity."""

    def get(self, use_case: str, entity_id: str) -> Mapping[str, float | int | str] | None:
        """Latest features of one entity, or None when the entity is unknown."""
        ...

    def put(self, use_case: str, entity_id: str, features: Mapping[str, float | int | str]) -> None:
        """Store the latest features of one entity."""
        ...
