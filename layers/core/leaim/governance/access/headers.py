"""The security headers every answer of every API carries, whether a function or the gateway gives it."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

# The APIs answer JSON (or an export) to programs, never a page to render: browsers are told to reach them over
# HTTPS only, to take each body as the type it is sent as, to keep no copy (answers carry decisions and audit
# records), to run, frame and embed nothing, and to tell no other site where a link came from.
SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "strict-transport-security": "max-age=31536000; includeSubDomains",
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
        "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
    }
)
