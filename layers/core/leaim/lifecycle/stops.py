"""The stop switch (EU AI Act Art. 14): stop a use case into a safe state at once, without a deploy, and resume it.

A stopped use case decides nothing with its models or rules: every decision gets the manifest's fallback outcome,
or goes to a person as the review outcome, from the next request on, on every decision function. The route that
changes the switch audits the state before and after with its principal and reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from contracts.error.v1 import FieldError
from contracts.model.v1 import StopState
from leaim.exceptions import ConflictError
from leaim.governance.access.exceptions import InvalidRequestError

if TYPE_CHECKING:
    from contracts.model.v1 import ResumeRequest, StopRequest
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog
    from leaim.lifecycle.ports import StopSwitch


class NotStoppedError(ConflictError):
    """A resume of a use case that is not stopped."""

    code = "not_stopped"
    status = 409


class StopService:
    """Reads and sets each use case's stop switch."""

    def __init__(self, *, switch: StopSwitch, manifests: ManifestCatalog, clock: Clock) -> None:
        self._switch = switch
        self._manifests = manifests
        self._clock = clock

    def state(self, use_case: str) -> StopState:
        """The switch of a known use case (NotFoundError otherwise); a never stopped one is running."""
        self._manifests.get(use_case)
        return self._switch.stop_state(use_case) or StopState(use_case=use_case, stopped=False)

    def stop(self, use_case: str, request: StopRequest, *, actor: str) -> tuple[StopState, StopState]:
        """Stop the use case (or change how it is stopped); the state before and after."""
        manifest = self._manifests.get(use_case)
        if request.mode == "review" and manifest.decision.review_band is None:
            raise InvalidRequestError(
                "the use case cannot be stopped into review",
                [
                    FieldError(
                        field="mode",
                        message=f"use case {use_case!r} declares no review band, so it has no review outcome",
                        type="value_error",
                    )
                ],
            )
        before = self.state(use_case)
        after = self._changed(use_case, stopped=True, mode=request.mode, reason=request.reason, actor=actor)
        self._switch.set_stop(after)
        return before, after

    def resume(self, use_case: str, request: ResumeRequest, *, actor: str) -> tuple[StopState, StopState]:
        """Let the use case's models and rules decide again; 409 if it is not stopped."""
        before = self.state(use_case)
        if not before.stopped:
            raise NotStoppedError(f"use case {use_case!r} is not stopped")
        after = self._changed(use_case, stopped=False, mode=None, reason=request.reason, actor=actor)
        self._switch.set_stop(after)
        return before, after

    def _changed(self, use_case: str, *, stopped: bool, mode: str | None, reason: str, actor: str) -> StopState:
        return StopState.model_validate(
            {
                "use_case": use_case,
                "stopped": stopped,
                "mode": mode,
                "reason": reason,
                "changed_by": actor,
                "changed_at": datetime.fromtimestamp(self._clock.now(), UTC),
            }
        )
