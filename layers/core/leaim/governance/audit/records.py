"""The stored forms of what an audit write records, shared by every store: the SQL trail and the accepted store.

A decision row is hashed into its audit event (`decision_sha256`), so every store must build it the same way:
these functions are the one place that does.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from leaim.exceptions import AuditWriteError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from contracts.audit.v1 import AuditEvent
    from contracts.decision.v1 import DecisionResponse, Override
    from contracts.governance.v1 import RecordedOutcome


def check_duration(event: AuditEvent) -> None:
    """AuditWriteError for an event whose duration no store can hold."""
    if not math.isfinite(event.duration_ms):
        raise AuditWriteError(f"audit event {event.event_id!r} has a duration of {event.duration_ms}")


def event_values(event: AuditEvent) -> dict[str, Any]:
    """The event's column values; its details as a store will give them back."""
    check_duration(event)
    values = event.__dict__.copy()
    if event.details:
        values["details"] = json_document(event.details, f"details of audit event {event.event_id!r}")
    return values


def decision_values(
    decision: DecisionResponse,
    inputs: Mapping[str, object],
    features: Mapping[str, float] | None,
    created_at: datetime,
) -> dict[str, Any]:
    """The decisions row, column for column, as it will be stored and hashed."""
    what = f"decision {decision.decision_id!r}"
    return {
        "decision_id": decision.decision_id,
        "use_case": decision.use_case,
        "request_id": decision.request_id,
        "outcome": decision.outcome,
        "fallback": decision.fallback,
        "model_name": None if decision.model is None else decision.model.name,
        "model_version": None if decision.model is None else decision.model.version,
        "score": decision.score,
        "review_required": decision.review_required,
        "response": decision.model_dump(mode="json"),
        "inputs": json_document(inputs, f"inputs of {what}"),
        "features": None if features is None else json_document(features, f"features of {what}"),
        "created_at": created_at,
    }


def override_values(override: Override, use_case: str) -> dict[str, Any]:
    """The overrides row of a reviewer's override."""
    return {
        "decision_id": override.review_id,
        "use_case": use_case,
        "original_outcome": override.original_outcome,
        "outcome": override.outcome,
        "justification": override.justification,
        "reviewer": override.reviewer,
        "reviewed_at": override.reviewed_at,
        "event_id": override.event_id,
    }


def outcome_values(outcome: RecordedOutcome) -> dict[str, Any]:
    """The outcomes row of a decision's ground truth."""
    return {
        "decision_id": outcome.decision_id,
        "use_case": outcome.use_case,
        "label": outcome.label,
        "observed_at": outcome.observed_at,
        "source": outcome.source,
        "reported_by": outcome.reported_by,
        "recorded_at": outcome.recorded_at,
    }


def json_document(value: Mapping[str, object], what: str) -> dict[str, Any]:
    """`value` as the JSON object a store gives back; AuditWriteError naming `what` when it is not one.

    NaN and infinity are refused because PostgreSQL's JSONB cannot hold them.
    """
    try:
        document: dict[str, Any] = _JSON.decode(to_json(dict(value)).decode())
    except ValueError as error:
        raise AuditWriteError(f"{what} cannot be stored as JSON: {error}") from error
    return document


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


_JSON = json.JSONDecoder(parse_constant=_refuse_constant)
