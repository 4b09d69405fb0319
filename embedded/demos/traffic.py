"""Decision traffic for the embedded default: well-formed, malformed, replayed, over HTTP and over SQS."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from embedded.clients.http import Sent

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass
class QueueOutcome:
    """Results and dead letters collected from the queues."""

    results: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[tuple[dict[str, Any], str]] = field(default_factory=list)


def decision_request(use_case: str, request_id: str, inputs: Mapping[str, Any], api_key: str | None) -> Sent:
    """A well-formed decision request."""
    return raw_request(
        "valid", use_case, json.dumps({"request_id": request_id, "inputs": dict(inputs)}).encode(), api_key
    )


def raw_request(kind: str, use_case: str, body: bytes, api_key: str | None) -> Sent:
    """A decision request with any body."""
    headers = {"content-type": "application/json"}
    if api_key is not None:
        headers["x-api-key"] = api_key
    return Sent(kind, "POST", f"/v1/decisions/{use_case}", body, headers)


def body(payload: Mapping[str, Any]) -> bytes:
    """A JSON request body."""
    return json.dumps(payload).encode()


def malformed_requests(use_case: str, inputs: Mapping[str, Any], keys: Mapping[str, str], index: int) -> list[Sent]:
    """One of each kind of bad request, named by the problem it carries."""
    client = keys["decision_client"]
    wrong_type = {**inputs, "amount": "a lot", "hour_of_day": 25}
    missing = {name: value for name, value in inputs.items() if name != "country"}
    return [
        raw_request("malformed_json", use_case, b'{"request_id": "broken", "inputs": {', client),
        raw_request(
            "unknown_field", use_case, body({"request_id": f"bad-{index}-a", "inputs": inputs, "x": 1}), client
        ),
        raw_request("wrong_types", use_case, body({"request_id": f"bad-{index}-b", "inputs": wrong_type}), client),
        raw_request("missing_field", use_case, body({"request_id": f"bad-{index}-c", "inputs": missing}), client),
        raw_request("no_api_key", use_case, body({"request_id": f"bad-{index}-d", "inputs": inputs}), None),
        raw_request("bad_api_key", use_case, body({"request_id": f"bad-{index}-e", "inputs": inputs}), "not-a-key"),
        raw_request("wrong_role", use_case, body({"request_id": f"bad-{index}-f", "inputs": inputs}), keys["auditor"]),
        raw_request("unknown_use_case", "mortgage", body({"request_id": f"bad-{index}-g", "inputs": inputs}), client),
        raw_request(
            "too_large", use_case, body({"request_id": f"bad-{index}-h", "inputs": inputs, "pad": "x" * 70_000}), client
        ),
    ]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]
