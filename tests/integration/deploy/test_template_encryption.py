"""Encryption rules that `template.yaml` must keep: one customer-managed key for all data at rest, TLS to every bucket.

As in `test_template`, each rule returns the violations it finds, and is checked against the real template (none)
and against copies broken on purpose (the violation is reported).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.deploy.test_template import (
    as_list,
    get_att_target,
    load_template,
    ref_target,
    resources_of_type,
    statements,
)

if TYPE_CHECKING:
    from collections.abc import Callable

Template = dict[str, Any]

FUNCTION = "AWS::Serverless::Function"
KMS_KEY = "AWS::KMS::Key"
# What a function needs of the key to read (Decrypt) and write (GenerateDataKey) encrypted data.
KEY_USE = {"kms:Decrypt", "kms:GenerateDataKey"}
ACCOUNT_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}


def the_key(template: Template) -> str | None:
    """The logical id of the template's one customer-managed key, or None when there is not exactly one."""
    keys = list(resources_of_type(template, KMS_KEY))
    return keys[0] if len(keys) == 1 else None


def names_key(value: Any, key_id: str | None) -> bool:
    """Whether a key setting is the key of this template (its id or its ARN), not an AWS managed key."""
    return key_id is not None and key_id in {ref_target(value), get_att_target(value, "Arn")}


def data_key_rotates_and_the_account_administers_it(template: Template) -> list[str]:
    """One customer-managed key, rotated, kept when the stack goes, with an alias, administered by the account.

    The account root's `kms:*` is what lets the account's IAM policies administer the key (and grant its use):
    a key policy without it can lock everyone out of the key and so out of the data.
    """
    key_id = the_key(template)
    if key_id is None:
        return [f"not exactly one {KMS_KEY}: {sorted(resources_of_type(template, KMS_KEY))}"]
    key = template["Resources"][key_id]
    properties = key["Properties"]
    violations = []
    if properties.get("EnableKeyRotation") is not True:
        violations.append(f"{key_id}: EnableKeyRotation is not true")
    if properties.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        violations.append(f"{key_id}: KeySpec {properties['KeySpec']} cannot encrypt data at rest")
    if key.get("DeletionPolicy") != "Retain" or key.get("UpdateReplacePolicy") != "Retain":
        violations.append(f"{key_id}: not retained, yet the retained buckets and tables need it to be read")
    administered = any(
        statement.get("Effect") == "Allow"
        and isinstance(statement.get("Principal"), dict)
        and statement["Principal"].get("AWS") == ACCOUNT_ROOT
        and "kms:*" in as_list(statement.get("Action"))
        and "Condition" not in statement
        for statement in (properties.get("KeyPolicy") or {}).get("Statement", [])
    )
    if not administered:
        violations.append(f"{key_id}: the key policy does not let the account administer the key")
    aliases = [
        alias_id
        for alias_id, alias in resources_of_type(template, "AWS::KMS::Alias").items()
        if names_key(alias["Properties"].get("TargetKeyId"), key_id)
    ]
    if not aliases:
        violations.append(f"{key_id}: no AWS::KMS::Alias names it")
    return violations


def data_at_rest_is_encrypted_with_the_data_key(template: Template) -> list[str]:
    """Every bucket, table, queue and stream is encrypted with the template's own key, not an AWS managed one."""
    key_id = the_key(template)
    violations = []
    for bucket_id, bucket in resources_of_type(template, "AWS::S3::Bucket").items():
        rules = ((bucket["Properties"].get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")) or []
        defaults = [rule.get("ServerSideEncryptionByDefault") or {} for rule in rules]
        if not any(d.get("SSEAlgorithm") == "aws:kms" and names_key(d.get("KMSMasterKeyID"), key_id) for d in defaults):
            violations.append(f"{bucket_id}: BucketEncryption is not aws:kms with the data key")
        if not all(rule.get("BucketKeyEnabled") is True for rule in rules):
            violations.append(f"{bucket_id}: BucketKeyEnabled is not true")
    for table_id, table in resources_of_type(template, "AWS::DynamoDB::Table").items():
        sse = table["Properties"].get("SSESpecification") or {}
        if (
            sse.get("SSEEnabled") is not True
            or sse.get("SSEType") != "KMS"
            or not names_key(sse.get("KMSMasterKeyId"), key_id)
        ):
            violations.append(f"{table_id}: SSESpecification is not KMS with the data key")
    for queue_id, queue in resources_of_type(template, "AWS::SQS::Queue").items():
        if not names_key(queue["Properties"].get("KmsMasterKeyId"), key_id):
            violations.append(f"{queue_id}: KmsMasterKeyId is not the data key")
        if queue["Properties"].get("SqsManagedSseEnabled") is True:
            violations.append(f"{queue_id}: SqsManagedSseEnabled, SQS's own key instead of the data key")
    for stream_id, stream in resources_of_type(template, "AWS::Kinesis::Stream").items():
        encryption = stream["Properties"].get("StreamEncryption") or {}
        if encryption.get("EncryptionType") != "KMS" or not names_key(encryption.get("KeyId"), key_id):
            violations.append(f"{stream_id}: StreamEncryption is not KMS with the data key")
    return violations


def functions_may_use_the_data_key_and_no_other(template: Template) -> list[str]:
    """Every function may decrypt and generate data keys with the data key, and may use no other key."""
    key_id = the_key(template)
    violations = []
    for function_id, function in resources_of_type(template, FUNCTION).items():
        granted: set[str] = set()
        for statement in statements(template, function):
            actions = {str(action) for action in as_list(statement.get("Action", []))}
            kms = {action for action in actions if action.startswith("kms:")}
            if not kms or statement.get("Effect") != "Allow":
                continue
            if not all(names_key(resource, key_id) for resource in as_list(statement.get("Resource"))):
                violations.append(f"{function_id}: {sorted(kms)} on {statement.get('Resource')}, not the data key")
                continue
            granted |= kms
        for policy in function["Properties"].get("Policies") or []:
            for template_name in ("KMSDecryptPolicy", "KMSEncryptPolicy"):
                if isinstance(policy, dict) and template_name in policy:
                    if not names_key(policy[template_name].get("KeyId"), key_id):
                        violations.append(f"{function_id}: {template_name} on another key")
                    granted.add("kms:Decrypt" if template_name == "KMSDecryptPolicy" else "kms:Encrypt")
        if not granted >= KEY_USE:
            violations.append(f"{function_id}: may not {', '.join(sorted(KEY_USE - granted))} with the data key")
    return violations


def buckets_refuse_plain_http(template: Template) -> list[str]:
    """Each bucket's policy denies every S3 action on it and its objects to a request that is not over TLS."""
    policies: dict[str, list[dict[str, Any]]] = {}
    for policy in resources_of_type(template, "AWS::S3::BucketPolicy").values():
        bucket_id = ref_target(policy["Properties"].get("Bucket"))
        if bucket_id is not None:
            policies.setdefault(bucket_id, []).extend(policy["Properties"]["PolicyDocument"].get("Statement", []))
    violations = []
    for bucket_id in resources_of_type(template, "AWS::S3::Bucket"):
        wanted = [{"Fn::GetAtt": [bucket_id, "Arn"]}, {"Fn::Sub": f"${{{bucket_id}.Arn}}/*"}]
        refusing = [
            statement
            for statement in policies.get(bucket_id, [])
            if statement.get("Effect") == "Deny"
            and statement.get("Principal") in ("*", {"AWS": "*"})
            and "s3:*" in as_list(statement.get("Action"))
            and str(((statement.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")).lower()
            == "false"
        ]
        covered = [resource for s in refusing for resource in as_list(s.get("Resource"))]
        if not all(resource in covered for resource in wanted):
            violations.append(f"{bucket_id}: no bucket policy denies s3:* on it and its objects without TLS")
    return violations


RULES = [
    data_key_rotates_and_the_account_administers_it,
    data_at_rest_is_encrypted_with_the_data_key,
    functions_may_use_the_data_key_and_no_other,
    buckets_refuse_plain_http,
]


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_template_keeps_rule(template: Template, rule: Callable[[Template], list[str]]) -> None:
    assert rule(template) == []


def _properties(template: Template, logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return properties


def _bucket_default(template: Template, bucket_id: str) -> dict[str, Any]:
    rules = _properties(template, bucket_id)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    default: dict[str, Any] = rules[0]["ServerSideEncryptionByDefault"]
    return default


def _no_rotation(template: Template) -> None:
    _properties(template, "DataKey")["EnableKeyRotation"] = False


def _key_deleted_with_the_stack(template: Template) -> None:
    del template["Resources"]["DataKey"]["DeletionPolicy"]


def _key_policy_without_the_account(template: Template) -> None:
    statement = _properties(template, "DataKey")["KeyPolicy"]["Statement"][0]
    statement["Principal"] = {"AWS": {"Fn::GetAtt": ["AuditDigestFunctionRole", "Arn"]}}


def _no_alias(template: Template) -> None:
    del template["Resources"]["DataKeyAlias"]


def _second_key(template: Template) -> None:
    template["Resources"]["OtherKey"] = copy.deepcopy(template["Resources"]["DataKey"])


def _bucket_on_the_aws_managed_key(template: Template) -> None:
    del _bucket_default(template, "DatasetsBucket")["KMSMasterKeyID"]


def _bucket_key_disabled(template: Template) -> None:
    rules = _properties(template, "ArtifactsBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    rules[0]["BucketKeyEnabled"] = False


def _table_on_the_aws_owned_key(template: Template) -> None:
    del _properties(template, "AcceptedTable")["SSESpecification"]


def _dead_letters_on_the_sqs_key(template: Template) -> None:
    properties = _properties(template, "DecisionDeadLetterQueue")
    del properties["KmsMasterKeyId"]
    properties["SqsManagedSseEnabled"] = True


def _stream_on_the_aws_managed_key(template: Template) -> None:
    _properties(template, "IngestStream")["StreamEncryption"]["KeyId"] = "alias/aws/kinesis"


def _function_without_the_key(template: Template) -> None:
    policies = _properties(template, "AuditWriterFunction")["Policies"]
    policies[:] = [policy for policy in policies if ref_target(policy) != "DataKeyUsePolicy"]


def _function_on_every_key(template: Template) -> None:
    statement = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
    _properties(template, "IngestApiFunction")["Policies"].append({"Statement": [statement]})


def _decrypt_with_another_key(template: Template) -> None:
    other = {"KMSDecryptPolicy": {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}}
    _properties(template, "GovernanceApiFunction")["Policies"].append(other)


def _bucket_without_policy(template: Template) -> None:
    del template["Resources"]["AuditArchiveBucketPolicy"]


def _policy_on_objects_only(template: Template) -> None:
    statement = _properties(template, "ArtifactsBucketPolicy")["PolicyDocument"]["Statement"][0]
    statement["Resource"] = statement["Resource"][1:]


def _policy_without_the_transport_condition(template: Template) -> None:
    statement = _properties(template, "DatasetsBucketPolicy")["PolicyDocument"]["Statement"][0]
    statement["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}


BREAKAGES = [
    (data_key_rotates_and_the_account_administers_it, _no_rotation, "EnableKeyRotation is not true"),
    (data_key_rotates_and_the_account_administers_it, _key_deleted_with_the_stack, "DataKey: not retained"),
    (data_key_rotates_and_the_account_administers_it, _key_policy_without_the_account, "administer the key"),
    (data_key_rotates_and_the_account_administers_it, _no_alias, "no AWS::KMS::Alias"),
    (data_key_rotates_and_the_account_administers_it, _second_key, "not exactly one AWS::KMS::Key"),
    (data_at_rest_is_encrypted_with_the_data_key, _bucket_on_the_aws_managed_key, "DatasetsBucket: BucketEncryption"),
    (data_at_rest_is_encrypted_with_the_data_key, _bucket_key_disabled, "ArtifactsBucket: BucketKeyEnabled"),
    (data_at_rest_is_encrypted_with_the_data_key, _table_on_the_aws_owned_key, "AcceptedTable: SSESpecification"),
    (data_at_rest_is_encrypted_with_the_data_key, _dead_letters_on_the_sqs_key, "DecisionDeadLetterQueue: KmsMaster"),
    (data_at_rest_is_encrypted_with_the_data_key, _dead_letters_on_the_sqs_key, "SqsManagedSseEnabled"),
    (data_at_rest_is_encrypted_with_the_data_key, _stream_on_the_aws_managed_key, "IngestStream: StreamEncryption"),
    (data_at_rest_is_encrypted_with_the_data_key, _second_key, "AcceptedTable: SSESpecification"),
    (functions_may_use_the_data_key_and_no_other, _function_without_the_key, "AuditWriterFunction: may not"),
    (functions_may_use_the_data_key_and_no_other, _function_on_every_key, "IngestApiFunction: ['kms:Decrypt'] on *"),
    (functions_may_use_the_data_key_and_no_other, _decrypt_with_another_key, "KMSDecryptPolicy on another key"),
    (buckets_refuse_plain_http, _bucket_without_policy, "AuditArchiveBucket: no bucket policy"),
    (buckets_refuse_plain_http, _policy_on_objects_only, "ArtifactsBucket: no bucket policy"),
    (buckets_refuse_plain_http, _policy_without_the_transport_condition, "DatasetsBucket: no bucket policy"),
]


@pytest.mark.parametrize(("rule", "breakage", "expected"), BREAKAGES, ids=lambda value: getattr(value, "__name__", ""))
def test_rule_reports_a_broken_template(
    template: Template,
    rule: Callable[[Template], list[str]],
    breakage: Callable[[Template], None],
    expected: str,
) -> None:
    broken = copy.deepcopy(template)
    breakage(broken)
    violations = rule(broken)
    assert any(expected in violation for violation in violations), violations
