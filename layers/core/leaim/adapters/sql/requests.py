"""`RequestHistory` on SQLite or PostgreSQL: each principal's decision requests, from the audit events that name it.

The principal is on a decision's audit event, not on the decision row, so both reads start from the events of
`decision.create` (indexed by time) and, for the requests themselves, join the decisions they made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.adapters.sql.tables import AuditEventRow, DecisionRow
from leaim.governance.audit.events import DECISION_ACTION
from leaim.governance.oversight.ports import PrincipalRequest

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import Engine, Select


class SqlRequestHistory:
    """Reads the principals' decision requests of a use case from the audit events and decisions beside them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def requests(self, use_case: str, since: datetime, until: datetime, *, limit: int) -> list[PrincipalRequest]:
        """The use case's decisions made in [since, until) for a named principal, oldest first (the latest `limit`)."""
        statement = (
            sa_select(
                col(DecisionRow.decision_id),
                col(AuditEventRow.principal),
                col(AuditEventRow.occurred_at),
                col(DecisionRow.inputs),
                col(DecisionRow.features),
            )
            .join(DecisionRow, col(DecisionRow.decision_id) == col(AuditEventRow.decision_id))
            .where(
                col(AuditEventRow.action) == DECISION_ACTION,
                col(AuditEventRow.outcome).in_(("success", "fallback")),
                col(AuditEventRow.use_case) == use_case,
                col(AuditEventRow.principal).is_not(None),
                col(AuditEventRow.occurred_at) >= since,
                col(AuditEventRow.occurred_at) < until,
            )
            .order_by(col(AuditEventRow.occurred_at).desc(), col(DecisionRow.decision_id).desc())
            .limit(limit)
        )
        rows = self._rows(statement, f"requests of {use_case!r}")
        return [
            PrincipalRequest(
                decision_id=row[0],
                principal=row[1],
                occurred_at=row[2],
                inputs=dict(row[3]),
                features=None if row[4] is None else dict(row[4]),
            )
            for row in reversed(rows)
        ]

    def request_counts(self, use_case: str, edges: Sequence[datetime]) -> dict[str, list[int]]:
        """Per principal, its decision requests (whatever their answer) in each [edges[i], edges[i + 1]).

        One grouped read over the whole span: each event is put in its window by comparing its time with the edges.
        """
        if len(edges) < 2:
            return {}
        occurred = col(AuditEventRow.occurred_at)
        window = case(*((occurred < edge, index) for index, edge in enumerate(edges[1:-1])), else_=len(edges) - 2)
        statement = (
            sa_select(col(AuditEventRow.principal), window, func.count())
            .where(
                col(AuditEventRow.action) == DECISION_ACTION,
                col(AuditEventRow.use_case) == use_case,
                col(AuditEventRow.principal).is_not(None),
                occurred >= edges[0],
                occurred < edges[-1],
            )
            .group_by(col(AuditEventRow.principal), window)
        )
        counts: dict[str, list[int]] = {}
        for principal, index, requests in self._rows(statement, f"request counts of {use_case!r}"):
            counts.setdefault(principal, [0] * (len(edges) - 1))[int(index)] = int(requests)
        return counts

    def _rows(self, statement: Select[Any], what: str) -> list[Any]:
        try:
            with Session(self._engine) as session:
                return list(session.execute(statement).all())
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"{what} could not be read: {type(error).__name__}") from error
