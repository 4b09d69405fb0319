"""Worker spans continue the caller's W3C trace, so one trace id spans the decision and its scoring."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

TRACER_NAME = "gpu_workers"


def start_child_span(
    name: str, carrier: Mapping[str, str], tracer_provider: trace.TracerProvider | None = None
) -> trace.Span:
    """Start (not activate) a span whose parent is the trace context in `carrier`; the caller ends it.

    Uses the global tracer provider unless one is given.
    """
    parent = propagate.extract(dict(carrier))
    return trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider).start_span(name, context=parent)


@contextmanager
def child_span(
    name: str, carrier: Mapping[str, str], tracer_provider: trace.TracerProvider | None = None
) -> Iterator[trace.Span]:
    """Run a block inside a span that continues the trace in `carrier`, recording any exception."""
    parent = propagate.extract(dict(carrier))
    tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
    with tracer.start_as_current_span(name, context=parent) as span:
        yield span


def span_ids(span: trace.Span) -> tuple[str, str]:
    """Hex trace id (32 characters) and span id (16 characters) of `span`; zeros when tracing is off."""
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
