"""What every function's composition starts from: settings, time, tracing, and the audit log on the accepted store.

Also the pieces several kinds of function share: AWS client settings, secrets, the governed HTTP gate and
the schedule gate, and `once`, which builds a container's services on its first invocation.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config

from leaim.adapters.dynamodb import DynamoApiKeyStore
from leaim.adapters.dynamodb_audit import DynamoAuditLog
from leaim.adapters.dynamodb_limits import DynamoRateLimiter
from leaim.adapters.dynamodb_policies import DynamoPolicyStore
from leaim.adapters.telemetry import OtelTelemetry, install_tracer_provider
from leaim.config import Settings
from leaim.data.datasets import DatasetCatalog
from leaim.data.privacy import MIN_KEY_BYTES
from leaim.domain.clock import SystemClock
from leaim.domain.manifests import ManifestCatalog
from leaim.domain.policies import LivePolicies
from leaim.exceptions import ConfigurationError
from leaim.governance.access.gate import HttpGate
from leaim.governance.access.limits import RateLimits
from leaim.governance.audit.events import ScheduleGate

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from leaim.lifecycle.signing import ManifestSigner

T = TypeVar("T")

# Short AWS timeouts on the request path: a slow dependency must fail inside the decision's latency
# budget (a fallback), not after it. One attempt: a retry would not fit in the budget.
AWS_CONFIG = Config(connect_timeout=0.5, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})
# Writes off the request path (results, dead letters, idempotency records, objects) are retried by their
# queue or schedule anyway, but a transient error is cheaper to retry here.
AWS_WRITE_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 3, "mode": "standard"})
# The accepted store's writes answer every invocation: short timeouts, and one retry of a throttled or lost call
# (each write is conditional, so a retried one that had landed fails its condition instead of landing twice, and
# the store reads it back to tell it from another write).
ACCEPT_CONFIG = Config(connect_timeout=0.5, read_timeout=1, retries={"max_attempts": 2, "mode": "standard"})


@dataclass(frozen=True)
class Runtime:
    """What every function builds first: its settings, the clock, its tracer, and the audit log.

    The audit log accepts each write into the accepted store (DynamoDB); the audit writer chains it in SQL.
    """

    settings: Settings
    clock: SystemClock
    telemetry: OtelTelemetry
    dynamodb: Any
    audit_log: DynamoAuditLog

    def manifests(self, dynamodb: Any) -> ManifestCatalog:
        """The use cases: the policy registry's active versions where `policies_table` is set, else the files."""
        policies = self._policies(dynamodb)
        if policies is None:
            return ManifestCatalog.from_directory(self.settings.use_cases_dir)
        return ManifestCatalog.live(policies, self.settings.use_cases_dir)

    def catalogs(self, dynamodb: Any) -> tuple[ManifestCatalog, DatasetCatalog]:
        """The use cases and the dataset contracts, reading one registry cache where `policies_table` is set (its
        active and accepted versions), else the files."""
        settings = self.settings
        policies = self._policies(dynamodb)
        if policies is None:
            manifests = ManifestCatalog.from_directory(settings.use_cases_dir)
            return manifests, DatasetCatalog.from_directory(manifests, settings.datasets_dir)
        manifests = ManifestCatalog.live(policies, settings.use_cases_dir)
        return manifests, DatasetCatalog.live(policies, manifests, settings.datasets_dir)

    def _policies(self, dynamodb: Any) -> LivePolicies | None:
        table = self.settings.policies_table
        if table is None:
            return None
        return LivePolicies(
            DynamoPolicyStore(table, dynamodb), monotonic=self.clock.monotonic, ttl_s=self.settings.policy_cache_s
        )

    def schedule_gate(self, source: str) -> ScheduleGate:
        """The gate of a scheduled run of the function named `source`: one audit event per run."""
        return ScheduleGate(audit_log=self.audit_log, telemetry=self.telemetry, clock=self.clock, source=source)

    def api_keys(self, dynamodb: Any) -> DynamoApiKeyStore:
        """The store of the callers' API keys, with its per-container cache."""
        return DynamoApiKeyStore(
            required(self.settings.api_keys_table, "api_keys_table"), dynamodb, cache_s=self.settings.api_key_cache_s
        )

    def http_gate(
        self, dynamodb: Any, *, max_body_bytes: int, source: str, keys: DynamoApiKeyStore | None = None
    ) -> HttpGate:
        """What an API function's governed HTTP entry point shares: its callers' keys, the audit log, tracing."""
        table = self.settings.rate_limits_table
        return HttpGate(
            keys=keys or self.api_keys(dynamodb),
            audit_log=self.audit_log,
            telemetry=self.telemetry,
            clock=self.clock,
            max_body_bytes=max_body_bytes,
            source=source,
            limits=None if table is None else RateLimits(DynamoRateLimiter(table, dynamodb)),
        )


def build_runtime(service_name: str, settings: Settings | None = None) -> Runtime:
    """Settings (default: the environment), the tracer of `service_name`, and the audit log."""
    settings = settings or Settings.from_env()
    provider = install_tracer_provider(service_name, settings.traces_file)
    clock = SystemClock()
    dynamodb = boto3.client("dynamodb", config=ACCEPT_CONFIG)
    return Runtime(
        settings=settings,
        clock=clock,
        telemetry=OtelTelemetry(provider.get_tracer("leaim")),
        dynamodb=dynamodb,
        audit_log=DynamoAuditLog(required(settings.accepted_table, "accepted_table"), dynamodb, clock=clock.now),
    )


def required(value: str | None, name: str) -> str:
    """A setting the function cannot run without; ConfigurationError naming its variable when it is unset."""
    if not value:
        raise ConfigurationError(f"LEAIM_{name.upper()} is not set")
    return value


def pii_key(settings: Settings) -> bytes:
    """The key that tokenizes PII fields: given directly locally, from Secrets Manager in AWS."""
    if settings.pii_token_key:
        key = settings.pii_token_key.encode()
    elif settings.pii_token_key_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        key = str(parameters.get_secret(settings.pii_token_key_secret_arn, max_age=3600)).encode()
    else:
        raise ConfigurationError("set LEAIM_PII_TOKEN_KEY or LEAIM_PII_TOKEN_KEY_SECRET_ARN")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(f"the PII token key must be at least {MIN_KEY_BYTES} bytes")
    return key


def modal_credentials(settings: Settings) -> None:
    """Expose the Modal token from Secrets Manager to the Modal client, which reads it from the environment."""
    if settings.worker_backend != "modal" or not settings.modal_token_secret_arn or "MODAL_TOKEN_ID" in os.environ:
        return
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(settings.modal_token_secret_arn, transform="json", max_age=3600)
    if not isinstance(secret, dict) or not {"MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"} <= secret.keys():
        raise ConfigurationError("the Modal token secret must hold MODAL_TOKEN_ID and MODAL_TOKEN_SECRET")
    os.environ["MODAL_TOKEN_ID"] = secret["MODAL_TOKEN_ID"]
    os.environ["MODAL_TOKEN_SECRET"] = secret["MODAL_TOKEN_SECRET"]


def key_pem(file: Path | None, secret_arn: str | None, variable: str) -> bytes:
    """A private key's PEM from its file (locally) or its Secrets Manager secret (in AWS)."""
    if file is not None:
        try:
            return file.read_bytes()
        except OSError as error:
            raise ConfigurationError(f"LEAIM_{variable}_FILE cannot be read: {error}") from error
    if secret_arn:
        from aws_lambda_powertools.utilities import parameters

        return str(parameters.get_secret(secret_arn, max_age=3600)).encode()
    raise ConfigurationError(f"set LEAIM_{variable}_FILE or LEAIM_{variable}_SECRET_ARN")


def manifest_signer(settings: Settings) -> ManifestSigner:
    """The signer of model manifests, from the manifest signing key."""
    # Imported here: only the functions that sign or verify manifests load cryptography at all.
    from leaim.lifecycle.signing import ManifestSigner

    pem = key_pem(settings.manifest_signing_key_file, settings.manifest_signing_key_secret_arn, "MANIFEST_SIGNING_KEY")
    return ManifestSigner.from_pem(pem)


def once(build: Callable[[], T]) -> Callable[[], T]:
    """`build` run on the first call of a container and its result reused by the following ones.

    Concurrent first calls (the local stack serves on threads) wait for the one build instead of making two.
    """
    lock = threading.Lock()
    built: list[T] = []

    def get() -> T:
        with lock:
            if not built:
                built.append(build())
            return built[0]

    return get
