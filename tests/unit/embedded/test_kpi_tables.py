"""How `leaim governance kpis` and the report show the process KPIs and the evidence: units that fit each figure."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from rich.console import Console

from contracts.governance.v1 import EvidenceItem, ProcessKpis, UseCaseEvidence
from embedded.clients.tables import evidence_table, kpis_facts, kpis_table

SINCE = datetime(2026, 11, 1, tzinfo=UTC)


def shown(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=250)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def kpis(**figures: object) -> ProcessKpis:
    values: dict[str, object] = {
        "use_case": "card_fraud",
        "since": SINCE,
        "until": SINCE + timedelta(days=30),
        "deployments": 4,
        "promotions": 2,
        "deployments_per_week": 2 / (30 / 7),
        "lead_time_p50_hours": 0.25,
        "lead_time_max_hours": 30.0,
        "rollbacks": 1,
        "change_failure_rate": 0.25,
        "alerts_opened": 1,
        "alerts_closed": 1,
        "alerts_open": 0,
        "mean_time_to_recovery_hours": None,
        "training_jobs": 3,
        "training_jobs_by_trigger": {"drift": 1, "person": 2},
        "versions_trained": 2,
        "retraining_interval_days": 0.5,
        "decisions": 10,
        "review_rate": 0.2,
        "override_rate": 0.5,
    }
    return ProcessKpis.model_validate({**values, **figures})


def test_durations_are_shown_in_minutes_hours_or_days_as_they_fit_and_unmeasured_ones_as_a_dash() -> None:
    facts = shown(kpis_facts(kpis()))

    assert "p50 15.0 min, max 30.0 h" in facts
    assert "every 12.0 h" in facts
    assert "- over 1 closed alerts" in facts
    assert "3 (drift 1, person 2), 2 approved" in facts
    assert "25.0%" in facts
    assert "every 3.0 d" in shown(kpis_facts(kpis(retraining_interval_days=3.0)))
    row = next(line for line in shown(kpis_table("Process KPIs", [kpis()])).splitlines() if "card_fraud" in line)
    assert [cell.strip() for cell in row.strip("│").split("│")] == [
        "card_fraud", "2", "0.47", "15.0 min", "1", "25.0%", "-", "3", "12.0 h", "10", "20.0%", "50.0%",
    ]  # fmt: skip


def test_the_evidence_table_counts_covered_items_and_shows_each_gap() -> None:
    evidence = UseCaseEvidence(
        use_case="card_fraud",
        items=[
            EvidenceItem(
                anchor="EU AI Act Art. 12", requirement="logs", status="evidence", evidence="the trail", gaps=[]
            ),
            EvidenceItem(
                anchor="EU AI Act Art. 14", requirement="oversight", status="gap", evidence="reviews", gaps=["no band"]
            ),
        ],
        gaps=1,
    )

    table = shown(evidence_table(evidence))

    assert "Evidence for card_fraud: 1 items covered, 1 gaps" in table
    assert "the trail" in table and "no band" in table and "reviews" not in table
