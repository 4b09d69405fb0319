"""The faults of the suite: what each does to a running stack, and how it is lifted.

A fault acts on a `Target`, the running stack as any process can reach it: the process that runs it (whose
descendants are the workers and sandboxes), its AWS endpoint (whose fault route `embedded.emulation.faults`
serves), its state directory, and the proxy in front of its PostgreSQL audit store when it has one. A fault
that holds for a while is lifted by `lift`; one that is a single blow (a kill, a burst) has nothing to lift.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psutil

from embedded.chaos.processes import sandbox_processes, worker_processes
from embedded.emulation.faults import Fault, FaultControl

if TYPE_CHECKING:
    from pathlib import Path

    from embedded.chaos.proxy import TcpProxy
    from embedded.emulation.faults import FaultKind, Service

FILLER = "chaos-filler.bin"
# The most free space a state directory's file system may have for the suite to fill it: more, and it is a real
# disk, not the small mount made for the run.
MAX_FILL_BYTES = 1024**3
_CHUNK = b"\0" * (1024 * 1024)
DECISION_FUNCTION = "DecisionApiFunction"
AUDIT_WRITER_FUNCTION = "AuditWriterFunction"
# Requests sent again in the burst of duplicates each fault gets, and in the duplicates fault itself.
BURST = 20
DUPLICATES_BURST = 120


@dataclass
class Target:
    """A running stack, as a fault reaches it."""

    root_pid: int
    endpoint_url: str
    state_dir: Path
    proxy: TcpProxy | None = None
    # The processes a fault stopped, to start again when it is lifted.
    stopped: list[psutil.Process] = field(default_factory=list)


class Scenario(ABC):
    """One fault: its name in the table, what it does, whether it lasts until lifted, the duplicates it gets."""

    def __init__(self, name: str, does: str, *, lasting: bool = True, burst: int = BURST) -> None:
        self.name = name
        self.does = does
        self.lasting = lasting
        self.burst = burst

    def unavailable(self, target: Target) -> str | None:
        """Why the fault cannot be made on `target`, or None when it can."""
        return None

    @abstractmethod
    def inject(self, target: Target) -> None:
        """Make the fault."""

    def lift(self, target: Target) -> None:  # noqa: B027 - a single blow has nothing to lift
        """End the fault (nothing to end for a single blow)."""


class KillWorker(Scenario):
    """SIGKILL to one worker host process."""

    def __init__(self) -> None:
        super().__init__(
            "kill -9 a worker",
            "SIGKILL to one inference worker host process; the steady traffic goes on.",
            lasting=False,
        )

    def unavailable(self, target: Target) -> str | None:
        return None if worker_processes(target.root_pid) else "no worker host process is running"

    def inject(self, target: Target) -> None:
        worker_processes(target.root_pid)[0].kill()


class HangWorker(Scenario):
    """SIGSTOP to one worker host process, SIGCONT when lifted."""

    def __init__(self) -> None:
        super().__init__(
            "hang a worker",
            "SIGSTOP to one inference worker host process for the fault's duration, then SIGCONT.",
        )

    def unavailable(self, target: Target) -> str | None:
        return None if worker_processes(target.root_pid) else "no worker host process is running"

    def inject(self, target: Target) -> None:
        process = worker_processes(target.root_pid)[0]
        process.send_signal(signal.SIGSTOP)
        target.stopped.append(process)

    def lift(self, target: Target) -> None:
        for process in target.stopped:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)
        target.stopped.clear()


class KillSandboxes(Scenario):
    """SIGKILL to every sandbox process of one function."""

    def __init__(self, function: str, label: str) -> None:
        super().__init__(
            f"kill -9 the {label} sandboxes",
            f"SIGKILL to every sandbox process of {function}, busy or idle, at once.",
            lasting=False,
        )
        self.function = function

    def unavailable(self, target: Target) -> str | None:
        found = sandbox_processes(target.root_pid, self.function)
        return None if found else f"{self.function} has no sandbox process running"

    def inject(self, target: Target) -> None:
        for process in sandbox_processes(target.root_pid, self.function):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


class CutPostgres(Scenario):
    """The proxy in front of the PostgreSQL audit store closed, reopened when lifted."""

    def __init__(self) -> None:
        super().__init__(
            "cut PostgreSQL off",
            "The TCP proxy in front of the PostgreSQL audit store and registry closes: new connections are refused "
            "and open ones cut, for the fault's duration. The shared server keeps running.",
        )

    def unavailable(self, target: Target) -> str | None:
        return None if target.proxy is not None else "the stack's audit store is not PostgreSQL behind a proxy"

    def inject(self, target: Target) -> None:
        assert target.proxy is not None
        target.proxy.close()

    def lift(self, target: Target) -> None:
        assert target.proxy is not None
        target.proxy.open()


_SERVICE_NAMES = {"dynamodb": "DynamoDB", "dynamodbstreams": "DynamoDB Streams", "s3": "S3", "sqs": "SQS"}
_KIND_WORDS = {
    "error": ("errors", "a 500"),
    "unavailable": ("outage", "a 503"),
    "throttle": ("throttles", "a throttle"),
}


class EndpointFault(Scenario):
    """A fraction of one AWS service's requests refused with an error or a throttle, until lifted."""

    def __init__(self, service: Service, kind: FaultKind, rate: float) -> None:
        label = _SERVICE_NAMES.get(service, service.capitalize())
        plural, answer = _KIND_WORDS[kind]
        super().__init__(
            f"{label} {plural}",
            f"{rate:.0%} of {label}'s requests answered with {answer} in its wire format, for the fault's duration.",
        )
        self.fault = Fault(service, kind, rate=rate)

    def inject(self, target: Target) -> None:
        FaultControl(target.endpoint_url).inject(self.fault)

    def lift(self, target: Target) -> None:
        FaultControl(target.endpoint_url).lift(self.fault.service)


class Duplicates(Scenario):
    """Nothing but a large burst of duplicates, which the run sends."""

    def __init__(self) -> None:
        super().__init__(
            "a burst of duplicates",
            f"The last {DUPLICATES_BURST} requests sent again at once, as a client or a queue redelivers them.",
            lasting=False,
            burst=DUPLICATES_BURST,
        )

    def inject(self, target: Target) -> None:
        return


class FillDisk(Scenario):
    """The state directory's file system filled to the last byte, emptied when lifted."""

    def __init__(self) -> None:
        super().__init__(
            "fill the state disk",
            "A file fills the state directory's file system (a small tmpfs mounted for the run) to the last byte "
            "for the fault's duration, then is removed.",
        )

    def unavailable(self, target: Target) -> str | None:
        if not os.path.ismount(target.state_dir):
            return "the state directory is not a file system of its own (mounting a small tmpfs needs root)"
        free = os.statvfs(target.state_dir)
        if free.f_bavail * free.f_frsize > MAX_FILL_BYTES:
            return "the state directory's file system has more than 1 GiB free"
        return None

    def inject(self, target: Target) -> None:
        with (target.state_dir / FILLER).open("wb", buffering=0) as filler:
            for size in (len(_CHUNK), 4096, 1):
                try:
                    while True:
                        filler.write(_CHUNK[:size])
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise

    def lift(self, target: Target) -> None:
        (target.state_dir / FILLER).unlink(missing_ok=True)
