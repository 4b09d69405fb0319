"""Base model settings and field types shared by every contract."""

from __future__ import annotations

from datetime import UTC, datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict
from pydantic_core import TzInfo


class Contract(BaseModel):
    """Immutable contract: unknown fields are rejected, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def _standard_zone(value: datetime) -> datetime:
    """The same instant and offset with the standard library's time zone (`UTC` for offset zero).

    pydantic-core gives a time parsed from text its own zone type, whose objects can crash the interpreter when they
    are freed by its last garbage collection at exit (pydantic issue 12867); a contract never holds one.
    """
    if not isinstance(value.tzinfo, TzInfo):
        return value
    offset = value.utcoffset()
    return value.replace(tzinfo=UTC if not offset else timezone(offset))


# A moment in time: ISO 8601 text or a datetime, its offset kept.
Instant = Annotated[datetime, AfterValidator(_standard_zone)]
# A moment in time that must carry its offset.
AwareInstant = Annotated[AwareDatetime, AfterValidator(_standard_zone)]
