"""The Lambda runtime inside one sandbox process: one function's handler, imported once, invoked one event at a time.

`python -m embedded.emulation.runtime --channel FD --handler module:attribute` is started by
`embedded.emulation.sandboxes` with the function's environment (its own variables and those Lambda sets:
`AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, `AWS_LAMBDA_LOG_STREAM_NAME`...). It speaks over
the socket `FD`, one JSON message a frame:

- to the host: `ready` (with `init_s`) or `init_error` once the handler is imported (its init, as a cold start);
  `stdout` and `stderr` with what the function printed, as it prints it; for each invocation one `result`
  (`payload`) or `error` (`errorType`, `errorMessage`, `stackTrace`, as Lambda reports an error);
- from the host: `invoke` (`request_id`, `arn`, `deadline_ms` in Unix milliseconds, as Lambda's runtime API
  gives them), followed by a frame holding the event's JSON.

What the handler module builds at import and keeps in its globals lives on between invocations, as in a warm
Lambda sandbox. The process ends when the host closes the socket.
"""

from __future__ import annotations

import argparse
import decimal
import importlib
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from embedded.emulation.context import LambdaContext

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


class Channel:
    """The sandbox's end of its socket to the host: JSON messages, sent whole from any thread."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        """Send one message."""
        self.send_text(json.dumps(message))

    def send_text(self, text: str) -> None:
        """Send one message already encoded as JSON text."""
        with self._lock:
            self.connection.send_bytes(text.encode("utf-8"))


class Relay(io.TextIOBase):
    """`sys.stdout` or `sys.stderr` of the sandbox: each complete line goes to the host as it is written.

    What is left without a newline goes on `flush()`, which the runtime calls before it answers an invocation,
    so everything a function printed reaches the host's output before its result does.
    """

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, channel: Channel, stream: str) -> None:
        super().__init__()
        self._channel = channel
        self._stream = stream
        self._pending: list[str] = []
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        with self._lock:
            self._pending.append(text)
            if "\n" in text:
                joined = "".join(self._pending)
                complete, _, rest = joined.rpartition("\n")
                self._pending = [rest] if rest else []
                self._channel.send({"type": self._stream, "text": complete + "\n"})
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._channel.send({"type": self._stream, "text": "".join(self._pending)})
                self._pending = []


def lambda_error(error: BaseException) -> dict[str, Any]:
    """An exception as Lambda's Python runtime reports it: `errorType`, `errorMessage`, `stackTrace`."""
    return {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_list(traceback.extract_tb(error.__traceback__)),
    }


def _json_default(value: Any) -> Any:
    # The runtime writes a Decimal (what boto3 reads DynamoDB numbers into) as a JSON number.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def load_handler(module_name: str, attribute: str) -> tuple[Callable[[Any, Any], Any] | None, dict[str, Any]]:
    """(the handler, {}) or (None, the init error as Lambda names it)."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        failure = lambda_error(error)
        return None, {
            **failure,
            "errorType": "Runtime.ImportModuleError",
            "errorMessage": (f"Unable to import module '{module_name}': {error}"),
        }
    except SyntaxError as error:
        return None, {**lambda_error(error), "errorType": "Runtime.UserCodeSyntaxError"}
    except Exception as error:
        return None, lambda_error(error)
    handler = getattr(module, attribute, None)
    if not callable(handler):
        message = f"Handler '{attribute}' missing on module '{module_name}'"
        return None, {"errorType": "Runtime.HandlerNotFound", "errorMessage": message, "stackTrace": []}
    return handler, {}


def invoke(handler: Callable[[Any, Any], Any], header: dict[str, Any], event_text: bytes) -> str:
    """Run one invocation; the reply to send, as JSON text."""
    environ = os.environ
    remaining_s = header["deadline_ms"] / 1000 - time.time()
    context = LambdaContext(
        function_name=environ["AWS_LAMBDA_FUNCTION_NAME"],
        function_version=environ["AWS_LAMBDA_FUNCTION_VERSION"],
        invoked_function_arn=header["arn"],
        memory_limit_in_mb=environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
        aws_request_id=header["request_id"],
        log_group_name=environ["AWS_LAMBDA_LOG_GROUP_NAME"],
        log_stream_name=environ["AWS_LAMBDA_LOG_STREAM_NAME"],
        deadline_monotonic=time.monotonic() + remaining_s,
    )
    try:
        result = handler(json.loads(event_text), context)
    except Exception as error:
        return json.dumps({"type": "error", **lambda_error(error)})
    try:
        return json.dumps({"type": "result", "payload": result}, default=_json_default)
    except (TypeError, ValueError) as error:
        message = f"Unable to marshal response: {error}"
        return json.dumps({"type": "error", "errorType": "Runtime.MarshalError", "errorMessage": message})


def serve(channel_fd: int, module_name: str, attribute: str) -> None:
    """Import the handler, tell the host, then answer invocations until the host closes the channel."""
    # The host stops its sandboxes itself; an interrupt typed at the terminal is the host's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = Connection(channel_fd)
    channel = Channel(connection)
    stdout, stderr = Relay(channel, "stdout"), Relay(channel, "stderr")
    # Before the import: a logger built at import time (Powertools binds sys.stdout then) writes to the host.
    sys.stdout, sys.stderr = stdout, stderr
    started = time.perf_counter()
    handler, init_error = load_handler(module_name, attribute)
    stdout.flush()
    stderr.flush()
    if handler is None:
        channel.send({"type": "init_error", **init_error})
        return
    channel.send({"type": "ready", "init_s": time.perf_counter() - started})
    while True:
        try:
            header = json.loads(connection.recv_bytes())
            event_text = connection.recv_bytes()
        except EOFError:
            return
        reply = invoke(handler, header, event_text)
        stdout.flush()
        stderr.flush()
        channel.send_text(reply)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point of one sandbox process."""
    parser = argparse.ArgumentParser(
        prog="python -m embedded.emulation.runtime", description="Serve one Lambda function's handler to its host."
    )
    parser.add_argument("--channel", type=int, required=True, help="file descriptor of the socket to the host")
    parser.add_argument("--handler", required=True, help="module:attribute of the handler to import")
    args = parser.parse_args(argv)
    module_name, _, attribute = args.handler.partition(":")
    serve(args.channel, module_name, attribute)


if __name__ == "__main__":
    main()
