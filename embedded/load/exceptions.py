"""What the load command refuses, and what stops a load run."""

from __future__ import annotations

from leaim.exceptions import LeaimError


class LoadPlanError(LeaimError):
    """A load plan that cannot run: no rates, rates that do not rise, a duration that is not positive..."""

    code = "load_plan_invalid"


class LoadGeneratorError(LeaimError):
    """The load generator's process failed or ran past its time; the message holds the end of what it printed."""

    code = "load_generator_failed"
