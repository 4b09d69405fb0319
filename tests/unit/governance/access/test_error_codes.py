"""Every error declares its code next to it, and no published code disappears, changes status or goes undocumented.

Callers and auditors match on codes, so a code is never derived from a class's name: renaming a class must
change no answer. `contracts/schemas/error-codes.json` holds what the APIs publish (code and HTTP status) and
the error types the GPU workers report; adding one means adding it there and to the API pages on purpose.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import TYPE_CHECKING, TypeVar

import gpu_workers
import leaim
from gpu_workers.exceptions import GpuWorkerError
from leaim.exceptions import AuditWriteError, DependencyUnavailableError, LeaimError
from leaim.governance.access.exceptions import (
    BodyTooLargeError,
    ForbiddenError,
    InvalidRequestError,
    MalformedJsonError,
    RateLimitedError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from tests.support.paths import REPOSITORY

if TYPE_CHECKING:
    from types import ModuleType

SNAPSHOT = REPOSITORY / "contracts" / "schemas" / "error-codes.json"
API_PAGES = REPOSITORY / "docs" / "api"

E = TypeVar("E")

# What the HTTP gate itself answers, so every API answers them: each API page lists them all.
GATE_ERRORS = (
    UnauthorizedError,
    ForbiddenError,
    MalformedJsonError,
    UnsupportedMediaTypeError,
    BodyTooLargeError,
    RateLimitedError,
    InvalidRequestError,
    AuditWriteError,
    DependencyUnavailableError,
    LeaimError,
)


def _every_module(package: ModuleType) -> None:
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        importlib.import_module(module.name)


def _subclasses(base: type[E]) -> list[type[E]]:
    found: list[type[E]] = []
    for cls in base.__subclasses__():
        found += [cls, *_subclasses(cls)]
    return found


def _leaim_errors() -> list[type[LeaimError]]:
    _every_module(leaim)
    return [LeaimError, *(cls for cls in _subclasses(LeaimError) if cls.__module__.startswith("leaim."))]


def published() -> dict[str, int]:
    """Every code an API answers with, and its status; `internal_error` for an error without one."""
    codes = {LeaimError.code: 500}
    for cls in _leaim_errors():
        if cls.status is not None:
            assert codes.get(cls.code, cls.status) == cls.status, f"{cls.code} is answered with two statuses"
            codes[cls.code] = cls.status
    return dict(sorted(codes.items()))


def worker_types() -> list[str]:
    _every_module(gpu_workers)
    return sorted(cls.code for cls in _subclasses(GpuWorkerError))


def test_every_error_declares_its_own_code() -> None:
    undeclared = [f"{cls.__module__}.{cls.__qualname__}" for cls in _leaim_errors() if "code" not in vars(cls)]
    undeclared += [cls.__qualname__ for cls in _subclasses(GpuWorkerError) if "code" not in vars(cls)]
    assert undeclared == []


def test_the_published_codes_are_those_of_the_snapshot() -> None:
    committed = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert published() == committed["http"], (
        "an API error code disappeared, changed status or is new: a published code never changes; "
        f"publish a new one by adding it to {SNAPSHOT.name}"
    )
    assert worker_types() == committed["worker"]


def test_every_published_code_is_in_the_api_pages() -> None:
    pages = "\n".join(page.read_text(encoding="utf-8") for page in sorted(API_PAGES.glob("*.md")))
    assert [code for code in published() if f"`{code}`" not in pages] == []


def test_every_api_page_lists_what_the_gate_answers() -> None:
    missing = {
        page.name: [error.code for error in GATE_ERRORS if f"`{error.code}`" not in page.read_text(encoding="utf-8")]
        for page in sorted(API_PAGES.glob("*.md"))
    }
    assert len(missing) == 6
    assert {page: codes for page, codes in missing.items() if codes} == {}
