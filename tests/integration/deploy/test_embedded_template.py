"""The template also runs on the embedded default: what it declares for the cloud alone is named, never created.

The local stack provisions the queues, tables, buckets and streams in moto's server; the network, the Aurora
cluster behind the RDS Proxy and the secret of its credentials, the data key and the TLS-only bucket policies are
only named so that references resolve; the SQL functions reach the local stack's own SQLite file instead, whose
URL they read from a secret of the local endpoint.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from embedded.emulation.aws import LocalEndpoint, Provisioner, Resolver, local_session
from embedded.emulation.secrets import LocalSecrets
from embedded.emulation.template import PROVISIONED_TYPES, DynamoDBEvent, load_template
from leaim.adapters.sql import create_store_engine
from leaim.bootstrap.sql import sql_engine
from leaim.config import Settings
from tests.integration.deploy.sam_cli import TEMPLATE
from tests.integration.deploy.test_template import SQL_FUNCTIONS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from embedded.emulation.template import Template

REGION = "us-east-1"
STACK = "embedded-template"
# What the local stack passes for the parameters that have no default.
PARAMETERS = {
    "WorkerBackend": "local",
    "ModalTokenSecretArn": "unused-by-the-local-backend",
    "PiiTokenKeySecretArn": "unused-by-the-local-backend",
    "ManifestSigningKeySecretArn": "unused-by-the-local-backend",
    "AuditSigningKeySecretArn": "unused-by-the-local-backend",
}
NAMED_ONLY = (
    "AWS::EC2::",
    "AWS::RDS::",
    "AWS::SecretsManager::Secret",
    "AWS::IAM::",
    "AWS::KMS::",
    "AWS::S3::BucketPolicy",
)
KEY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def resolver(template: Template, endpoint: LocalEndpoint) -> Resolver:
    resolver = Resolver(template, template.parameter_values(PARAMETERS), stack_name=STACK, region=REGION)
    Provisioner(resolver, endpoint_url=endpoint.url).provision()
    return resolver


def test_every_function_setting_resolves_locally(template: Template, resolver: Resolver) -> None:
    for function in template.functions.values():
        for name, value in function.environment.items():
            assert resolver.resolve_string(value, f"{function.logical_id}.{name}")


def test_the_audit_writer_reads_the_stream_of_the_local_accepted_table(
    template: Template, resolver: Resolver, endpoint: LocalEndpoint
) -> None:
    (event,) = template.functions["AuditWriterFunction"].events
    assert isinstance(event, DynamoDBEvent)
    stream_arn = resolver.resolve_string(event.stream, "AuditWriterFunction.Events.Accepted.Stream")
    table = (
        local_session(REGION)
        .client("dynamodb", endpoint_url=endpoint.url)
        .describe_table(TableName=resolver.resources["AcceptedTable"].ref)["Table"]
    )
    assert stream_arn == table["LatestStreamArn"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def test_the_network_database_and_secret_are_named_not_created(
    template: Template, resolver: Resolver, endpoint: LocalEndpoint
) -> None:
    named = [resource for resource in template.resources.values() if resource.type.startswith(NAMED_ONLY)]
    assert {resource.type for resource in named} >= {
        "AWS::EC2::VPC",
        "AWS::EC2::NatGateway",
        "AWS::EC2::VPCEndpoint",
        "AWS::RDS::DBCluster",
        "AWS::RDS::DBProxy",
        "AWS::SecretsManager::Secret",
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::S3::BucketPolicy",
    }
    assert all(resource.type not in PROVISIONED_TYPES for resource in named)
    assert all(resource.logical_id in resolver.resources for resource in named)
    session = local_session(REGION)
    vpcs = session.client("ec2", endpoint_url=endpoint.url).describe_vpcs()["Vpcs"]
    assert template.parameter_values(PARAMETERS)["VpcCidr"] not in {vpc["CidrBlock"] for vpc in vpcs}
    # moto's state is one per process: other tests' stacks may keep secrets of their own there.
    secrets = session.client("secretsmanager", endpoint_url=endpoint.url).list_secrets()["SecretList"]
    assert [secret["Name"] for secret in secrets if STACK in secret["Name"]] == []
    assert session.client("rds", endpoint_url=endpoint.url).describe_db_clusters()["DBClusters"] == []


def test_the_data_key_and_the_bucket_policies_are_named_and_not_applied(
    resolver: Resolver, endpoint: LocalEndpoint
) -> None:
    key = resolver.resources["DataKey"]
    assert KEY_ID.fullmatch(key.ref)
    assert key.attributes == {"KeyId": key.ref, "Arn": f"arn:aws:kms:{REGION}:123456789012:key/{key.ref}"}
    assert resolver.resources["DataKeyAlias"].ref == f"alias/{STACK}-data"
    session = local_session(REGION)
    kms = session.client("kms", endpoint_url=endpoint.url)
    assert key.ref not in {listed["KeyId"] for listed in kms.list_keys()["Keys"]}
    s3 = session.client("s3", endpoint_url=endpoint.url)
    for bucket_id in ("ArtifactsBucket", "DatasetsBucket", "AuditArchiveBucket"):
        bucket = resolver.resources[bucket_id].ref
        with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
            s3.get_bucket_policy(Bucket=bucket)
        # moto stores objects unencrypted whatever the bucket says, and the key it would name does not exist here.
        with pytest.raises(s3.exceptions.ClientError, match="ServerSideEncryptionConfigurationNotFound"):
            s3.get_bucket_encryption(Bucket=bucket)


def test_the_sql_functions_name_the_proxy_and_the_local_secret_wins(
    template: Template, resolver: Resolver, endpoint: LocalEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    proxy = resolver.resources["DatabaseProxy"].attributes["Endpoint"]
    local_url = f"sqlite:///{tmp_path / 'leaim.db'}"
    # The local stack's URL, in the secret whose ARN the local stack gives every function instead of the URL.
    secrets = local_session(REGION).client("secretsmanager", endpoint_url=endpoint.url)
    local_secrets = LocalSecrets(secrets, stack_name=STACK, state_dir=tmp_path)
    local_settings = local_secrets.settings({"LEAIM_DATABASE_URL": local_url})
    try:
        for function_id in sorted(SQL_FUNCTIONS):
            environment = {
                name: resolver.resolve_string(value, f"{function_id}.{name}")
                for name, value in template.functions[function_id].environment.items()
            }
            assert environment["LEAIM_DATABASE_HOST"] == proxy
            as_deployed = create_store_engine(Settings.from_env(environment))
            assert (as_deployed.url.host, as_deployed.url.password) == (proxy, None)
            local = sql_engine(Settings.from_env({**environment, **local_settings}), secrets_client=secrets)
            assert local.url.render_as_string() == local_url
            as_deployed.dispose()
            local.dispose()
    finally:
        local_secrets.remove()
