"""The governance API, independent of the web framework: audit search and export, outcomes, reviews,
explanations, drift, bias, quality, alerts, usage and coverage.

Every invocation stores one audit event naming its principal. An override's event carries the decision id
it overrides, so searching the trail by decision id shows the decision and every review of it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from contracts.governance.v1 import (
    AlertList,
    BiasReport,
    DriftReport,
    DriftReports,
    LegalHoldList,
    LegalHoldRelease,
    LegalHoldRequest,
    OutcomeReport,
    ReviewOverride,
)
from leaim.exceptions import NotFoundError, RecordExistsError
from leaim.governance.access.exceptions import ExportTooLargeError, ForbiddenError
from leaim.governance.access.gate import GovernedHttp, HttpAnswer, TextBody, invalid_field, query_time, report_range
from leaim.governance.access.masking import masked_records
from leaim.governance.access.policy import Permission, require_use_case, use_case_scope
from leaim.governance.audit.exceptions import InvalidCursorError
from leaim.governance.oversight.exceptions import InvalidOverrideError
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from pydantic import BaseModel

    from contracts.governance.v1 import RecordedOutcome
    from contracts.trail.v1 import AuditRecord
    from leaim.domain.manifests import ManifestCatalog
    from leaim.governance.access.gate import HttpGate, Invocation
    from leaim.governance.audit.events import InvocationAudit
    from leaim.governance.audit.retention import LegalHolds
    from leaim.governance.oversight.outcomes import OutcomeService
    from leaim.governance.oversight.ports import AuditTrail, OversightStore
    from leaim.governance.oversight.reviews import ReviewService
    from leaim.governance.ports import Principal
    from leaim.governance.reports import GovernanceReports

DEFAULT_PAGE = 100
MAX_PAGE = 1000
# An export larger than these is refused (413): narrow the time range. Lambda answers at most 6 MB.
MAX_EXPORT_ROWS = 100_000
MAX_EXPORT_BYTES = 5_500_000
DEFAULT_WINDOW = timedelta(hours=24)
# Process KPIs count changes, which come days apart: a month by default.
KPI_WINDOW = timedelta(days=30)
HISTORY = 20
# The principal of the events of the public route, which no key authenticates.
ANONYMOUS = "anonymous"
FILTERS = ("decision_id", "use_case", "model_version", "principal", "action", "outcome", "source", "trace_id")
CSV_COLUMNS = (
    "event_id",
    "occurred_at",
    "source",
    "action",
    "invocation_id",
    "outcome",
    "trace_id",
    "duration_ms",
    "status_code",
    "principal",
    "role",
    "use_case",
    "request_id",
    "decision_id",
    "model_name",
    "model_version",
    "artifact_digest",
    "worker",
    "batch_size",
    "error",
    "details",
    "chain_id",
    "chain_seq",
    "prev_hash",
    "event_hash",
)


class GovernanceApi(GovernedHttp):
    """`/v1/audit`, `/v1/decisions/{id}/outcome|explanation`, `/v1/reviews`, `/v1/use-cases/{use_case}/drift|bias|
    quality|kpis|legal-holds`, `/v1/alerts`, `/v1/usage`, `/v1/governance/coverage`, and the public
    `/openapi.json`."""

    def __init__(
        self,
        *,
        trail: AuditTrail,
        outcomes: OutcomeService,
        reviews: ReviewService,
        reports: GovernanceReports,
        store: OversightStore,
        catalog: ManifestCatalog,
        holds: LegalHolds,
        openapi: Mapping[str, Any],
        gate: HttpGate,
    ) -> None:
        super().__init__(gate)
        self._holds = holds
        self._openapi = openapi
        self._catalog = catalog
        self._trail = trail
        self._outcomes = outcomes
        self._reviews = reviews
        self._reports = reports
        self._store = store

    def audit_events(self, query: Mapping[str, str], invocation: Invocation) -> HttpAnswer:
        """`GET /v1/audit/events`: search the trail (`format=json`, paged) or export it (`jsonl`, `csv`), with the
        event details that name a field marked pii or protected masked unless the caller's role is granted it."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel | TextBody, dict[str, Any]]:
            search = self._audit_query(query, principal)
            kind = query.get("format", "json")
            if search.since is not None and search.until is not None and search.since >= search.until:
                raise invalid_field("query.since", "must be before until")
            if kind == "json":
                try:
                    page = self._trail.search(search, cursor=query.get("cursor"), limit=_limit(query))
                except InvalidCursorError as error:
                    raise invalid_field("query.cursor", f"is not a cursor this API gave: {error}") from error
                page = page.model_copy(update={"records": list(masked_records(page.records, self._catalog, principal))})
                return page, {"format": kind, "records": len(page.records), "filters": _shown(search)}
            if kind not in ("jsonl", "csv"):
                raise invalid_field("query.format", "must be json, jsonl or csv")
            records = list(_capped(masked_records(self._trail.iter_records(search), self._catalog, principal)))
            text = _jsonl(records) if kind == "jsonl" else _csv(records)
            if len(text.encode()) > MAX_EXPORT_BYTES:
                raise ExportTooLargeError(
                    f"the export of {len(records)} events is over {MAX_EXPORT_BYTES} bytes, more than one answer "
                    "may carry: narrow the range with since and until",
                )
            content_type = "application/x-ndjson" if kind == "jsonl" else "text/csv"
            return TextBody(text, content_type), {"format": kind, "records": len(records), "filters": _shown(search)}

        return self._serve(invocation, "audit.search", Permission.READ_AUDIT, {}, work)

    def record_outcome(self, decision_id: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/decisions/{decision_id}/outcome`: 201 with the joined outcome, 200 when the same truth is
        sent again, 404 for an unknown decision, 409 when another truth is stored."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            report = self._parse(OutcomeReport, self._json(body, invocation), "an outcome report")

            def attempt() -> tuple[RecordedOutcome, dict[str, Any]]:
                recorded, created = self._outcomes.prepare(decision_id, report, reported_by=principal)
                audit.note(
                    use_case=recorded.use_case,
                    model_name=recorded.model.name if recorded.model else None,
                    model_version=recorded.model.version if recorded.model else None,
                )
                details = {"label": recorded.label, "created": created, "source": recorded.source}
                if created:
                    # The outcome and its event are stored in one transaction, or neither is.
                    audit.store_outcome(recorded, details=details)
                return recorded, details

            try:
                return attempt()
            except RecordExistsError:
                # Another invocation recorded this decision's truth first: the same truth makes this a retry.
                return attempt()

        return self._serve(
            invocation,
            "decision.outcome",
            Permission.RECORD_OUTCOME,
            {"decision_id": decision_id},
            work,
            status=_created_or_retried,
            subject={"decision_id": decision_id},
        )

    def explanation(self, decision_id: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/decisions/{decision_id}/explanation`: the reasons and contributions stored with the decision."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            explanation = self._reviews.explanation(decision_id, principal)
            audit.note(use_case=explanation.use_case)
            return explanation, {"reasons": len(explanation.reasons)}

        return self._serve(
            invocation,
            "decision.explanation",
            Permission.READ_DECISION,
            {"decision_id": decision_id},
            work,
            subject={"decision_id": decision_id},
        )

    def list_reviews(self, query: Mapping[str, str], invocation: Invocation) -> HttpAnswer:
        """`GET /v1/reviews`: pending reviews, oldest first (`use_case`, `after`, `limit`)."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            use_case = query.get("use_case")
            audit.note(use_case=use_case)
            page = self._reviews.pending(principal, use_case, after=query.get("after"), limit=_limit(query))
            return page, {"reviews": len(page.reviews)}

        return self._serve(invocation, "review.list", Permission.REVIEW_DECISIONS, {}, work)

    def read_review(self, review_id: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/reviews/{review_id}`: one review, pending or resolved."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            review = self._reviews.get(review_id, principal)
            audit.note(use_case=review.use_case)
            return review, {"status": review.status}

        return self._serve(
            invocation,
            "review.read",
            Permission.REVIEW_DECISIONS,
            {"review_id": review_id},
            work,
            subject={"decision_id": review_id},
        )

    def override(self, review_id: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/reviews/{review_id}`: the reviewer's final outcome and justification; 201 with the resolved
        review, 200 when the same override is sent again.

        The override and its audit event are stored in one transaction: if the event cannot be stored, neither
        is, and the answer is 503. The event names the decision it overrides.
        """

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            request = self._parse(ReviewOverride, self._json(body, invocation), "a review override")

            def attempt() -> tuple[BaseModel, dict[str, Any]]:
                try:
                    review, override, created = self._reviews.prepare(
                        review_id, request, reviewer=principal, event_id=audit.event_id
                    )
                except InvalidOverrideError as error:
                    raise invalid_field("outcome", str(error)) from error
                audit.note(
                    use_case=review.use_case,
                    model_name=review.model.name if review.model else None,
                    model_version=review.model.version if review.model else None,
                )
                details = {
                    "review_id": review_id,
                    "original_outcome": override.original_outcome,
                    "outcome": override.outcome,
                    "justification": override.justification,
                    "created": created,
                    "override_event_id": override.event_id,
                }
                if created:
                    # The override and its event are stored in one transaction, or neither is.
                    audit.store_override(override, review.use_case, details=details)
                return review, details

            try:
                return attempt()
            except RecordExistsError:
                # Another reviewer resolved the review first: the same override makes this a retry.
                return attempt()

        return self._serve(
            invocation,
            "review.override",
            Permission.REVIEW_DECISIONS,
            {"review_id": review_id},
            work,
            status=_created_or_retried,
            subject={"decision_id": review_id},
        )

    def drift(self, use_case: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/use-cases/{use_case}/drift`: the latest report per live version, then the history."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_use_case(principal, use_case)
            self._catalog.get(use_case)
            history = [DriftReport.model_validate(doc) for doc in self._store.reports(use_case, "drift", limit=HISTORY)]
            latest: dict[str, DriftReport] = {}
            for report in history:
                latest.setdefault(report.model_version, report)
            reports = DriftReports(use_case=use_case, latest=list(latest.values()), history=history)
            return reports, {"status": {version: report.status for version, report in latest.items()}}

        return self._serve(
            invocation,
            "monitor.drift.read",
            Permission.READ_MONITORING,
            {"use_case": use_case},
            work,
            subject={"use_case": use_case},
        )

    def bias(self, use_case: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/use-cases/{use_case}/bias`: the latest bias report; 404 before the monitor first ran."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_use_case(principal, use_case)
            self._catalog.get(use_case)
            documents = self._store.reports(use_case, "bias", limit=1)
            if not documents:
                raise NotFoundError(f"no bias report for {use_case!r} yet: the monitor has not run on it")
            report = BiasReport.model_validate(documents[0])
            return report, {"report_id": report.report_id}

        return self._serve(
            invocation,
            "monitor.bias.read",
            Permission.READ_MONITORING,
            {"use_case": use_case},
            work,
            subject={"use_case": use_case},
        )

    def quality(self, use_case: str, query: Mapping[str, str], invocation: Invocation) -> HttpAnswer:
        """`GET /v1/use-cases/{use_case}/quality`: AUC, precision and recall per version and time bucket."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_use_case(principal, use_case)
            since, until = self._range(query)
            bucket = _minutes(query, "bucket_minutes", 60)
            report = self._outcomes.quality(use_case, since=since, until=until, bucket=bucket)
            return report, {"points": len(report.points)}

        return self._serve(
            invocation,
            "monitor.quality.read",
            Permission.READ_MONITORING,
            {"use_case": use_case},
            work,
            subject={"use_case": use_case},
        )

    def kpis(self, use_case: str, query: Mapping[str, str], invocation: Invocation) -> HttpAnswer:
        """`GET /v1/use-cases/{use_case}/kpis`: the use case's process KPIs over `since` .. `until` (30 days)."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_use_case(principal, use_case)
            since, until = report_range(query, self._clock.now(), KPI_WINDOW)
            kpis = self._reports.kpis(use_case, since, until)
            return kpis, {"promotions": kpis.promotions, "rollbacks": kpis.rollbacks, "decisions": kpis.decisions}

        return self._serve(
            invocation,
            "governance.kpis",
            Permission.READ_MONITORING,
            {"use_case": use_case},
            work,
            subject={"use_case": use_case},
        )

    def legal_holds(self, use_case: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/use-cases/{use_case}/legal-holds`: the use case's holds, newest first, and whether one is on."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_use_case(principal, use_case)
            self._catalog.get(use_case)
            holds = self._holds.holds(use_case)
            held = any(hold.active for hold in holds)
            return LegalHoldList(use_case=use_case, held=held, holds=holds), {"holds": len(holds), "held": held}

        return self._serve(
            invocation,
            "retention.holds.read",
            Permission.READ_AUDIT,
            {"use_case": use_case},
            work,
            subject={"use_case": use_case},
        )

    def place_legal_hold(self, use_case: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/use-cases/{use_case}/legal-holds`: 201 with the hold; nothing of the use case is purged while
        it is on."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_use_case(principal, use_case)
            request = self._parse(LegalHoldRequest, self._json(body, invocation), "a legal hold")
            self._catalog.get(use_case)
            hold = self._holds.place_hold(use_case, request.reason, by=principal.name, at=self._now())
            return hold, {"hold_id": hold.hold_id, "reason": hold.reason}

        return self._serve(
            invocation,
            "retention.hold",
            Permission.HOLD_RECORDS,
            {"use_case": use_case},
            work,
            status=201,
            subject={"use_case": use_case},
        )

    def release_legal_hold(self, use_case: str, hold_id: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/use-cases/{use_case}/legal-holds/{hold_id}/release`: the hold released, with the reason; 409
        when it was released already."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_use_case(principal, use_case)
            request = self._parse(LegalHoldRelease, self._json(body, invocation), "a legal hold release")
            hold = self._holds.release_hold(use_case, hold_id, request.reason, by=principal.name, at=self._now())
            return hold, {"hold_id": hold_id, "reason": request.reason}

        return self._serve(
            invocation,
            "retention.hold.release",
            Permission.HOLD_RECORDS,
            {"use_case": use_case, "hold_id": hold_id},
            work,
            subject={"use_case": use_case},
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    def alerts(self, query: Mapping[str, str], invocation: Invocation) -> HttpAnswer:
        """`GET /v1/alerts`: open drift and bias alerts (`status=all` adds closed ones), newest first."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            status = query.get("status", "open")
            if status not in ("open", "all"):
                raise invalid_field("query.status", "must be open or all")
            use_case = query.get("use_case")
            audit.note(use_case=use_case)
            scope = use_case_scope(principal, use_case)
            alerts = self._store.alerts(use_case=use_case, open_only=status == "open")
            alerts = [alert for alert in alerts if scope is None or alert.use_case in scope]
            return AlertList(alerts=alerts), {"alerts": len(alerts)}

        return self._serve(invocation, "monitor.alerts.read", Permission.READ_MONITORING, {}, work)

    def usage(self, query: Mapping[str, str], invocation: Invocation) -> HttpAnswer:
        """`GET /v1/usage`: decisions per use case, version and principal (`since`, `until`, `use_case`)."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            since, until = self._range(query)
            use_case = query.get("use_case")
            audit.note(use_case=use_case)
            scope = use_case_scope(principal, use_case)
            report = self._reports.usage(since, until, use_case)
            if scope is not None:
                rows = [row for row in report.rows if row.use_case in scope]
                throttled = [row for row in report.throttled if row.use_case in scope]
                report = report.model_copy(update={"rows": rows, "throttled": throttled})
            return report, {"rows": len(report.rows)}

        return self._serve(invocation, "analytics.usage", Permission.READ_MONITORING, {}, work)

    def coverage(self, query: Mapping[str, str], invocation: Invocation) -> HttpAnswer:
        """`GET /v1/governance/coverage`: the governance coverage report over `since` .. `until`."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            if not principal.every_use_case:
                raise ForbiddenError("the coverage report spans every use case: it needs a key scoped to every one (*)")
            since, until = self._range(query)
            report = self._reports.coverage(since, until)
            return report, {"coverage_ratio": report.coverage_ratio, "audit_coverage": report.audit_coverage}

        return self._serve(invocation, "governance.coverage", Permission.READ_AUDIT, {}, work)

    def openapi_document(self, invocation: Invocation) -> HttpAnswer:
        """`GET /openapi.json`: the OpenAPI document of every API, to anyone; its event's principal is `anonymous`.

        The one route that asks for no key, so it is served here rather than by the decision API: that one is the
        latency-critical path, sized and snapshotted for decisions, and an open route must not take its capacity.
        The document describes the governed surface, which is this API's to publish.
        """
        with self._telemetry.attach(invocation.headers), self._telemetry.span("GET /openapi.json"):
            audit = self._audit(invocation, "openapi.read")
            audit.note(principal=ANONYMOUS)
            try:
                audit.store("success", status_code=200)
            except Exception as error:
                return self._answer_error(audit, error)
            return HttpAnswer(200, dict(self._openapi))

    def _range(self, query: Mapping[str, str]) -> tuple[datetime, datetime]:
        return report_range(query, self._clock.now(), DEFAULT_WINDOW)

    def _audit_query(self, query: Mapping[str, str], principal: Principal) -> AuditQuery:
        return AuditQuery(
            since=query_time(query, "since"),
            until=query_time(query, "until"),
            within=use_case_scope(principal, query.get("use_case")),
            **{name: query[name] for name in FILTERS if query.get(name)},
        )


def _created_or_retried(details: Mapping[str, Any]) -> int:
    """201 for a record this invocation stored, 200 for the same one sent again."""
    return 201 if details["created"] else 200


def _limit(query: Mapping[str, str]) -> int:
    text = query.get("limit")
    if text is None:
        return DEFAULT_PAGE
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PAGE:
        raise invalid_field("query.limit", f"must be a whole number from 1 to {MAX_PAGE}")
    return int(text)


def _minutes(query: Mapping[str, str], name: str, default: int) -> timedelta:
    text = query.get(name)
    if text is None:
        return timedelta(minutes=default)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 60 * 24 * 31:
        raise invalid_field(f"query.{name}", "must be a whole number of minutes from 1 to 44640")
    return timedelta(minutes=int(text))


def _shown(search: AuditQuery) -> dict[str, str]:
    return {item.name: str(value) for item in fields(search) if (value := getattr(search, item.name)) is not None}


def _capped(records: Iterable[AuditRecord]) -> Iterable[AuditRecord]:
    for count, record in enumerate(records, start=1):
        if count > MAX_EXPORT_ROWS:
            raise ExportTooLargeError(
                f"more than {MAX_EXPORT_ROWS} events match: narrow the range with since and until",
            )
        yield record


def _flat(record: AuditRecord) -> dict[str, Any]:
    row = record.event.model_dump(mode="json")
    row["details"] = json.dumps(row["details"], sort_keys=True, separators=(",", ":"))
    chain = record.chain
    row.update(chain_id=chain.chain_id, chain_seq=chain.seq, prev_hash=chain.prev_hash, event_hash=chain.hash)
    return row


def _jsonl(records: list[AuditRecord]) -> str:
    return "".join(record.model_dump_json() + "\n" for record in records)


def _csv(records: list[AuditRecord]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(_flat(record))
    return buffer.getvalue()
