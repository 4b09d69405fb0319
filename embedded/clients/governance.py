"""A client of the governance API: outcomes, reviews, drift, bias, quality, alerts, usage, coverage, audit events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.governance.v1 import (
    AlertList,
    BiasReport,
    CoverageReport,
    DriftReports,
    Explanation,
    LegalHold,
    LegalHoldList,
    ProcessKpis,
    QualityReport,
    RecordedOutcome,
    Review,
    ReviewList,
    UsageReport,
)
from contracts.trail.v1 import AuditPage
from embedded.clients.base import ApiClient, segment, with_query

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from embedded.clients.records import RecordFormat


class GovernanceClient(ApiClient):
    """The governance API's routes as methods."""

    def audit_events(
        self, filters: Mapping[str, str | datetime | None], *, cursor: str | None = None, limit: int = 100
    ) -> AuditPage:
        """`GET /v1/audit/events`: one page of the events matching `filters` (the route's query names), oldest first."""
        path = with_query("/v1/audit/events", {**filters, "cursor": cursor, "limit": limit})
        return self._call(AuditPage, "GET", path)

    def export_audit(self, filters: Mapping[str, str | datetime | None], kind: RecordFormat = "jsonl") -> str:
        """`GET /v1/audit/events?format=jsonl|csv`: every matching event with its chain link, as text."""
        answer = self._send("GET", with_query("/v1/audit/events", {**filters, "format": kind}))
        return answer.raw.decode("utf-8")

    def record_outcome(
        self, decision_id: str, label: bool, *, observed_at: datetime | None = None, source: str | None = None
    ) -> tuple[RecordedOutcome, bool]:
        """`POST /v1/decisions/{id}/outcome`: the decision's ground truth, and whether it was new (201, not 200)."""
        body: dict[str, object] = {"label": label}
        if observed_at is not None:
            body["observed_at"] = observed_at.isoformat()
        if source is not None:
            body["source"] = source
        path = f"/v1/decisions/{segment(decision_id)}/outcome"
        answer = self._send("POST", path, body)
        return self._parsed(RecordedOutcome, "POST", path, answer), answer.status == 201

    def explanation(self, decision_id: str) -> Explanation:
        """`GET /v1/decisions/{id}/explanation`: the reasons and features stored with the decision."""
        return self._call(Explanation, "GET", f"/v1/decisions/{segment(decision_id)}/explanation")

    def reviews(self, use_case: str | None = None, *, after: str | None = None, limit: int = 100) -> ReviewList:
        """`GET /v1/reviews`: pending reviews, oldest first."""
        return self._call(
            ReviewList, "GET", with_query("/v1/reviews", {"use_case": use_case, "after": after, "limit": limit})
        )

    def review(self, review_id: str) -> Review:
        """`GET /v1/reviews/{review_id}`: one review, pending or resolved."""
        return self._call(Review, "GET", f"/v1/reviews/{segment(review_id)}")

    def override(self, review_id: str, outcome: str, justification: str) -> Review:
        """`POST /v1/reviews/{review_id}`: the reviewer's final outcome; the resolved review comes back."""
        body = {"outcome": outcome, "justification": justification}
        return self._call(Review, "POST", f"/v1/reviews/{segment(review_id)}", body)

    def drift(self, use_case: str) -> DriftReports:
        """`GET /v1/use-cases/{use_case}/drift`: the latest drift report per live version, then the history."""
        return self._call(DriftReports, "GET", f"/v1/use-cases/{segment(use_case)}/drift")

    def bias(self, use_case: str) -> BiasReport:
        """`GET /v1/use-cases/{use_case}/bias`: the latest bias indicators."""
        return self._call(BiasReport, "GET", f"/v1/use-cases/{segment(use_case)}/bias")

    def quality(
        self,
        use_case: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        bucket_minutes: int | None = None,
    ) -> QualityReport:
        """`GET /v1/use-cases/{use_case}/quality`: AUC, precision and recall per version and time bucket."""
        query = {"since": since, "until": until, "bucket_minutes": bucket_minutes}
        return self._call(QualityReport, "GET", with_query(f"/v1/use-cases/{segment(use_case)}/quality", query))

    def alerts(self, use_case: str | None = None, *, include_closed: bool = False) -> AlertList:
        """`GET /v1/alerts`: open drift and bias alerts (closed ones too with `include_closed`), newest first."""
        query = {"use_case": use_case, "status": "all" if include_closed else None}
        return self._call(AlertList, "GET", with_query("/v1/alerts", query))

    def usage(
        self, *, since: datetime | None = None, until: datetime | None = None, use_case: str | None = None
    ) -> UsageReport:
        """`GET /v1/usage`: decisions per use case, version and principal."""
        return self._call(
            UsageReport, "GET", with_query("/v1/usage", {"since": since, "until": until, "use_case": use_case})
        )

    def kpis(self, use_case: str, *, since: datetime | None = None, until: datetime | None = None) -> ProcessKpis:
        """`GET /v1/use-cases/{use_case}/kpis`: the use case's process KPIs (the API's default: the last 30 days)."""
        path = with_query(f"/v1/use-cases/{segment(use_case)}/kpis", {"since": since, "until": until})
        return self._call(ProcessKpis, "GET", path)

    def legal_holds(self, use_case: str) -> LegalHoldList:
        """`GET /v1/use-cases/{use_case}/legal-holds`: the use case's legal holds, newest first."""
        return self._call(LegalHoldList, "GET", f"/v1/use-cases/{segment(use_case)}/legal-holds")

    def place_legal_hold(self, use_case: str, reason: str) -> LegalHold:
        """`POST /v1/use-cases/{use_case}/legal-holds`: place a hold; the purge removes nothing of the use case."""
        return self._call(LegalHold, "POST", f"/v1/use-cases/{segment(use_case)}/legal-holds", {"reason": reason})

    def release_legal_hold(self, use_case: str, hold_id: str, reason: str) -> LegalHold:
        """`POST /v1/use-cases/{use_case}/legal-holds/{hold_id}/release`: release a hold."""
        path = f"/v1/use-cases/{segment(use_case)}/legal-holds/{segment(hold_id)}/release"
        return self._call(LegalHold, "POST", path, {"reason": reason})

    def coverage(self, *, since: datetime | None = None, until: datetime | None = None) -> CoverageReport:
        """`GET /v1/governance/coverage`: the governance coverage report (the API's default: the last 24 hours)."""
        path = with_query("/v1/governance/coverage", {"since": since, "until": until})
        return self._call(CoverageReport, "GET", path)
