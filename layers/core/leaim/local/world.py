"""The embedded default, assembled: worker processes, the template's stack, a trained model, keys and features."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

from leaim.adapters.dynamodb import DynamoApiKeyStore, DynamoFeatureStore
from leaim.adapters.sql import SqlAuditLog, SqlModelRegistry, create_engine_for, create_schema
from leaim.adapters.telemetry import OtelTelemetry, install_tracer_provider
from leaim.adapters.workers import LocalWorkerClient
from leaim.data.synthetic import CardFraudGenerator
from leaim.domain.clock import SystemClock
from leaim.domain.manifests import ManifestCatalog
from leaim.governance.access import key_digest
from leaim.governance.ports import Principal
from leaim.lifecycle.training import LabeledRecord, TrainingService
from leaim.local.stack import LocalStack
from leaim.local.worker_host import LocalWorkerPool

if TYPE_CHECKING:
    from types import TracebackType

    from contracts.training.v1 import TrainingResult
    from leaim.data.synthetic import Card

REPOSITORY = Path(__file__).resolve().parents[4]
TEMPLATE = REPOSITORY / "template.yaml"
REFERENCE_USE_CASE = "card_fraud"
ROLES = ("decision_client", "auditor", "reviewer", "ml_engineer")


@dataclass
class WorldOptions:
    """How to run the embedded default."""

    state_dir: Path = field(default_factory=lambda: Path(".leaim"))
    api_port: int = 0
    worker_processes: int = 2
    breaker_reset_s: float = 2.0
    queue_visibility_timeout_s: int = 2
    seed: int = 7


class LocalWorld:
    """Everything `leaim up` runs: use as a context manager, then `train()` and `seed()`."""

    def __init__(self, options: WorldOptions) -> None:
        self.options = options
        self.state_dir = options.state_dir.resolve()
        self.database_url = f"sqlite:///{self.state_dir / 'leaim.db'}"
        self.workers = LocalWorkerPool(self.state_dir / "artifacts", processes=options.worker_processes)
        self.stack: LocalStack | None = None
        self.api_keys: dict[str, str] = {}
        self.catalog = ManifestCatalog.from_directory(None)
        self.manifest = self.catalog.get(REFERENCE_USE_CASE)
        self.engine = create_engine_for(self.database_url)
        self.audit_log = SqlAuditLog(self.engine)
        self.registry = SqlModelRegistry(self.engine)

    def __enter__(self) -> LocalWorld:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the worker processes, then the stack wired to them."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        create_schema(self.engine)
        self.workers.start()
        self.stack = LocalStack(
            TEMPLATE,
            state_dir=self.state_dir / "stack",
            api_port=self.options.api_port,
            parameters={
                "DatabaseUrl": self.database_url,
                "WorkerBackend": "local",
                "ModalTokenSecretArn": "unused-by-the-local-backend",
                "PiiTokenKeySecretArn": "unused-by-the-local-backend",
                "DecisionQueueVisibilityTimeout": str(self.options.queue_visibility_timeout_s),
            },
            environment={
                "LEAIM_LOCAL_WORKER_URLS": ",".join(self.workers.urls),
                "LEAIM_PII_TOKEN_KEY": self._pii_key(),
                "LEAIM_TRACES_FILE": str(self.state_dir / "traces.jsonl"),
                "LEAIM_BREAKER_RESET_S": str(self.options.breaker_reset_s),
            },
        )
        self.stack.start()

    def stop(self) -> None:
        """Stop the stack and the worker processes."""
        if self.stack is not None:
            self.stack.stop()
            self.stack = None
        self.workers.stop()

    @property
    def running(self) -> LocalStack:
        """The started stack."""
        if self.stack is None:
            raise RuntimeError("the local world is not started")
        return self.stack

    def train(self, *, rows: int = 20_000, timeout_s: float = 300.0) -> TrainingResult:
        """Train the reference model on generated data through the training worker, and activate it."""
        generator = CardFraudGenerator(self.manifest, seed=self.options.seed)
        cards = generator.cards(2_000)
        records = [
            LabeledRecord(inputs=t.inputs, online=t.online, label=t.label) for t in generator.transactions(rows, cards)
        ]
        provider = install_tracer_provider("leaim-cli")
        service = TrainingService(
            workers=LocalWorkerClient(self.workers.urls),
            registry=self.registry,
            audit_log=self.audit_log,
            telemetry=OtelTelemetry(provider.get_tracer("leaim")),
            clock=SystemClock(),
            principal="leaim-cli",
        )
        version = f"v{len(self.registry.versions(self.manifest.model.name)) + 1}"
        return service.train(self.manifest, records, version=version, seed=self.options.seed, timeout_s=timeout_s)

    def seed(self, cards: list[Card]) -> None:
        """Register one API key per role and load the cards' online features."""
        stack = self.running
        dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
        keys = DynamoApiKeyStore(stack.table_name("ApiKeysTable"), dynamodb)
        for role in ROLES:
            key = f"leaim_{role}_{secrets.token_urlsafe(18)}"
            keys.register(key_digest(key), Principal(name=f"local-{role.replace('_', '-')}", role=role))
            self.api_keys[role] = key
        features = DynamoFeatureStore(stack.table_name("FeaturesTable"), dynamodb)
        generator = CardFraudGenerator(self.manifest, seed=self.options.seed)
        for card in cards:
            features.put(REFERENCE_USE_CASE, card.card_id, generator.online_features(card))
        (self.state_dir / "api-keys.json").write_text(json.dumps(self.api_keys, indent=2) + "\n", encoding="utf-8")

    def _pii_key(self) -> str:
        path = self.state_dir / "pii-token.key"
        if not path.exists():
            path.write_text(secrets.token_hex(32), encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()
