"""What the open-loop generator is asked to do, and what it saw: both as plain data that crosses a process boundary.

A `LoadPlan` is a ramp of `LoadStep`s, each a fixed arrival rate held for a warm-up and then a measured window;
the generator starts request `i` of a step at `i / rate` seconds after the step began, whether or not earlier
ones have answered. A `StepRun` is what came back for one step: every `Arrival`, and the audit lags of the
decisions it sampled. Both travel as JSON, the plan to the generator's process and the runs back.
"""

from __future__ import annotations

import itertools
import json
import math
import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from embedded.load.exceptions import LoadPlanError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

# The ramp `leaim load` runs unless told otherwise, in arrivals per second.
DEFAULT_RATES = (5.0, 10.0, 15.0, 20.0, 30.0, 50.0)


@dataclass(frozen=True, slots=True)
class LoadStep:
    """One rate of the ramp: `rate` arrivals per second for `warmup_s`, then for the measured `duration_s`."""

    rate: float
    duration_s: float
    warmup_s: float = 0.0

    @property
    def arrivals(self) -> int:
        """How many requests the step starts: rate x (warm-up + duration), whatever the latency."""
        return math.floor(self.rate * (self.warmup_s + self.duration_s) + 1e-9)

    @property
    def first_measured(self) -> int:
        """The index of the first arrival of the measured window, the first one due once the warm-up is over."""
        return math.ceil(self.warmup_s * self.rate - 1e-9)

    def offset_s(self, index: int) -> float:
        """When arrival `index` is due, in seconds after the step began."""
        return index / self.rate


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """Everything the generator needs: where to send, what, at which rates, and how to sample the audit lag."""

    api_url: str
    path: str
    headers: Mapping[str, str]
    # The request bodies are these inputs in turn, each under a request id of its own.
    inputs: Sequence[Mapping[str, Any]]
    request_prefix: str
    steps: Sequence[LoadStep]
    # Decisions per step whose audit event is polled for through the audit search, spread over the measured window.
    audit_samples: int = 0
    audit_path: str = "/v1/audit/events"
    audit_headers: Mapping[str, str] = field(default_factory=dict)
    # Every poll is one more request to the stack: often enough to time the lag, seldom enough not to load it.
    audit_poll_s: float = 0.2
    audit_timeout_s: float = 30.0
    # Connections the generator may hold open at once; arrivals beyond them wait for one, and that wait is
    # part of their latency (it is measured from the arrival's scheduled instant).
    connections: int = 256
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        check_steps(self.steps)
        parts = urllib.parse.urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LoadPlanError(f"the API URL must be an http:// or https:// URL, not {self.api_url!r}")
        if not self.path.startswith("/") or not self.audit_path.startswith("/"):
            raise LoadPlanError(f"paths start with /: {self.path!r}, {self.audit_path!r}")
        if not self.inputs:
            raise LoadPlanError("a load plan needs at least one set of inputs to send")
        if self.audit_samples and not self.audit_headers:
            raise LoadPlanError("sampling the audit lag needs the headers of an auditor's key")
        for name in ("audit_poll_s", "audit_timeout_s", "timeout_s"):
            if getattr(self, name) <= 0:
                raise LoadPlanError(f"{name} must be positive, not {getattr(self, name)}")
        if self.connections < 1 or self.audit_samples < 0:
            raise LoadPlanError("connections must be at least 1 and audit_samples at least 0")

    @property
    def longest_s(self) -> float:
        """An upper bound on the generator's run: every step's arrivals, each step's last answers and audit polls."""
        drain = self.timeout_s + (self.audit_timeout_s if self.audit_samples else 0.0)
        return sum(step.warmup_s + step.duration_s + drain for step in self.steps)

    def write(self, path: Path) -> None:
        """Write the plan as JSON for the generator."""
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> LoadPlan:
        """The plan `write` wrote."""
        document = json.loads(path.read_text(encoding="utf-8"))
        document["steps"] = [LoadStep(**step) for step in document["steps"]]
        return cls(**document)


def check_steps(steps: Sequence[LoadStep]) -> None:
    """Refuse a ramp that cannot run: no steps, a rate or a duration that is not positive, rates that do not rise."""
    if not steps:
        raise LoadPlanError("a load plan needs at least one rate")
    for step in steps:
        if step.rate <= 0 or step.duration_s <= 0 or step.warmup_s < 0:
            raise LoadPlanError(
                f"a step needs a positive rate and duration and a warm-up of at least 0, not rate={step.rate:g}/s, "
                f"duration={step.duration_s:g} s, warm-up={step.warmup_s:g} s"
            )
        if step.arrivals <= step.first_measured:
            raise LoadPlanError(
                f"{step.rate:g}/s for a window of {step.duration_s:g} s after {step.warmup_s:g} s of warm-up "
                "measures no request"
            )
    for before, after in itertools.pairwise(steps):
        if after.rate <= before.rate:
            raise LoadPlanError(f"the rates must rise step by step: {after.rate:g}/s comes after {before.rate:g}/s")


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request of a step, its times in seconds after the step began.

    `answered_s` is None and `status` 0 when no HTTP answer came (refused, reset or timed out: a transport
    error), and `error` then names what happened; for an answer other than 2xx, `error` is its error code.
    `decision_id` and `fallback` come from a 2xx answer's body.
    """

    scheduled_s: float
    sent_s: float
    answered_s: float | None
    status: int
    fallback: bool = False
    decision_id: str | None = None
    error: str | None = None

    @property
    def latency_s(self) -> float | None:
        """From the scheduled instant to the answer, so that any wait to be sent counts; None without an answer."""
        return None if self.answered_s is None else self.answered_s - self.scheduled_s


@dataclass(frozen=True, slots=True)
class StepRun:
    """What the generator saw during one step: every arrival, and the audit lag of each sampled decision.

    An audit lag is the time from a sampled decision's answer until its event was found through the audit
    search; None when it was not found within the plan's `audit_timeout_s`. A sampled request that was not
    answered with a decision has none.
    """

    step: LoadStep
    arrivals: Sequence[Arrival]
    audit_lags_s: Sequence[float | None] = ()


@dataclass(frozen=True, slots=True)
class GeneratorRun:
    """Every step's run, and the requests and failures Locust itself counted over the whole ramp."""

    steps: Sequence[StepRun]
    locust_requests: int
    locust_failures: int

    def write(self, path: Path) -> None:
        """Write the runs as JSON for the process that asked for them."""
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> GeneratorRun:
        """The runs `write` wrote."""
        document = json.loads(path.read_text(encoding="utf-8"))
        steps = [
            StepRun(
                step=LoadStep(**run["step"]),
                arrivals=[Arrival(**arrival) for arrival in run["arrivals"]],
                audit_lags_s=run["audit_lags_s"],
            )
            for run in document["steps"]
        ]
        return cls(steps, document["locust_requests"], document["locust_failures"])
