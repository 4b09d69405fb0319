"""Handler that logs through a Powertools logger built when the module is imported, as the functions do."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="fixture-logs")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    """Log the event's `message` and answer with it."""
    logger.info(event["message"])
    return {"logged": event["message"]}
