"""The processes of a running stack a fault acts on: worker hosts and function sandboxes, found by what they run.

They are searched among the descendants of the process that runs the stack (this one, or a `leaim up`), by the
module on their command line and, for a sandbox, the function named in its environment, as Lambda sets it.
"""

from __future__ import annotations

import contextlib

import psutil

WORKER_MODULE = "embedded.emulation.workers"
RUNTIME_MODULE = "embedded.emulation.runtime"


def worker_processes(root: int) -> list[psutil.Process]:
    """The worker host processes under `root`, oldest first."""
    return _running(root, WORKER_MODULE)


def sandbox_processes(root: int, function: str) -> list[psutil.Process]:
    """The sandbox processes under `root` of the function whose name contains `function` (its logical id)."""
    found = []
    for process in _running(root, RUNTIME_MODULE):
        with contextlib.suppress(psutil.Error):
            if function in process.environ().get("AWS_LAMBDA_FUNCTION_NAME", ""):
                found.append(process)
    return found


def _running(root: int, module: str) -> list[psutil.Process]:
    found = []
    for process in psutil.Process(root).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if module in process.cmdline() and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return sorted(found, key=lambda process: process.create_time())
