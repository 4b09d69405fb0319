"""The capacity arithmetic on known inputs: DynamoDB's billing rules, Little's law, containers, shards and costs."""

from __future__ import annotations

import math

import pytest

from embedded.bench.capacity import template_deployment
from embedded.bench.sizing import (
    ACCEPTED_TABLE,
    API_GATEWAY_REQUEST_PRICE,
    DYNAMODB_READ_PRICE,
    DYNAMODB_WRITE_PRICE,
    LAMBDA_GB_S_PRICE,
    LAMBDA_REQUEST_PRICE,
    MODAL_GPU_PRICES,
    MODAL_ROUND_TRIP_MS,
    PUBLISHED,
    BatchRate,
    Deployment,
    Measured,
    StoreUse,
    item_bytes,
    plan_capacity,
    read_units,
    write_units,
)
from embedded.emulation.template import DynamoDBEvent, load_template
from tests.support.paths import TEMPLATE

FEATURES_TABLE = "FeaturesTable"


def test_an_item_is_billed_by_its_names_and_values() -> None:
    assert item_bytes({"pk": {"S": "decision#abc"}}) == 2 + 12
    assert item_bytes({"accepted_at": {"N": "1767000000.25"}}) == 11 + 7  # 12 significant digits: 6 bytes + 1
    assert item_bytes({"ok": {"BOOL": True}, "none": {"NULL": True}}) == 2 + 1 + 4 + 1
    assert item_bytes({"tags": {"L": [{"S": "a"}, {"S": "bc"}]}}) == 4 + 3 + (1 + 1) + (1 + 2)
    assert item_bytes({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_bytes({"name": {"S": "é"}}) == 4 + 2


def test_write_units_are_per_kilobyte_begun_and_doubled_in_a_transaction() -> None:
    assert write_units(1) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(1025, transactional=True) == 4
    # A decision: its request key (under 1 KB) and its bundle (3.5 KB) in one transaction.
    assert write_units(600, transactional=True) + write_units(3_500, transactional=True) == 2 + 8


def test_read_units_are_per_4_kb_halved_when_eventually_consistent() -> None:
    assert read_units(0) == 0.5
    assert read_units(4096) == 0.5
    assert read_units(4097) == 1.0
    assert read_units(4097, consistent=True) == 2.0
    assert read_units(100, transactional=True) == 2.0


def measured(*, cpu_ms: float = 2.0, rows_per_s: float = 50_000.0) -> Measured:
    store = StoreUse(
        calls={"GetItem": 2.0, "TransactWriteItems": 1.0},
        write_units={ACCEPTED_TABLE: 10.0},
        read_units={FEATURES_TABLE: 0.5, "ApiKeysTable": 0.5},
        events_per_decision=3.0,
    )
    rates = [
        BatchRate("logistic regression", 900, 1, 5_000.0),
        BatchRate("logistic regression", 900, 64, rows_per_s),
        BatchRate("boosted trees x500", 2_000_000, 64, 3_500.0),
        BatchRate("boosted trees x500", 2_000_000, 512, 9_000.0),
    ]
    return Measured(decision_cpu_ms=cpu_ms, store=store, batch_rates=rates, reference_model="logistic regression")


DEPLOYMENT = Deployment(rate=10_000, decision_memory_mb=1769, writer_memory_mb=2048, writer_events_per_s=10_000)


def test_lambda_concurrency_is_the_rate_times_the_functions_duration() -> None:
    plan = plan_capacity(measured(), DEPLOYMENT)

    reference, paper = plan.lambdas
    # 1 vCPU at 1,769 MB: the CPU time as measured; two reads at 5 ms and a transaction at twice that;
    # the Modal call and its whole batching window; 64 rows at 50,000 rows/s.
    assert reference.cpu_ms == pytest.approx(2.0)
    assert reference.store_ms == pytest.approx(20.0)
    assert reference.modal_ms == pytest.approx(MODAL_ROUND_TRIP_MS.value + 10)
    assert reference.inference_ms == pytest.approx(64 / 50_000 * 1000)
    assert reference.concurrency == pytest.approx(10_000 * reference.duration_ms / 1000)
    assert paper.inference_ms == 20.0
    assert paper.concurrency == pytest.approx(10_000 * (2 + 20 + MODAL_ROUND_TRIP_MS.value + 10 + 20) / 1000)
    assert paper.seconds_to_scale == math.ceil(paper.concurrency / 1000) * 10


def test_less_memory_means_less_cpu_and_a_longer_duration() -> None:
    half = plan_capacity(measured(), Deployment(rate=10_000, decision_memory_mb=885)).lambdas[0]

    assert half.cpu_ms == pytest.approx(2.0 * 1769 / 885)


def test_lambda_cost_is_requests_and_gb_seconds_billed_by_the_millisecond() -> None:
    reference = plan_capacity(measured(), DEPLOYMENT).lambdas[0]

    billed_s = math.ceil(reference.duration_ms) / 1000
    assert reference.gb_s_per_decision == pytest.approx(1769 / 1024 * billed_s)
    assert reference.cost_per_million == pytest.approx(
        1e6 * (LAMBDA_REQUEST_PRICE.value + 1769 / 1024 * billed_s * LAMBDA_GB_S_PRICE.value)
    )


def test_containers_serve_the_rate_at_the_workers_batch_size_kept_70_percent_busy() -> None:
    plan = plan_capacity(measured(), DEPLOYMENT)

    by_model = {sizing.model: sizing for sizing in plan.containers}
    assert by_model["logistic regression"].rows_per_s == 50_000
    assert by_model["logistic regression"].containers == 1
    # Batch 512 is past the worker's 64: the figure at 64 counts.
    assert by_model["boosted trees x500"].rows_per_s == 3_500
    assert by_model["boosted trees x500"].containers == math.ceil(10_000 / (3_500 * 0.7))
    paper_batched, paper_single = plan.containers[-2:]
    assert (paper_batched.rows_per_s, paper_batched.containers) == (3_200, 5)
    assert (paper_single.rows_per_s, paper_single.containers) == (50, 286)
    assert not paper_batched.measured
    assert paper_batched.cost_per_million("H100", 10_000) == pytest.approx(5 * MODAL_GPU_PRICES["H100"].value * 100)


def test_dynamodb_units_partitions_writer_shards_and_postgres_follow_the_rate() -> None:
    plan = plan_capacity(measured(), DEPLOYMENT)

    assert plan.write_units_per_s == {ACCEPTED_TABLE: 100_000}
    assert plan.read_units_per_s == {FEATURES_TABLE: 5_000, "ApiKeysTable": 5_000}
    assert plan.partitions == {ACCEPTED_TABLE: 100, FEATURES_TABLE: 2, "ApiKeysTable": 2}
    writer = plan.writer
    assert writer.events_per_s == 30_000
    assert writer.invocations == 3
    assert writer.write_partitions == 100
    assert writer.parallelization_factor == 1
    assert plan.postgres_events_per_s == 30_000
    assert plan.postgres_rows_per_s == 40_000


def test_a_writer_slower_than_the_shards_needs_a_higher_parallelization_factor() -> None:
    slow = plan_capacity(measured(), Deployment(rate=10_000, writer_events_per_s=100)).writer

    assert slow.invocations == 300
    assert slow.parallelization_factor == 3


def test_the_cost_per_million_decisions_adds_up_its_parts() -> None:
    plan = plan_capacity(measured(), DEPLOYMENT)

    costs = dict(plan.costs)
    assert costs["API Gateway REST requests"] == pytest.approx(1e6 * API_GATEWAY_REQUEST_PRICE.value)
    assert costs["DynamoDB writes"] == pytest.approx(10 * 0.625)
    assert costs["DynamoDB writes"] == pytest.approx(1e6 * 10 * DYNAMODB_WRITE_PRICE.value)
    assert costs["DynamoDB reads"] == pytest.approx(1e6 * 1.0 * DYNAMODB_READ_PRICE.value)
    assert costs["DynamoDB Streams reads by the audit writer"] == 0
    assert costs["AuditWriterFunction: requests and duration"] == pytest.approx(
        1e6 * (LAMBDA_REQUEST_PRICE.value / 1000 + 3 / 10_000 * 2 * LAMBDA_GB_S_PRICE.value)
    )
    assert costs["Modal L4 containers (reference model, the deployed GPU)"] == pytest.approx(
        MODAL_GPU_PRICES["L4"].value * 100
    )
    assert plan.cost_per_million == pytest.approx(sum(costs.values()))


def test_every_published_figure_names_its_source_and_when_it_was_read() -> None:
    for figure in PUBLISHED:
        assert figure.source.startswith("https://"), figure.what
        assert figure.read_on == "2026-12-02"


def test_the_deployment_sized_is_the_one_the_template_declares() -> None:
    deployment = template_deployment(12_000, 20_000)

    functions = load_template(TEMPLATE).functions
    assert deployment.rate == 12_000
    assert deployment.writer_events_per_s == 20_000
    assert deployment.decision_memory_mb == functions["DecisionApiFunction"].memory_mb
    assert deployment.writer_memory_mb == functions["AuditWriterFunction"].memory_mb
    [stream] = [event for event in functions["AuditWriterFunction"].events if isinstance(event, DynamoDBEvent)]
    assert deployment.writer_batch_size == stream.batch_size
