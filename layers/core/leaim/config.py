"""Runtime settings, parsed from the environment once per container so a bad value fails at cold start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

PREFIX = "LEAIM_"


class Settings(BaseModel):
    """Every `LEAIM_*` variable a function reads. Names are the field names, upper-cased, prefixed."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    database_url: str = Field(
        default="sqlite:///.leaim/leaim.db",
        description="SQLAlchemy URL of the SQL store; when given, it wins over the RDS Proxy settings below.",
    )
    database_host: str | None = Field(
        default=None, description="The RDS Proxy endpoint, reached with IAM authentication tokens and TLS."
    )
    database_port: int = Field(default=5432, ge=1, le=65535)
    database_name: str | None = None
    database_user: str | None = None
    database_secret_arn: str | None = Field(
        default=None,
        description="Secrets Manager secret whose text is the SQLAlchemy URL of the SQL store, password included; "
        "read once per container, it wins over the RDS Proxy settings above and excludes LEAIM_DATABASE_URL.",
    )
    features_table: str | None = None
    api_keys_table: str | None = None
    rate_limits_table: str | None = Field(
        default=None, description="The shared state of per-key rate limits; no per-key limit is enforced without it."
    )
    api_key_cache_s: float = Field(
        default=60.0, ge=0, description="How long a container trusts a key it looked up: a revoked key's last minute."
    )
    accepted_table: str | None = Field(default=None, description="Where decisions and audit events are accepted.")
    traffic_table: str | None = Field(default=None, description="The published traffic plan of each use case.")
    policies_table: str | None = Field(
        default=None, description="The policy registry; unset, the manifest and contract files are all there is."
    )
    policy_cache_s: float = Field(
        default=5.0, ge=0, description="How long a container keeps the policy heads it read: an activation's delay."
    )
    idempotency_table: str | None = None
    results_queue_url: str | None = None
    decision_dlq_url: str | None = None
    decision_max_receive_count: int = Field(default=3, ge=1)
    use_cases_dir: Path | None = Field(default=None, description="Manifests folder; the shipped ones if unset.")
    worker_backend: Literal["local", "modal"] = "local"
    local_worker_urls: str = Field(
        default="http://127.0.0.1:8788", description="Comma-separated base URLs of the local worker processes."
    )
    modal_environment: str = "main"
    modal_token_secret_arn: str | None = None
    inference_app: str = "leaim-inference"
    training_app: str = "leaim-training"
    traces_file: Path | None = Field(default=None, description="Append finished spans here as JSON lines.")
    invocation_ledger_file: Path | None = Field(
        default=None, description="The local stack's invocation ledger; Lambda's metrics when unset."
    )
    audited_functions: str = Field(
        default="", description="Comma-separated names of the functions whose invocations coverage counts."
    )
    pii_token_key: str | None = None
    pii_token_key_secret_arn: str | None = None
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    datasets_bucket: str | None = None
    ingest_ledger_table: str | None = None
    ingest_dlq_url: str | None = None
    datasets_dir: Path | None = Field(default=None, description="Dataset contracts folder; the shipped ones if unset.")
    # Lambda's synchronous payload limit is 6 MB; a batch of 10,000 records fits well under 5 MiB.
    max_ingest_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # A generated document to archive travels in base64 in one body: the answer that reads it back carries as much.
    max_document_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    training_queue_url: str | None = None
    artifacts_bucket: str | None = None
    manifest_signing_key_file: Path | None = Field(
        default=None, description="PEM of the Ed25519 key that signs model manifests, on the embedded default."
    )
    manifest_signing_key_secret_arn: str | None = None
    audit_archive_bucket: str | None = None
    audit_archive_retention_days: int = Field(default=2557, ge=1, description="COMPLIANCE lock of each digest.")
    audit_signing_key_file: Path | None = Field(
        default=None, description="PEM of the Ed25519 key that signs audit digests, on the embedded default."
    )
    audit_signing_key_secret_arn: str | None = None
    code_version: str = Field(default="unversioned", description="Recorded in each model version's lineage.")
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_s: float = Field(default=10.0, gt=0)
    breaker_window_calls: int = Field(default=20, ge=1, description="Calls the failure-rate window holds at most.")
    breaker_window_s: float = Field(default=30.0, gt=0, description="Outcomes older than this leave the window.")
    breaker_min_calls: int = Field(default=10, ge=1, description="Calls in the window before its rate is judged.")
    breaker_failure_rate: float = Field(
        default=0.5, gt=0, le=1, description="The share of failed calls in the window that opens a circuit."
    )
    modal_max_inflight_calls: int = Field(
        default=32, ge=1, description="Modal calls a container runs at once, those abandoned at a deadline included."
    )
    commit_reserve_ms: float = Field(
        default=20.0, ge=0, description="The least time a decision keeps for its durable write after the worker call."
    )
    router_cache_s: float = Field(default=5.0, ge=0)
    deadline_margin_ms: int = Field(default=50, ge=0)

    @field_validator("breaker_min_calls")
    @classmethod
    def _window_can_fill(cls, min_calls: int, info: ValidationInfo) -> int:
        window_calls = info.data.get("breaker_window_calls")
        if window_calls is not None and min_calls > window_calls:
            raise ValueError("must not exceed LEAIM_BREAKER_WINDOW_CALLS, or the failure rate is never judged")
        return min_calls

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        values = {key[len(PREFIX) :].lower(): value for key, value in env.items() if key.startswith(PREFIX)}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            fields = ", ".join(PREFIX + str(e["loc"][0]).upper() + f" ({e['msg']})" for e in error.errors())
            raise ConfigurationError(f"invalid configuration: {fields}") from error
