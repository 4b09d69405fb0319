"""The abuse benchmark, run small: every attack detected, no alarm on ordinary traffic, and its page."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from rich.console import Console

from embedded.bench.abuse import run_abuse_bench
from embedded.cli import main

if TYPE_CHECKING:
    from pathlib import Path


def test_a_small_run_detects_each_attack_and_writes_its_page_with_the_false_alarm_rate(tmp_path: Path) -> None:
    output = io.StringIO()

    status = run_abuse_bench(Console(file=output, width=200), windows=12, principals=3, docs_dir=tmp_path)

    page = (tmp_path / "abuse.md").read_text(encoding="utf-8")
    assert status == 0
    assert page.startswith("# Inference abuse detection\n")
    assert "`uv run leaim bench-abuse --windows 12 --principals 3`" in page
    assert f"started {datetime.now(UTC):%Y-%m-%d}" in page
    assert "- CPU: " in page and "- Python: " in page
    assert "## Detection of each attack" in page and "## False alarms on ordinary traffic" in page
    # Twelve windows hold three of each attack; every one is found by its own signal.
    for attack in ("rate burst", "one-feature sweep", "flood below the baseline"):
        assert re.search(rf"\| {attack} [^|]*\| +3 \| +3 \| 100% \|", page), attack
    rate = re.search(
        r"False-alarm rate on ordinary traffic: (\d\.\d{4}) alarms per principal-window \((\d+) in 36\)", page
    )
    assert rate is not None and float(rate.group(1)) == int(rate.group(2)) / 36
    assert "False-alarm rate" in output.getvalue()


def test_the_command_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench-abuse", "--help"])

    assert exited.value.code == 0
    assert "--windows" in capsys.readouterr().out
