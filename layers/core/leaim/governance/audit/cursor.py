"""Cursors of audit search pages: the position after the last event a page handed out, opaque to callers."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from pydantic_core import to_json

from leaim.governance.audit.chain import canonical_time
from leaim.governance.audit.exceptions import InvalidCursorError


def encode_cursor(occurred_at: datetime, event_id: str) -> str:
    """An opaque keyset cursor: the page goes on after this (occurred_at, event_id)."""
    text = to_json([canonical_time(occurred_at), event_id])
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (occurred_at, event_id) a cursor carries; InvalidCursorError when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, event_id = json.loads(text)
        occurred_at = datetime.fromisoformat(moment)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidCursorError(f"cursor {cursor[:40]!r} is not one this audit search handed out") from error
    if not isinstance(event_id, str):
        raise InvalidCursorError(f"cursor {cursor[:40]!r} is not one this audit search handed out")
    return occurred_at, event_id
