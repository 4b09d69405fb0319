"""The engine behind the RDS Proxy: an IAM token as each new connection's password, TLS required, no password kept.

The tokens are made by a real boto3 RDS client (a token is a SigV4-presigned request, signed offline with the
credentials it is given) and the connections are opened by psycopg against the real PostgreSQL server. That
server cannot check an IAM token, so the test reads what the engine hands psycopg on each connect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import boto3
import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from leaim.adapters.sql import create_store_engine
from leaim.adapters.sql.engine import IAM_TOKEN_REUSE_S, IamAuthTokens, ProxyEndpoint, create_iam_engine
from leaim.config import Settings
from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Engine

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
REGION = "eu-west-1"
# RDS accepts a token for 15 minutes after it is signed.
TOKEN_VALIDITY_S = "900"


class SigningSpy:
    """The real RDS client, counting the tokens it signs."""

    def __init__(self) -> None:
        session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key="not-a-real-secret", region_name=REGION
        )
        self.client = session.client("rds")
        self.signed = 0

    def generate_db_auth_token(self, **arguments: Any) -> str:
        self.signed += 1
        return str(self.client.generate_db_auth_token(**arguments))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _endpoint(postgres_database_url: str) -> ProxyEndpoint:
    url = make_url(postgres_database_url)
    return ProxyEndpoint(host=str(url.host), port=int(url.port or 5432), database=str(url.database), user="leaim")


def _recorded_connects(engine: Engine) -> list[dict[str, Any]]:
    """What psycopg is asked to connect with, each time: registered after the engine's own hook, it sees the token."""
    seen: list[dict[str, Any]] = []
    event.listen(engine, "do_connect", lambda _dialect, _record, _args, params: seen.append(dict(params)))
    return seen


def _connect(engine: Engine) -> psycopg.Connection[Any] | None:
    """Open a pooled connection: the psycopg connection when the server speaks TLS, None when it refused plain text."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            raw = connection.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            connection.invalidate()
            return raw
    except OperationalError as error:
        # libpq's own refusal: the server offers no TLS and sslmode=require forbids going on without it.
        assert "server does not support SSL, but SSL was required" in str(error)
        return None


def _assert_token_for(token: str, endpoint: ProxyEndpoint) -> None:
    request = urlsplit(f"https://{token}")
    query = {name: values[0] for name, values in parse_qs(request.query).items()}
    assert request.netloc == f"{endpoint.host}:{endpoint.port}"
    assert query["Action"] == "connect"
    assert query["DBUser"] == endpoint.user
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/")
    assert query["X-Amz-Credential"].endswith(f"/{REGION}/rds-db/aws4_request")
    assert query["X-Amz-Expires"] == TOKEN_VALIDITY_S
    assert len(query["X-Amz-Signature"]) == 64


@pytest.mark.postgres
def test_each_new_connection_presents_a_current_iam_token_and_requires_tls(postgres_database_url: str) -> None:
    endpoint = _endpoint(postgres_database_url)
    signer, clock = SigningSpy(), Clock()
    engine = create_iam_engine(endpoint, tokens=IamAuthTokens(endpoint, signer, clock=clock))
    connects = _recorded_connects(engine)
    try:
        first = _connect(engine)
        clock.now += IAM_TOKEN_REUSE_S - 1
        _connect(engine)
        clock.now += 1
        _connect(engine)
    finally:
        engine.dispose()

    assert len(connects) == 3
    for params in connects:
        assert params["sslmode"] == "require"
        assert params["user"] == endpoint.user
        assert params["host"] == endpoint.host
        assert params["dbname"] == endpoint.database
        _assert_token_for(params["password"], endpoint)
    # One token while it is young enough, a newly signed one after.
    assert connects[0]["password"] == connects[1]["password"]
    assert signer.signed == 2
    if first is not None:
        # A server that speaks TLS let the connection in: it is encrypted and carried the token.
        assert first.pgconn.ssl_in_use
        assert first.info.password == connects[0]["password"]


def test_the_engine_keeps_no_password() -> None:
    endpoint = ProxyEndpoint(host="proxy.example", port=5432, database="leaim", user="leaim")
    engine = create_iam_engine(endpoint, tokens=IamAuthTokens(endpoint, SigningSpy()))
    assert engine.url.password is None
    assert engine.url.render_as_string(hide_password=False) == "postgresql+psycopg://leaim@proxy.example:5432/leaim"
    engine.dispose()


def test_proxy_settings_build_the_iam_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    settings = Settings.from_env(
        {
            "LEAIM_DATABASE_HOST": "leaim-audit-store.proxy-abc.eu-west-1.rds.amazonaws.com",
            "LEAIM_DATABASE_PORT": "5432",
            "LEAIM_DATABASE_NAME": "leaim",
            "LEAIM_DATABASE_USER": "leaim",
        }
    )
    engine = create_store_engine(settings)
    assert engine.url.render_as_string(hide_password=False) == (
        "postgresql+psycopg://leaim@leaim-audit-store.proxy-abc.eu-west-1.rds.amazonaws.com:5432/leaim"
    )
    engine.dispose()


def test_a_database_url_wins_over_the_proxy_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'leaim.db'}"
    settings = Settings.from_env({"LEAIM_DATABASE_URL": url, "LEAIM_DATABASE_HOST": "proxy.example"})
    engine = create_store_engine(settings)
    assert engine.url.render_as_string() == url
    engine.dispose()


def test_proxy_settings_without_a_user_are_refused() -> None:
    settings = Settings.from_env({"LEAIM_DATABASE_HOST": "proxy.example", "LEAIM_DATABASE_NAME": "leaim"})
    with pytest.raises(ConfigurationError, match="LEAIM_DATABASE_HOST is set but LEAIM_DATABASE_USER is not"):
        create_store_engine(settings)
