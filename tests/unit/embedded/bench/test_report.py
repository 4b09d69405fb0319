"""The page every benchmark writes: machine, date, command, targets and tables, as MkDocs-ready Markdown."""

from __future__ import annotations

import io
import os
import platform
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rich.console import Console

from embedded.bench.report import (
    DOCS_DIRECTORY,
    BenchmarkPage,
    Column,
    FigureTable,
    Machine,
    Target,
    describe_machine,
    format_ratio,
    publish,
    ratio,
)
from tests.support.paths import REPOSITORY

if TYPE_CHECKING:
    from pathlib import Path

STARTED = datetime(2026, 1, 5, 9, 30, 15, tzinfo=UTC)
MACHINE = Machine(
    cpu="Test CPU 3000",
    cores=2,
    memory_bytes=8 * 1024**3,
    os="Debian GNU/Linux 12 (bookworm), Linux 6.1 x86_64",
    python="CPython 3.11.7",
    onnxruntime_provider="CPUExecutionProvider",
)


def page(**changes: object) -> BenchmarkPage:
    fields: dict[str, object] = {
        "name": "decisions",
        "title": "Decision path",
        "summary": "The governed decision path against its floors.",
        "command": "leaim bench --iterations 20",
        "started_at": STARTED,
        "finished_at": STARTED + timedelta(minutes=4, seconds=12),
        "machine": MACHINE,
        "tables": [
            FigureTable(
                title="In process",
                columns=(Column("measurement", figures=False), Column("p50 ms"), Column("x raw p50")),
                rows=[("raw onnxruntime, batch 1", "0.349", "1.00"), ("governed | in process", "17.952", "51.4")],
                note="Each ratio is the row's p50 over the raw p50.",
            )
        ],
        "targets": [
            Target("governed overhead at p50", "<= 1 ms", "17.6 ms", met=False),
            Target("cold start", "<= 300 ms", "250 ms", met=True),
        ],
        "findings": ["The API function's cold start imports none of onnxruntime, numpy."],
    }
    return BenchmarkPage(**{**fields, **changes})


def test_a_page_states_the_run_the_machine_the_targets_and_the_tables() -> None:
    markdown = page().markdown()

    assert markdown.startswith("# Decision path\n\nThe governed decision path against its floors.\n\n")
    assert "Written by `uv run leaim bench --iterations 20`, which rewrites this page each time it runs." in markdown
    assert "This run started 2026-01-05 at 09:30:15 UTC and took 4 min 12 s." in markdown
    assert (
        "## Machine\n\n- CPU: Test CPU 3000, 2 cores usable\n- Memory: 8.0 GiB\n"
        "- OS: Debian GNU/Linux 12 (bookworm), Linux 6.1 x86_64\n- Python: CPython 3.11.7\n"
        "- onnxruntime provider: CPUExecutionProvider\n"
    ) in markdown
    assert (
        "## Targets\n\n| figure | target | this run | met |\n| --- | ---: | ---: | --- |\n"
        "| governed overhead at p50 | <= 1 ms | 17.6 ms | no |\n| cold start | <= 300 ms | 250 ms | yes |\n\n"
        "This run met 1 of 2 targets.\n"
    ) in markdown
    assert (
        "## In process\n\n| measurement | p50 ms | x raw p50 |\n| --- | ---: | ---: |\n"
        "| raw onnxruntime, batch 1 | 0.349 | 1.00 |\n| governed \\| in process | 17.952 | 51.4 |\n\n"
        "Each ratio is the row's p50 over the raw p50.\n"
    ) in markdown
    assert markdown.endswith(
        "## Also found in this run\n\n- The API function's cold start imports none of onnxruntime, numpy.\n"
    )
    assert "<" not in markdown.replace("<= ", "")


def test_a_page_without_targets_says_so_and_one_without_a_provider_leaves_it_out() -> None:
    machine = Machine("Test CPU", 1, 1024**3, "Linux", "CPython 3.12.1")

    markdown = page(targets=(), findings=(), machine=machine).markdown()

    assert "The project sets no target for this benchmark" in markdown
    assert "- CPU: Test CPU, 1 core usable\n" in markdown
    assert "onnxruntime" not in markdown.split("## Targets")[0]
    assert "## Also found in this run" not in markdown


def test_publish_writes_the_whole_page_into_the_folder_it_is_given(tmp_path: Path) -> None:
    folder = tmp_path / "docs" / "benchmarks"
    folder.mkdir(parents=True)
    (folder / "decisions.md").write_text("# An older page\n\nwith prose that must go\n", encoding="utf-8")
    output = io.StringIO()

    written = publish(Console(file=output, width=200), page(), folder)

    assert written == folder / "decisions.md"
    assert written.read_text(encoding="utf-8") == page().markdown()
    console = output.getvalue()
    assert "In process" in console and "Targets" in console and "Ran in 4 min 12 s." in console
    assert f"Wrote {written}" in console


def test_publish_to_none_prints_the_figures_and_writes_nothing(tmp_path: Path) -> None:
    output = io.StringIO()

    written = publish(Console(file=output, width=200), page(), None)

    assert written is None
    assert "governed | in process" in output.getvalue()
    assert "Wrote" not in output.getvalue()


def test_the_default_folder_is_the_repository_docs() -> None:
    assert DOCS_DIRECTORY == REPOSITORY / "docs" / "benchmarks"


def test_the_machine_described_is_this_one() -> None:
    machine = describe_machine("CPUExecutionProvider")

    assert machine.cpu
    assert 1 <= machine.cores <= (os.cpu_count() or 1)
    assert machine.memory_bytes > 0
    assert platform.system() in machine.os and platform.release() in machine.os
    assert machine.python == f"{platform.python_implementation()} {platform.python_version()}"
    assert machine.onnxruntime_provider == "CPUExecutionProvider"


def test_ratios_keep_three_significant_figures() -> None:
    assert [format_ratio(q) for q in (1.0, 0.18612, 0.0028, 2.049, 51.44, 312.2, 1208.4)] == [
        "1.00",
        "0.186",
        "0.00280",
        "2.05",
        "51.4",
        "312",
        "1,208",
    ]
    assert ratio(6861, 35648) == "0.192"
    assert ratio(1.0, 0.0) == "n/a"


def test_a_single_target_is_met_or_not_in_plain_words() -> None:
    missed = page(targets=[Target("records/s", ">= 20,000 records/s", "18,348 records/s", met=False)])
    met = page(targets=[Target("records/s", ">= 20,000 records/s", "21,000 records/s", met=True)])

    assert "This run did not meet the target.\n" in missed.markdown()
    assert "This run met the target.\n" in met.markdown()
