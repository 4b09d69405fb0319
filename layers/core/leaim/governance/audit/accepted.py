"""What the accepted store holds: each acceptance (one atomic write of audit events, and the decision, override or
outcome they record) as one bundle, which the audit writer moves into the hash chains exactly once.

A decision is answered once its bundle is accepted; the chains follow from the store's change stream. So the
accepted store, not the chains, is the record of what was answered, and verification reconciles the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

BundleKind = Literal["decision", "override", "outcome", "events"]
# The kinds the audit writer moves into the chains; the store's other items (request keys) stay where they are.
BUNDLE_KINDS: tuple[BundleKind, ...] = ("decision", "override", "outcome", "events")


@dataclass(frozen=True, slots=True)
class AcceptedBundle:
    """One acceptance: its events in their JSON form, the row they record (decision, override or outcome) if any.

    `set_aside` is the reason the audit writer could not store it, once it gave up on it.
    """

    pk: str
    kind: BundleKind
    events: tuple[Mapping[str, Any], ...]
    row: Mapping[str, Any] | None
    accepted_at: float
    set_aside: str | None = None

    @property
    def event_ids(self) -> tuple[str, ...]:
        """The ids of the bundle's events."""
        return tuple(str(event["event_id"]) for event in self.events)


class AcceptedStore(Protocol):
    """The accepted store as the audit writer and verification see it."""

    def set_aside(self, pk: str, reason: str) -> None:
        """Mark the bundle `pk` as one the writer gave up on, with the reason; it stays in the store."""
        ...

    def bundles(self) -> Iterator[AcceptedBundle]:
        """Every bundle in the store, in no particular order; streamed."""
        ...
