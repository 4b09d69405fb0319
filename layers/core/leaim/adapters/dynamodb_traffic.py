"""Traffic plans on DynamoDB: what each use case's traffic goes to, for the decision functions to read without SQL.

The registry (SQL, in the lifecycle functions) publishes each plan after every traffic change, conditional on a
newer revision, and the promotion controller publishes every plan again on each run, so one that failed to
publish after its change commits is corrected within a schedule interval.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

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
    """`ModelRouter` and `TrafficPlanPublisher` on a DynamoDB table keyed by use case."""

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
        if item is None:
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
            self._client.put_item(
                TableName=self._table,
                Item={
                    "use_case": {"S": use_case},
                    "revision": {"N": str(revision)},
                    "plan": {"S": plan_document(plan)},
                },
                ConditionExpression="attribute_not_exists(use_case) OR revision <= :revision",
                ExpressionAttributeValues={":revision": {"N": str(revision)}},
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
