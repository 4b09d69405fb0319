"""Composition of the drift monitor function: the lifecycle it asks for retraining, and the monitor over it.

Only the drift monitor imports this module: the monitor's statistics load numpy, which no other function's
cold start pays for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from leaim.adapters.sql.oversight import SqlOversight
from leaim.bootstrap.lifecycle import Lifecycle, build_lifecycle
from leaim.governance.oversight.monitor import Monitor

if TYPE_CHECKING:
    from leaim.bootstrap.runtime import Runtime
    from leaim.config import Settings


@dataclass(frozen=True)
class Monitoring:
    """What the drift monitor function needs: the lifecycle it asks for retraining, and the monitor."""

    lifecycle: Lifecycle
    monitor: Monitor

    @property
    def runtime(self) -> Runtime:
        """The lifecycle's runtime, which the monitor's runs are audited through."""
        return self.lifecycle.runtime


def build_monitoring(service_name: str, settings: Settings | None = None) -> Monitoring:
    """Build the lifecycle and the drift and bias monitor over it from settings."""
    lifecycle = build_lifecycle(service_name, settings)
    monitor = Monitor(
        catalog=lifecycle.manifests,
        router=lifecycle.registry,
        registry=lifecycle.registry,
        store=SqlOversight(lifecycle.engine),
        retrainer=lifecycle.jobs,
        clock=lifecycle.runtime.clock,
    )
    return Monitoring(lifecycle=lifecycle, monitor=monitor)
