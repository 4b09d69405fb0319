"""The argument types and options that several command groups share, and the API client those options name."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias, TypeVar

if TYPE_CHECKING:
    from embedded.clients.base import ApiClient

    # What a command-group module adds its commands to.
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

Client = TypeVar("Client", bound="ApiClient")


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} is not at least {minimum}")
    return value


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    return _whole_number(text, 1)


def count(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    return _whole_number(text, 0)


def instant(text: str) -> datetime:
    """An argparse type: an ISO 8601 time with a UTC offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time with an offset, e.g. 2026-11-23T00:00:00Z")
    return moment


def api_options(command: argparse.ArgumentParser, role: str) -> None:
    """`--api-url` and `--api-key`, defaulting to the local stack's URL and its `role` key."""
    command.add_argument("--api-url", help="API base URL (default: the local stack's, from --state-dir)")
    command.add_argument("--api-key", help=f"API key (default: the local stack's {role} key)")
    command.set_defaults(role=role)


def api_client(kind: type[Client], arguments: argparse.Namespace) -> Client:
    """A `kind` client of the API that `api_options` name; what they leave out comes from the local stack."""
    from embedded.clients.local import local_client

    return local_client(kind, arguments.state_dir, arguments.role, api_url=arguments.api_url, api_key=arguments.api_key)
