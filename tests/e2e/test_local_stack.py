"""The governed decision path end to end on the embedded default: real handlers, workers, moto, SQLite."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from contracts.model.v1 import ArchivedDocument
from embedded.cli import main
from embedded.clients.http import Sent, send
from embedded.demos.traffic import decision_request, malformed_requests
from embedded.synthetic import CardFraudGenerator
from embedded.world import LocalWorld, WorldOptions
from gpu_workers import settings
from leaim.adapters.sqs import REASON_ATTRIBUTE
from leaim.governance.evidence.checks import UNARCHIVED
from leaim.governance.evidence.technical import ANNEX_IV
from leaim.governance.ports import AuditQuery
from leaim.lifecycle.signing import DocumentSigner, document_signature_holds

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    options = WorldOptions(state_dir=tmp_path_factory.mktemp("world"), breaker_reset_s=1.0, stack_name="e2e-decisions")
    with LocalWorld(options) as running:
        running.train(rows=3_000)
        running.seed(CardFraudGenerator(running.manifest, seed=99).cards(50))
        yield running


@pytest.fixture
def transactions(world: LocalWorld) -> Iterator[dict[str, object]]:
    cards = CardFraudGenerator(world.manifest, seed=99).cards(50)
    generator = CardFraudGenerator(world.manifest, seed=1234)
    return iter([t.inputs for t in generator.transactions(200, cards)])


def leaim(world: LocalWorld, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `leaim` against the world's stack: its exit status, stdout and stderr."""
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(world.state_dir), *argv])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def api_events(world: LocalWorld, trace_id: str):
    return world.audit_log.events(AuditQuery(trace_id=trace_id))


def test_http_decision_is_scored_audited_and_traced(world: LocalWorld, transactions) -> None:
    stack = world.running
    answer = send(
        stack.api_url, decision_request("card_fraud", "e2e-1", next(transactions), world.api_keys["decision_client"])
    )
    assert answer.status == 200, answer.body
    body = answer.body
    assert body["outcome"] in {"approved", "declined", "review"}
    assert body["model"]["version"] == "v1" and not body["fallback"]
    assert body["reasons"] and body["trace_id"]
    events = api_events(world, body["trace_id"])
    assert sorted((e.source, e.action, e.outcome) for e in events) == [
        ("DecisionApiFunction", "decision.create", "success"),
        ("worker:leaim-inference", "worker.inference", "success"),
    ]
    worker = next(e for e in events if e.action == "worker.inference")
    assert worker.artifact_digest == body["model"]["artifact_digest"] and worker.batch_size >= 1
    spans = [json.loads(line) for line in (world.state_dir / "traces.jsonl").read_text().splitlines()]
    names = {span["name"] for span in spans if span["trace_id"] == body["trace_id"]}
    assert {"POST /v1/decisions/{use_case}", "decision.enrich", "worker.inference", "decision.audit"} <= names

    read = send(
        stack.api_url,
        Sent("read", "GET", f"/v1/decisions/{body['decision_id']}", b"", {"x-api-key": world.api_keys["auditor"]}),
    )
    assert read.status == 200 and read.body == body


def test_traceparent_from_the_caller_is_continued(world: LocalWorld, transactions) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    request = decision_request("card_fraud", "e2e-traced", next(transactions), world.api_keys["decision_client"])
    headers = {**request.headers, "traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    answer = send(world.running.api_url, Sent("valid", request.method, request.path, request.body, headers))
    assert answer.status == 200 and answer.body["trace_id"] == trace
    assert len(api_events(world, trace)) == 2


@pytest.mark.parametrize(
    ("kind", "status", "field"),
    [
        ("malformed_json", 400, "body"),
        ("unknown_field", 422, "x"),
        ("wrong_types", 422, "inputs.amount"),
        ("missing_field", 422, "inputs.country"),
        ("no_api_key", 401, None),
        ("bad_api_key", 401, None),
        ("wrong_role", 403, None),
        ("unknown_use_case", 404, None),
        ("too_large", 413, None),
    ],
)
def test_bad_requests_get_the_right_status_naming_the_fields_and_are_audited(
    world: LocalWorld, transactions, kind: str, status: int, field: str | None
) -> None:
    requests = {r.kind: r for r in malformed_requests("card_fraud", next(transactions), world.api_keys, 0)}
    answer = send(world.running.api_url, requests[kind])
    assert answer.status == status, answer.body
    if field is not None:
        assert field in {f["field"] for f in answer.body["fields"]}
    events = api_events(world, answer.body["trace_id"])
    assert [(e.outcome, e.status_code) for e in events] == [("rejected", status)]


def test_unrouted_path_is_refused_by_the_gateway(world: LocalWorld) -> None:
    answer = send(world.running.api_url, Sent("none", "DELETE", "/v1/decisions/x", b"", {}))
    assert answer.status == 403


def test_worker_outage_gives_audited_fallbacks_then_recovers(world: LocalWorld, transactions) -> None:
    key = world.api_keys["decision_client"]
    api_url = world.running.api_url
    world.workers.pause()
    try:
        answers = [
            send(api_url, decision_request("card_fraud", f"e2e-out-{i}", next(transactions), key)) for i in range(7)
        ]
    finally:
        world.workers.resume()
    assert all(a.status == 200 and a.body["fallback"] and a.body["outcome"] == "review" for a in answers)
    assert any("circuit open" in a.body["fallback_reason"] for a in answers[5:])
    for answer in answers:
        outcomes = {(e.action, e.outcome) for e in api_events(world, answer.body["trace_id"])}
        assert ("decision.create", "fallback") in outcomes
    timed_out = api_events(world, answers[0].body["trace_id"])
    assert ("worker.inference", "error") in {(e.action, e.outcome) for e in timed_out}
    time.sleep(1.5)
    recovered = send(api_url, decision_request("card_fraud", "e2e-back", next(transactions), key))
    assert recovered.status == 200 and not recovered.body["fallback"]


def test_a_declined_decision_carries_at_most_four_principal_reasons_and_its_notice(
    world: LocalWorld, transactions
) -> None:
    key = world.api_keys["decision_client"]
    api_url = world.running.api_url
    risky = {"country": "US", "hour_of_day": 2, "card_present": False, "merchant_category": "digital_goods"}
    declined = None
    for index in range(20):
        inputs = {**next(transactions), **risky, "amount": 900.0 + 100 * index}
        body = send(api_url, decision_request("card_fraud", f"e2e-risky-{index}", inputs, key)).body
        if body["outcome"] == "declined" and body["model"] is not None:
            declined = body
            break
    assert declined is not None, "no risky transaction was declined by the model"
    reasons = declined["principal_reasons"]
    assert 1 <= len(reasons) <= 4 and all(reason["kind"] == "feature" for reason in reasons)
    pushes = [reason["contribution"] for reason in reasons]
    assert pushes == sorted(pushes, reverse=True) and all(push > 0 for push in pushes)

    headers = {"x-api-key": key}
    notice = send(api_url, Sent("notice", "GET", f"/v1/decisions/{declined['decision_id']}/notice", b"", headers))
    assert notice.status == 200, notice.body
    assert [reason["code"] for reason in notice.body["reasons"]] == [reason["code"] for reason in reasons]
    assert f"1. {reasons[0]['statement']}" in notice.body["text"].splitlines()
    # The amount_over_limit rule sends it to review: not an adverse action (yet).
    reviewed = send(
        api_url, decision_request("card_fraud", "e2e-large", {**next(transactions), "amount": 25_000.0}, key)
    )
    assert reviewed.body["outcome"] == "review"
    path = f"/v1/decisions/{reviewed.body['decision_id']}/notice"
    refused = send(api_url, Sent("notice", "GET", path, b"", headers))
    assert (refused.status, refused.body["error"]) == (409, "no_adverse_action")


def test_leaim_bom_writes_the_champions_ml_bom_and_it_is_valid_cyclonedx_1_6(
    world: LocalWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "bom.json"
    status, _, err = leaim(world, capsys, "bom", "card_fraud", "--output", str(output))
    assert status == 0, err
    text = output.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    champion = world.version("v1").manifest
    components = {component["bom-ref"]: component for component in bom["components"]}
    model = components["model:card-fraud@v1"]
    assert model["hashes"] == [{"alg": "SHA-256", "content": champion.artifact_digest}]
    metrics = {m["type"]: m["value"] for m in model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]}
    assert float(metrics["auc"]) == pytest.approx(champion.metrics.auc, rel=1e-5)
    dataset = components[f"dataset:{champion.lineage.dataset}@{champion.lineage.snapshot_id}"]
    assert dataset["hashes"][0]["content"] == champion.lineage.snapshot_sha256
    assert components[f"code:leaim@{champion.lineage.code_version}"]["type"] == "application"
    libraries = {c["name"]: c["version"] for c in bom["components"] if c["type"] == "library"}
    assert libraries["onnxruntime-gpu"] == settings.ONNXRUNTIME_VERSION and "boto3" in libraries
    assert {c["name"] for c in bom["components"] if c["type"] == "container"} == {"leaim-inference", "leaim-training"}


def test_leaim_instructions_writes_the_instructions_for_use_of_the_champion_without_gaps(
    world: LocalWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "instructions.md"
    status, out, _ = leaim(world, capsys, "instructions", "card_fraud", "--output", str(output))
    assert status == 0 and "no gaps" in out
    lines = output.read_text().splitlines()
    champion = world.version("v1").manifest
    assert f"| AUC | {champion.metrics.auc:.4f} |" in lines
    assert all(f"| {gate.gate} |" in "\n".join(lines) for gate in champion.gates)
    assert any(champion.artifact_digest in line for line in lines[:4])
    assert "## Gaps" not in lines


def test_leaim_documentation_writes_every_annex_iv_section_of_the_champion_or_its_gap(
    world: LocalWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "technical.md"
    status, out, _ = leaim(world, capsys, "documentation", "card_fraud", "--output", str(output))
    assert status == 0 and "2 gaps" in out
    text = output.read_text()
    headings = [line.removeprefix("## ") for line in text.splitlines() if line.startswith("## ")]
    assert headings == [*ANNEX_IV, "Gaps"]
    champion = world.version("v1").manifest
    assert champion.artifact_digest in text and champion.lineage.snapshot_sha256 in text
    assert all(f"| {gate.gate} |" in text for gate in champion.gates)
    # The champion's promotion is in the trail, and so is the policy version the stack seeded.
    assert "model.traffic.change" in text and "| 1 | active |" in text
    page = tmp_path / "technical.html"
    status, out, _ = leaim(world, capsys, "documentation", "card_fraud", "--format", "html", "--output", str(page))
    assert status == 0 and "2 gaps" in out
    html = page.read_text()
    assert html.startswith("<!doctype html>")
    assert all(f"<h2>{heading}</h2>" in html for heading in ANNEX_IV)
    assert champion.artifact_digest in html


def test_leaim_documentation_archives_the_champions_pdf_signed_beside_it_and_locked_ten_years(
    world: LocalWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "technical.pdf"
    argv = ("documentation", "card_fraud", "--format", "pdf", "--output", str(output), "--archive")
    status, out, err = leaim(world, capsys, *argv)
    assert status == 0, err
    pdf = output.read_bytes()
    sha256 = hashlib.sha256(pdf).hexdigest()
    assert pdf.startswith(b"%PDF-")
    titles = {title.replace(rb"\(", b"(").replace(rb"\)", b")") for title in re.findall(rb"/Title \((.*?[^\\])\)", pdf)}
    assert {heading.encode() for heading in ANNEX_IV} <= titles
    assert "archived: technical-documentation (pdf) of card-fraud v1, revision 1" in " ".join(out.split())
    assert sha256 in out.replace("\n", "")

    listed = world.call("GET", "/v1/models/card-fraud/versions/v1/documents", "auditor")["documents"]
    [record] = [d for d in listed if d["kind"] == "technical-documentation" and d["format"] == "pdf"]
    assert (record["sha256"], record["revision"], record["archived_by"]) == (sha256, 1, "local-ml-engineer")
    fetched = world.call(
        "GET", f"/v1/models/card-fraud/versions/v1/documents/technical-documentation/{sha256}", "auditor"
    )
    assert base64.b64decode(fetched["content_base64"]) == pdf
    signer = DocumentSigner.from_pem((world.state_dir / "manifest-signing.pem").read_bytes())
    assert document_signature_holds(ArchivedDocument.model_validate(record), signer.public_key)
    bucket = world.running.bucket_name("ArtifactsBucket")
    key = record["location"].removeprefix(f"s3://{bucket}/")
    head = boto3.client("s3", endpoint_url=world.running.endpoint_url).head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ContentType"] == "application/pdf"
    ten_years = datetime.now(UTC) + timedelta(days=3652)
    assert ten_years < head["ObjectLockRetainUntilDate"] < ten_years + timedelta(days=2)
    # The evidence check reads the archive: the champion's documentation is no longer a gap of Annex IV.
    coverage = world.call("GET", "/v1/governance/coverage", "auditor")
    [evidence] = [item for item in coverage["evidence"] if item["use_case"] == "card_fraud"]
    [annex_iv] = [item for item in evidence["items"] if item["anchor"] == "EU AI Act Annex IV"]
    assert UNARCHIVED not in annex_iv["gaps"]

    # The same bytes again are the same revision; the Markdown is another format's first revision; other bytes of
    # the same kind and format are its next revision, and the first stays as it was.
    status, out, err = leaim(world, capsys, *argv)
    assert status == 0 and "already archived" in out, err
    markdown = tmp_path / "technical.md"
    status, out, err = leaim(world, capsys, "documentation", "card_fraud", "-o", str(markdown), "--archive")
    assert status == 0 and "revision 1" in out, err
    amended = markdown.read_bytes() + b"\nAmended by the provider.\n"
    body = {"format": "markdown", "content_base64": base64.b64encode(amended).decode()}
    second = world.call(
        "PUT", "/v1/models/card-fraud/versions/v1/documents/technical-documentation", "ml_engineer", body, expect=201
    )
    assert second["revision"] == 2 and second["sha256"] == hashlib.sha256(amended).hexdigest()
    # Each one is read back and its bytes and signature checked (exit 1 naming any that fails).
    status, out, err = leaim(world, capsys, "documents", "card_fraud", "--verify")
    assert status == 0, err
    status, out, err = leaim(world, capsys, "documents", "card_fraud", "--json")
    assert status == 0 and out.count('"kind": "technical-documentation"') == 3, err

    refused = world.call(
        "PUT", "/v1/models/card-fraud/versions/v1/documents/technical-documentation", "auditor", body, expect=403
    )
    assert refused["error"] == "forbidden"
    unknown = world.call(
        "PUT", "/v1/models/card-fraud/versions/v1/documents/model-card", "ml_engineer", body, expect=422
    )
    assert [field["field"] for field in unknown["fields"]] == ["kind"] and "'model-card'" in unknown["message"]
    events = world.audit_log.events(AuditQuery(action="model.document.archive"))
    assert {event.status_code for event in events} == {200, 201, 403, 422}


def test_a_pdf_needs_a_file(world: LocalWorld, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(world.state_dir), "instructions", "card_fraud", "--format", "pdf"])
    assert exited.value.code == 2
    assert "--format pdf writes a binary file: name it with --output" in capsys.readouterr().err


def test_the_stop_switch_takes_effect_on_the_next_request_and_resume_restores_the_model(
    world: LocalWorld, transactions, capsys: pytest.CaptureFixture[str]
) -> None:
    key = world.api_keys["decision_client"]
    api_url = world.running.api_url
    reason = "fraud model under investigation"
    status, out, _ = leaim(world, capsys, "stop", "card_fraud", "--into", "review", "--reason", reason)
    assert status == 0 and "stopped into review" in out
    stopped = send(api_url, decision_request("card_fraud", "e2e-stopped", next(transactions), key)).body
    assert (stopped["outcome"], stopped["review_required"], stopped["model"]) == ("review", True, None)
    assert stopped["stopped"]["mode"] == "review" and stopped["stopped"]["reason"] == reason
    assert [e.action for e in api_events(world, stopped["trace_id"])] == ["decision.create"]
    change = world.audit_log.events(AuditQuery(action="use_case.stop", use_case="card_fraud"))
    assert [(e.source, e.role, e.details["reason"]) for e in change] == [("LifecycleApiFunction", "risk_owner", reason)]

    state = world.call("POST", "/v1/use-cases/card_fraud/resume", "ml_engineer", {"reason": "retrained and reviewed"})
    assert state["stopped"] is False
    resumed = send(api_url, decision_request("card_fraud", "e2e-resumed", next(transactions), key)).body
    # The model path is taken again: the worker is called (a cold worker host may still answer too late).
    assert resumed["stopped"] is None and "stopped" not in (resumed["fallback_reason"] or "")
    assert "worker.inference" in [e.action for e in api_events(world, resumed["trace_id"])]


def _drain(sqs, url: str, want: int, timeout_s: float = 60.0) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        for message in answer.get("Messages", []):
            got.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return got


def test_queue_decisions_poison_to_dlq_with_reason_and_duplicates_published_once(
    world: LocalWorld, transactions
) -> None:
    stack = world.running
    sqs = boto3.client("sqs", endpoint_url=stack.endpoint_url)
    queue = stack.queue_url("DecisionQueue")
    good = [
        json.dumps({"use_case": "card_fraud", "request": {"request_id": f"e2e-q-{i}", "inputs": next(transactions)}})
        for i in range(4)
    ]
    poison = json.dumps({"use_case": "card_fraud", "request": {"request_id": "e2e-q-bad", "inputs": {"amount": -1}}})
    entries = [*good, poison, good[0]]
    sqs.send_message_batch(
        QueueUrl=queue, Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(entries)]
    )
    results = _drain(sqs, stack.queue_url("DecisionResultsQueue"), want=4)
    dead = _drain(sqs, stack.queue_url("DecisionDeadLetterQueue"), want=1)
    assert sorted(json.loads(m["Body"])["request_id"] for m in results) == [f"e2e-q-{i}" for i in range(4)]
    assert len(dead) == 1 and dead[0]["Body"] == poison
    reason = dead[0]["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"]
    assert "inputs.amount" in reason
    assert _drain(sqs, stack.queue_url("DecisionResultsQueue"), want=1, timeout_s=3) == []
    attempts = world.audit_log.events(
        AuditQuery(source="DecisionQueueFunction", action="decision.create"), limit=10_000
    )
    poison_attempts = [e for e in attempts if e.request_id == "e2e-q-bad"]
    assert len(poison_attempts) == 3 and poison_attempts[-1].details.get("dead_lettered") is True
    duplicate = [e for e in attempts if e.request_id == "e2e-q-0"]
    assert sorted(e.outcome for e in duplicate) == ["duplicate", "success"]


def test_decisions_emit_emf_metrics_and_log_lines_with_the_trace_id(
    world: LocalWorld, transactions, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    answer = send(
        world.running.api_url,
        decision_request("card_fraud", "e2e-emf", next(transactions), world.api_keys["decision_client"]),
    )
    assert answer.status == 200
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    emf = [line for line in lines if "_aws" in line]
    names = {
        metric["Name"] for line in emf for block in line["_aws"]["CloudWatchMetrics"] for metric in block["Metrics"]
    }
    assert {"Decisions", "DecisionLatency", "Fallbacks"} <= names
    assert all(block["Namespace"] == "LEAIM" for line in emf for block in line["_aws"]["CloudWatchMetrics"])
    # The function logs in its sandbox; its Powertools JSON lines reach the stack's output, as CloudWatch keeps them.
    logged = [line for line in lines if line.get("message") == "decision.create"]
    assert [(line["service"], line["trace_id"]) for line in logged] == [("decision-api", answer.body["trace_id"])]
