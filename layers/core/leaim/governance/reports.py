"""Usage analytics and the governance coverage report (the paper's Governance Coverage Ratio, measured)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from contracts.governance.v1 import AuditLag, CoverageReport, ThrottledRow, UsageReport, UsageRow
from leaim.governance.evidence.checks import EvidenceFacts, compliance_evidence
from leaim.governance.kpis import process_kpis

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from contracts.governance.v1 import ProcessKpis, UseCaseEvidence
    from contracts.model.v1 import SignedManifest
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog
    from leaim.governance.audit.intake import IntakeHistory
    from leaim.governance.oversight.ports import InvocationLedger, OversightStore, ProcessHistory, UsageFact
    from leaim.lifecycle.ports import ModelRegistry
    from leaim.serving.ports import ActiveModel, ModelRouter

# How many unaudited invocations and ungoverned versions a coverage report names.
SHOWN = 20
# The longest a function runs (the training function's 15 minutes): its event may precede its end by that much.
EVENT_LEAD = timedelta(minutes=15)


def usage_rows(facts: Sequence[UsageFact]) -> list[UsageRow]:
    """Decision counts, latency percentiles and fallback, review and override rates per use case, version and
    principal, most used first."""
    groups: dict[tuple[str, str | None, str | None], list[UsageFact]] = defaultdict(list)
    for fact in facts:
        groups[(fact.use_case, fact.model_version, fact.principal)].append(fact)
    rows = []
    for (use_case, version, principal), members in groups.items():
        latencies = np.array([fact.duration_ms for fact in members], dtype=np.float64)
        p50, p95, p99 = (float(value) for value in np.percentile(latencies, [50, 95, 99], method="nearest"))
        reviewed = [fact for fact in members if fact.review_required]
        count = len(members)
        rows.append(
            UsageRow(
                use_case=use_case,
                model_version=version,
                principal=principal,
                decisions=count,
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                latency_p99_ms=p99,
                fallback_rate=sum(fact.fallback for fact in members) / count,
                review_rate=len(reviewed) / count,
                override_rate=sum(fact.overridden for fact in reviewed) / len(reviewed) if reviewed else None,
            )
        )
    return sorted(rows, key=lambda row: (-row.decisions, row.use_case, row.model_version or "", row.principal or ""))


@dataclass(frozen=True, slots=True)
class _LiveVersion:
    """A version serving a use case, its signed manifest (None when the registry lacks it), and why it is not
    governed (None when it is)."""

    model: ActiveModel
    signed: SignedManifest | None
    problem: str | None


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


class GovernanceReports:
    """Usage analytics, process KPIs and coverage, read from the audit store, the registry, the training jobs and the
    function platform."""

    def __init__(
        self,
        *,
        store: OversightStore,
        catalog: ManifestCatalog,
        router: ModelRouter,
        registry: ModelRegistry,
        ledger: InvocationLedger,
        verifies: Callable[[SignedManifest], bool],
        history: ProcessHistory,
        clock: Clock,
        intake: IntakeHistory | None = None,
        archived: Callable[[str, str], set[str]] | None = None,
    ) -> None:
        """`intake` is the audit writer's history, where the audit store keeps one: the lag the report shows.
        `archived` names the kinds of document archived beside a model version, where the archive can be read."""
        self._store = store
        self._catalog = catalog
        self._router = router
        self._registry = registry
        self._ledger = ledger
        self._verifies = verifies
        self._history = history
        self._clock = clock
        self._intake = intake
        self._archived = archived

    def usage(self, since: datetime, until: datetime | None, use_case: str | None) -> UsageReport:
        """Decisions per use case, version and principal in [since, until)."""
        if use_case is not None:
            self._catalog.get(use_case)
        end = until or datetime.fromtimestamp(self._clock.now(), UTC)
        throttled = [
            ThrottledRow(use_case=name, principal=principal, requests=requests)
            for name, principal, requests in self._store.throttled(since, end, use_case)
        ]
        rows = usage_rows(self._store.usage(since, end, use_case))
        return UsageReport(since=since, until=end, rows=rows, throttled=throttled)

    def kpis(self, use_case: str, since: datetime, until: datetime) -> ProcessKpis:
        """The process KPIs of a use case over [since, until); NotFoundError for an unknown use case."""
        self._catalog.get(use_case)
        changes = self._history.traffic_changes(use_case, since, until)
        promoted: dict[str, set[str]] = defaultdict(set)
        for change in changes:
            if change.change == "promote" and change.version is not None:
                promoted[change.model_name].add(change.version)
        trained = {
            (model_name, version): job
            for model_name, versions in promoted.items()
            for version, job in self._history.jobs_of(model_name, versions).items()
        }
        return process_kpis(
            use_case,
            since,
            until,
            changes=changes,
            trained=trained,
            jobs=self._history.training_jobs(use_case, since, until),
            alerts=self._store.alerts(use_case=use_case, open_only=False),
            usage=self._store.usage(since, until, use_case),
        )

    def coverage(self, since: datetime, until: datetime | None = None) -> CoverageReport:
        """What share of invocations stored their audit event, of decisions can be explained, and of live
        versions are governed (a signed manifest that verifies, a baseline and passed gates), with open alerts, how
        long accepted events waited for their hash chain, and the process KPIs of every use case.
        """
        end = until or datetime.fromtimestamp(self._clock.now(), UTC)
        # An invocation is counted when it ends, after its event: events from just before the window count too.
        audited_ids = self._store.audited_invocations(since - EVENT_LEAD, end)
        counted = self._ledger.invocations(since, end)
        if isinstance(counted, int):
            invocations, audited, unaudited = counted, min(len(audited_ids), counted), []
        else:
            missing = [f"{item.function}:{item.request_id}" for item in counted if item.request_id not in audited_ids]
            invocations, audited, unaudited = len(counted), len(counted) - len(missing), missing[:SHOWN]
        explanations = self._store.explanation_counts(since, end)
        decisions = sum(total for total, _ in explanations.values())
        explained = sum(count for _, count in explanations.values())
        versions = self._live_versions()
        live = sum(len(served) for served in versions.values())
        ungoverned = [
            f"{use_case}: {version.model.name}@{version.model.version} {version.problem}"
            for use_case, served in versions.items()
            for version in served
            if version.problem is not None
        ]
        shares = [
            _share(audited, invocations),
            _share(explained, decisions),
            _share(live - len(ungoverned), live),
        ]
        measured = [share for share in shares if share is not None]
        return CoverageReport(
            since=since,
            until=end,
            invocations=invocations,
            invocations_audited=audited,
            audit_coverage=shares[0],
            unaudited_invocations=unaudited,
            decisions=decisions,
            decisions_explained=explained,
            explanation_coverage=shares[1],
            live_versions=live,
            live_versions_governed=live - len(ungoverned),
            version_coverage=shares[2],
            ungoverned_versions=ungoverned[:SHOWN],
            open_alerts=self._store.alerts(open_only=True),
            coverage_ratio=sum(measured) / len(measured) if measured else None,
            audit_lag=self._audit_lag(since, end),
            kpis=[self.kpis(use_case, since, end) for use_case in sorted(self._catalog.names())],
            evidence=[
                self._evidence(
                    use_case,
                    versions.get(use_case, []),
                    explanations.get(use_case, (0, 0)),
                    audit_coverage=shares[0],
                    unaudited=invocations - audited,
                )
                for use_case in sorted(self._catalog.names())
            ],
        )

    def _evidence(
        self,
        use_case: str,
        served: Sequence[_LiveVersion],
        explanations: tuple[int, int],
        *,
        audit_coverage: float | None,
        unaudited: int,
    ) -> UseCaseEvidence:
        champion = served[0] if served else None
        archived = None
        if champion is not None and self._archived is not None:
            archived = frozenset(self._archived(champion.model.name, champion.model.version))
        return compliance_evidence(
            EvidenceFacts(
                use_case=self._catalog.get(use_case),
                champion=None if champion is None else champion.signed,
                champion_problem=None if champion is None else champion.problem,
                audit_coverage=audit_coverage,
                unaudited=unaudited,
                explanation_coverage=_share(explanations[1], explanations[0]),
                monitored=bool(self._store.reports(use_case, "drift", limit=1)),
                archived=archived,
            )
        )

    def _audit_lag(self, since: datetime, until: datetime) -> AuditLag | None:
        if self._intake is None:
            return None
        lag = self._intake.lag(since, until)
        return AuditLag(
            batches=lag.batches,
            events=lag.events,
            lag_p50_s=lag.lag_p50_s,
            lag_p99_s=lag.lag_p99_s,
            lag_max_s=lag.lag_max_s,
        )

    def _live_versions(self) -> dict[str, list[_LiveVersion]]:
        """The versions serving each use case, the champion first, each read from the registry once and judged."""
        live: dict[str, list[_LiveVersion]] = {}
        for use_case in self._catalog.names():
            plan = self._router.plan(use_case)
            if plan is None:
                continue
            live[use_case] = []
            for model in (plan.champion, plan.challenger):
                if model is not None:
                    signed = self._registry.get(model.name, model.version)
                    live[use_case].append(_LiveVersion(model, signed, self._problem(signed)))
        return live

    def _problem(self, signed: SignedManifest | None) -> str | None:
        if signed is None:
            return "is not in the registry"
        manifest = signed.manifest
        if not self._verifies(signed):
            return "has a manifest whose signature does not verify"
        if manifest.baseline.rows <= 0 or not manifest.baseline.features:
            return "has no training baseline"
        failed = [gate.gate for gate in manifest.gates if not gate.passed]
        if manifest.status != "approved" or failed:
            return f"did not pass its gates ({', '.join(failed) or manifest.status})"
        return None
