"""The governance commands of `leaim` against a running local stack: outcomes, reviews and overrides, the
monitoring reports, audit export and the coverage report; exit codes and one-line errors."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

import pytest

from contracts.trail.v1 import AuditRecord
from embedded.cli import main
from embedded.clients.http import send
from embedded.demos.traffic import decision_request
from embedded.emulation.stack import INVOCATIONS_FILE
from embedded.synthetic import CardFraudGenerator
from embedded.world import LocalWorld, WorldOptions
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

USE_CASE = "card_fraud"
# The rule `amount_over_limit` sends these to review whatever the model says.
REVIEWED_AMOUNT = 25_000.0


def leaim(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def emitted(printed: str, metric: str) -> float:
    """The sum of `metric` over the EMF documents in what the functions `printed`."""
    documents = [json.loads(line) for line in printed.splitlines() if line.startswith('{"_aws"')]
    values = [document[metric] for document in documents if metric in document]
    return sum(sum(value) if isinstance(value, list) else value for value in values)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich folds tables to the terminal's width; a wide one keeps each value on one line."""
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    options = WorldOptions(
        state_dir=tmp_path_factory.mktemp("cli-governance"), stack_name="cli-governance", run_schedules=False
    )
    with LocalWorld(options) as running:
        running.train(rows=2_000)
        running.seed(CardFraudGenerator(running.manifest, seed=31).cards(50))
        yield running


def decide(world: LocalWorld, prefix: str, count: int, **inputs: Any) -> list[dict[str, Any]]:
    """`count` decisions over HTTP, one at a time, with `inputs` over generated ones, once they are in the trail."""
    cards = CardFraudGenerator(world.manifest, seed=31).cards(50)
    transactions = CardFraudGenerator(world.manifest, seed=32).transactions(count, cards)
    key = world.api_keys["decision_client"]
    answers = []
    for index, transaction in enumerate(transactions):
        request = decision_request(USE_CASE, f"{prefix}-{index}", {**transaction.inputs, **inputs}, key)
        answer = send(world.running.api_url, request, 30.0)
        assert answer.status == 200, answer.body
        answers.append(answer.body)
    world.settle()
    return answers


def state(world: LocalWorld) -> tuple[str, str]:
    return "--state-dir", str(world.state_dir)


def test_a_governance_command_without_a_stack_says_how_to_get_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = leaim(capsys, "--state-dir", str(tmp_path), "outcome", "d-1", "--label", "true")
    assert status == 2 and err.startswith("leaim: no local stack is running")
    assert len(err.strip().splitlines()) == 1


def test_a_review_needs_its_outcome_and_its_justification_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = leaim(capsys, "--state-dir", str(tmp_path), "review", "r-1", "--outcome", "approved")
    assert status == 2 and "--outcome and --justification go together" in err


@pytest.mark.slow
def test_an_outcome_is_recorded_once_and_another_label_is_refused_with_409(
    world: LocalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    decision = decide(world, "outcome", 1)[0]
    decision_id = str(decision["decision_id"])

    status, out, _ = leaim(capsys, *state(world), "outcome", decision_id, "--label", "true", "--source", "chargebacks")
    assert status == 0, out
    assert f"Outcome of decision {decision_id}" in out and "chargebacks" in out and "local-decision-client" in out
    status, out, _ = leaim(capsys, *state(world), "outcome", decision_id, "--label", "true", "--source", "chargebacks")
    assert status == 0 and "already, unchanged" in out
    status, out, err = leaim(capsys, *state(world), "outcome", decision_id, "--label", "false")
    assert status == 2 and out == ""
    # The last line: the functions' threads of earlier tests may still log to stderr.
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(f"leaim: POST /v1/decisions/{decision_id}/outcome answered 409 outcome_conflict")
    )
    assert len(err.strip().splitlines()) == 1
    status, _, err = leaim(capsys, *state(world), "outcome", "no-such-decision", "--label", "true")
    assert status == 2 and "answered 404" in err

    events = world.audit_log.events(AuditQuery(decision_id=decision_id, action="decision.outcome"))
    assert [(e.outcome, e.status_code) for e in events] == [("success", 201), ("success", 200), ("rejected", 409)]


@pytest.mark.slow
def test_a_reviewer_overrides_a_decision_in_review_from_the_command_line(
    world: LocalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    reviewed = decide(world, "review", 2, amount=REVIEWED_AMOUNT)
    assert {answer["outcome"] for answer in reviewed} == {"review"}
    first = str(reviewed[0]["decision_id"])

    status, out, _ = leaim(capsys, *state(world), "reviews", "--use-case", USE_CASE)
    assert status == 0 and first in out and "Pending reviews" in out
    approve = ("--outcome", "approved", "--justification", "The cardholder confirmed the purchase by phone.")
    # The commands send what the functions print (logs, EMF metrics) to the state folder's log.
    functions_log = world.state_dir / "functions.log"
    before = functions_log.stat().st_size
    status, out, _ = leaim(capsys, *state(world), "review", first, *approve)
    assert status == 0, out
    assert "review -> approved by local-reviewer" in out and "resolved" in out
    between = functions_log.stat().st_size
    # The same override sent again is a retry: answered, audited, and not counted as a second override.
    status, out, _ = leaim(capsys, *state(world), "review", first, *approve)
    assert status == 0 and "review -> approved by local-reviewer" in out
    printed = functions_log.read_bytes()
    overridden = emitted(printed[before:between].decode(), "ReviewOverrides")
    assert (overridden, emitted(printed[between:].decode(), "ReviewOverrides")) == (1, 0)
    status, out, _ = leaim(capsys, *state(world), "reviews", "--use-case", USE_CASE)
    assert status == 0 and first not in out and str(reviewed[1]["decision_id"]) in out
    status, out, _ = leaim(capsys, *state(world), "review", first)
    assert status == 0 and "The cardholder confirmed the purchase by phone." in out

    justification = "Second thoughts, on reflection."
    status, _, err = leaim(
        capsys, *state(world), "review", first, "--outcome", "declined", "--justification", justification
    )
    assert status == 2 and "answered 409" in err and len(err.strip().splitlines()) == 1
    client = world.api_keys["decision_client"]
    status, _, err = leaim(
        capsys, *state(world), "review", first, "--outcome", "declined", "--justification", justification,
        "--api-key", client,
    )  # fmt: skip
    assert status == 2 and "answered 403" in err
    overrides = world.audit_log.events(AuditQuery(decision_id=first, action="review.override"))
    # A refused attempt is part of the decision's trail too.
    assert [(e.outcome, e.status_code, e.principal) for e in overrides] == [
        ("success", 201, "local-reviewer"),
        ("success", 200, "local-reviewer"),
        ("rejected", 409, "local-reviewer"),
        ("rejected", 403, "local-decision-client"),
    ]
    forbidden = world.audit_log.events(AuditQuery(action="review.override", principal="local-decision-client"))
    assert [(e.outcome, e.status_code) for e in forbidden] == [("rejected", 403)]


@pytest.mark.slow
def test_the_audit_trail_exports_as_csv_to_a_file_and_as_json_lines_to_the_terminal(
    world: LocalWorld, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    decision_id = str(decide(world, "export", 1)[0]["decision_id"])
    output = tmp_path / "trail.csv"

    status, out, _ = leaim(
        capsys, *state(world), "audit", "export", "--decision-id", decision_id, "--output", str(output)
    )
    assert status == 0 and f"to {output} (csv)" in out
    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8"))))
    assert {row["decision_id"] for row in rows} == {decision_id}
    assert ("DecisionApiFunction", "decision.create") in {(row["source"], row["action"]) for row in rows}
    assert all(row["event_hash"] for row in rows)

    status, out, _ = leaim(capsys, *state(world), "audit", "export", "--decision-id", decision_id)
    assert status == 0
    records = [AuditRecord.model_validate_json(line) for line in out.splitlines()]
    assert [r.event.event_id for r in records] == [row["event_id"] for row in rows]

    status, out, _ = leaim(
        capsys, *state(world), "audit", "export", "--action", "audit.search", "--format", "jsonl", "--principal",
        "local-auditor",
    )  # fmt: skip
    assert status == 0 and all(json.loads(line)["event"]["principal"] == "local-auditor" for line in out.splitlines())
    status, _, err = leaim(capsys, *state(world), "audit", "export", "--api-key", world.api_keys["decision_client"])
    assert status == 2 and "answered 403" in err


@pytest.mark.slow
def test_monitoring_reports_are_shown_once_the_monitor_ran(
    world: LocalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = leaim(capsys, *state(world), "bias", USE_CASE)
    assert status == 2 and "answered 404" in err and "the monitor has not run" in err
    decided = decide(world, "monitored", 20)
    for decision in decided[:10]:
        leaim(capsys, *state(world), "outcome", str(decision["decision_id"]), "--label", "false")
    world.run_schedule("DriftMonitorFunction")

    status, out, _ = leaim(capsys, *state(world), "drift", USE_CASE)
    assert status == 0 and "Drift of card-fraud v1 (champion)" in out and "insufficient" in out
    status, out, _ = leaim(capsys, *state(world), "bias", USE_CASE)
    assert status == 0 and "cardholder_age_band" in out
    status, out, _ = leaim(capsys, *state(world), "alerts")
    assert status == 0 and "Open alerts: 0" in out
    status, out, _ = leaim(capsys, *state(world), "usage", "--use-case", USE_CASE)
    assert status == 0 and "local-decision-client" in out
    status, out, _ = leaim(capsys, *state(world), "quality", USE_CASE)
    assert status == 0 and "Quality of card_fraud" in out and "v1" in out
    status, _, err = leaim(capsys, *state(world), "drift", "mortgage")
    assert status == 2 and "answered 404" in err
    status, _, err = leaim(capsys, *state(world), "drift", USE_CASE, "--api-key", world.api_keys["decision_client"])
    assert status == 2 and "answered 403" in err


@pytest.mark.slow
def test_the_coverage_report_exits_1_when_an_invocation_has_no_audit_event(
    world: LocalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    decide(world, "covered", 3)

    # Every earlier invocation's event chained, the other tests' included: the report counts the whole window.
    world.settle()
    status, out, _ = leaim(capsys, *state(world), "governance", "report")
    assert status == 0, out
    assert "invocations with their audit event" in out and "100.0%" in out
    assert "Process KPIs" in out and USE_CASE in out
    assert f"Evidence for {USE_CASE}: " in out and "EU AI Act Annex IV" in out

    # As Lambda would count an invocation that stored no event: the ledger is the platform's count.
    ledger = world.state_dir / "stack" / INVOCATIONS_FILE
    counted = ledger.read_text(encoding="utf-8")
    unaudited = {**json.loads(counted.splitlines()[-1]), "request_id": "never-audited"}
    ledger.write_text(counted + json.dumps(unaudited) + "\n", encoding="utf-8")
    world.settle()
    try:
        status, out, _ = leaim(capsys, *state(world), "governance", "report")
    finally:
        ledger.write_text(counted, encoding="utf-8")
    assert status == 1
    assert f"{unaudited['function']}:never-audited" in out


@pytest.mark.slow
def test_the_process_kpis_count_the_first_champion_from_its_training_job(
    world: LocalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = leaim(capsys, *state(world), "governance", "kpis", USE_CASE)

    assert status == 0, out
    facts = dict(line.strip("│ ").split("│", 1) for line in out.splitlines() if line.count("│") == 3)
    facts = {name.strip(): value.strip() for name, value in facts.items()}
    # The world trained one version, which became the champion the use case did not have.
    assert facts["new champions"] == "1"
    assert facts["training jobs"].startswith("1 (person 1), 1 approved")
    assert facts["lead time"].startswith("p50 ") and "min" in facts["lead time"]
    assert facts["change failure rate"] == "0.0%"
    status, _, err = leaim(capsys, *state(world), "governance", "kpis", "mortgage")
    assert status == 2 and "answered 404" in err
