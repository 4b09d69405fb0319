"""A contract's times keep their instant and offset, in the standard library's time zones whatever they came from."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from contracts.audit.v1 import AuditEvent
from contracts.ingest.v1 import SnapshotRequest

EVENT = {
    "event_id": "e-1",
    "source": "DecisionApiFunction",
    "action": "decision.create",
    "invocation_id": "i-1",
    "outcome": "success",
    "trace_id": "t-1",
    "duration_ms": 1.5,
}


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("2026-12-03T10:15:00Z", UTC),
        ("2026-12-03T10:15:00+00:00", UTC),
        ("2026-12-03T11:15:00+01:00", timezone(timedelta(hours=1))),
        ("2026-12-03T04:45:00-05:30", timezone(timedelta(hours=-5, minutes=-30))),
    ],
)
def test_a_time_read_from_text_carries_a_standard_zone_of_its_offset(text: str, zone: timezone) -> None:
    event = AuditEvent.model_validate_json(json.dumps({**EVENT, "occurred_at": text}))

    assert type(event.occurred_at.tzinfo) is timezone and event.occurred_at.tzinfo == zone
    assert event.occurred_at == datetime(2026, 12, 3, 10, 15, tzinfo=UTC)
    assert AuditEvent.model_validate_json(event.model_dump_json()) == event


def test_a_datetime_keeps_its_zone_and_a_time_without_an_offset_is_refused_where_one_is_needed() -> None:
    berlin = datetime(2026, 12, 3, 11, 15, tzinfo=ZoneInfo("Europe/Berlin"))
    assert AuditEvent.model_validate({**EVENT, "occurred_at": berlin}).occurred_at.tzinfo is berlin.tzinfo

    with pytest.raises(ValueError, match="timezone"):
        SnapshotRequest.model_validate({"since": "2026-12-03T10:15:00"})
    assert SnapshotRequest.model_validate({"since": "2026-12-03T10:15:00Z"}).since == datetime(
        2026, 12, 3, 10, 15, tzinfo=UTC
    )
