"""The fault suite's short variant on the embedded default: the decision and audit writer sandboxes killed,
DynamoDB throttled, a burst of duplicates; after each, every decision answered is readable and audited once, and
no request has two decisions.

The promises do not depend on a model: untrained, every decision is the use case's fallback, decided, stored and
audited like any other, and the suite spends no CI minutes on training. The worker faults need a model to act on;
`leaim chaos --short` runs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from rich.console import Console

from embedded.chaos.run import SHORT_FAULTS, ChaosOptions, run_chaos

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_the_short_suite_loses_duplicates_and_leaves_unaudited_nothing(tmp_path: Path) -> None:
    console = Console(file=(tmp_path / "chaos.txt").open("w"), width=200)
    options = ChaosOptions(faults=SHORT_FAULTS, rate=2.0, before_s=3.0, fault_s=6.0, training_rows=1_500, docs_dir=None)
    status, result = run_chaos(console, options)
    assert result.skipped == {}
    assert [row.fault for row in result.rows] == list(SHORT_FAULTS)
    for row in result.rows:
        assert row.answered > 0, row
        assert (row.lost, row.duplicated, row.unaudited) == (0, 0, 0), (row, result.notes)
    assert status == 0
