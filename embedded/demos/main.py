"""`leaim demo`: governed decisions end to end on the embedded default, ending with an audit reconciliation."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from embedded.clients.http import Answer, send
from embedded.demos.lifecycle import Lifecycle, print_lifecycle, reconcile_lifecycle, run_lifecycle_phase
from embedded.demos.traffic import QueueOutcome, decision_request, malformed_requests, percentile
from embedded.synthetic import CardFraudGenerator, sample_records
from embedded.world import REFERENCE_DATASET, REFERENCE_USE_CASE, LocalWorld, WorldOptions
from leaim.adapters.sqs import REASON_ATTRIBUTE
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from embedded.clients.http import Sent

API_SOURCE = "DecisionApiFunction"
QUEUE_SOURCE = "DecisionQueueFunction"
INGEST_SOURCES = ("IngestApiFunction", "IngestQueueFunction", "IngestStreamFunction")


@dataclass
class DemoOptions:
    """How much traffic the demo sends."""

    training_rows: int = 10_000
    http_requests: int = 240
    outage_requests: int = 40
    queue_messages: int = 60
    ingest_records: int = 1_200
    concurrency: int = 8
    world: WorldOptions = field(default_factory=WorldOptions)


@dataclass
class Ingestion:
    """Records sent to each ingestion entry point, and what their audit events say became of them."""

    sent: Counter[str] = field(default_factory=Counter)
    broken: Counter[str] = field(default_factory=Counter)
    invocations: Counter[str] = field(default_factory=Counter)
    events: dict[str, list[dict[str, int]]] = field(default_factory=dict)
    snapshot: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    """What the demo saw, and what the audit store holds for it."""

    answers: list[Answer] = field(default_factory=list)
    queue: QueueOutcome = field(default_factory=QueueOutcome)
    queue_deliveries: int = 0
    expected_results: int = 0
    expected_dead_letters: int = 0
    audit: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    ingestion: Ingestion = field(default_factory=Ingestion)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    lifecycle_audit: dict[str, tuple[int, int]] = field(default_factory=dict)


def run_demo(options: DemoOptions, console: Console) -> int:
    """Run the demo; returns the process exit status (1 when an invocation lacks its audit event)."""
    started = datetime.now(UTC)
    report = Report()
    with LocalWorld(options.world) as world:
        stack = world.running
        console.print(f"[bold]Local stack[/] API {stack.api_url}  AWS endpoint {stack.endpoint_url}")
        console.print(f"Worker processes {', '.join(world.workers.urls)}")
        with console.status("Training the reference model on the training worker..."):
            trained = world.train(rows=options.training_rows)
        metrics = trained.metrics
        if world.training_snapshot is not None:
            snapshot = world.training_snapshot
            console.print(
                f"Ingested {snapshot.row_count} transactions over HTTP and trained on snapshot "
                f"[bold]{snapshot.snapshot_id}[/] sha256 {snapshot.content_sha256[:12]}"
            )
        console.print(
            f"Trained [bold]{trained.model_name} {trained.model_version}[/] sha256 {trained.artifact_digest[:12]}  "
            f"AUC {metrics.auc:.3f}  precision {metrics.precision:.3f}  recall {metrics.recall:.3f}  "
            f"ONNX parity {metrics.parity_max_abs_diff:.1e}"
        )
        generator = CardFraudGenerator(world.manifest, seed=options.world.seed + 1)
        cards = generator.cards(500)
        world.seed(cards)
        transactions = iter(generator.transactions(options.http_requests * 2 + options.queue_messages + 400, cards))
        keys = world.api_keys
        client = keys["decision_client"]

        traffic: list[Sent] = []
        for index in range(options.http_requests):
            inputs = next(transactions).inputs
            if index % 30 == 29:
                traffic.extend(malformed_requests(REFERENCE_USE_CASE, inputs, keys, index)[: 1 + index % 9])
            traffic.append(decision_request(REFERENCE_USE_CASE, f"{world.run_id}-http-{index}", inputs, client))
        replays = [t for t in traffic if t.kind == "valid"][:10]
        traffic.extend(type(t)("replay", t.method, t.path, t.body, t.headers) for t in replays)
        report.answers += _send_all(console, "HTTP decisions", stack.api_url, traffic, options.concurrency)

        world.workers.pause()
        outage = [
            decision_request(REFERENCE_USE_CASE, f"{world.run_id}-outage-{i}", next(transactions).inputs, client)
            for i in range(options.outage_requests)
        ]
        outage_answers = _send_all(console, "Worker paused", stack.api_url, outage, 4)
        report.answers += [Answer("outage", a.status, a.body, a.seconds, a.replay) for a in outage_answers]
        world.workers.resume()
        time.sleep(options.world.breaker_reset_s + 0.5)
        recovery = [
            decision_request(REFERENCE_USE_CASE, f"{world.run_id}-recovered-{i}", next(transactions).inputs, client)
            for i in range(20)
        ]
        report.answers += _send_all(console, "Worker resumed", stack.api_url, recovery, 4)

        first = next(a for a in report.answers if a.status == 200 and "decision_id" in a.body)
        read = send(
            stack.api_url,
            type(traffic[0])(
                "read", "GET", f"/v1/decisions/{first.body['decision_id']}", b"", {"x-api-key": keys["auditor"]}
            ),
        )
        report.answers.append(read)

        _queue_phase(world, options, transactions, report, console)
        _ingest_phase(world, options, report.ingestion, console)
        _lifecycle_phase(world, transactions, report, console)
        stats = stack.stats
        report.queue_deliveries = _deliveries(stats, QUEUE_SOURCE)
        _reconcile(world, report, started)
    _print_report(console, report, options)
    if report.missing:
        console.print(
            f"[bold red]{len(report.missing)} problems: an invocation without exactly one audit event, "
            "or a lost message[/]"
        )
        for line in report.missing[:10]:
            console.print(f"  {line}")
        return 1
    console.print("[bold green]Every invocation has its audit event.[/]")
    return 0


def _lifecycle_phase(world: LocalWorld, transactions: Any, report: Report, console: Console) -> None:
    started = datetime.now(UTC)
    run_lifecycle_phase(world, transactions, report.lifecycle, console)
    report.answers += report.lifecycle.answers
    report.lifecycle_audit = reconcile_lifecycle(world, report.lifecycle, started)
    report.missing += report.lifecycle.problems
    print_lifecycle(console, world, report.lifecycle)


DECISION_TIMEOUT_S = 30.0


def _send_all(console: Console, title: str, api_url: str, traffic: Sequence[Sent], concurrency: int) -> list[Answer]:
    answers: list[Answer] = []
    with _progress(console) as progress, ThreadPoolExecutor(max_workers=concurrency) as pool:
        task = progress.add_task(title, total=len(traffic))
        # A burst starts as many sandboxes of the decision function as it has requests in flight, each
        # with its cold start, on however few cores the machine has: wait for them as a Lambda client would.
        for answer in pool.map(lambda request: send(api_url, request, DECISION_TIMEOUT_S), traffic):
            answers.append(answer)
            progress.advance(task)
    return answers


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _queue_phase(world: LocalWorld, options: DemoOptions, transactions: Any, report: Report, console: Console) -> None:
    stack = world.running
    sqs = boto3.client("sqs", endpoint_url=stack.endpoint_url)
    queue_url = stack.queue_url("DecisionQueue")
    bodies: list[str] = []
    for index in range(options.queue_messages):
        if index % 20 == 7:
            bodies.append('{"use_case": "card_fraud", "request": ')
        elif index % 20 == 13:
            bodies.append(
                json.dumps(
                    {
                        "use_case": REFERENCE_USE_CASE,
                        "request": {"request_id": f"{world.run_id}-q-{index}", "inputs": {}},
                    }
                )
            )
        else:
            request = {"request_id": f"{world.run_id}-q-{index}", "inputs": next(transactions).inputs}
            bodies.append(json.dumps({"use_case": REFERENCE_USE_CASE, "request": request}))
    duplicates = bodies[:2]
    sent = {
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            MessageAttributes={"principal": {"DataType": "String", "StringValue": "local-batch-job"}},
        )["MessageId"]
        for body in [*bodies, *duplicates]
    }
    poison = sum(1 for index in range(options.queue_messages) if index % 20 in (7, 13))
    expected_results = options.queue_messages - poison
    report.expected_results, report.expected_dead_letters = expected_results, poison
    results_url = stack.queue_url("DecisionResultsQueue")
    dlq_url = stack.queue_url("DecisionDeadLetterQueue")
    deadline = time.monotonic() + 90
    with _progress(console) as progress:
        results_task = progress.add_task("Queue results", total=expected_results)
        dead_task = progress.add_task("Dead letters", total=poison)
        while time.monotonic() < deadline and (
            len(report.queue.results) < expected_results or len(report.queue.dead_letters) < poison
        ):
            report.queue.results += _results(_drain(sqs, results_url), world.run_id)
            for message in _drain(sqs, dlq_url):
                attributes = message.get("MessageAttributes", {})
                # What an earlier run left on the queue (a state directory keeps the queues) is not counted.
                if attributes.get("source_message_id", {}).get("StringValue") not in sent:
                    continue
                reason = attributes.get(REASON_ATTRIBUTE, {}).get("StringValue", "")
                report.queue.dead_letters.append(({"body": message["Body"]}, reason))
            progress.update(results_task, completed=len(report.queue.results))
            progress.update(dead_task, completed=len(report.queue.dead_letters))
    # Redelivered duplicates must not publish twice: give a late duplicate the time to show up.
    time.sleep(1.0)
    report.queue.results += _results(_drain(sqs, results_url), world.run_id)


def _results(messages: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """The decisions published for this run's requests, whose ids carry its run id."""
    results = [json.loads(message["Body"]) for message in messages]
    return [result for result in results if str(result.get("request_id", "")).startswith(f"{run_id}-")]


def _ingest_phase(world: LocalWorld, options: DemoOptions, ingestion: Ingestion, console: Console) -> None:
    """Send transactions records, some broken, over HTTP (twice), the ingest stream and the ingest queue."""
    stack = world.running
    since = datetime.now(UTC)
    # This run's record ids: an id a stored record of an earlier run holds, with other event times, is a conflict.
    records = [
        {**record, "transaction_id": f"{record['transaction_id']}-{world.run_id}"}
        for record in sample_records(
            world.manifest, options.ingest_records, options.ingest_records // 25, seed=options.world.seed + 2, now=since
        )
    ]
    third = len(records) // 3
    http, stream, queue = records[:third], records[third : 2 * third], records[2 * third :]
    for _ in range(2):
        world.call(
            "POST", f"/v1/ingest/{REFERENCE_DATASET}", "data_producer", {"contract_version": "v1", "records": http}
        )
    ingestion.sent["IngestApiFunction"] = 2 * len(http)
    ingestion.broken["IngestApiFunction"] = 2 * _bad(http)
    bodies = [_message(record) for record in stream] + ['{"dataset": "transactions", "record": ']
    kinesis = boto3.client("kinesis", endpoint_url=stack.endpoint_url)
    for start in range(0, len(bodies), 500):
        chunk = bodies[start : start + 500]
        kinesis.put_records(
            StreamName=stack.stream_name("IngestStream"),
            Records=[{"Data": body.encode(), "PartitionKey": str(i)} for i, body in enumerate(chunk)],
        )
    ingestion.sent["IngestStreamFunction"] = len(bodies)
    ingestion.broken["IngestStreamFunction"] = _bad(stream) + 1
    messages = [_message(record) for record in queue]
    messages += messages[:5]
    sqs = boto3.client("sqs", endpoint_url=stack.endpoint_url)
    for start in range(0, len(messages), 10):
        sqs.send_message_batch(
            QueueUrl=stack.queue_url("IngestQueue"),
            Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(messages[start : start + 10])],
        )
    ingestion.sent["IngestQueueFunction"] = len(messages)
    ingestion.broken["IngestQueueFunction"] = _bad(queue)
    deadline = time.monotonic() + 120
    with _progress(console) as progress:
        tasks = {
            name: progress.add_task(name.removesuffix("Function"), total=count)
            for name, count in ingestion.sent.items()
        }
        while time.monotonic() < deadline:
            _read_ingest_events(world, since, ingestion)
            received = {name: sum(e["received"] for e in events) for name, events in ingestion.events.items()}
            for name, task in tasks.items():
                progress.update(task, completed=received.get(name, 0))
            if all(received.get(name, 0) >= count for name, count in ingestion.sent.items()):
                break
            time.sleep(0.3)
    ingestion.snapshot = world.call(
        "POST", f"/v1/datasets/{REFERENCE_DATASET}/snapshots", "ml_engineer", {}, expect=201
    )
    stats = stack.stats
    ingestion.invocations["IngestApiFunction"] = 2
    for name in ("IngestStreamFunction", "IngestQueueFunction"):
        ingestion.invocations[name] = sum(p.invocations for key, p in stats.pollers.items() if key.startswith(name))


def _bad(records: Sequence[dict[str, Any]]) -> int:
    return sum(1 for record in records if str(record["transaction_id"]).startswith("bad-"))


def _message(record: dict[str, Any]) -> str:
    return json.dumps({"dataset": REFERENCE_DATASET, "contract_version": "v1", "record": record})


def _read_ingest_events(world: LocalWorld, since: datetime, ingestion: Ingestion) -> None:
    """Each ingestion invocation's counts, from its audit event."""
    ingestion.events = {}
    for source in INGEST_SOURCES:
        rows = []
        for event in world.audit_log.events(
            AuditQuery(source=source, action="ingest.records", since=since), limit=100_000
        ):
            details = event.details
            counts = details["datasets"].values() if "datasets" in details else [details]
            unrouted = int(details.get("unrouted", 0))
            rows.append(
                {
                    "received": sum(int(c["received"]) for c in counts) + unrouted,
                    "stored": sum(int(c["stored"]) for c in counts),
                    "duplicates": sum(int(c["duplicates"]) for c in counts),
                    "quarantined": sum(int(c["quarantined"]) for c in counts) + unrouted,
                }
            )
        ingestion.events[source] = rows


def _reconcile_ingestion(ingestion: Ingestion, missing: list[str]) -> None:
    """Every ingestion invocation has its event, and every record sent is stored or quarantined, once."""
    for source, sent in ingestion.sent.items():
        events = ingestion.events.get(source, [])
        if len(events) != ingestion.invocations[source]:
            missing.append(f"{source}: {ingestion.invocations[source]} invocations, {len(events)} audit events")
        received = sum(e["received"] for e in events)
        kept = sum(e["stored"] + e["quarantined"] for e in events)
        quarantined = sum(e["quarantined"] for e in events)
        if received != sent or kept != received:
            missing.append(f"{source}: {sent} records sent, {received} received, {kept} stored or quarantined")
        if quarantined != ingestion.broken[source]:
            missing.append(f"{source}: {ingestion.broken[source]} broken records sent, {quarantined} quarantined")


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    answer = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    )
    messages: list[dict[str, Any]] = answer.get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def _deliveries(stats: Any, function: str) -> int:
    return sum(poller.records for name, poller in stats.pollers.items() if name.startswith(function))


def _reconcile(world: LocalWorld, report: Report, started: datetime) -> None:
    """Match every invocation the demo made with its audit event."""
    log = world.audit_log
    api_events = log.events(AuditQuery(source=API_SOURCE, since=started), limit=1_000_000)
    queue_events = log.events(AuditQuery(source=QUEUE_SOURCE, since=started), limit=1_000_000)
    worker_events = log.events(AuditQuery(action="worker.inference", since=started), limit=1_000_000)
    # A shadow call is recorded beside the call that decided; each decision has exactly one of the latter.
    deciding = [event for event in worker_events if event.details.get("role") != "shadow"]
    training_events = log.events(AuditQuery(action="worker.training", since=started), limit=1_000_000)
    api_traces = Counter(event.trace_id for event in api_events)
    for answer in report.answers:
        trace = str(answer.body.get("trace_id", ""))
        if api_traces[trace] != 1:
            report.missing.append(f"HTTP {answer.kind} answered {answer.status}: {api_traces[trace]} audit events")
    per_delivery = Counter(event.invocation_id for event in queue_events)
    if len(per_delivery) != report.queue_deliveries or any(count != 1 for count in per_delivery.values()):
        report.missing.append(
            f"queue: {report.queue_deliveries} deliveries, {len(per_delivery)} audited, {len(queue_events)} events"
        )
    per_decision = Counter(event.decision_id for event in deciding)
    for event in [*api_events, *queue_events]:
        called = (event.outcome == "success" and event.model_version) or (
            event.outcome == "fallback" and "failed" in (event.error or "")
        )
        if called and per_decision[event.decision_id] != 1:
            report.missing.append(
                f"{event.source} {event.invocation_id}: {per_decision[event.decision_id]} worker call events"
            )
    published = Counter(result["request_id"] for result in report.queue.results)
    twice = sorted(request for request, count in published.items() if count > 1)
    if twice:
        report.missing.append(f"results published twice for {twice}")
    if len(published) != report.expected_results:
        report.missing.append(f"queue: {len(published)} results, {report.expected_results} expected")
    reasons = [reason for _, reason in report.queue.dead_letters if reason]
    if len(reasons) != report.expected_dead_letters:
        report.missing.append(
            f"dead letters: {len(reasons)} with a reason, {report.expected_dead_letters} poison messages sent"
        )
    _reconcile_ingestion(report.ingestion, report.missing)
    report.audit = {
        "api": len(api_events),
        "queue": len(queue_events),
        "worker.inference": len(worker_events),
        "worker.training": len(training_events),
    }


def _print_report(console: Console, report: Report, options: DemoOptions) -> None:
    decided = [a for a in report.answers if a.status == 200 and "outcome" in a.body and a.kind != "read"]
    outcomes = Counter(a.body["outcome"] for a in decided if not a.replay)
    queue_outcomes = Counter(r["outcome"] for r in report.queue.results)
    fallbacks = sum(1 for a in decided if a.body.get("fallback") and not a.replay)
    queue_fallbacks = sum(1 for r in report.queue.results if r.get("fallback"))
    rejections = Counter(f"{a.status} {a.body.get('error', '')}" for a in report.answers if a.status >= 400)
    model_latency = [a.seconds * 1000 for a in decided if not a.body.get("fallback") and not a.replay]
    fallback_latency = [a.seconds * 1000 for a in decided if a.body.get("fallback")]

    table = Table(title="Governed decisions", show_lines=False)
    table.add_column("what")
    table.add_column("HTTP", justify="right")
    table.add_column("queue", justify="right")
    for outcome in sorted(set(outcomes) | set(queue_outcomes)):
        table.add_row(f"decision: {outcome}", str(outcomes[outcome]), str(queue_outcomes[outcome]))
    table.add_row("of which fallbacks", str(fallbacks), str(queue_fallbacks))
    table.add_row("idempotent replays", str(sum(1 for a in decided if a.replay)), "-")
    for label, count in sorted(rejections.items()):
        table.add_row(f"rejected: {label}", str(count), "-")
    table.add_row("dead-lettered with a reason", "-", str(sum(1 for _, reason in report.queue.dead_letters if reason)))
    table.add_row("latency p50 / p99 (model)", _ms(model_latency), "-")
    table.add_row("latency p50 / p99 (fallback)", _ms(fallback_latency), "-")
    console.print(table)
    _print_ingestion(console, report.ingestion)

    audit = Table(title="Audit events stored against invocations made")
    audit.add_column("invoked")
    audit.add_column("invocations", justify="right")
    audit.add_column("audit events", justify="right")
    audit.add_row(API_SOURCE, str(len(report.answers)), str(report.audit.get("api", 0)))
    audit.add_row(QUEUE_SOURCE + " (deliveries)", str(report.queue_deliveries), str(report.audit.get("queue", 0)))
    audit.add_row("inference worker calls", "-", str(report.audit.get("worker.inference", 0)))
    jobs = 1 + len(report.lifecycle.jobs)
    audit.add_row("training worker calls", str(jobs), str(report.audit.get("worker.training", 0)))
    for source, (invocations, stored) in report.lifecycle_audit.items():
        audit.add_row(source, str(invocations), str(stored))
    for source in INGEST_SOURCES:
        events = report.ingestion.events.get(source, [])
        audit.add_row(source, str(report.ingestion.invocations[source]), str(len(events)))
    console.print(audit)


def _print_ingestion(console: Console, ingestion: Ingestion) -> None:
    table = Table(title="Ingested records (received = stored + quarantined)")
    for column in ("entry point", "sent", "stored", "of which duplicates", "quarantined"):
        table.add_column(column, justify="left" if column == "entry point" else "right")
    labels = {
        "IngestApiFunction": "HTTP (the batch sent twice)",
        "IngestStreamFunction": "Kinesis stream",
        "IngestQueueFunction": "SQS queue (5 sent twice)",
    }
    for source, label in labels.items():
        events = ingestion.events.get(source, [])
        table.add_row(
            label,
            str(ingestion.sent[source]),
            str(sum(e["stored"] for e in events)),
            str(sum(e["duplicates"] for e in events)),
            str(sum(e["quarantined"] for e in events)),
        )
    console.print(table)
    snapshot = ingestion.snapshot
    if snapshot:
        console.print(
            f"Snapshot {snapshot['snapshot_id']}: {snapshot['row_count']} rows ({snapshot['labeled_rows']} labeled), "
            f"sha256 {snapshot['content_sha256'][:12]}, sources {snapshot['sources']}"
        )


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 0.5):.1f} / {percentile(values, 0.99):.1f} ms"
