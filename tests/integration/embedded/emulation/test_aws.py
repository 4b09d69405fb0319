from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from embedded.emulation.aws import Resolver, references
from embedded.emulation.exceptions import TemplateError
from embedded.emulation.template import load_template, parse_template
from tests.integration.embedded.emulation.conftest import TEMPLATE

if TYPE_CHECKING:
    from pathlib import Path

    import boto3

    from embedded.emulation.stack import LocalStack


def _resolver() -> Resolver:
    template = load_template(TEMPLATE)
    return Resolver(template, template.parameter_values(), stack_name="unit", region="eu-west-1")


def test_pseudo_parameters_sub_escapes_and_sub_variables() -> None:
    resolver = _resolver()
    value = resolver.resolve(
        {
            "Fn::Sub": [
                "${AWS::Partition}:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}:${!Literal}:${V}",
                {"V": 7},
            ]
        },
        "Out",
    )
    assert value == "aws:eu-west-1:123456789012:unit:${Literal}:7"


def test_conditions_pick_a_branch_and_no_value_drops_a_key() -> None:
    resolver = _resolver()
    assert resolver.resolve({"Fn::If": ["IsLocal", "yes", "no"]}, "X") == "yes"
    assert resolver.resolve({"A": {"Ref": "AWS::NoValue"}, "B": "kept"}, "X") == {"B": "kept"}


def test_unsupported_intrinsic_names_the_resource_and_key() -> None:
    resolver = _resolver()
    with pytest.raises(TemplateError, match=r"EchoFunction\.Environment\.Variables\.VPC: intrinsic Fn::ImportValue"):
        resolver.resolve({"Fn::ImportValue": "vpc"}, "EchoFunction.Environment.Variables.VPC")


def test_reference_to_an_uncreated_resource_is_named() -> None:
    resolver = _resolver()
    with pytest.raises(TemplateError, match=r"Out\.Ref: 'Missing' is neither a parameter nor a resource"):
        resolver.resolve({"Ref": "Missing"}, "Out")


def test_references_follow_ref_getatt_and_sub() -> None:
    found = references({"a": {"Ref": "A"}, "b": {"Fn::GetAtt": ["B", "Arn"]}, "c": {"Fn::Sub": "${C.Arn}${!D}${E}"}})
    assert found == {"A", "B", "C", "E"}


def test_unsupported_resource_property_is_named(tmp_path: Path) -> None:
    from embedded.emulation.aws import LocalEndpoint, Provisioner

    template = parse_template(
        {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Shiny": True}}}}, tmp_path / "t.yaml"
    )
    endpoint = LocalEndpoint()
    endpoint.start()
    try:
        provisioner = Provisioner(Resolver(template, {}, stack_name="s", region="us-east-1"), endpoint_url=endpoint.url)
        with pytest.raises(TemplateError, match=r"Q \(AWS::SQS::Queue\): property Shiny is not supported"):
            provisioner.provision()
    finally:
        endpoint.stop()


def test_queue_redrive_resolves_to_the_dead_letter_queue_arn(stack: LocalStack, session: boto3.session.Session) -> None:
    sqs = session.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.queue_url("WorkQueue"), AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "1"
    assert attributes["MessageRetentionPeriod"] == "3600"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.queue_arn("WorkDeadLetterQueue"),
        "maxReceiveCount": 2,
    }
    assert stack.queue_url("WorkQueue").endswith("/fixture-WorkQueue")


def test_table_has_the_declared_keys_index_and_ttl(stack: LocalStack, session: boto3.session.Session) -> None:
    dynamodb = session.client("dynamodb")
    name = stack.table_name("DeliveriesTable")
    table = dynamodb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["by_outcome"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


def test_bucket_is_versioned_with_object_lock(stack: LocalStack, session: boto3.session.Session) -> None:
    s3 = session.client("s3")
    bucket = stack.bucket_name("ArchiveBucket")
    assert bucket == "fixture-archivebucket"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    retention = lock["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("GOVERNANCE", 1)
    first = s3.put_object(Bucket=bucket, Key="a", Body=b"1")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="a", Body=b"2")["VersionId"]
    assert first != second


def test_stream_exists_with_its_shards(stack: LocalStack, session: boto3.session.Session) -> None:
    kinesis = session.client("kinesis")
    summary = kinesis.describe_stream_summary(StreamName=stack.stream_name("ChangesStream"))
    assert summary["StreamDescriptionSummary"]["OpenShardCount"] == 1
