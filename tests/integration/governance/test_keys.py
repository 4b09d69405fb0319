"""Key management on the template's key table and accepted store (moto's server): every change takes effect for
the API's key lookups and is stored as an audit event; the `leaim keys` commands do the same from the terminal."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from embedded.cli import main
from embedded.emulation.aws import LocalEndpoint
from leaim.adapters.dynamodb import DynamoApiKeyStore
from leaim.adapters.dynamodb_audit import DynamoAcceptedStore
from leaim.bootstrap.keys import build_key_administration
from leaim.governance.access.exceptions import KeyManagementError
from leaim.governance.access.policy import key_digest
from tests.support.accepted import REGION, template_table

if TYPE_CHECKING:
    from collections.abc import Iterator

    from leaim.governance.access.keys import KeyAdministration


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tables(endpoint: LocalEndpoint) -> tuple[str, str, Any]:
    keys, client = template_table(endpoint, "ApiKeysTable")
    accepted, _ = template_table(endpoint, "AcceptedTable")
    return keys, accepted, client


@pytest.fixture
def admin(tables: tuple[str, str, Any]) -> KeyAdministration:
    keys, accepted, client = tables
    return build_key_administration(keys_table=keys, accepted_table=accepted, dynamodb=client, operator="ops@example")


def events(tables: tuple[str, str, Any]) -> list[dict[str, Any]]:
    _, accepted, client = tables
    found = [
        event for bundle in DynamoAcceptedStore(accepted, client, clock=time.time).bundles() for event in bundle.events
    ]
    return sorted(found, key=lambda event: str(event["occurred_at"]))


def test_a_new_key_authenticates_with_its_scope_and_plan_and_its_creation_is_audited(
    tables: tuple[str, str, Any], admin: KeyAdministration
) -> None:
    keys, _, client = tables
    issued = admin.create(principal="checkout-service", role="decision_client", use_cases=["card_fraud"], plan="trial")

    principal = DynamoApiKeyStore(keys, client, cache_s=0).lookup(key_digest(issued.secret))

    assert principal is not None
    assert (principal.name, principal.role, principal.key_id, principal.plan) == (
        "checkout-service",
        "decision_client",
        issued.record.key_id,
        "trial",
    )
    assert principal.may_use("card_fraud")
    assert not principal.may_use("loan_limits")
    assert not principal.may_touch("transactions")
    (event,) = events(tables)
    assert (event["source"], event["action"], event["outcome"]) == ("KeyAdministration", "key.create", "success")
    assert (event["principal"], event["role"]) == ("ops@example", "key_admin")
    assert event["details"]["key_id"] == issued.record.key_id
    assert event["details"]["use_cases"] == ["card_fraud"]
    assert issued.secret not in json.dumps(event), "the secret is never stored"
    stored = client.scan(TableName=keys)["Items"]
    assert issued.secret not in json.dumps(stored)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"use_cases": ["card_frud"]}, "unknown use case 'card_frud'"),
        ({"datasets": ["transactionz"]}, "unknown dataset 'transactionz'"),
        ({"role": "admin"}, "unknown role 'admin'"),
        ({"plan": "gold"}, "unknown plan 'gold'"),
        ({"use_cases": [], "datasets": []}, "must name the use cases or datasets"),
        ({"use_cases": ["*", "card_fraud"]}, "`*` already grants every use case"),
    ],
)
def test_a_key_that_could_touch_nothing_or_names_a_typo_is_refused_and_nothing_is_stored(
    tables: tuple[str, str, Any], admin: KeyAdministration, changes: dict[str, Any], problem: str
) -> None:
    request: dict[str, Any] = {
        "principal": "svc",
        "role": "decision_client",
        "use_cases": ["card_fraud"],
        "datasets": [],
        "plan": "standard",
        **changes,
    }

    with pytest.raises(KeyManagementError, match=problem.replace("*", r"\*")):
        admin.create(**request)

    keys, _, client = tables
    assert client.scan(TableName=keys)["Items"] == []
    assert events(tables) == []


def test_a_rotation_keeps_the_grants_and_the_old_secret_works_for_its_grace_only(
    tables: tuple[str, str, Any], admin: KeyAdministration
) -> None:
    keys, _, client = tables
    store = DynamoApiKeyStore(keys, client, cache_s=0)
    first = admin.create(principal="svc", role="decision_client", use_cases=["card_fraud"], plan="standard")

    graceful = admin.rotate(first.record.key_id, grace=timedelta(seconds=1))
    assert [summary.status for summary in admin.list()] == ["rotating"]
    assert store.lookup(key_digest(first.secret)) is not None, "in its grace"
    new = store.lookup(key_digest(graceful.secret))
    assert new is not None
    assert (new.key_id, new.use_cases, graceful.record.generation) == (
        first.record.key_id,
        frozenset({"card_fraud"}),
        2,
    )
    time.sleep(1.1)
    assert store.lookup(key_digest(first.secret)) is None, "past its grace"

    at_once = admin.rotate(first.record.key_id)
    assert store.lookup(key_digest(graceful.secret)) is None
    assert store.lookup(key_digest(at_once.secret)) is not None
    assert [summary.status for summary in admin.list()] == ["active"]
    assert [event["action"] for event in events(tables)] == ["key.create", "key.rotate", "key.rotate"]


def test_a_revoked_key_is_refused_once_the_cache_time_has_passed_and_cannot_be_rotated(
    tables: tuple[str, str, Any], admin: KeyAdministration
) -> None:
    keys, _, client = tables
    cached = DynamoApiKeyStore(keys, client, cache_s=0.5)
    issued = admin.create(principal="svc", role="auditor", use_cases=["*"], plan="internal")
    assert cached.lookup(key_digest(issued.secret)) is not None

    admin.revoke(issued.record.key_id)

    assert cached.lookup(key_digest(issued.secret)) is not None, "within the cache time the container trusts it"
    time.sleep(0.6)
    assert cached.lookup(key_digest(issued.secret)) is None
    assert [summary.status for summary in admin.list()] == ["revoked"]
    with pytest.raises(KeyManagementError, match="is revoked"):
        admin.rotate(issued.record.key_id)
    with pytest.raises(KeyManagementError, match="revoked already"):
        admin.revoke(issued.record.key_id)
    with pytest.raises(KeyManagementError, match="no key 'key_missing'"):
        admin.revoke("key_missing")
    assert [event["action"] for event in events(tables)] == ["key.create", "key.revoke"]


def test_the_keys_commands_create_list_and_revoke_and_refuse_bad_input_in_one_line(
    tables: tuple[str, str, Any],
    endpoint: LocalEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    keys, accepted, client = tables
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    where = ["--keys-table", keys, "--accepted-table", accepted, "--endpoint-url", endpoint.url]
    state = ["--state-dir", str(tmp_path)]

    with pytest.raises(SystemExit) as created:
        main([*state, "keys", "create", "--principal", "checkout-service", "--role", "decision_client",
              "--use-case", "card_fraud", "--plan", "trial", *where])  # fmt: skip
    assert created.value.code == 0
    out = capsys.readouterr().out
    secret = out.split("secret (shown once): ")[1].split()[0]
    principal = DynamoApiKeyStore(keys, client, cache_s=0).lookup(key_digest(secret))
    assert principal is not None
    assert principal.name == "checkout-service"

    with pytest.raises(SystemExit) as listed:
        main([*state, "keys", "list", "--json", *where])
    assert listed.value.code == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["key_id"], row["status"], row["use_cases"], row["plan"]) == (
        principal.key_id,
        "active",
        ["card_fraud"],
        "trial",
    )
    assert secret not in json.dumps(row)

    with pytest.raises(SystemExit) as revoked:
        main([*state, "keys", "revoke", str(principal.key_id), *where])
    assert revoked.value.code == 0
    assert DynamoApiKeyStore(keys, client, cache_s=0).lookup(key_digest(secret)) is None
    (event,) = [event for event in events(tables) if event["action"] == "key.revoke"]
    assert event["principal"].startswith("arn:aws:"), "the operator is the AWS identity the command ran as"

    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main([*state, "keys", "create", "--principal", "svc", "--role", "reviewer", "--use-case", "nope", *where])
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "unknown use case 'nope'" in error
