"""Powertools glue shared by the scheduled functions: one decorator for their Lambda handlers."""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.utilities.typing import LambdaContext


def scheduled_handler(
    logger: Logger, metrics: Metrics
) -> Callable[[Callable[[str], dict[str, Any]]], Callable[[dict[str, Any], LambdaContext], dict[str, Any]]]:
    """A scheduled function's Lambda handler from the body of one run, which takes the invocation id.

    The handler logs with the invocation's context and flushes the run's metrics, as every function does; the
    EventBridge event carries nothing the run needs, so the body sees only the id its audit event records.
    """

    def decorate(run: Callable[[str], dict[str, Any]]) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
        @logger.inject_lambda_context(clear_state=True)
        @metrics.log_metrics
        @wraps(run)
        def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            return run(context.aws_request_id)

        return lambda_handler

    return decorate
