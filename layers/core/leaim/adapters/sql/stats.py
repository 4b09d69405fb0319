"""What each model version did in live traffic, read from the audit log for the promotion controller."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from contracts.model.v1 import VersionStats
from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.adapters.sql.tables import AuditEventRow
from leaim.governance.audit.events import DECISION_ACTION, REPLAY_ROLE

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Engine

INFERENCE_ACTION = "worker.inference"


class SqlVersionStats:
    """`VersionStatsSource` on the audit events stored by `SqlAuditLog`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def version_stats(self, use_case: str, model_name: str, since: datetime) -> dict[str, VersionStats]:
        """What each version of `model_name` did in `use_case` since `since`, for the promotion controller.

        Requests are the version's inference worker calls, a shadow challenger's included (those events
        carry `details.role == "shadow"`: they are what a shadow is judged on), not an auditor's replays of stored
        decisions (`details.role == "replay"`); errors are the calls that
        failed; the p95 latency is the nearest-rank 95th percentile of their durations. Fallbacks are the
        decisions that fell back after naming the version as the model they would score on. Rates are per
        request, 0 without requests; a version with no event in the window is absent.
        """
        version = col(AuditEventRow.model_version)
        scope = (
            col(AuditEventRow.use_case) == use_case,
            col(AuditEventRow.model_name) == model_name,
            version.is_not(None),
            col(AuditEventRow.occurred_at) >= since,
        )
        duration = col(AuditEventRow.duration_ms)
        calls = (
            sa_select(
                version.label("version"),
                duration.label("duration_ms"),
                func.row_number().over(partition_by=version, order_by=duration).label("call_rank"),
                func.count().over(partition_by=version).label("requests"),
                func.sum(case((col(AuditEventRow.outcome) == "error", 1), else_=0))
                .over(partition_by=version)
                .label("errors"),
            )
            .where(
                *scope,
                col(AuditEventRow.action) == INFERENCE_ACTION,
                func.coalesce(col(AuditEventRow.details)["role"].as_string(), "") != REPLAY_ROLE,
            )
            .subquery()
        )
        # The row ranked ceil(0.95 n) of each version's n calls, in integer arithmetic both backends share.
        p95 = select(calls.c.version, calls.c.requests, calls.c.errors, calls.c.duration_ms).where(
            calls.c.call_rank == (95 * calls.c.requests + 99) // 100
        )
        fallbacks = (
            select(version, func.count())
            .where(
                *scope,
                col(AuditEventRow.action).startswith("decision."),
                ~col(AuditEventRow.source).startswith("worker:"),
                col(AuditEventRow.outcome) == "fallback",
            )
            .group_by(version)
        )
        try:
            with Session(self._engine) as session:
                served = {name: (int(n), int(errors), float(ms)) for name, n, errors, ms in session.exec(p95)}
                fell_back = {str(name): int(number) for name, number in session.exec(fallbacks)}
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"version statistics could not be read: {type(error).__name__}") from error
        stats = {}
        for name in sorted(served.keys() | fell_back.keys()):
            requests, errors, latency = served.get(name, (0, 0, None))
            fallback_count = fell_back.get(name, 0)
            stats[name] = VersionStats(
                version=name,
                requests=requests,
                errors=errors,
                fallbacks=fallback_count,
                error_rate=errors / requests if requests else 0.0,
                fallback_rate=fallback_count / requests if requests else 0.0,
                latency_p95_ms=latency,
            )
        return stats


class SqlShadowOutcomes:
    """`ShadowOutcomeSource` on the decision events stored by `SqlAuditLog`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def shadow_outcomes(
        self, use_case: str, version: int, since: datetime, until: datetime
    ) -> list[tuple[int | None, str, str]]:
        """Per decision of `use_case` in [since, until) that a shadow `version` was compared on: the active version
        that decided, its outcome, and the outcome the shadow version would have given (`details.policy_shadow`)."""
        details = col(AuditEventRow.details)
        statement = select(
            details["policy_version"].as_integer(),
            details["outcome"].as_string(),
            details[("policy_shadow", "outcome")].as_string(),
        ).where(
            AuditEventRow.action == DECISION_ACTION,
            AuditEventRow.use_case == use_case,
            col(AuditEventRow.occurred_at) >= since,
            col(AuditEventRow.occurred_at) < until,
            details[("policy_shadow", "version")].as_integer() == version,
            details["outcome"].as_string().is_not(None),
            details[("policy_shadow", "outcome")].as_string().is_not(None),
        )
        try:
            with Session(self._engine) as session:
                rows = session.exec(statement).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"decision events could not be read: {type(error).__name__}") from error
        return [(active, str(outcome), str(shadow)) for active, outcome, shadow in rows]
