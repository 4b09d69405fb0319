"""The fault suite's table and page: one row per fault, the columns the issue names, the promises as targets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from embedded.chaos.checks import Findings
from embedded.chaos.run import ChaosOptions, SuiteResult, _page, fault_names, fault_table, table_row


def findings(fault: str, *, lost: int = 0, recovery_s: float | None = 1.25) -> Findings:
    return Findings(fault, 100, 90, 5, 3, lost, 0, 0, recovery_s)


def test_the_table_has_one_row_per_fault_with_every_column() -> None:
    table = fault_table([findings("kill -9 a worker"), findings("SQS errors", recovery_s=None)])
    assert [column.heading for column in table.columns] == [
        "fault",
        "requests",
        "answered",
        "fallbacks",
        "5xx",
        "lost",
        "duplicated",
        "unaudited",
        "recovery (s)",
    ]
    assert table.rows == [
        ["kill -9 a worker", "100", "90", "5", "3", "0", "0", "0", "1.2"],
        ["SQS errors", "100", "90", "5", "3", "0", "0", "0", "not recovered"],
    ]
    markdown = table.markdown()
    assert "| kill -9 a worker | 100 | 90 | 5 | 3 | 0 | 0 | 0 | 1.2 |" in markdown


def test_the_page_names_each_fault_its_promises_and_what_was_not_run() -> None:
    result = SuiteResult(
        rows=[findings("kill -9 a worker"), findings("DynamoDB errors", lost=2)],
        skipped={"cut PostgreSQL off": "the stack's audit store is not PostgreSQL behind a proxy"},
        notes=["DynamoDB errors: lost r-7"],
        described={"kill -9 a worker": "SIGKILL to one worker.", "DynamoDB errors": "Half refused."},
    )
    now = datetime.now(UTC)
    page = _page(ChaosOptions(), result, now)
    markdown = page.markdown()
    assert "SIGKILL to one worker." in markdown
    assert "Not run: cut PostgreSQL off: the stack's audit store is not PostgreSQL behind a proxy." in markdown
    assert "DynamoDB errors: lost r-7" in markdown
    targets = page.targets_table()
    assert targets is not None
    assert [row[-1] for row in targets.rows] == ["yes", "no"]
    assert table_row(result.rows[1])[5] == "2"


def test_faults_are_selected_by_name_in_the_suites_order() -> None:
    names = fault_names()
    assert "kill -9 the whole stack" in names and "fill the state disk" in names
    options = ChaosOptions(faults=["a burst of duplicates", "kill -9 a worker"])
    assert options.selected(names) == ["kill -9 a worker", "a burst of duplicates"]
    with pytest.raises(ValueError, match="no fault named unplug"):
        ChaosOptions(faults=["unplug"]).selected(names)
