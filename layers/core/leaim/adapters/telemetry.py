"""OpenTelemetry tracing behind the orchestration layer's Telemetry port."""

from __future__ import annotations

import json
import logging
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from pathlib import Path

    from opentelemetry.sdk.trace import ReadableSpan

logger = logging.getLogger(__name__)
_provider_lock = threading.Lock()
_exported_files: set[Path] = set()


class JsonLinesSpanExporter(SpanExporter):
    """Appends finished spans to a file, one JSON object a line (the embedded default's trace store)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One handle for the exporter's life: opening the file per span would cost more than the span.
        self._file = path.open("a", encoding="utf-8", buffering=1)
        self._failing = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write the spans."""
        lines = []
        for span in spans:
            context = span.get_span_context()
            parent = span.parent
            lines.append(
                json.dumps(
                    {
                        "name": span.name,
                        "trace_id": trace.format_trace_id(context.trace_id) if context else None,
                        "span_id": trace.format_span_id(context.span_id) if context else None,
                        "parent_span_id": trace.format_span_id(parent.span_id) if parent else None,
                        "start_unix_ns": span.start_time,
                        "end_unix_ns": span.end_time,
                        "attributes": dict(span.attributes or {}),
                        "service": span.resource.attributes.get("service.name"),
                        "status": span.status.status_code.name,
                    }
                )
            )
        with self._lock:
            try:
                self._file.write("\n".join(lines) + "\n")
            except OSError as error:
                # A full disk loses spans, not the request: one line when it starts, not a traceback per span.
                if not self._failing:
                    logger.warning("spans are not written to %s: %s", self._file.name, error)
                self._failing = True
                return SpanExportResult.FAILURE
            self._failing = False
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Close the file."""
        with self._lock:
            try:
                self._file.close()
            except OSError as error:
                logger.warning("the last spans are not written to %s: %s", self._file.name, error)


def install_tracer_provider(service_name: str, traces_file: Path | None = None) -> TracerProvider:
    """Install the process's tracer provider once; spans go to `traces_file` when given, once per file."""
    with _provider_lock:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current
        else:
            provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
            trace.set_tracer_provider(provider)
        if traces_file is not None and traces_file.resolve() not in _exported_files:
            _exported_files.add(traces_file.resolve())
            # Simple (synchronous) export: a frozen Lambda container must not hold unsent spans.
            provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(traces_file)))
        return provider


class OtelTelemetry:
    """Spans and W3C trace context through OpenTelemetry."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    @contextmanager
    def span(self, name: str, attributes: Mapping[str, str | int | float | bool] | None = None) -> Iterator[None]:
        """A child span of the current one for the duration of the block."""
        with self._tracer.start_as_current_span(name, attributes=dict(attributes or {})):
            yield

    def trace_id(self) -> str:
        """Hex trace id of the current span."""
        return trace.format_trace_id(trace.get_current_span().get_span_context().trace_id)

    def carrier(self) -> dict[str, str]:
        """W3C traceparent/tracestate of the current span."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return carrier

    @contextmanager
    def attach(self, carrier: Mapping[str, str]) -> Iterator[None]:
        """Continue the caller's trace (a `traceparent` header or message attribute) if there is one."""
        token = otel_context.attach(propagate.extract(carrier))
        try:
            yield
        finally:
            otel_context.detach(token)
