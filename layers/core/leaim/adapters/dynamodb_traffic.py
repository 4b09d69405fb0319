"""Traffic plans on DynamoDB: what each use case's traffic goes to, for the decision functions to read without SQL.

The registry (SQL, in the lifecycle functions) publishes each plan after every traffic change, conditional on a
newer revision, and the promotion controller publishes every plan again on each run, so one that failed to
publish after its change commits is corrected within a schedule interval.

The same item holds the use case's stop switch (attribute `stop`), which only the stop and resume routes write:
publishing a plan updates the plan's attributes and leaves the switch as it is.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from contracts.model.v1 import StopState
from leaim.exceptions import DependencyUnavailableError
from leaim.serving.ports import ActiveModel, TrafficPlan

if TYPE_CHECKING:
    from collections.abc import Mapping


class TrafficTableUnavailableError(DependencyUnavailableError):
    """The traffic table did not answer."""

    code = "dependency_unavailable"
    status = 503


def _model(model: ActiveModel | None) -> dict[str, Any] | None:
    if model is None:
        return None
    return {
        "name": model.name,
        "version": model.version,
        "artifact_digest": model.artifact_digest,
        "feature_names": list(model.feature_names),
    }


def _active(document: Mapping[str, Any] | None) -> ActiveModel | None:
    if document is None:
        return None
    return ActiveModel(
        name=document["name"],
        version=document["version"],
        artifact_digest=document["artifact_digest"],
        feature_names=tuple(document["feature_names"]),
    )


def plan_document(plan: TrafficPlan) -> str:
    """A plan as the table holds it (JSON)."""
    return json.dumps(
        {
            "champion": _model(plan.champion),
            "challenger": _model(plan.challenger),
            "policy": plan.policy,
            "canary_percent": plan.canary_percent,
        },
        separators=(",", ":"),
    )


class DynamoTrafficPlans:
    """`ModelRouter`, `TrafficPlanPublisher` and `StopSwitch` on a DynamoDB table keyed by use case."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def plan(self, use_case: str) -> TrafficPlan | None:
        """The use case's published plan, or None before its first champion."""
        try:
            answer = self._client.get_item(
                TableName=self._table, Key={"use_case": {"S": use_case}}, ConsistentRead=True
            )
        except (BotoCoreError, ClientError) as error:
            raise TrafficTableUnavailableError(
                f"traffic plan of use case {use_case!r} could not be read: {type(error).__name__}"
            ) from error
        item = answer.get("Item")
        if item is None or "plan" not in item:
            return None
        document = json.loads(item["plan"]["S"])
        champion = _active(document["champion"])
        if champion is None:
            return None
        return TrafficPlan(
            champion=champion,
            challenger=_active(document["challenger"]),
            policy=document["policy"],
            canary_percent=float(document["canary_percent"]),
        )

    def publish(self, use_case: str, plan: TrafficPlan, revision: int) -> None:
        """Write revision `revision` of the plan unless the table holds a newer one."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"use_case": {"S": use_case}},
                UpdateExpression="SET revision = :revision, #plan = :plan",
                ConditionExpression="attribute_not_exists(revision) OR revision <= :revision",
                ExpressionAttributeNames={"#plan": "plan"},
                ExpressionAttributeValues={":revision": {"N": str(revision)}, ":plan": {"S": plan_document(plan)}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return
            raise TrafficTableUnavailableError(
                f"traffic plan of use case {use_case!r} could not be published: {type(error).__name__}"
            ) from error
        except BotoCoreError as error:
            raise TrafficTableUnavailableError(
                f"traffic plan of use case {use_case!r} could not be published: {type(error).__name__}"
            ) from error

    def stop_state(self, use_case: str) -> StopState | None:
        """The use case's stop switch as last set, or None if it was never stopped; read consistently, so that a
        stop takes effect on the next decision."""
        try:
            answer = self._client.get_item(
                TableName=self._table,
                Key={"use_case": {"S": use_case}},
                ConsistentRead=True,
                ProjectionExpression="#stop",
                ExpressionAttributeNames={"#stop": "stop"},
            )
        except (BotoCoreError, ClientError) as error:
            raise TrafficTableUnavailableError(
                f"stop switch of use case {use_case!r} could not be read: {type(error).__name__}"
            ) from error
        stored = answer.get("Item", {}).get("stop")
        return None if stored is None else StopState.model_validate_json(stored["S"])

    def set_stop(self, state: StopState) -> None:
        """Set the use case's stop switch; the plan's attributes stay as they are."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"use_case": {"S": state.use_case}},
                UpdateExpression="SET #stop = :stop",
                ExpressionAttributeNames={"#stop": "stop"},
                ExpressionAttributeValues={":stop": {"S": state.model_dump_json()}},
            )
        except (BotoCoreError, ClientError) as error:
            raise TrafficTableUnavailableError(
                f"stop switch of use case {state.use_case!r} could not be written: {type(error).__name__}"
            ) from error
