"""Invoke one built Lambda handler the way the Lambda Python runtime does, in a process of its own.

Run as `python -S lambda_invoke.py HANDLER EVENT_JSON RESPONSE_JSON` from the built function folder with
PYTHONPATH naming that folder and each layer's `python/` folder (/var/task and /opt/python on Lambda):
`-S` keeps the test environment's site-packages out, so only what `sam build` produced is importable.
The response goes to a file because the handler's logs and metrics are written to stdout.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import uuid
from pathlib import Path

FUNCTION_TIMEOUT_MS = 10_000


class LambdaContext:
    """The attributes and method of the runtime's context object that handlers use."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = "1024"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2025/01/01/[$LATEST]00000000000000000000000000000000"
        self._deadline = time.monotonic() + FUNCTION_TIMEOUT_MS / 1000

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function times out."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    """Import the handler, call it with the event, write its response as JSON."""
    handler_spec, event_path, response_path = sys.argv[1:4]
    module_name, _, attribute = handler_spec.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    response = handler(event, LambdaContext(module_name))
    Path(response_path).write_text(json.dumps(response), encoding="utf-8")


if __name__ == "__main__":
    main()
