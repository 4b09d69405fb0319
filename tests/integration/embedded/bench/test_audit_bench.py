"""The audit benchmark, run small on a SQLite file and on the PostgreSQL server: its page and its targets."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from rich.console import Console

from embedded.bench.audit import DEFAULT_POSTGRES, VERIFY_WORKERS, run_audit_bench

if TYPE_CHECKING:
    from pathlib import Path

SMALL = {"events": 6_000, "batched_events": 2_000, "single_events": 20, "decisions": 40, "drain_events": 4_000}


def run_small(folder: Path | None, postgres: str | None) -> tuple[int, str]:
    output = io.StringIO()
    status = run_audit_bench(Console(file=output, width=200), postgres=postgres, docs_dir=folder, **SMALL)
    return status, output.getvalue()


def test_a_run_on_sqlite_writes_its_page_with_the_machine_the_date_its_targets_and_its_table(tmp_path: Path) -> None:
    status, _ = run_small(tmp_path, None)

    page = (tmp_path / "audit.md").read_text(encoding="utf-8")
    assert status == 0
    assert [path.name for path in tmp_path.iterdir()] == ["audit.md"]
    assert page.startswith("# Audit trail\n")
    assert "`uv run leaim bench-audit --events 6000 --no-postgres`" in page
    assert "PostgreSQL was not measured in this run, nor the audit writer." in page
    assert f"started {datetime.now(UTC):%Y-%m-%d}" in page
    assert "- CPU: " in page and "- Memory: " in page and "- OS: " in page and "- Python: " in page
    processes = f"{VERIFY_WORKERS} process{'es' if VERIFY_WORKERS > 1 else ''}"
    assert "| SQLite: batched appends (1,000 events per transaction) | >= 30,000 events/s | " in page
    assert f"| SQLite: full verification of 1,000,000 events, {processes} | <= 30 s | " in page
    assert "s for 6,000 events: " in page and "This run met " in page and "of 2 targets." in page
    for row in (
        "| hash chain alone (canonical JSON and sha256, no store) | 2,000 | ",
        "| SQLite append, 1,000 events per transaction | 2,000 | ",
        "| SQLite append, one event per transaction | 20 | ",
        "| SQLite full verification, 1 process | 6,000 | ",
    ):
        assert row in page
    [chain] = [line for line in page.splitlines() if line.startswith("| hash chain alone")]
    assert chain.endswith(" | 1.00 |")
    assert "- SQLite: audit trail intact: " in page and "40 decisions" in page


def test_a_run_told_to_write_nowhere_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    status, console = run_small(None, None)

    assert status == 0
    assert list(tmp_path.iterdir()) == []
    assert "SQLite full verification" in console and "Wrote" not in console


@pytest.mark.postgres
def test_a_run_with_postgresql_measures_both_stores_and_the_writers_drain_against_a_plain_copy(
    tmp_path: Path,
) -> None:
    server = os.environ.get("LEAIM_TEST_POSTGRES_URL", DEFAULT_POSTGRES)

    status, console = run_small(tmp_path, server)

    page = (tmp_path / "audit.md").read_text(encoding="utf-8")
    assert status == 0
    assert "| PostgreSQL append, 1,000 events per transaction | 2,000 | " in page
    assert "| PostgreSQL full verification, 1 process | 6,000 | " in page
    assert "| PostgreSQL: batched appends (1,000 events per transaction) | >= 30,000 events/s | " in page
    assert "- PostgreSQL: audit trail intact: " in page
    assert "## Audit writer: accepted bundles drained into the PostgreSQL hash chains" in page
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in page.splitlines() if " bundles per " in line}
    floor = rows["plain COPY of the same rows, 1,000 bundles per transaction (the floor)"]
    assert floor.startswith("| plain COPY of the same rows") and floor.endswith(" | 1.00 |")
    for batch in ("100", "500", "1,000"):
        assert f"| one audit writer, {batch} bundles per batch | 1 | {batch} | 4,000 | " in page
    for writers in (2, 4):
        assert f"| {writers} audit writers at once, 1,000 bundles per batch | {writers} | 1,000 | 4,000 | " in page
    assert "| PostgreSQL: audit writer drain, one writer, 1,000 bundles per batch | >= 30,000 events/s | " in page
    assert "| PostgreSQL: audit writer drain, writers at once (one per stream shard) | >= 30,000 events/s | " in page
    assert "of 6 targets." in page
    assert "- PostgreSQL: the plain COPY of the writer's rows reached " in page
    assert "audit writers at once" in console
