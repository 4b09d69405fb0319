"""The page every benchmark writes: what was measured, when, on which machine, its targets and its tables.

A benchmark gathers its figures into a `BenchmarkPage`; `publish` prints the tables on the console and
rewrites the whole page as `<directory>/<name>.md`, Markdown for MkDocs: plain GitHub-style tables, no raw
HTML, no links. The figures of a page all come from the one run it describes.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime, timedelta

    from rich.console import Console

# The repository's own docs: the benchmarks run from a checkout, as the embedded default does.
DOCS_DIRECTORY = Path(__file__).resolve().parents[2] / "docs" / "benchmarks"
GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Machine:
    """The machine a run measured."""

    cpu: str
    cores: int
    memory_bytes: int
    os: str
    python: str
    # Only the benchmarks that score with onnxruntime name the provider that served.
    onnxruntime_provider: str | None = None


def describe_machine(onnxruntime_provider: str | None = None) -> Machine:
    """This machine: CPU model, the cores this process may use, physical memory, OS and Python."""
    return Machine(
        cpu=_cpu_model(),
        cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        memory_bytes=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        os=_operating_system(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        onnxruntime_provider=onnxruntime_provider,
    )


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a table: figures are right-aligned, text left-aligned."""

    heading: str
    figures: bool = True


@dataclass(frozen=True, slots=True)
class FigureTable:
    """One table of a page, with an optional sentence under it saying how to read it."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[str]]
    note: str = ""

    def markdown(self) -> str:
        """The table as a Markdown section: its title as a heading, the table, then the note."""
        alignments = ["---:" if column.figures else "---" for column in self.columns]
        lines = [
            f"## {self.title}",
            "",
            _markdown_row([column.heading for column in self.columns]),
            _markdown_row(alignments),
            *(_markdown_row(row) for row in self.rows),
        ]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines)

    def rich(self) -> Table:
        """The table for the terminal."""
        table = Table(title=self.title, caption=self.note or None)
        for column in self.columns:
            table.add_column(column.heading, justify="right" if column.figures else "left")
        for row in self.rows:
            table.add_row(*row)
        return table


@dataclass(frozen=True, slots=True)
class Target:
    """A target the project set for a figure, and what this run measured against it."""

    what: str
    target: str
    measured: str
    met: bool


@dataclass(frozen=True, slots=True)
class BenchmarkPage:
    """Everything one page says about one run of one benchmark."""

    name: str
    title: str
    summary: str
    command: str
    started_at: datetime
    finished_at: datetime
    machine: Machine
    tables: Sequence[FigureTable]
    targets: Sequence[Target] = ()
    # What else this run found, one sentence each (which modules a cold start imported, what drifted...).
    findings: Sequence[str] = ()

    def markdown(self) -> str:
        """The whole page."""
        sections = [
            f"# {self.title}",
            self.summary,
            f"Written by `uv run {self.command}`, which rewrites this page each time it runs. This run started "
            f"{self.started_at:%Y-%m-%d at %H:%M:%S %Z} and took {_duration(self.finished_at - self.started_at)}.",
            "## Machine\n\n" + "\n".join(f"- {line}" for line in _machine_lines(self.machine)),
            self._targets_section(),
            *(table.markdown() for table in self.tables),
        ]
        if self.findings:
            sections.append("## Also found in this run\n\n" + "\n".join(f"- {finding}" for finding in self.findings))
        return "\n\n".join(sections) + "\n"

    def targets_table(self) -> FigureTable | None:
        """The targets with this run's figures and whether each was met; None when the benchmark has none."""
        if not self.targets:
            return None
        met = sum(target.met for target in self.targets)
        if len(self.targets) == 1:
            verdict = "This run met the target." if met else "This run did not meet the target."
        else:
            verdict = f"This run met {met} of {len(self.targets)} targets."
        return FigureTable(
            title="Targets",
            columns=(
                Column("figure", figures=False),
                Column("target"),
                Column("this run"),
                Column("met", figures=False),
            ),
            rows=[
                (target.what, target.target, target.measured, "yes" if target.met else "no") for target in self.targets
            ],
            note=verdict,
        )

    def _targets_section(self) -> str:
        table = self.targets_table()
        if table is None:
            return (
                "## Targets\n\nThe project sets no target for this benchmark: each figure is read against its "
                "floor, measured in the same run."
            )
        return table.markdown()


def publish(console: Console, page: BenchmarkPage, directory: Path | None) -> Path | None:
    """Print the page's tables, targets and findings, and write the page into `directory` unless it is None.

    Returns the path written, or None when nothing was.
    """
    for table in page.tables:
        console.print(table.rich())
    targets = page.targets_table()
    if targets is not None:
        console.print(targets.rich())
    for finding in page.findings:
        console.print(finding, markup=False, highlight=False)
    console.print(f"Ran in {_duration(page.finished_at - page.started_at)}.", highlight=False)
    if directory is None:
        return None
    path = write_page(page, directory)
    console.print(f"Wrote {path}", markup=False, highlight=False)
    return path


def write_page(page: BenchmarkPage, directory: Path) -> Path:
    """Write the whole page as `<directory>/<name>.md`, creating the directory, and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{page.name}.md"
    path.write_text(page.markdown(), encoding="utf-8")
    return path


def ratio(value: float, floor: float) -> str:
    """`value / floor` as the tables show a figure against its floor (see `format_ratio`); n/a for a zero floor."""
    return format_ratio(value / floor) if floor else "n/a"


def format_ratio(quotient: float) -> str:
    """A ratio to three significant figures, trailing zeros kept (1.00, 51.4, 0.186), whole above 100 (1,208)."""
    return f"{quotient:,.0f}" if quotient >= 100 else f"{quotient:#.3g}"


def _markdown_row(cells: Sequence[str]) -> str:
    # A pipe inside a cell would end it early.
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _machine_lines(machine: Machine) -> list[str]:
    lines = [
        f"CPU: {machine.cpu}, {machine.cores} {'core' if machine.cores == 1 else 'cores'} usable",
        f"Memory: {machine.memory_bytes / GIB:.1f} GiB",
        f"OS: {machine.os}",
        f"Python: {machine.python}",
    ]
    if machine.onnxruntime_provider is not None:
        lines.append(f"onnxruntime provider: {machine.onnxruntime_provider}")
    return lines


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    return platform.processor() or platform.machine()


def _operating_system() -> str:
    kernel = f"{platform.system()} {platform.release()} {platform.machine()}"
    try:
        release = platform.freedesktop_os_release()
    except OSError:
        return kernel
    return f"{release.get('PRETTY_NAME', release.get('NAME', platform.system()))}, {kernel}"


def _duration(elapsed: timedelta) -> str:
    seconds = elapsed.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"
