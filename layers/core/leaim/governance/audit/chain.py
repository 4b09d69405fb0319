"""The hash chain of audit events: the canonical form every link is hashed in, and the links themselves.

Every `SqlAuditLog` (one per Lambda container or process) writes its own chain, so concurrent writers never
contend for one head. Link `seq` of a chain stores the hash of link `seq - 1` (`GENESIS` for the first) and
its own hash: sha256 over the canonical JSON of its chain position and every field of its event. The
canonical form gives the same bytes from SQLite and PostgreSQL values.
"""

from __future__ import annotations

import hashlib
import operator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from contracts.audit.v1 import AuditEvent

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from contracts.trail.v1 import AuditDigest, ChainHead

GENESIS = "0" * 64


EVENT_FIELDS: tuple[str, ...] = tuple(AuditEvent.model_fields)


# The columns of a stored decision that its `decision_sha256` covers.
DECISION_FIELDS: tuple[str, ...] = (
    "decision_id",
    "use_case",
    "request_id",
    "outcome",
    "fallback",
    "model_name",
    "model_version",
    "score",
    "review_required",
    "response",
    "inputs",
    "features",
    "created_at",
)


DECISION_SHA256 = "decision_sha256"


# Integers a JSON document may carry exactly through every store: PostgreSQL's JSONB keeps numbers as decimals,
# so a float such as 1e20 comes back as the integer 100000000000000000000. Numbers are therefore hashed as
# RFC 8785 does: as IEEE doubles, written as integers when they are whole and exact.
_EXACT_INTEGERS = 2**53


def canonical_time(value: datetime | str) -> str:
    """A timestamp as UTC ISO-8601 with microseconds; a naive one is taken to be UTC already, as the store does.

    Text is taken to be in that form already.
    """
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def canonical_number(value: float) -> float:
    """A number as RFC 8785 has it: an IEEE double, written as an integer when whole and exact."""
    if type(value) is float:
        return int(value) if value.is_integer() and -_EXACT_INTEGERS < value < _EXACT_INTEGERS else value
    if -_EXACT_INTEGERS < value < _EXACT_INTEGERS:
        return value
    try:
        return float(value)
    except OverflowError:
        return value


def canonical_value(value: Any) -> Any:
    """`value` as every store gives it back: keys sorted, timestamps as text, numbers as `canonical_number`."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is dict:
        return {key: canonical_value(value[key]) for key in sorted(value)}
    if kind is float or kind is int:
        return canonical_number(value)
    if kind is list:
        return [canonical_value(item) for item in value]
    if isinstance(value, datetime):
        return canonical_time(value)
    return value


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """Canonical JSON: keys sorted, no whitespace, UTF-8, numbers and timestamps as `canonical_value` has them."""
    return to_json(canonical_value(dict(document)))


# A link's canonical document is a JSON object with sorted keys: its event's fields and its chain position. The
# values are gathered in that order and zipped with the keys, which is much faster than sorting per link.
LINK_FIELDS = (*EVENT_FIELDS, "chain_id", "chain_seq", "prev_hash")


_LINK_KEYS = tuple(sorted(LINK_FIELDS))


_LINK_VALUES = operator.itemgetter(*_LINK_KEYS)


_TIME_SLOT = _LINK_KEYS.index("occurred_at")


_DURATION_SLOT = _LINK_KEYS.index("duration_ms")


_DETAILS_SLOT = _LINK_KEYS.index("details")


_OPTIONAL_NUMBER_SLOTS = (_LINK_KEYS.index("status_code"), _LINK_KEYS.index("batch_size"))


def link_hash(link: Mapping[str, Any]) -> str:
    """The hash of one link: its chain position (`chain_id`, `chain_seq`, `prev_hash`) and every field of its
    event, as stored (`LINK_FIELDS`; other keys are ignored).

    `occurred_at` may be given as text already canonical (`canonical_time`), as a store's adapter may read it.
    """
    values = list(_LINK_VALUES(link))
    values[_TIME_SLOT] = canonical_time(values[_TIME_SLOT])
    values[_DURATION_SLOT] = canonical_number(values[_DURATION_SLOT])
    for slot in _OPTIONAL_NUMBER_SLOTS:
        if values[slot] is not None:
            values[slot] = canonical_number(values[slot])
    if values[_DETAILS_SLOT]:
        values[_DETAILS_SLOT] = canonical_value(values[_DETAILS_SLOT])
    return hashlib.sha256(to_json(dict(zip(_LINK_KEYS, values)))).hexdigest()  # noqa: B905 - same length


def link_events(chain_id: str, head: ChainHead | None, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`events` (column values) linked after `head` (None for an empty chain), each with its chain columns."""
    seq, prev_hash = (0, GENESIS) if head is None else (head.seq, head.hash)
    linked = []
    for event in events:
        seq += 1
        row = {**event, "chain_id": chain_id, "chain_seq": seq, "prev_hash": prev_hash}
        row["event_hash"] = prev_hash = link_hash(row)
        linked.append(row)
    return linked


def decision_sha256(decision: Mapping[str, Any]) -> str:
    """The hash of a stored decision's content (`DECISION_FIELDS`), as its audit event records it."""
    return hashlib.sha256(canonical_bytes({name: decision.get(name) for name in DECISION_FIELDS})).hexdigest()


def digest_hash(digest: AuditDigest) -> str:
    """The sha256 of a digest's canonical bytes."""
    return hashlib.sha256(digest.canonical_bytes()).hexdigest()
