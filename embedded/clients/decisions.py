"""A client of the decision API's replay: a stored decision recomputed, and what differs and why."""

from __future__ import annotations

from contracts.replay.v1 import DecisionReplay
from embedded.clients.base import ApiClient, segment


class DecisionClient(ApiClient):
    """The decision API's routes on stored decisions, as methods."""

    def replay(
        self, decision_id: str, *, policy_version: int | None = None, model_version: str | None = None
    ) -> DecisionReplay:
        """`POST /v1/decisions/{id}/replay`: the decision recomputed under the policy and model it was made with, or
        under `policy_version` and `model_version` where given."""
        body = {"policy_version": policy_version, "model_version": model_version}
        return self._call(DecisionReplay, "POST", f"/v1/decisions/{segment(decision_id)}/replay", body)
