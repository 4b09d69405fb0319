"""The promises checked after each fault, from what the traffic saw and what the platform holds afterwards.

Pure functions over plain records: the traffic's exchanges (one per request sent, with its answer), the audit
events the SQL trail holds for them once the writer has settled, the decisions that could be read back, and the
ingested records the ledger still knew. Nothing here talks to the stack.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# Answers in a row, by the time they were sent, that make the path answer normally again.
RECOVERED_AFTER = 3


@dataclass(frozen=True, slots=True)
class Exchange:
    """One decision request sent and what came back: status 0 when no answer came (refused, cut, timed out).

    `sent_at` is seconds on the run's monotonic clock; `kind` is `steady` or `duplicate` (a request sent again).
    """

    request_id: str
    sent_at: float
    status: int
    seconds: float = 0.0
    kind: str = "steady"
    decision_id: str | None = None
    trace_id: str | None = None
    fallback: bool = False
    fallback_reason: str | None = None
    replay: bool = False

    @property
    def decided(self) -> bool:
        """Whether the answer is a decision (a 200 with a decision id)."""
        return self.status == 200 and self.decision_id is not None


@dataclass(frozen=True, slots=True)
class TrailEvent:
    """What the checks read of a decision function's audit event."""

    trace_id: str
    request_id: str | None
    decision_id: str | None
    outcome: str


@dataclass(frozen=True, slots=True)
class Findings:
    """One row of the fault table, with the request ids behind each broken promise (a few, for the report)."""

    fault: str
    requests: int
    answered: int
    fallbacks: int
    server_errors: int
    lost: int
    duplicated: int
    unaudited: int
    recovery_s: float | None
    examples: tuple[str, ...] = field(default=())

    @property
    def broken(self) -> int:
        """Lost, duplicated and unaudited together: the promises the platform makes about every decision."""
        return self.lost + self.duplicated + self.unaudited


def is_normal(exchange: Exchange, *, fallbacks_are_normal: bool) -> bool:
    """Whether an answer is what the path answers when nothing is wrong."""
    return exchange.decided and (fallbacks_are_normal or not exchange.fallback)


def fallbacks_normal(baseline: Sequence[Exchange]) -> bool:
    """Whether the path answered mostly fallbacks before any fault (no model to score with, or a machine too
    busy for the latency budget), so that a fallback is what it answers normally."""
    decided = [exchange for exchange in baseline if exchange.decided]
    return bool(decided) and 2 * sum(exchange.fallback for exchange in decided) >= len(decided)


def recovery_seconds(
    exchanges: Sequence[Exchange], fault_ended_at: float, *, fallbacks_are_normal: bool = False
) -> float | None:
    """Seconds from the fault's end until the first of `RECOVERED_AFTER` normal answers in a row.

    Answers are taken in the order they were sent; 0 when they were normal from the fault's end on, None when
    the path never answered normally again.
    """
    after = sorted((e for e in exchanges if e.kind == "steady" and e.sent_at >= fault_ended_at), key=_sent)
    run_start: float | None = None
    run = 0
    for exchange in after:
        if is_normal(exchange, fallbacks_are_normal=fallbacks_are_normal):
            run_start = exchange.sent_at if run == 0 else run_start
            run += 1
            if run == RECOVERED_AFTER:
                assert run_start is not None
                return round(max(0.0, run_start - fault_ended_at), 3)
        else:
            run = 0
    return None


def _sent(exchange: Exchange) -> float:
    return exchange.sent_at


def examine(
    fault: str,
    exchanges: Sequence[Exchange],
    events: Iterable[TrailEvent],
    *,
    readable: Iterable[str],
    fault_ended_at: float,
    fallbacks_are_normal: bool = False,
    records_lost: Sequence[str] = (),
) -> Findings:
    """The row of `fault`: what was answered, and every broken promise.

    - lost: a decision answered 200 that cannot be read back (not in `readable`), and every ingested record
      the platform acknowledged and no longer holds (`records_lost`);
    - duplicated: a request id with more than one decision, among the answers and the trail;
    - unaudited: a decision answered 200 (a replay included) whose trace has not exactly one audit event.
    """
    found_readable = set(readable)
    events_seen = list(events)
    per_trace = Counter(event.trace_id for event in events_seen)
    decisions: defaultdict[str, set[str]] = defaultdict(set)
    for exchange in exchanges:
        if exchange.decided and exchange.decision_id is not None:
            decisions[exchange.request_id].add(exchange.decision_id)
    for event in events_seen:
        if event.request_id is not None and event.decision_id is not None:
            decisions[event.request_id].add(event.decision_id)
    decided = [exchange for exchange in exchanges if exchange.decided]
    lost = sorted({e.request_id for e in decided if e.decision_id not in found_readable})
    duplicated = sorted(request for request, ids in decisions.items() if len(ids) > 1)
    unaudited = sorted({e.request_id for e in decided if e.trace_id is None or per_trace[e.trace_id] != 1})
    examples = (
        *(f"lost {request}" for request in lost[:3]),
        *(f"lost record {record}" for record in records_lost[:3]),
        *(f"duplicated {request}" for request in duplicated[:3]),
        *(f"unaudited {request}" for request in unaudited[:3]),
    )
    return Findings(
        fault=fault,
        requests=len(exchanges),
        answered=len(decided),
        fallbacks=sum(1 for exchange in decided if exchange.fallback),
        server_errors=sum(1 for exchange in exchanges if exchange.status >= 500 or exchange.status == 0),
        lost=len(lost) + len(records_lost),
        duplicated=len(duplicated),
        unaudited=len(unaudited),
        recovery_s=recovery_seconds(exchanges, fault_ended_at, fallbacks_are_normal=fallbacks_are_normal),
        examples=examples,
    )
