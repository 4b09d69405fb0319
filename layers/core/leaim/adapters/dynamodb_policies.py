"""The policy registry on DynamoDB: every version of every use-case manifest and dataset contract, and their heads.

One item per version, keyed by `<kind>#<subject>` and the version number, holds the registered document; its
approval is written once, beside it, by a conditional update. The head of a policy is item number 0 of the same
key, carrying a revision: registering a version writes the version and the head in one transaction, and every
change of the head is conditional on the revision it read, so of two racing changes one is stored and the other
raises `RevisionConflictError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from contracts.policy.v1 import PolicyHead, PolicyVersion
from leaim.exceptions import ConflictError, DependencyUnavailableError, RevisionConflictError

if TYPE_CHECKING:
    from datetime import datetime

    from contracts.policy.v1 import PolicyKind

HEAD = 0
_APPROVAL_FIELDS = ("approved_by", "approved_at", "approval_note")


class PolicyTableUnavailableError(DependencyUnavailableError):
    """The policy table did not answer."""

    code = "dependency_unavailable"
    status = 503


class PolicyAlreadyApprovedError(ConflictError):
    """A version is approved once."""

    code = "policy_already_approved"
    status = 409


def _key(kind: str, subject: str, version: int) -> dict[str, Any]:
    return {"policy": {"S": f"{kind}#{subject}"}, "version": {"N": str(version)}}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class DynamoPolicyStore:
    """`PolicyReader` and the registry's writes on one DynamoDB table."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def heads(self, kind: PolicyKind) -> list[PolicyHead]:
        """The head of every policy of `kind` (one scan of the heads)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "version = :head AND begins_with(policy, :kind)",
            "ExpressionAttributeValues": {":head": {"N": str(HEAD)}, ":kind": {"S": f"{kind}#"}},
            "ConsistentRead": True,
        }
        heads: list[PolicyHead] = []
        while True:
            answer = self._call("scan", f"the {kind} policies could not be listed", **request)
            heads += [PolicyHead.model_validate_json(item["head"]["S"]) for item in answer.get("Items", [])]
            if "LastEvaluatedKey" not in answer:
                return sorted(heads, key=lambda head: head.subject)
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def head(self, kind: PolicyKind, subject: str) -> PolicyHead | None:
        """The head of one policy, or None before its first version."""
        answer = self._call(
            "get_item",
            f"the {kind} policy {subject!r} could not be read",
            TableName=self._table,
            Key=_key(kind, subject, HEAD),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return None if item is None else PolicyHead.model_validate_json(item["head"]["S"])

    def version(self, kind: PolicyKind, subject: str, version: int) -> PolicyVersion | None:
        """One version, with its approval once given, or None."""
        answer = self._call(
            "get_item",
            f"version {version} of the {kind} policy {subject!r} could not be read",
            TableName=self._table,
            Key=_key(kind, subject, version),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return None if item is None or version == HEAD else _version(item)

    def versions(self, kind: PolicyKind, subject: str) -> list[PolicyVersion]:
        """Every version of one policy, oldest first."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "policy = :policy AND version > :head",
            "ExpressionAttributeValues": {":policy": {"S": f"{kind}#{subject}"}, ":head": {"N": str(HEAD)}},
            "ConsistentRead": True,
        }
        found: list[PolicyVersion] = []
        while True:
            answer = self._call("query", f"the versions of the {kind} policy {subject!r} could not be read", **request)
            found += [_version(item) for item in answer.get("Items", [])]
            if "LastEvaluatedKey" not in answer:
                return found
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def register(self, version: PolicyVersion, head: PolicyHead, *, expected_revision: int) -> None:
        """Store a new version and the head that counts it, if the head is still at `expected_revision`."""
        document = version.model_dump_json(exclude={"state", *_APPROVAL_FIELDS})
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                **_key(version.kind, version.subject, version.version),
                                "document": {"S": document},
                            },
                            "ConditionExpression": "attribute_not_exists(policy)",
                        }
                    },
                    {"Put": self._head_put(head, expected_revision)},
                ]
            )
        except ClientError as error:
            if _code(error) == "TransactionCanceledException":
                raise RevisionConflictError(
                    f"the {version.kind} policy {version.subject!r} changed while version {version.version} was "
                    "registered: read it again"
                ) from error
            raise PolicyTableUnavailableError(
                f"version {version.version} could not be registered: {_code(error)}"
            ) from error
        except BotoCoreError as error:
            raise PolicyTableUnavailableError(
                f"version {version.version} could not be registered: {type(error).__name__}"
            ) from error

    def approve(
        self, kind: PolicyKind, subject: str, version: int, *, approved_by: str, approved_at: datetime, note: str
    ) -> None:
        """Record a version's approval, once."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(kind, subject, version),
                UpdateExpression="SET approved_by = :by, approved_at = :at, approval_note = :note",
                ConditionExpression="attribute_exists(document) AND attribute_not_exists(approved_by)",
                ExpressionAttributeValues={
                    ":by": {"S": approved_by},
                    ":at": {"S": approved_at.isoformat()},
                    ":note": {"S": note},
                },
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise PolicyAlreadyApprovedError(f"version {version} of {subject!r} is approved already") from error
            raise PolicyTableUnavailableError(f"version {version} could not be approved: {_code(error)}") from error
        except BotoCoreError as error:
            raise PolicyTableUnavailableError(
                f"version {version} could not be approved: {type(error).__name__}"
            ) from error

    def put_head(self, head: PolicyHead, *, expected_revision: int) -> None:
        """Store a changed head if the stored one is still at `expected_revision`."""
        try:
            self._client.put_item(**self._head_put(head, expected_revision))
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                raise RevisionConflictError(
                    f"the {head.kind} policy {head.subject!r} changed since revision {expected_revision}: read it again"
                ) from error
            raise PolicyTableUnavailableError(
                f"the policy {head.subject!r} could not be changed: {_code(error)}"
            ) from error
        except BotoCoreError as error:
            raise PolicyTableUnavailableError(
                f"the policy {head.subject!r} could not be changed: {type(error).__name__}"
            ) from error

    def _head_put(self, head: PolicyHead, expected_revision: int) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                **_key(head.kind, head.subject, HEAD),
                "head": {"S": head.model_dump_json()},
                "revision": {"N": str(head.revision)},
            },
        }
        if expected_revision == 0:
            put["ConditionExpression"] = "attribute_not_exists(policy)"
        else:
            put["ConditionExpression"] = "revision = :expected"
            put["ExpressionAttributeValues"] = {":expected": {"N": str(expected_revision)}}
        return put

    def _call(self, operation: str, what: str, **request: Any) -> Any:
        try:
            return getattr(self._client, operation)(**request)
        except (BotoCoreError, ClientError) as error:
            raise PolicyTableUnavailableError(f"{what}: {type(error).__name__}") from error


def _version(item: dict[str, Any]) -> PolicyVersion:
    approval = {name: item[name]["S"] for name in _APPROVAL_FIELDS if name in item}
    return PolicyVersion.model_validate(
        {**PolicyVersion.model_validate_json(item["document"]["S"]).model_dump(), **approval}
    )
