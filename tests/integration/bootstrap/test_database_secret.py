"""The SQL store's URL from Secrets Manager, read once per container by a real boto3 client from moto's server.

The URL is a credential (its password), so it never sits in a function's environment: the function gets the ARN of
the secret holding it, as the local stack gives its functions (`embedded.emulation.secrets`).
"""

from __future__ import annotations

import contextlib
import importlib
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url

from embedded.emulation.aws import LocalEndpoint
from embedded.emulation.context import LambdaContext
from leaim.adapters.sql import create_engine_for, tables
from leaim.adapters.sql.rows import EVENTS
from leaim.bootstrap.sql import sql_engine
from leaim.config import Settings
from leaim.exceptions import ConfigurationError
from tests.support.accepted import REGION, accepted_table, client, events_item, stream_event

if TYPE_CHECKING:
    from collections.abc import Iterator

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def secrets(endpoint: LocalEndpoint) -> Any:
    return client(endpoint, "secretsmanager")


def _put_secret(secrets: Any, text: str) -> str:
    return str(secrets.create_secret(Name=f"leaim-test-database-{uuid.uuid4().hex[:8]}", SecretString=text)["ARN"])


@pytest.fixture
def secret(secrets: Any, database_url: str) -> Iterator[str]:
    """The ARN of a secret holding the test database's URL, removed afterwards (moto's backends are per process)."""
    arn = _put_secret(secrets, database_url)
    yield arn
    with contextlib.suppress(secrets.exceptions.ResourceNotFoundException):
        secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def test_the_store_is_the_one_whose_url_the_secret_holds(secret: str, secrets: Any, database_url: str) -> None:
    engine = sql_engine(Settings.from_env({"LEAIM_DATABASE_SECRET_ARN": secret}), secrets_client=secrets)
    try:
        expected = make_url(database_url)
        assert (engine.url.host, engine.url.port, engine.url.database) == (
            expected.host,
            expected.port,
            expected.database,
        )
        assert {table.name for table in tables.ALL} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_secret_that_cannot_be_read_is_named(secrets: Any) -> None:
    missing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:leaim-no-such-database-AbCdEf"
    settings = Settings.from_env({"LEAIM_DATABASE_SECRET_ARN": missing})
    with pytest.raises(ConfigurationError, match=f"the database secret {missing} cannot be read: .*ResourceNotFound"):
        sql_engine(settings, secrets_client=secrets)


def test_a_secret_that_holds_no_url_is_named_without_showing_what_it_holds(secrets: Any) -> None:
    arn = _put_secret(secrets, "hunter2 is no URL")
    try:
        with pytest.raises(
            ConfigurationError, match=f"the database secret {arn} does not hold a database URL"
        ) as error:
            sql_engine(Settings.from_env({"LEAIM_DATABASE_SECRET_ARN": arn}), secrets_client=secrets)
        assert "hunter2" not in str(error.value)
        assert error.value.__cause__ is None
        assert error.value.__suppress_context__
    finally:
        secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def test_a_url_and_a_secret_together_are_refused(secret: str, secrets: Any, database_url: str) -> None:
    settings = Settings.from_env({"LEAIM_DATABASE_SECRET_ARN": secret, "LEAIM_DATABASE_URL": database_url})
    with pytest.raises(ConfigurationError, match="LEAIM_DATABASE_URL and LEAIM_DATABASE_SECRET_ARN are both set"):
        sql_engine(settings, secrets_client=secrets)


def _context() -> LambdaContext:
    return LambdaContext(
        function_name="leaim-AuditWriterFunction",
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:leaim-AuditWriterFunction",
        memory_limit_in_mb="1024",
        aws_request_id=str(uuid.uuid4()),
        log_group_name="/aws/lambda/leaim-AuditWriterFunction",
        log_stream_name="local",
        deadline_monotonic=float("inf"),
    )


def test_a_container_reads_the_secret_once_and_a_new_one_that_cannot_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, endpoint: LocalEndpoint, secrets: Any, secret: str, database_url: str
) -> None:
    table, _ = accepted_table(endpoint)
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "LEAIM",
        "LEAIM_ACCEPTED_TABLE": table,
        "LEAIM_DATABASE_SECRET_ARN": secret,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LEAIM_DATABASE_URL", raising=False)
    from functions.audit_writer import app

    container = importlib.reload(app)
    first, second = events_item(), events_item()
    assert container.lambda_handler(stream_event([first]), _context()) == {"batchItemFailures": []}
    secrets.delete_secret(SecretId=secret, ForceDeleteWithoutRecovery=True)
    # The URL was read when the container built its services: the secret is not needed again.
    assert container.lambda_handler(stream_event([second], first_sequence=200), _context()) == {"batchItemFailures": []}
    store = create_engine_for(database_url)
    try:
        with store.connect() as connection:
            chained = set(connection.execute(select(EVENTS.c.event_id)).scalars())
    finally:
        store.dispose()
    assert {item["pk"]["S"].removeprefix("events#") for item in (first, second)} <= chained

    fresh = importlib.reload(app)
    with pytest.raises(ConfigurationError, match=f"the database secret {secret} cannot be read"):
        fresh.lambda_handler(stream_event([events_item()], first_sequence=300), _context())
