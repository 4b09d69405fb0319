"""The embedded default, assembled: worker processes, the template's stack, a trained model, keys and features."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from contracts.ingest.v1 import SnapshotManifest
from contracts.model.v1 import ModelVersionView, TrainingJob
from embedded.clients.http import Sent, send
from embedded.emulation.faults import FaultInjector
from embedded.emulation.stack import LocalStack
from embedded.emulation.trail import AUDIT_SIGNING_KEY, audit_signer
from embedded.emulation.workers import LocalWorkerPool, Supervision
from embedded.exceptions import LocalCallError
from embedded.synthetic import CardFraudGenerator, transaction_record
from leaim.adapters.dynamodb import DynamoApiKeyStore, DynamoFeatureStore, DynamoRecordLedger
from leaim.adapters.dynamodb_policies import DynamoPolicyStore
from leaim.adapters.s3 import S3ObjectStore
from leaim.adapters.sql import SqlAuditLog, SqlModelRegistry, create_engine_for, create_schema
from leaim.bootstrap.keys import build_key_administration
from leaim.bootstrap.lifecycle import build_policy_registry, seed_policies
from leaim.config import Settings
from leaim.data.datasets import DatasetCatalog
from leaim.data.privacy import entity_id
from leaim.data.snapshots import SnapshotService
from leaim.domain.clock import SystemClock
from leaim.domain.manifests import ManifestCatalog
from leaim.domain.policies import LivePolicies
from leaim.governance.access.policy import key_digest
from leaim.governance.ports import EVERY
from leaim.lifecycle.signing import ManifestSigner

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from types import TracebackType

    from contracts.audit.v1 import AuditEvent
    from contracts.manifest.v1 import UseCaseManifest
    from contracts.model.v1 import ModelManifest
    from contracts.trail.v1 import AuditPage, AuditRecord
    from embedded.synthetic import Card
    from leaim.governance.ports import AuditQuery
    from leaim.lifecycle.policies import PolicyRegistry

REPOSITORY = Path(__file__).resolve().parents[1]
TEMPLATE = REPOSITORY / "template.yaml"
REFERENCE_USE_CASE = "card_fraud"
ROLES = ("decision_client", "auditor", "reviewer", "ml_engineer", "risk_owner", "data_producer", "data_steward")
REFERENCE_DATASET = "transactions"
# Generated training transactions happen over the days before now, so they land in several partitions.
TRAINING_DAYS = 14
# Records per ingestion request: each conditional write to the ledger on moto costs milliseconds, and a request
# must end well inside API Gateway's 29 s on a loaded 2-core machine, its function's cold start included.
INGEST_BATCH = 500
# Where the inference workers read the public keys they trust (gpu_workers.inference.signatures).
MANIFEST_KEYS_ENV = "LEAIM_MANIFEST_PUBLIC_KEYS"
# The model signing key of this machine, under the state folder: it signs manifests and archived documents.
MANIFEST_SIGNING_KEY = "manifest-signing.pem"


def _code_version() -> str:
    """The checked-out commit, recorded in model lineage; `unversioned` outside a git checkout."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            check=False,
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unversioned"
    return described.stdout.strip() or "unversioned"


@dataclass
class WorldOptions:
    """How to run the embedded default."""

    state_dir: Path = field(default_factory=lambda: Path(".leaim"))
    api_port: int = 0
    worker_processes: int = 2
    # How the worker processes are watched and replaced when one dies or hangs; None turns that off.
    worker_supervision: Supervision | None = field(default_factory=Supervision)
    breaker_reset_s: float = 2.0
    # How long each function container keeps a use case's traffic plan; a promotion is seen within it.
    router_cache_s: float = 1.0
    # How long each function container keeps the policy heads it read; an activation is seen within it.
    policy_cache_s: float = 1.0
    queue_visibility_timeout_s: int = 2
    seed: int = 7
    # moto keeps its resources for the life of the process: worlds started in one process need distinct names.
    stack_name: str = "leaim-local"
    # Scheduled functions (the promotion controller, retraining) fire at the template's rates; the demo and
    # tests turn this off and run them on demand, so that a run never races their own steps.
    run_schedules: bool = True
    # A folder of use case manifests to run instead of the shipped ones (the functions read it too).
    use_cases_dir: Path | None = None
    # The audit store and registry (a PostgreSQL URL, say); the state directory's SQLite file when None.
    database_url: str | None = None


class LocalWorld:
    """Everything `leaim up` runs: use as a context manager, then `train()` and `seed()`."""

    def __init__(self, options: WorldOptions) -> None:
        self.options = options
        self.state_dir = options.state_dir.resolve()
        self.database_url = options.database_url or f"sqlite:///{self.state_dir / 'leaim.db'}"
        # Marks this run's request and record ids: the stores keep an earlier run's decisions and records, and the
        # same request id sent again would be answered as a replay of them instead of being decided.
        self.run_id = secrets.token_hex(4)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.signer = self._signer()
        self.audit_signer = audit_signer(self.state_dir)
        self.workers = LocalWorkerPool(
            self.state_dir / "artifacts",
            processes=options.worker_processes,
            env={MANIFEST_KEYS_ENV: self.signer.public_key_b64},
            supervision=options.worker_supervision,
        )
        self.stack: LocalStack | None = None
        self.api_keys: dict[str, str] = {}
        # Calls made through `call`, by the first segment after /v1/ (models, use-cases, ingest, ...).
        self.calls: Counter[str] = Counter()
        self.training_snapshot: SnapshotManifest | None = None
        self.catalog = ManifestCatalog.from_directory(options.use_cases_dir)
        self.engine = create_engine_for(self.database_url)
        self.audit_log = SettledTrail(SqlAuditLog(self.engine), self.settle)
        self.registry = SqlModelRegistry(self.engine)
        # The policy registry on the stack's table, once started.
        self.policies: PolicyRegistry | None = None

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
            stack_name=self.options.stack_name,
            state_dir=self.state_dir / "stack",
            api_port=self.options.api_port,
            run_schedules=self.options.run_schedules,
            # Faults can be injected into the AWS endpoint from any process (`leaim chaos`); none are by default.
            endpoint_wrappers=(FaultInjector,),
            parameters={
                "WorkerBackend": "local",
                "ModalTokenSecretArn": "unused-by-the-local-backend",
                "PiiTokenKeySecretArn": "unused-by-the-local-backend",
                "ManifestSigningKeySecretArn": "unused-by-the-local-backend",
                "AuditSigningKeySecretArn": "unused-by-the-local-backend",
                "CodeVersion": _code_version(),
                "DecisionQueueVisibilityTimeout": str(self.options.queue_visibility_timeout_s),
            },
            environment={
                # The SQLite file, not the RDS Proxy the template's SQL functions reach in the cloud.
                "LEAIM_DATABASE_URL": self.database_url,
                "LEAIM_LOCAL_WORKER_URLS": ",".join(self.workers.urls),
                "LEAIM_PII_TOKEN_KEY": self._pii_key(),
                "LEAIM_TRACES_FILE": str(self.state_dir / "traces.jsonl"),
                "LEAIM_BREAKER_RESET_S": str(self.options.breaker_reset_s),
                "LEAIM_ROUTER_CACHE_S": str(self.options.router_cache_s),
                "LEAIM_POLICY_CACHE_S": str(self.options.policy_cache_s),
                "LEAIM_MANIFEST_SIGNING_KEY_FILE": str(self._signing_key_path()),
                "LEAIM_AUDIT_SIGNING_KEY_FILE": str(self.state_dir / AUDIT_SIGNING_KEY),
                **self._use_cases_environment(),
            },
        )
        self.stack.start()
        self._seed_policies()
        self._register_keys()

    def stop(self) -> None:
        """Stop the stack and the worker processes."""
        if self.stack is not None:
            self.stack.stop()
            self.stack = None
        self.workers.stop()

    @property
    def manifest(self) -> UseCaseManifest:
        """The reference use case's manifest; NotFoundError when the world's use cases do not include it."""
        return self.catalog.get(REFERENCE_USE_CASE)

    @property
    def running(self) -> LocalStack:
        """The started stack."""
        if self.stack is None:
            raise RuntimeError("the local world is not started")
        return self.stack

    def train(self, *, rows: int = 10_000, cards: int = 2_000, timeout_s: float = 300.0, **job: Any) -> ModelManifest:
        """Train the reference model as the training flow runs and make it the champion.

        Generated transactions are ingested over HTTP through the ingestion API, a snapshot is cut through
        the API, a training job is queued through the lifecycle API and run by the training function on
        the training worker; an approved version is promoted through the API. `job` adds fields of the
        training job request (family, params, version, seed). Raises LocalCallError when the job does not
        end approved.
        """
        snapshot = self.ingest_training_data(rows, cards=cards)
        finished = self.run_training_job(snapshot.snapshot_id, timeout_s=timeout_s, **job)
        if finished.state != "succeeded":
            raise LocalCallError(
                f"training job {finished.job_id} ended {finished.state}: {finished.reasons or finished.message}"
            )
        self.call(
            "PUT",
            f"/v1/use-cases/{REFERENCE_USE_CASE}/traffic",
            "ml_engineer",
            {"version": finished.version, "policy": "full", "reason": "trained by the local world"},
        )
        return self.version(finished.version).manifest

    def ingest_training_data(self, rows: int, *, cards: int = 2_000) -> SnapshotManifest:
        """Ingest `rows` generated transactions of `cards` cards over the last days over HTTP and snapshot them."""
        generator = CardFraudGenerator(self.manifest, seed=self.options.seed)
        transactions = generator.transactions(rows, generator.cards(cards))
        now = datetime.now(UTC)
        step = timedelta(days=TRAINING_DAYS) / max(rows, 1)
        # This run's record ids: an earlier run's records stay stored, and the same id with other event times
        # would be quarantined as a conflict.
        records = [
            {
                **transaction_record(t, now - timedelta(days=TRAINING_DAYS) + index * step),
                "transaction_id": f"{t.inputs['transaction_id']}-{self.run_id}",
            }
            for index, t in enumerate(transactions)
        ]
        for start in range(0, len(records), INGEST_BATCH):
            self.call(
                "POST",
                f"/v1/ingest/{REFERENCE_DATASET}",
                "data_producer",
                {"contract_version": "v1", "records": records[start : start + INGEST_BATCH]},
            )
        snapshot = SnapshotManifest.model_validate(
            self.call("POST", f"/v1/datasets/{REFERENCE_DATASET}/snapshots", "ml_engineer", {}, expect=201)
        )
        self.training_snapshot = snapshot
        return snapshot

    def run_training_job(self, snapshot_id: str, *, timeout_s: float = 300.0, **job: Any) -> TrainingJob:
        """Queue a training job through the API and wait for it to end; returns the finished job."""
        queued = TrainingJob.model_validate(
            self.call(
                "POST",
                f"/v1/models/{self.manifest.model.name}/training-jobs",
                "ml_engineer",
                {"snapshot_id": snapshot_id, "seed": self.options.seed, **job},
                expect=202,
            )
        )
        return self.wait_for_job(queued.job_id, timeout_s=timeout_s)

    def wait_for_job(self, job_id: str, *, timeout_s: float = 300.0) -> TrainingJob:
        """Poll a training job until it ends; LocalCallError when it does not within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = TrainingJob.model_validate(self.call("GET", f"/v1/training-jobs/{job_id}", "ml_engineer"))
            if job.state in ("succeeded", "rejected", "failed"):
                return job
            if time.monotonic() > deadline:
                raise LocalCallError(f"training job {job_id} is still {job.state} ({job.stage}) after {timeout_s} s")
            time.sleep(0.2)

    def version(self, version: str) -> ModelVersionView:
        """A version of the reference model, read through the API."""
        return ModelVersionView.model_validate(
            self.call("GET", f"/v1/models/{self.manifest.model.name}/versions/{version}", "ml_engineer")
        )

    def settle(self) -> None:
        """Wait until the audit writer has chained every event accepted before the call (and every stream
        reader caught up), so that what the SQL trail, the reviews queue and the reports show includes it."""
        if self.stack is not None:
            self.stack.settle_streams()

    def run_schedule(self, function: str) -> Any:
        """Run a scheduled function now, on the trail as it stands once the audit writer caught up; its result."""
        self.settle()
        return self.running.run_schedule(function)

    def call(self, method: str, path: str, role: str, body: object | None = None, *, expect: int = 200) -> Any:
        """Call the stack's API as `role`; a status other than `expect` is a `LocalCallError` with the answer."""
        payload = b"" if body is None else json.dumps(body).encode()
        self.calls[path.split("/")[2]] += 1
        answer = send(self.running.api_url, Sent(path, method, path, payload, {"x-api-key": self.api_keys[role]}), 60)
        if answer.status != expect:
            raise LocalCallError(f"{method} {path} answered {answer.status}: {answer.body}")
        return answer.body

    def snapshots(self) -> SnapshotService:
        """The snapshot service over the stack's bucket and ledger, to read snapshots in this process."""
        stack = self.running
        return SnapshotService(
            datasets=DatasetCatalog.from_directory(self.catalog),
            manifests=self.catalog,
            objects=S3ObjectStore(
                stack.bucket_name("DatasetsBucket"), boto3.client("s3", endpoint_url=stack.endpoint_url)
            ),
            ledger=DynamoRecordLedger(
                stack.table_name("IngestLedgerTable"), boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
            ),
            clock=SystemClock(),
        )

    def seed(self, cards: list[Card]) -> None:
        """Load the cards' online features, under their tokens as ingestion would."""
        stack = self.running
        features = DynamoFeatureStore(
            stack.table_name("FeaturesTable"), boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
        )
        generator = CardFraudGenerator(self.manifest, seed=self.options.seed)
        key = self.pii_key()
        for card in cards:
            features.put(
                REFERENCE_USE_CASE,
                entity_id(self.manifest, {"card_id": card.card_id}, key),
                generator.online_features(card),
            )

    def _seed_policies(self) -> None:
        """Register the manifest and contract files not registered yet, as the lifecycle API does on its first
        build, so that the first decision is bound to a registered version; the world's catalog then reads the
        registry, as the functions do."""
        stack = self.running
        client = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
        policies = LivePolicies(
            DynamoPolicyStore(stack.table_name("PoliciesTable"), client), monotonic=time.monotonic, ttl_s=0.0
        )
        self.catalog = ManifestCatalog.live(policies, self.options.use_cases_dir)
        # The functions read LEAIM_DATASETS_DIR from the environment they inherit; the seeding reads the same folder.
        datasets_dir = os.environ.get("LEAIM_DATASETS_DIR")
        datasets = DatasetCatalog.live(policies, self.catalog, Path(datasets_dir) if datasets_dir else None)
        self.policies = build_policy_registry(
            table=stack.table_name("PoliciesTable"),
            dynamodb=client,
            signer=self.signer,
            manifests=self.catalog,
            models=self.registry,
            engine=self.engine,
            clock=SystemClock(),
        )
        seed_policies(self.policies, self.catalog, datasets)
        # A registered version that no longer validates stops the start with its one-line reason.
        for name in self.catalog.names():
            self.catalog.get(name)
        for dataset in datasets.names():
            datasets.versions(dataset)

    def _register_keys(self) -> None:
        """One API key per role, written to `api-keys.json` for the user; a restart keeps the keys that still work.

        Local keys reach every use case and dataset on the internal plan (no per-key limit); each new one is made
        through key management, so its creation is audited like any other key's.
        """
        stack = self.running
        client = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
        keys = DynamoApiKeyStore(stack.table_name("ApiKeysTable"), client, cache_s=0)
        path = self.state_dir / "api-keys.json"
        kept: dict[str, str] = {}
        if path.is_file():
            kept = {role: key for role, key in json.loads(path.read_text(encoding="utf-8")).items() if role in ROLES}
        administration = build_key_administration(
            keys_table=stack.table_name("ApiKeysTable"),
            accepted_table=stack.table_name("AcceptedTable"),
            dynamodb=client,
            operator="leaim-up",
            use_cases_dir=self.options.use_cases_dir,
            # The functions read LEAIM_DATASETS_DIR from the environment they inherit; scopes are checked against it.
            datasets_dir=Settings.from_env().datasets_dir,
        )
        for role in ROLES:
            key = kept.get(role)
            if key is None or keys.lookup(key_digest(key)) is None:
                principal = f"local-{role.replace('_', '-')}"
                key = administration.create(
                    principal=principal, role=role, use_cases=[EVERY], datasets=[EVERY], plan="internal"
                ).secret
            self.api_keys[role] = key
        path.write_text(json.dumps(self.api_keys, indent=2) + "\n", encoding="utf-8")

    def _use_cases_environment(self) -> dict[str, str]:
        folder = self.options.use_cases_dir
        return {} if folder is None else {"LEAIM_USE_CASES_DIR": str(folder.resolve())}

    def pii_key(self) -> bytes:
        """The key PII tokens are made with on this machine."""
        return self._pii_key().encode()

    def _signing_key_path(self) -> Path:
        return self.state_dir / MANIFEST_SIGNING_KEY

    def _signer(self) -> ManifestSigner:
        """The Ed25519 key that signs model manifests on this machine, made on first use."""
        path = self._signing_key_path()
        if not path.exists():
            path.write_bytes(ManifestSigner.generate().pem())
            path.chmod(0o600)
        return ManifestSigner.from_pem(path.read_bytes())

    def _pii_key(self) -> str:
        path = self.state_dir / "pii-token.key"
        if not path.exists():
            path.write_text(secrets.token_hex(32), encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()


class SettledTrail:
    """The SQL audit trail of the local world, read once the audit writer has caught up with the accepted store.

    Decisions and events are accepted first and chained by the audit writer from the change stream; every read
    here waits for the writer, so it shows whatever was accepted before it. Writes go straight to the chains.
    """

    def __init__(self, log: SqlAuditLog, settle: Callable[[], None]) -> None:
        self._log = log
        self._settle = settle

    @property
    def chain_id(self) -> str:
        """The chain that this process's direct writes go to."""
        return self._log.chain_id

    def append(self, event: AuditEvent) -> None:
        """Chain one event directly, as a function's own writer would."""
        self._log.append(event)

    def append_many(self, events: Sequence[AuditEvent]) -> None:
        """Chain several events directly, in one transaction."""
        self._log.append_many(events)

    def count(self, query: AuditQuery | None = None) -> int:
        """How many chained events match `query`, once the writer caught up."""
        self._settle()
        return self._log.count(query)

    def events(self, query: AuditQuery | None = None, *, limit: int = 1000) -> list[AuditEvent]:
        """The chained events matching `query`, oldest first, once the writer caught up."""
        self._settle()
        return self._log.events(query, limit=limit)

    def search(self, query: AuditQuery, *, cursor: str | None, limit: int) -> AuditPage:
        """One page of the audit search, once the writer caught up."""
        self._settle()
        return self._log.search(query, cursor=cursor, limit=limit)

    def iter_records(self, query: AuditQuery | None = None) -> Iterator[AuditRecord]:
        """Every chained event matching `query` with its link, once the writer caught up; streamed."""
        self._settle()
        return self._log.iter_records(query)
