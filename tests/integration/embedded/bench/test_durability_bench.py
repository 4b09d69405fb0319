"""The durability benchmark, run small: requests against the in-memory endpoint, restores, and its page."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from rich.console import Console

from embedded.bench.durability import run_durability_bench

if TYPE_CHECKING:
    from pathlib import Path


def test_a_run_times_each_operation_against_the_in_memory_endpoint_and_restores_every_item(tmp_path: Path) -> None:
    status = run_durability_bench(Console(file=io.StringIO(), width=200), requests=5, entities=50, docs_dir=tmp_path)

    page = (tmp_path / "durability.md").read_text(encoding="utf-8")
    assert status == 0
    assert page.startswith("# Durable embedded default\n")
    assert "`uv run leaim bench-durability --requests 5 --entities 50`" in page
    for operation in (
        "DynamoDB PutItem of 5,000 bytes",
        "DynamoDB GetItem",
        "SQS send, receive and delete",
        "S3 PutObject",
    ):
        assert re.search(rf"\| {re.escape(operation)}[^|]*\| [\d.]+ \| [\d.]+ \| [+-][\d.]+ \| [\d.]+ \|", page), page
    # 25 warm-up and measured items, then 50 more, and the table, queue, bucket and their contents, all restored.
    restored = re.search(
        r"\| after a `kill -9`: the checkpoint, then every record of the journal \| [\d.]+ \| ([\d,]+) \|", page
    )
    assert restored is not None, page
    assert int(restored.group(1).replace(",", "")) >= 75
    assert "| a later start: the checkpoint the restore before wrote |" in page
