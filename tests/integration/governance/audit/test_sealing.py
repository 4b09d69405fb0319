"""The audit digest function and the `leaim audit` commands, on SQLite and PostgreSQL, archiving to moto's S3."""

from __future__ import annotations

import importlib
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

from embedded.cli import main
from embedded.emulation.aws import local_session
from embedded.emulation.context import LambdaContext
from leaim.adapters.audit_archive import S3DigestArchive
from leaim.adapters.sql import SqlAuditLog, SqlAuditTrail, create_engine_for, create_schema
from leaim.adapters.sql.intake import SqlAuditIntake
from leaim.governance.audit.exceptions import ArchiveConflictError
from leaim.governance.audit.sealing import DigestSigner
from leaim.governance.ports import AuditQuery
from tests.integration.governance.audit.test_trail import REGION, endpoint, template_bucket
from tests.support.accepted import StreamReader, accepted_table, bundle
from tests.support.audit import make_event

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy import Engine

    from embedded.emulation.aws import LocalEndpoint

# The shared moto server: pytest finds the imported fixture through this module's names.
__all__ = ["endpoint"]


@pytest.fixture
def store(database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(database_url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, endpoint: LocalEndpoint) -> LocalEndpoint:
    """boto3 clients made without arguments reach moto's server with its dummy credentials."""
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "LEAIM",
    }.items():
        monkeypatch.setenv(name, value)
    return endpoint


@pytest.fixture
def accepted(monkeypatch: pytest.MonkeyPatch, aws: LocalEndpoint) -> StreamReader:
    """The accepted store the function's run events go to, and a reader of its change stream."""
    table, _ = accepted_table(aws)
    monkeypatch.setenv("LEAIM_ACCEPTED_TABLE", table)
    return StreamReader(aws, table)


def chain_accepted(reader: StreamReader, store: Engine) -> None:
    """What the audit writer does with the change stream: the accepted run events into the SQL chains."""
    bundles = [bundle(record["dynamodb"]["NewImage"]) for record in reader.read()]
    SqlAuditIntake(store, clock=time.time).store(bundles)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "audit-signing.pem"
    path.parent.mkdir()
    path.write_bytes(DigestSigner.generate().pem())
    return path


def context() -> LambdaContext:
    return LambdaContext(
        function_name="leaim-AuditDigestFunction",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:leaim-AuditDigestFunction",
        memory_limit_in_mb="1024",
        aws_request_id=str(uuid.uuid4()),
        log_group_name="/aws/lambda/leaim-AuditDigestFunction",
        log_stream_name="local",
        deadline_monotonic=time.monotonic() + 60,
    )


def run_function(monkeypatch: pytest.MonkeyPatch, database_url: str, bucket: str, key_file: Path) -> Any:
    """Invoke the function's handler in a fresh container configured with these settings."""
    from functions.audit_digest import app

    app = importlib.reload(app)
    monkeypatch.setenv("LEAIM_DATABASE_URL", database_url)
    monkeypatch.setenv("LEAIM_AUDIT_ARCHIVE_BUCKET", bucket)
    monkeypatch.setenv("LEAIM_AUDIT_ARCHIVE_RETENTION_DAYS", "1")
    monkeypatch.setenv("LEAIM_AUDIT_SIGNING_KEY_FILE", str(key_file))
    return app.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, context())


def leaim(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """Run the `leaim` command; its exit status and what it printed."""
    with pytest.raises(SystemExit) as exited:
        main(list(arguments))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_each_run_of_the_function_seals_a_digest_and_stores_one_event(
    monkeypatch: pytest.MonkeyPatch,
    aws: LocalEndpoint,
    accepted: StreamReader,
    store: Engine,
    database_url: str,
    key_file: Path,
) -> None:
    bucket, _ = template_bucket(aws)
    SqlAuditLog(store).append_many([make_event(), make_event()])

    first = run_function(monkeypatch, database_url, bucket, key_file)
    chain_accepted(accepted, store)
    second = run_function(monkeypatch, database_url, bucket, key_file)
    chain_accepted(accepted, store)

    assert first["digest"]["digest"]["sequence"] == 1
    assert first["digest"]["digest"]["events"] == 2
    assert second["digest"]["digest"]["previous_hash"] == first["digest"]["digest_hash"]
    # The second digest seals the chain the first run's own event went to.
    assert second["digest"]["digest"]["events"] == 3
    runs = SqlAuditLog(store).events(AuditQuery(source="AuditDigestFunction"))
    assert [(run.action, run.outcome, run.details["sequence"]) for run in runs] == [
        ("audit.digest.seal", "success", 1),
        ("audit.digest.seal", "success", 2),
    ]
    assert runs[0].details["archive_key"] == first["archive_key"]


def test_a_run_whose_archive_fails_stores_an_error_event_and_the_next_one_archives_its_digest(
    monkeypatch: pytest.MonkeyPatch,
    aws: LocalEndpoint,
    accepted: StreamReader,
    store: Engine,
    database_url: str,
    key_file: Path,
) -> None:
    bucket, _ = template_bucket(aws)
    SqlAuditLog(store).append(make_event())

    with pytest.raises(Exception, match="was not written"):
        run_function(monkeypatch, database_url, "no-such-bucket-" + uuid.uuid4().hex[:8], key_file)
    chain_accepted(accepted, store)
    (failed,) = SqlAuditLog(store).events(AuditQuery(source="AuditDigestFunction"))
    assert (failed.outcome, failed.principal) == ("error", "schedule:audit-digest")

    result = run_function(monkeypatch, database_url, bucket, key_file)
    chain_accepted(accepted, store)

    assert result["digest"]["digest"]["sequence"] == 2
    runs = SqlAuditLog(store).events(AuditQuery(source="AuditDigestFunction"))
    assert [run.outcome for run in runs] == ["error", "success"]
    assert runs[1].details["archived_earlier"] == [1]


def test_verify_and_digest_commands_exit_with_one_line(
    capsys: pytest.CaptureFixture[str], aws: LocalEndpoint, store: Engine, database_url: str, tmp_path: Path
) -> None:
    bucket, _ = template_bucket(aws)
    log = SqlAuditLog(store)
    events = [make_event() for _ in range(4)]
    log.append_many(events)
    state = ["--state-dir", str(tmp_path / "state")]
    target = ["--database-url", database_url, "--archive-bucket", bucket, "--endpoint-url", aws.url]

    sealed = leaim(capsys, *state, "audit", "digest", *target)
    intact = leaim(capsys, *state, "audit", "verify", *target)

    assert sealed[0] == 0
    assert sealed[1].startswith("sealed digest 1: 1 chain, 4 events, sha256 ")
    assert intact[0] == 0
    assert intact[1].count("\n") == 1
    assert intact[1].startswith("audit trail intact: 1 chain, 4 events, 1 digest, 0 decisions; 4 events sealed")
    assert "archived copies checked" in intact[1]

    with store.begin() as connection:
        connection.execute(
            text("UPDATE audit_events SET role = 'admin' WHERE event_id = :id"), {"id": events[2].event_id}
        )
    broken = leaim(capsys, *state, "audit", "verify", *target)

    assert broken[0] == 1
    assert broken[1].count("\n") == 1
    assert broken[1].startswith(
        f"audit trail broken: modified: chain {log.chain_id} seq 3 (event {events[2].event_id})"
    )


def test_verify_trusts_only_the_keys_it_is_given(
    capsys: pytest.CaptureFixture[str], aws: LocalEndpoint, store: Engine, database_url: str, tmp_path: Path
) -> None:
    bucket, _ = template_bucket(aws)
    SqlAuditLog(store).append(make_event())
    state = ["--state-dir", str(tmp_path)]
    target = ["--database-url", database_url, "--archive-bucket", bucket, "--endpoint-url", aws.url]
    # Without --signing-key the key in the state folder is used, made on first use.
    assert leaim(capsys, *state, "audit", "digest", *target)[0] == 0
    local = DigestSigner.from_pem((tmp_path / "audit-signing.pem").read_bytes())

    trusted = leaim(capsys, *state, "audit", "verify", *target, "--public-key", local.public_key_b64)
    stranger = leaim(capsys, *state, "audit", "verify", *target, "--public-key", DigestSigner.generate().public_key_b64)

    assert trusted[0] == 0
    assert stranger[0] == 1
    assert stranger[1] == (
        f"audit trail broken: digest: digest 1 is signed by key {local.key_id}, which is not a trusted audit "
        "signing key\n"
    )


def test_commands_without_a_store_or_an_archive_say_what_is_missing(
    capsys: pytest.CaptureFixture[str], store: Engine, database_url: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    no_store = leaim(capsys, "--state-dir", str(empty), "audit", "verify")
    no_archive = leaim(capsys, "--state-dir", str(empty), "audit", "digest", "--database-url", database_url)
    unchecked = leaim(capsys, "--state-dir", str(empty), "audit", "verify", "--database-url", database_url)

    assert no_store[0] == 2
    assert no_store[2] == (
        f"leaim: no audit store in {empty.resolve()}: run `leaim up` or `leaim demo`, or pass --database-url\n"
    )
    assert no_archive[0] == 2
    assert "no archive to seal into" in no_archive[2]
    assert unchecked[0] == 0
    assert unchecked[1].startswith("audit trail intact: 0 chains, 0 events")
    assert "archived copies not checked" in unchecked[1]


@pytest.mark.slow
def test_the_local_stack_seals_into_its_object_locked_bucket_and_the_command_verifies_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from embedded.world import LocalWorld, WorldOptions

    options = WorldOptions(state_dir=tmp_path, stack_name="trail-local", worker_processes=1, run_schedules=False)
    with LocalWorld(options) as world:
        stack = world.running
        s3 = local_session(stack.region).client("s3", endpoint_url=stack.endpoint_url)
        bucket = stack.bucket_name("AuditArchiveBucket")
        lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        world.audit_log.append(make_event())

        sealed = stack.run_schedule("AuditDigestFunction")
        # The run's own event is accepted, and reaches its chain through the audit writer.
        stack.settle_streams()
        verified = leaim(capsys, "--state-dir", str(tmp_path), "audit", "verify")

        head = s3.head_object(Bucket=bucket, Key=sealed["archive_key"])
    retention = lock["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", 2557)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    # The function's log lines went to the same output before it: the command's line is the last.
    line = verified[1].splitlines()[-1]
    assert verified[0] == 0
    # The event appended directly, in its own chain; the creation of each role's local key and the digest run's
    # event, in the audit writer's.
    keys = len(world.api_keys)
    assert line.startswith("audit trail intact: 2 chains, ")
    assert ", 1 digest, 0 decisions; 1 events sealed, " in line
    assert line.endswith(
        f"archived copies checked; accepted store: {keys + 1} events, 0 pending (accepted within the grace "
        "window), 0 in no chain, 0 bundles set aside"
    )


def test_archiving_again_the_digest_read_back_from_the_store_is_accepted_as_the_same_copy(
    monkeypatch: pytest.MonkeyPatch,
    aws: LocalEndpoint,
    accepted: StreamReader,
    store: Engine,
    database_url: str,
    key_file: Path,
) -> None:
    # As when the archive write succeeded but recording it did not: the next run archives the stored digest
    # again, which PostgreSQL's JSONB gives back with its keys in another order.
    bucket, client = template_bucket(aws)
    for _ in range(3):
        SqlAuditLog(store).append_many([make_event(), make_event()])
    run_function(monkeypatch, database_url, bucket, key_file)
    [stored] = SqlAuditTrail(store).digests()
    assert stored.signed is not None and stored.archived is not None

    again = S3DigestArchive(bucket, client, retention_days=1).put(stored.signed)
    forged = stored.signed.model_copy(update={"signature": stored.signed.signature[::-1]})

    assert again.key == stored.archived.key
    with pytest.raises(ArchiveConflictError):
        S3DigestArchive(bucket, client, retention_days=1).put(forged)
