"""`OversightStore` on SQLite or PostgreSQL: outcomes, overrides, monitor reports and alerts beside the decisions."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, tuple_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from contracts.decision.v1 import DecisionResponse, Override
from contracts.governance.v1 import Alert, RecordedOutcome
from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.adapters.sql.rows import decision_maker
from leaim.adapters.sql.tables import AlertRow, AuditEventRow, DecisionRow, MonitorReportRow, OutcomeRow, OverrideRow
from leaim.exceptions import NotFoundError
from leaim.governance.audit.events import DECISION_ACTION
from leaim.governance.oversight.ports import StoredDecision, UsageFact

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence
    from datetime import datetime

    from sqlalchemy import ColumnElement, Engine

    from leaim.adapters.dynamodb_audit import DynamoDecisions


WORKER_SOURCE_PREFIX = "worker:"
# The status of a request refused over its key's rate plan.
THROTTLED_STATUS = 429
# Rows fetched at a time when a count streams through a window.
STREAM_ROWS = 5000


class SqlOversight:
    """Reads decisions with what was learnt since, and keeps outcomes, overrides, reports and alerts."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def decision(self, decision_id: str) -> StoredDecision | None:
        """A stored decision with its override and ground truth, or None."""
        found = self._stored(col(DecisionRow.decision_id) == decision_id, what=f"decision {decision_id!r}")
        if not found:
            return None
        maker = self._read(lambda session: decision_maker(session, decision_id), f"maker of {decision_id!r}")
        return replace(found[0], made_by=maker)

    def override_of(self, decision_id: str) -> Override | None:
        """The override of a decision, or None."""
        row = self._read(lambda session: session.get(OverrideRow, decision_id), f"override of {decision_id!r}")
        return None if row is None else _override(row)

    def outcome_of(self, decision_id: str) -> RecordedOutcome | None:
        """The ground truth recorded for a decision, joined to it, or None."""
        row = self._read(lambda session: session.get(OutcomeRow, decision_id), f"outcome of {decision_id!r}")
        stored = None if row is None else self.decision(decision_id)
        if row is None or stored is None:
            return None
        response = stored.response
        return RecordedOutcome(
            decision_id=decision_id,
            use_case=response.use_case,
            label=row.label,
            observed_at=row.observed_at,
            source=row.source,
            reported_by=row.reported_by,
            recorded_at=row.recorded_at,
            model=response.model,
            score=response.score,
            outcome=stored.final_outcome,
        )

    def pending_reviews(
        self, use_cases: Collection[str] | None, *, after: str | None, limit: int
    ) -> list[StoredDecision]:
        """Decisions in the review band with no override, oldest first, after the decision `after`."""
        clauses: list[ColumnElement[bool]] = [
            col(DecisionRow.review_required).is_(True),
            col(OverrideRow.decision_id).is_(None),
        ]
        if use_cases is not None:
            clauses.append(col(DecisionRow.use_case).in_(sorted(use_cases)))
        if after is not None:
            cursor = self._read(lambda session: session.get(DecisionRow, after), f"review {after!r}")
            if cursor is None:
                raise NotFoundError(f"cursor {after!r} names no decision")
            clauses.append(
                tuple_(col(DecisionRow.created_at), col(DecisionRow.decision_id)) > (cursor.created_at, after)
            )
        return self._stored(*clauses, limit=limit, what="pending reviews")

    def window(
        self, use_case: str, since: datetime, until: datetime, *, limit: int | None = None
    ) -> list[StoredDecision]:
        """The use case's decisions made in [since, until), oldest first; the latest `limit` of them if given."""
        clauses = (
            col(DecisionRow.use_case) == use_case,
            col(DecisionRow.created_at) >= since,
            col(DecisionRow.created_at) < until,
        )
        if limit is None:
            return self._stored(*clauses, what=f"decisions of {use_case!r}")
        return self._stored(*clauses, what=f"decisions of {use_case!r}", limit=limit, latest=True)

    def explanation_counts(self, since: datetime, until: datetime) -> dict[str, tuple[int, int]]:
        """Per use case, the decisions made in [since, until) and those stored with reasons and, when scored, with
        features.

        Streamed column by column, in one pass: a day of decisions is counted without building each one.
        """
        statement = (
            sa_select(
                col(DecisionRow.use_case),
                col(DecisionRow.score),
                col(DecisionRow.features).is_not(None),
                col(DecisionRow.response),
            )
            .where(col(DecisionRow.created_at) >= since, col(DecisionRow.created_at) < until)
            .execution_options(yield_per=STREAM_ROWS)
        )
        counts: dict[str, tuple[int, int]] = {}
        try:
            with Session(self._engine) as session:
                for use_case, score, has_features, response in session.execute(statement):
                    decisions, explained = counts.get(use_case, (0, 0))
                    counts[use_case] = (
                        decisions + 1,
                        explained + (bool(response.get("reasons")) and (score is None or bool(has_features))),
                    )
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"decisions could not be counted: {type(error).__name__}") from error
        return counts

    def save_report(self, kind: str, report: Any) -> None:
        """Keep a drift, bias or abuse report as a document."""
        document = report.model_dump(mode="json")
        status = document.get("status") or (
            "alert" if any(item["alerts"] for item in document.get("indicators", [])) else "clear"
        )
        row = MonitorReportRow(
            report_id=report.report_id,
            use_case=report.use_case,
            kind=kind,
            model_version=document.get("model_version"),
            status=status,
            computed_at=report.computed_at,
            report=document,
        )
        self._write(lambda session: session.add(row), f"{kind} report of {report.use_case!r}")

    def reports(self, use_case: str, kind: str, *, limit: int) -> list[dict[str, Any]]:
        """The latest reports of `kind`, newest first."""
        statement = (
            select(MonitorReportRow)
            .where(col(MonitorReportRow.use_case) == use_case, col(MonitorReportRow.kind) == kind)
            .order_by(col(MonitorReportRow.computed_at).desc(), col(MonitorReportRow.report_id))
            .limit(limit)
        )
        rows = self._read(lambda session: session.exec(statement).all(), f"{kind} reports of {use_case!r}")
        return [dict(row.report) for row in rows]

    def open_alert(self, alert: Alert) -> bool:
        """Open `alert` unless the same one is open already."""
        statement = select(AlertRow).where(*_alert_key(alert.use_case, alert.kind, alert.model_version, alert.subject))
        if self._read(lambda session: session.exec(statement).first(), f"alerts of {alert.use_case!r}") is not None:
            return False
        evidence = None if alert.evidence is None else alert.evidence.model_dump(mode="json")
        row = AlertRow(**alert.model_dump(exclude={"schema_version", "evidence"}), evidence=evidence)
        try:
            self._write(lambda session: session.add(row), f"alert of {alert.use_case!r}")
        except IntegrityError:
            return False
        return True

    def close_alerts(self, use_case: str, kind: str, *, still_open: Sequence[tuple[str, str]], at: datetime) -> int:
        """Close the use case's open alerts of `kind` other than `still_open` (version, subject)."""
        clauses = [
            col(AlertRow.use_case) == use_case,
            col(AlertRow.kind) == kind,
            col(AlertRow.closed_at).is_(None),
        ]
        if still_open:
            clauses.append(tuple_(col(AlertRow.model_version), col(AlertRow.subject)).not_in(list(still_open)))
        statement = update(AlertRow).where(*clauses).values(closed_at=at)
        try:
            with Session(self._engine) as session, session.begin():
                closed = int(session.connection().execute(statement).rowcount)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(
                f"alerts of {use_case!r} could not be closed: {type(error).__name__}"
            ) from error
        return closed

    def alerts(self, *, use_case: str | None = None, open_only: bool = True) -> list[Alert]:
        """Alerts, newest first."""
        clauses: list[ColumnElement[bool]] = []
        if use_case is not None:
            clauses.append(col(AlertRow.use_case) == use_case)
        if open_only:
            clauses.append(col(AlertRow.closed_at).is_(None))
        statement = select(AlertRow).where(*clauses).order_by(col(AlertRow.opened_at).desc())
        rows = self._read(lambda session: session.exec(statement).all(), "alerts")
        return [Alert.model_validate(row.model_dump()) for row in rows]

    def usage(self, since: datetime, until: datetime, use_case: str | None) -> list[UsageFact]:
        """Every stored decision invocation in [since, until): its audit event joined to its decision."""
        clauses: list[ColumnElement[bool]] = [
            col(AuditEventRow.action) == DECISION_ACTION,
            col(AuditEventRow.outcome).in_(("success", "fallback")),
            col(AuditEventRow.occurred_at) >= since,
            col(AuditEventRow.occurred_at) < until,
        ]
        if use_case is not None:
            clauses.append(col(AuditEventRow.use_case) == use_case)
        statement = (
            sa_select(
                col(AuditEventRow.use_case),
                col(AuditEventRow.model_version),
                col(AuditEventRow.principal),
                col(AuditEventRow.duration_ms),
                col(AuditEventRow.outcome),
                col(DecisionRow.review_required),
                col(OverrideRow.decision_id),
            )
            .join(DecisionRow, col(DecisionRow.decision_id) == col(AuditEventRow.decision_id))
            .outerjoin(OverrideRow, col(OverrideRow.decision_id) == col(DecisionRow.decision_id))
            .where(*clauses)
        )
        rows = self._read(lambda session: session.execute(statement).all(), "usage")
        return [
            UsageFact(
                use_case=row[0] or "",
                model_version=row[1],
                principal=row[2],
                duration_ms=row[3],
                fallback=row[4] == "fallback",
                review_required=bool(row[5]),
                overridden=row[6] is not None,
            )
            for row in rows
        ]

    def throttled(
        self, since: datetime, until: datetime, use_case: str | None
    ) -> list[tuple[str | None, str | None, int]]:
        """(use case, principal, requests) refused over a rate plan (429) in [since, until), most refused first."""
        clauses: list[ColumnElement[bool]] = [
            col(AuditEventRow.status_code) == THROTTLED_STATUS,
            col(AuditEventRow.occurred_at) >= since,
            col(AuditEventRow.occurred_at) < until,
        ]
        if use_case is not None:
            clauses.append(col(AuditEventRow.use_case) == use_case)
        requests = func.count()
        statement = (
            sa_select(col(AuditEventRow.use_case), col(AuditEventRow.principal), requests)
            .where(*clauses)
            .group_by(col(AuditEventRow.use_case), col(AuditEventRow.principal))
            .order_by(requests.desc())
        )
        rows = self._read(lambda session: session.execute(statement).all(), "throttled requests")
        return [(row[0], row[1], int(row[2])) for row in rows]

    def audited_invocations(self, since: datetime, until: datetime) -> set[str]:
        """Lambda request ids of every function invocation with an audit event in [since, until).

        Batch functions store one event per record, with `<request id>:<record>` as the invocation id.
        """
        statement = (
            select(AuditEventRow.invocation_id)
            .where(
                col(AuditEventRow.occurred_at) >= since,
                col(AuditEventRow.occurred_at) < until,
                col(AuditEventRow.source).not_like(f"{WORKER_SOURCE_PREFIX}%"),
            )
            .distinct()
        )
        ids = self._read(lambda session: session.exec(statement).all(), "audited invocations")
        return {invocation_id.split(":", 1)[0] for invocation_id in ids}

    def _stored(
        self, *clauses: ColumnElement[bool], what: str, limit: int | None = None, latest: bool = False
    ) -> list[StoredDecision]:
        statement = (
            select(DecisionRow, OverrideRow, OutcomeRow)
            .outerjoin(OverrideRow, col(OverrideRow.decision_id) == col(DecisionRow.decision_id))
            .outerjoin(OutcomeRow, col(OutcomeRow.decision_id) == col(DecisionRow.decision_id))
            .where(and_(*clauses))
        )
        if latest:
            statement = statement.order_by(col(DecisionRow.created_at).desc(), col(DecisionRow.decision_id).desc())
        else:
            statement = statement.order_by(col(DecisionRow.created_at), col(DecisionRow.decision_id))
        if limit is not None:
            statement = statement.limit(limit)
        rows = self._read(lambda session: session.exec(statement).all(), what)
        if latest:
            rows = list(reversed(rows))
        return [
            StoredDecision(
                response=DecisionResponse.model_validate(decision.response),
                inputs=dict(decision.inputs),
                features=None if decision.features is None else dict(decision.features),
                override=None if override is None else _override(override),
                label=None if outcome is None else outcome.label,
            )
            for decision, override, outcome in rows
        ]

    def _read(self, read: Callable[[Session], Any], what: str) -> Any:
        try:
            with Session(self._engine) as session:
                return read(session)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"{what} could not be read: {type(error).__name__}") from error

    def _write(self, write: Callable[[Session], object], what: str) -> None:
        """Run `write` in one committed transaction; IntegrityError passes through for the caller to judge."""
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                write(session)
        except IntegrityError:
            raise
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"{what} could not be stored: {type(error).__name__}") from error


def _override(row: OverrideRow) -> Override:
    return Override(
        review_id=row.decision_id,
        original_outcome=row.original_outcome,
        outcome=row.outcome,
        justification=row.justification,
        reviewer=row.reviewer,
        reviewed_at=row.reviewed_at,
        event_id=row.event_id,
    )


def _alert_key(use_case: str, kind: str, version: str, subject: str) -> list[ColumnElement[bool]]:
    return [
        col(AlertRow.use_case) == use_case,
        col(AlertRow.kind) == kind,
        col(AlertRow.model_version) == version,
        col(AlertRow.subject) == subject,
        col(AlertRow.closed_at).is_(None),
    ]


class AcceptedFirstOversight(SqlOversight):
    """`SqlOversight` whose reads of one decision, its override and its outcome go to the accepted store first.

    The audit writer moves accepted decisions into SQL shortly after they are answered; a review or an outcome
    posted meanwhile must find its decision. SQL answers for what was stored before the accepted store existed.
    """

    def __init__(self, engine: Engine, accepted: DynamoDecisions) -> None:
        super().__init__(engine)
        self._accepted = accepted

    def decision(self, decision_id: str) -> StoredDecision | None:
        """A decision with its override and ground truth, from the accepted store, else from SQL; or None.

        A decision only SQL holds may still have an override or an outcome accepted and not yet chained.
        """
        accepted = self._accepted.stored(decision_id)
        if accepted is not None:
            return accepted
        stored = super().decision(decision_id)
        if stored is None:
            return None
        override = stored.override or self._accepted.override_of(decision_id)
        label = stored.label
        if label is None:
            row = self._accepted.outcome_row(decision_id)
            label = None if row is None else bool(row["label"])
        return replace(stored, override=override, label=label)

    def override_of(self, decision_id: str) -> Override | None:
        """The override of a decision, or None."""
        return self._accepted.override_of(decision_id) or super().override_of(decision_id)

    def pending_reviews(
        self, use_cases: Collection[str] | None, *, after: str | None, limit: int
    ) -> list[StoredDecision]:
        """Decisions in the review band with no override, oldest first, after the decision `after`.

        An override accepted but not yet in SQL takes its decision out of the queue at once: the reviewer who
        just resolved it does not see it again.
        """
        kept: list[StoredDecision] = []
        cursor = after
        while True:
            page = super().pending_reviews(use_cases, after=cursor, limit=limit)
            overridden = self._accepted.overridden([stored.response.decision_id for stored in page])
            kept += [stored for stored in page if stored.response.decision_id not in overridden]
            if len(page) < limit or len(kept) >= limit:
                return kept[:limit]
            cursor = page[-1].response.decision_id

    def outcome_of(self, decision_id: str) -> RecordedOutcome | None:
        """The ground truth recorded for a decision, joined to it, or None."""
        row = self._accepted.outcome_row(decision_id)
        stored = None if row is None else self.decision(decision_id)
        if row is None or stored is None:
            return super().outcome_of(decision_id)
        response = stored.response
        return RecordedOutcome(
            decision_id=decision_id,
            use_case=response.use_case,
            label=bool(row["label"]),
            observed_at=row["observed_at"],
            source=row["source"],
            reported_by=row["reported_by"],
            recorded_at=row["recorded_at"],
            model=response.model,
            score=response.score,
            outcome=stored.final_outcome,
        )
