"""`leaim openapi` checks the committed OpenAPI document and the routes table of its page; `--write` writes them.

The document (`contracts/openapi.json`) is built from the route table and the contracts' JSON Schemas, with the
version of the installed `leaim` package; the governance API serves it at `GET /openapi.json`. Its page
(`docs/api/openapi.md`) lists every route with the roles that may call it, between two markers. Change a route
or a contract, then write both again on purpose:

    uv run leaim openapi --write
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from contracts.published import render
from embedded.cli.exceptions import ApiUsageError
from leaim.governance.access import openapi
from leaim.governance.access.routes import ROUTES

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from embedded.cli.options import Commands
    from leaim.governance.access.routes import Route

PACKAGE = "leaim"
# The page is the repository's own: the command runs from a checkout, as the benchmarks do.
PAGE = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.md"
TABLE_START = "<!-- routes: written from the route table by `uv run leaim openapi --write` -->"
TABLE_END = "<!-- /routes -->"


def register(commands: Commands) -> None:
    """Add `openapi`."""
    command = commands.add_parser(
        "openapi",
        help="check the committed OpenAPI document and its page's routes table (exit 1 if either is stale)",
    )
    command.add_argument("--write", action="store_true", help="write the document and the table instead")
    command.set_defaults(run=_openapi)


def document_text() -> str:
    """The document as it is committed: built for the installed package's version, rendered canonically."""
    return render(openapi.build_document(version(PACKAGE)))


def routes_table() -> str:
    """The page's table: every route with its operation, function, the roles that may call it, and its answers."""
    lines = [
        "| route | operation | function | roles | answers | errors |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for route in ROUTES:
        answers = ", ".join(str(answer.status) for answer in route.answers)
        errors = ", ".join(str(status) for status in sorted(route.errors))
        lines.append(
            f"| `{route.method} {route.path}` | `{route.operation_id}` | {route.function} | {_roles(route)} "
            f"| {answers} | {errors} |"
        )
    return "\n".join(lines) + "\n"


def page_text(page: str) -> str:
    """`page` with the text between its two markers replaced by the routes table."""
    head, start, rest = page.partition(TABLE_START)
    _, end, tail = rest.partition(TABLE_END)
    if not start or not end:
        raise ApiUsageError(f"the page has no routes table between {TABLE_START!r} and {TABLE_END!r}")
    return f"{head}{TABLE_START}\n{routes_table()}{TABLE_END}{tail}"


def _roles(route: Route) -> str:
    return ", ".join(f"`{role}`" for role in openapi.roles_allowed(route)) or "anyone, without a key"


def _openapi(arguments: argparse.Namespace, console: Console) -> int:
    """0 when the document and the page are current (or were written), 1 naming each one that is stale."""
    document: Path = openapi.DOCUMENT
    page: Path = PAGE
    wanted = {document: document_text(), page: page_text(page.read_text(encoding="utf-8"))}
    stale = [path for path, text in wanted.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if arguments.write:
        for path in stale:
            path.write_text(wanted[path], encoding="utf-8")
            console.print(f"wrote {path}", markup=False, highlight=False)
        return 0
    for path in stale:
        console.print(
            f"{path} differs from the routes and contracts: write it with `uv run leaim openapi --write`",
            markup=False,
            highlight=False,
        )
    if stale:
        return 1
    console.print(f"{document} and {page} are current", markup=False, highlight=False)
    return 0
