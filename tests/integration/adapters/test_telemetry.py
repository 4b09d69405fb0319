"""The embedded default's span file on a full disk: spans are lost with one log line, and the calls go on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from leaim.adapters.telemetry import JsonLinesSpanExporter

FULL_DEVICE = Path("/dev/full")


@pytest.mark.skipif(not FULL_DEVICE.exists(), reason="needs /dev/full, which answers every write with ENOSPC")
def test_spans_on_a_full_disk_fail_their_export_with_one_log_line_and_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = JsonLinesSpanExporter(FULL_DEVICE)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    with caplog.at_level(logging.WARNING, logger="leaim.adapters.telemetry"):
        for number in range(3):
            with tracer.start_as_current_span(f"call-{number}"):
                pass

    records = [record for record in caplog.records if record.name == "leaim.adapters.telemetry"]
    assert [record.getMessage() for record in records] == [
        "spans are not written to /dev/full: [Errno 28] No space left on device"
    ]
    assert all(record.exc_info is None for record in records)
    assert exporter.export([]) is SpanExportResult.FAILURE
    provider.shutdown()
