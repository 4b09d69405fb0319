"""`leaim openapi` checks the committed OpenAPI document against the routes and contracts; `--write` writes it.

The document (`contracts/openapi.json`) is built from the route table and the contracts' JSON Schemas, with the
version of the installed `leaim` package; the governance API serves it at `GET /openapi.json`. Change a route or
a contract, then write it again on purpose:

    uv run leaim openapi --write
"""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING

from contracts.published import render
from leaim.governance.access import openapi

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from rich.console import Console

    from embedded.cli.options import Commands

PACKAGE = "leaim"


def register(commands: Commands) -> None:
    """Add `openapi`."""
    command = commands.add_parser(
        "openapi", help="check the committed OpenAPI document against the routes and contracts (exit 1 if stale)"
    )
    command.add_argument("--write", action="store_true", help="write the document instead of checking it")
    command.set_defaults(run=_openapi)


def document_text() -> str:
    """The document as it is committed: built for the installed package's version, rendered canonically."""
    return render(openapi.build_document(version(PACKAGE)))


def _openapi(arguments: argparse.Namespace, console: Console) -> int:
    """0 when the committed document is current (or was written), 1 when it is stale."""
    path: Path = openapi.DOCUMENT
    text = document_text()
    if arguments.write:
        path.write_text(text, encoding="utf-8")
        console.print(f"wrote {path}", markup=False, highlight=False)
        return 0
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        console.print(
            f"{path} differs from the routes and contracts: write it with `uv run leaim openapi --write`",
            markup=False,
            highlight=False,
        )
        return 1
    console.print(f"{path} is current", markup=False, highlight=False)
    return 0
