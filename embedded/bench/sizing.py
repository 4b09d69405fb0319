"""The arithmetic of `leaim capacity`, on plain figures: what a rate of governed decisions needs, and what it costs.

The published figures (`PUBLISHED`: prices, quotas, latencies, each with its source and the date it was read)
and the chosen ones (`CHOSEN`, each with its reason) are constants here; the measured ones come in as a
`Measured`, the deployment (memory sizes, batch size, GPU, the rate) as a `Deployment`. `plan_capacity`
turns them into a `CapacityPlan`:

- the decision function's concurrency by Little's law: the rate times its duration, which is its CPU time
  (measured, divided by its memory's vCPU share) plus its DynamoDB round trips, the Modal call and its batching
  window, and the inference of a batch;
- Modal containers per model: the rate over a container's rows per second at the worker's batch size, each
  container kept below `UTILIZATION`; and the paper's model at 20 ms a call, batched and not;
- DynamoDB request units per second per table and the partitions they need at least; the audit writer's
  events per second, concurrent invocations and the stream's parallelization factor; PostgreSQL's write rate;
- the cost of a million decisions, part by part.

`item_bytes`, `write_units` and `read_units` are DynamoDB's own billing rules, used to size what a decision
reads and writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpu_workers import settings as worker_settings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DECISION_FUNCTION = "DecisionApiFunction"
WRITER_FUNCTION = "AuditWriterFunction"
ACCEPTED_TABLE = "AcceptedTable"
TARGET_RATE = 10_000.0
# The audit writer's drain rate until its own benchmark measures it: the project's target for it.
DEFAULT_WRITER_EVENTS_PER_S = 30_000.0
# The paper's scenario: 10,000 requests/s at 20 ms of inference per model instance, on 8-10 inference nodes.
PAPER_RATE = 10_000.0
PAPER_INFERENCE_MS = 20.0
PAPER_NODES = (8, 10)
# How DynamoDB sizes what it bills: writes in 1 KB units, reads in 4 KB units.
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
# Lambda bills duration in whole milliseconds.
BILLING_MS = 1.0
# When the published figures below were read from their sources.
READ_ON = "2026-12-02"


@dataclass(frozen=True, slots=True)
class Published:
    """A figure someone else published: what it is, its value and unit, where it was read and when."""

    what: str
    value: float
    unit: str
    source: str
    read_on: str = READ_ON


LAMBDA_REQUEST_PRICE = Published(
    "Lambda price per request (x86_64, us-east-1)",
    0.20 / 1e6,
    "USD",
    "https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html",
)
LAMBDA_GB_S_PRICE = Published(
    "Lambda price per GB-second (x86_64, us-east-1, first 6 billion GB-s a month)",
    0.0000166667,
    "USD",
    "https://aws.amazon.com/lambda/pricing/",
)
LAMBDA_MB_PER_VCPU = Published(
    "Lambda memory that comes with one vCPU (CPU is allocated in proportion to memory)",
    1769.0,
    "MB",
    "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html",
)
LAMBDA_CONCURRENCY_QUOTA = Published(
    "Lambda concurrency quota of a new account, per Region (raised on request)",
    1000.0,
    "environments",
    "https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html",
)
LAMBDA_SCALING_RATE = Published(
    "Lambda scaling rate per function: new execution environments per 10 seconds",
    1000.0,
    "environments",
    "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html",
)
API_GATEWAY_REQUEST_PRICE = Published(
    "API Gateway REST API price per request (us-east-1, first 333 million a month)",
    3.50 / 1e6,
    "USD",
    "https://docs.aws.amazon.com/whitepapers/latest/best-practices-api-gateway-private-apis-integration/cost-optimization.html",
)
DYNAMODB_WRITE_PRICE = Published(
    "DynamoDB on-demand price per write request unit (us-east-1, after the November 2024 cut)",
    0.625 / 1e6,
    "USD",
    "https://airbyte.com/data-engineering-resources/dynamodb-pricing (AWS: https://aws.amazon.com/dynamodb/pricing/on-demand/)",
)
DYNAMODB_READ_PRICE = Published(
    "DynamoDB on-demand price per read request unit (us-east-1, after the November 2024 cut)",
    0.125 / 1e6,
    "USD",
    "https://airbyte.com/data-engineering-resources/dynamodb-pricing (AWS: https://aws.amazon.com/dynamodb/pricing/on-demand/)",
)
DYNAMODB_TRANSACTION_FACTOR = Published(
    "DynamoDB request units per item of a transaction, against a plain write or read (prepare and commit)",
    2.0,
    "x",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html",
)
DYNAMODB_LATENCY_MS = Published(
    "DynamoDB latency of a single-item read or write: 'single-digit millisecond' (taken as 5 ms; twice that for a "
    "transaction, which prepares and commits each item)",
    5.0,
    "ms",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadWriteCapacityMode.html",
)
DYNAMODB_PARTITION_WRITE_UNITS = Published(
    "DynamoDB write units per second one partition takes",
    1000.0,
    "WRU/s",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html",
)
DYNAMODB_PARTITION_READ_UNITS = Published(
    "DynamoDB read units per second one partition takes",
    3000.0,
    "RRU/s",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html",
)
STREAMS_LAMBDA_READ_PRICE = Published(
    "DynamoDB Streams price of the GetRecords calls a Lambda event source mapping makes (free)",
    0.0,
    "USD",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CostOptimization_StreamsUsage.html",
)
MODAL_ROUND_TRIP_MS = Published(
    "Modal call overhead, p50 of a Web Function call through Modal's input queue",
    39.0,
    "ms",
    "https://botbeat.news/news/modal-launches-ultra-fast-servers-for-llm-inference-cutting-latency-to-6ms-8634",
)
MODAL_PRICES = "https://techbytes.app/posts/serverless-gpu-pricing-matrix-modal-replicate-lambda-2026/ (Modal: https://modal.com/pricing)"
MODAL_GPU_PRICES: Mapping[str, Published] = {
    gpu: Published(f"Modal price per second of one {gpu}", price, "USD", MODAL_PRICES)
    for gpu, price in (
        ("T4", 0.000164),
        ("L4", 0.000222),
        ("L40S", 0.000542),
        ("A100-80GB", 0.000694),
        ("H100", 0.001097),
    )
}
ORT_TREES_ON_CPU = Published(
    "onnxruntime runs the tree ensemble operators on the CPU only (no CUDA kernel)",
    1.0,
    "x this CPU",
    "https://github.com/onnx/sklearn-onnx/issues/903 (kernels: https://github.com/microsoft/onnxruntime/blob/main/docs/OperatorKernels.md)",
)
PUBLISHED: tuple[Published, ...] = (
    LAMBDA_REQUEST_PRICE,
    LAMBDA_GB_S_PRICE,
    LAMBDA_MB_PER_VCPU,
    LAMBDA_CONCURRENCY_QUOTA,
    LAMBDA_SCALING_RATE,
    API_GATEWAY_REQUEST_PRICE,
    DYNAMODB_WRITE_PRICE,
    DYNAMODB_READ_PRICE,
    DYNAMODB_TRANSACTION_FACTOR,
    DYNAMODB_LATENCY_MS,
    DYNAMODB_PARTITION_WRITE_UNITS,
    DYNAMODB_PARTITION_READ_UNITS,
    STREAMS_LAMBDA_READ_PRICE,
    MODAL_ROUND_TRIP_MS,
    *MODAL_GPU_PRICES.values(),
    ORT_TREES_ON_CPU,
)


@dataclass(frozen=True, slots=True)
class Chosen:
    """A figure neither measured nor published, and why it was chosen."""

    what: str
    value: float
    unit: str
    why: str


UTILIZATION = Chosen(
    "busiest a Modal container is run",
    0.7,
    "share of its time",
    "headroom so that batches do not queue behind one another as traffic wavers",
)
LAMBDA_CORE_SPEED = Chosen(
    "speed of a Lambda vCPU against this machine's core",
    1.0,
    "x",
    "the CPU time measured here is taken as it is, then divided by the function's vCPU share",
)
GPU_SPEEDUP = Chosen(
    "rows/s of a Modal GPU container against this machine's core, for these models",
    1.0,
    "x",
    "the trees run on the container's CPU (see the onnxruntime kernels), and for every model the per-request "
    "work of `score_many` (requests, results, reasons) is Python on the container's CPU; a GPU shortens "
    "neither",
)
BATCH_WAIT = Chosen(
    "time a call waits for its batch to fill",
    float(worker_settings.BATCH_WAIT_MS),
    "ms",
    "the whole of the worker's batching window (`BATCH_WAIT_MS`), the most a call waits",
)
SHARDS_PER_PARTITION = Chosen(
    "DynamoDB Streams shards per table partition",
    1.0,
    "shards",
    "a stream has a shard for each partition of its table",
)
CHOSEN: tuple[Chosen, ...] = (UTILIZATION, LAMBDA_CORE_SPEED, GPU_SPEEDUP, BATCH_WAIT, SHARDS_PER_PARTITION)


# --- DynamoDB's billing arithmetic ---------------------------------------------------------------------------


def item_bytes(item: Mapping[str, Any]) -> int:
    """The size DynamoDB bills for an item in its wire form ({"name": {"S": "..."}, ...}): names plus values.

    Strings and binaries count their bytes, numbers one byte per two significant digits plus one, booleans and
    nulls one byte, lists and maps 3 bytes plus one per element and their elements, sets their elements.
    """
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Mapping[str, Any]) -> int:
    [(kind, content)] = value.items()
    if kind == "S":
        return len(str(content).encode())
    if kind == "B":
        return len(content)
    if kind == "N":
        return _number_bytes(str(content))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_bytes(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_bytes(element) for name, element in content.items())
    if kind == "SS":
        return sum(len(str(element).encode()) for element in content)
    if kind == "NS":
        return sum(_number_bytes(str(element)) for element in content)
    if kind == "BS":
        return sum(len(element) for element in content)
    raise ValueError(f"not a DynamoDB attribute value: {kind}")


def _number_bytes(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def write_units(size_bytes: int, *, transactional: bool = False) -> float:
    """Write request units for one item: one per KB begun, twice that inside a transaction."""
    units = max(1, math.ceil(size_bytes / WRITE_UNIT_BYTES))
    return units * (DYNAMODB_TRANSACTION_FACTOR.value if transactional else 1.0)


def read_units(size_bytes: int, *, consistent: bool = False, transactional: bool = False) -> float:
    """Read request units for one item: one per 4 KB begun, half that eventually consistent, twice in a transaction."""
    units = max(1, math.ceil(size_bytes / READ_UNIT_BYTES))
    if transactional:
        return units * DYNAMODB_TRANSACTION_FACTOR.value
    return float(units) if consistent else units / 2


# --- what the run measures, and what the sizing takes from it ------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreUse:
    """A governed decision's DynamoDB use, per decision on average over the measured ones."""

    calls: Mapping[str, float]
    write_units: Mapping[str, float]
    read_units: Mapping[str, float]
    events_per_decision: float
    # The items' billed sizes, written per decision, by table: what the write units come from.
    written_bytes: Mapping[str, float] = field(default_factory=dict)
    # Operations the sizing does not price (none on the decision path as built); counted in `calls`.
    unpriced: tuple[str, ...] = ()

    @property
    def total_write_units(self) -> float:
        """Write request units per decision, over every table."""
        return sum(self.write_units.values())

    @property
    def total_read_units(self) -> float:
        """Read request units per decision, over every table."""
        return sum(self.read_units.values())

    @property
    def round_trips(self) -> float:
        """Calls to DynamoDB per decision."""
        return sum(self.calls.values())


@dataclass(frozen=True, slots=True)
class BatchRate:
    """Rows per second through the inference runtime for one model at one batch size."""

    model: str
    artifact_bytes: int
    batch_size: int
    rows_per_s: float


@dataclass(frozen=True, slots=True)
class Measured:
    """What the run measured and the sizing takes: per-decision CPU and store use, batch throughput."""

    decision_cpu_ms: float
    store: StoreUse
    batch_rates: Sequence[BatchRate]
    reference_model: str


@dataclass(frozen=True, slots=True)
class Deployment:
    """What the template and the worker settings declare, and what the run is sized for."""

    rate: float = TARGET_RATE
    decision_memory_mb: int = 1024
    writer_memory_mb: int = 1024
    writer_events_per_s: float = DEFAULT_WRITER_EVENTS_PER_S
    writer_batch_size: int = 1000
    max_batch_size: int = worker_settings.MAX_BATCH_SIZE
    deployed_gpu: str = worker_settings.GPU


@dataclass(frozen=True, slots=True)
class LambdaSizing:
    """The decision API function at the target rate for one inference time per call."""

    label: str
    cpu_ms: float
    store_ms: float
    modal_ms: float
    inference_ms: float
    concurrency: float
    gb_s_per_decision: float

    @property
    def duration_ms(self) -> float:
        """The function's duration per decision: its CPU time and its waits."""
        return self.cpu_ms + self.store_ms + self.modal_ms + self.inference_ms

    @property
    def cost_per_million(self) -> float:
        """Requests and duration of a million decisions."""
        return 1e6 * (LAMBDA_REQUEST_PRICE.value + self.gb_s_per_decision * LAMBDA_GB_S_PRICE.value)

    @property
    def seconds_to_scale(self) -> float:
        """How long the function takes to scale from zero to its concurrency at Lambda's scaling rate."""
        return math.ceil(self.concurrency / LAMBDA_SCALING_RATE.value) * 10.0


@dataclass(frozen=True, slots=True)
class ContainerSizing:
    """Modal containers at the target rate for one model at the worker's batch size."""

    model: str
    rows_per_s: float
    containers: int
    measured: bool

    def cost_per_million(self, gpu: str, rate: float) -> float:
        """The containers' GPU time for a million decisions at `rate`."""
        return self.containers * MODAL_GPU_PRICES[gpu].value * 1e6 / rate


@dataclass(frozen=True, slots=True)
class WriterSizing:
    """The audit writer at the target rate."""

    events_per_s: float
    invocations: int
    write_partitions: int
    parallelization_factor: int
    gb_s_per_decision: float
    requests_per_decision: float

    @property
    def cost_per_million(self) -> float:
        """The writer function's requests and duration for a million decisions."""
        return 1e6 * (
            self.requests_per_decision * LAMBDA_REQUEST_PRICE.value + self.gb_s_per_decision * LAMBDA_GB_S_PRICE.value
        )


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    """Everything the target rate needs, from the measured figures, the published ones and the chosen ones."""

    deployment: Deployment
    lambdas: Sequence[LambdaSizing]
    containers: Sequence[ContainerSizing]
    write_units_per_s: Mapping[str, float]
    read_units_per_s: Mapping[str, float]
    partitions: Mapping[str, int]
    writer: WriterSizing
    postgres_events_per_s: float
    postgres_rows_per_s: float
    costs: Sequence[tuple[str, float]]

    @property
    def cost_per_million(self) -> float:
        """The sum of the costs."""
        return sum(cost for _, cost in self.costs)


def plan_capacity(measured: Measured, deployment: Deployment) -> CapacityPlan:
    """Size every part for `deployment.rate` decisions per second."""
    rate, store = deployment.rate, measured.store
    at_batch = _batch_rates_at(measured.batch_rates, deployment.max_batch_size)
    reference = at_batch[measured.reference_model]
    lambdas = [
        _lambda_sizing(
            f"reference model ({measured.reference_model}), measured",
            measured,
            deployment,
            deployment.max_batch_size / reference.rows_per_s * 1000,
        ),
        _lambda_sizing(
            f"the paper's model, {PAPER_INFERENCE_MS:g} ms a call", measured, deployment, PAPER_INFERENCE_MS
        ),
    ]
    containers = [
        ContainerSizing(name, figure.rows_per_s, _containers(rate, figure.rows_per_s * GPU_SPEEDUP.value), True)
        for name, figure in at_batch.items()
    ]
    paper_batched = deployment.max_batch_size / (PAPER_INFERENCE_MS / 1000)
    paper_single = 1 / (PAPER_INFERENCE_MS / 1000)
    containers += [
        ContainerSizing(
            f"the paper's model, {PAPER_INFERENCE_MS:g} ms a call, batches of {deployment.max_batch_size}",
            paper_batched,
            _containers(rate, paper_batched),
            False,
        ),
        ContainerSizing(
            f"the paper's model, {PAPER_INFERENCE_MS:g} ms a call, one request a call",
            paper_single,
            _containers(rate, paper_single),
            False,
        ),
    ]
    write_units = {table: units * rate for table, units in store.write_units.items()}
    read_units = {table: units * rate for table, units in store.read_units.items()}
    partitions = {
        table: max(
            math.ceil(write_units.get(table, 0.0) / DYNAMODB_PARTITION_WRITE_UNITS.value),
            math.ceil(read_units.get(table, 0.0) / DYNAMODB_PARTITION_READ_UNITS.value),
            1,
        )
        for table in {*write_units, *read_units}
    }
    writer = _writer_sizing(store, deployment, partitions.get(ACCEPTED_TABLE, 1))
    model_containers = next(sizing for sizing in containers if sizing.model == measured.reference_model)
    costs = [
        ("API Gateway REST requests", 1e6 * API_GATEWAY_REQUEST_PRICE.value),
        (f"{DECISION_FUNCTION}: requests and duration (reference model)", lambdas[0].cost_per_million),
        ("DynamoDB writes", 1e6 * store.total_write_units * DYNAMODB_WRITE_PRICE.value),
        ("DynamoDB reads", 1e6 * store.total_read_units * DYNAMODB_READ_PRICE.value),
        (
            "DynamoDB Streams reads by the audit writer",
            1e6 / deployment.writer_batch_size * STREAMS_LAMBDA_READ_PRICE.value,
        ),
        (f"{WRITER_FUNCTION}: requests and duration", writer.cost_per_million),
        (
            f"Modal {deployment.deployed_gpu} containers (reference model, the deployed GPU)",
            model_containers.cost_per_million(deployment.deployed_gpu, rate),
        ),
    ]
    return CapacityPlan(
        deployment=deployment,
        lambdas=lambdas,
        containers=containers,
        write_units_per_s=write_units,
        read_units_per_s=read_units,
        partitions=partitions,
        writer=writer,
        postgres_events_per_s=rate * store.events_per_decision,
        postgres_rows_per_s=rate * (store.events_per_decision + 1),
        costs=costs,
    )


def _batch_rates_at(rates: Sequence[BatchRate], batch_size: int) -> dict[str, BatchRate]:
    """Each model's figure at the largest measured batch size up to `batch_size`."""
    chosen: dict[str, BatchRate] = {}
    for figure in rates:
        if figure.batch_size <= batch_size and (
            figure.model not in chosen or figure.batch_size > chosen[figure.model].batch_size
        ):
            chosen[figure.model] = figure
    return chosen


def _containers(rate: float, rows_per_s: float) -> int:
    return math.ceil(rate / (rows_per_s * UTILIZATION.value))


def _lambda_sizing(label: str, measured: Measured, deployment: Deployment, inference_ms: float) -> LambdaSizing:
    store = measured.store
    vcpu_share = min(1.0, deployment.decision_memory_mb / LAMBDA_MB_PER_VCPU.value)
    cpu_ms = measured.decision_cpu_ms / LAMBDA_CORE_SPEED.value / vcpu_share
    # A transaction writes each item twice, to prepare and to commit it.
    store_ms = sum(
        count * DYNAMODB_LATENCY_MS.value * (DYNAMODB_TRANSACTION_FACTOR.value if name.startswith("Transact") else 1.0)
        for name, count in store.calls.items()
    )
    modal_ms = MODAL_ROUND_TRIP_MS.value + BATCH_WAIT.value
    duration_ms = cpu_ms + store_ms + modal_ms + inference_ms
    billed_ms = math.ceil(duration_ms / BILLING_MS) * BILLING_MS
    return LambdaSizing(
        label=label,
        cpu_ms=cpu_ms,
        store_ms=store_ms,
        modal_ms=modal_ms,
        inference_ms=inference_ms,
        concurrency=deployment.rate * duration_ms / 1000,
        gb_s_per_decision=deployment.decision_memory_mb / 1024 * billed_ms / 1000,
    )


def _writer_sizing(store: StoreUse, deployment: Deployment, write_partitions: int) -> WriterSizing:
    events_per_s = deployment.rate * store.events_per_decision
    invocations = max(1, math.ceil(events_per_s / deployment.writer_events_per_s))
    shards = write_partitions * SHARDS_PER_PARTITION.value
    return WriterSizing(
        events_per_s=events_per_s,
        invocations=invocations,
        write_partitions=write_partitions,
        parallelization_factor=math.ceil(invocations / shards),
        gb_s_per_decision=store.events_per_decision
        / deployment.writer_events_per_s
        * deployment.writer_memory_mb
        / 1024,
        requests_per_decision=1 / deployment.writer_batch_size,
    )
