"""A handler module whose import fails, as a function with a broken init does."""

from __future__ import annotations

raise RuntimeError("the fixture module fails at import")
