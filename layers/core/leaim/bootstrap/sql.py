"""The SQL audit store, for the functions that read or write it: every one but the decision and ingest functions.

Importing this module loads SQLAlchemy and SQLModel; the functions that answer without SQL never do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from leaim.adapters.sql import SqlAuditLog, create_engine_for, create_schema, create_store_engine
from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leaim.config import Settings

# The secret is read once, while the container builds its services: a few seconds and retries are affordable there.
SECRET_READ_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})


def sql_engine(settings: Settings, *, secrets_client: Any = None) -> Engine:
    """The engine of the SQL store, its schema created where it is missing.

    With `LEAIM_DATABASE_SECRET_ARN`, the store is the one whose URL that secret holds (`database_url_from_secret`);
    otherwise `create_store_engine` picks it from the settings: a URL, the RDS Proxy with IAM auth, or the default
    SQLite file.
    """
    if settings.database_secret_arn is None:
        engine = create_store_engine(settings)
    else:
        engine = create_engine_for(database_url_from_secret(settings, secrets_client))
    create_schema(engine)
    return engine


def database_url_from_secret(settings: Settings, secrets_client: Any = None) -> str:
    """The database URL that the secret `LEAIM_DATABASE_SECRET_ARN` holds as its text, read from Secrets Manager.

    Called while a container builds its services, so once per container. A secret that cannot be read, or whose
    text is no database URL, is a ConfigurationError naming the secret and never showing what it holds.
    """
    arn = settings.database_secret_arn
    if arn is None:
        raise ConfigurationError("LEAIM_DATABASE_SECRET_ARN is not set")
    if "database_url" in settings.model_fields_set:
        raise ConfigurationError("LEAIM_DATABASE_URL and LEAIM_DATABASE_SECRET_ARN are both set: give one of them")
    client = secrets_client or boto3.client("secretsmanager", config=SECRET_READ_CONFIG)
    try:
        text = client.get_secret_value(SecretId=arn).get("SecretString")
    except (BotoCoreError, ClientError) as error:
        raise ConfigurationError(f"the database secret {arn} cannot be read: {error}") from error
    url = str(text or "").strip()
    if not url:
        raise ConfigurationError(f"the database secret {arn} holds no text: store the database URL as its SecretString")
    try:
        make_url(url)
    except ArgumentError:
        # Raised without its cause: the parser's message would quote the secret's text.
        raise ConfigurationError(
            f"the database secret {arn} does not hold a database URL (sqlite:///path or postgresql://...)"
        ) from None
    return url


def sql_trail(engine: Engine) -> SqlAuditLog:
    """The read side of the hash chains: audit search and export."""
    return SqlAuditLog(engine)
