"""Base model settings shared by every contract."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    """Immutable contract: unknown fields are rejected, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)
