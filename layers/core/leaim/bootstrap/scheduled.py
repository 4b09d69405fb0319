"""Scheduled functions: what a function EventBridge runs on a schedule is made of, as a Chalice `app` is an API's.

A `ScheduledFunction` holds the function's Powertools logger and metrics, the services its container builds
on its first run, and the name its runs' audit events carry. Its `handler` decorator turns the body of one
run into the Lambda handler: the body is given the `ScheduledRun`, with the built services, the gate its
one audit event goes through, and the invocation id.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from aws_lambda_powertools import Logger, Metrics

from leaim.bootstrap.runtime import once

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from leaim.bootstrap.runtime import Runtime
    from leaim.governance.audit.events import ScheduleGate


class FunctionServices(Protocol):
    """The services built for one kind of function, on the runtime they share."""

    @property
    def runtime(self) -> Runtime:
        """What the function built first: settings, clock, tracer and the audit log."""
        ...


Built = TypeVar("Built", bound=FunctionServices)


@dataclass(frozen=True)
class ScheduledRun(Generic[Built]):
    """One run of a scheduled function: the container's services, the run's gate and its invocation id."""

    built: Built
    gate: ScheduleGate
    invocation_id: str


class ScheduledFunction(Generic[Built]):
    """One scheduled Lambda function: its logger, its metrics, its services and its name in the audit trail."""

    def __init__(self, service: str, *, source: str, build: Callable[[str], Built]) -> None:
        self.logger = Logger(service=service)
        self.metrics = Metrics(service=service)
        self.source = source
        # Built on the first invocation of a container and reused by the following ones.
        self.built = once(lambda: build(service))

    def handler(
        self, run: Callable[[ScheduledRun[Built]], dict[str, Any]]
    ) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
        """The Lambda handler of `run`: logged with the invocation's context, its metrics flushed at the end.

        The EventBridge event carries nothing a run needs, so the body sees only the invocation id its audit
        event records.
        """

        @self.logger.inject_lambda_context(clear_state=True)
        @self.metrics.log_metrics
        @wraps(run)
        def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            built = self.built()
            return run(ScheduledRun(built, built.runtime.schedule_gate(self.source), context.aws_request_id))

        return lambda_handler
