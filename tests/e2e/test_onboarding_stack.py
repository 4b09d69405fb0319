"""A use case the running local stack has never seen, onboarded from a CSV file through the CLI and the API alone: no
code and no restart. Drafted from the shipped loan applications, edited as a person would, validated, registered (an
ML engineer proposes, a risk owner approves), ingested, snapshotted, trained, promoted and decided over HTTP, then
drifted, found by `leaim monitor run` and retrained as its champion. Real handlers, workers, moto and SQLite."""

from __future__ import annotations

import csv
import re
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from contracts.manifest.v1 import UseCaseManifest
from contracts.model.v1 import ModelVersionView
from embedded.cli import main
from embedded.clients.http import send
from embedded.demos.traffic import decision_request
from embedded.loans import SHIPPED_FILE
from embedded.world import LocalWorld, WorldOptions
from leaim.domain.policies import policy_digest
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.slow

USE_CASE = "loan_default"
DATASET = "loan_applications"
# The most a business may borrow; the file's largest loan is 500,000.
LOAN_LIMIT = 1_000_000.0


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich folds tables to the terminal's width; a wide one keeps each value on one line."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    """The local stack as `leaim up --no-train` runs it: the shipped reference use case only, nothing trained."""
    options = WorldOptions(
        state_dir=tmp_path_factory.mktemp("onboarding"), stack_name="e2e-onboarding", run_schedules=False
    )
    with LocalWorld(options) as running:
        yield running


def leaim(capsys: pytest.CaptureFixture[str], world: LocalWorld, *argv: str) -> tuple[int, str, str]:
    """Run a command against the running stack; its exit status, and what it printed on stdout and stderr."""
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(world.state_dir), *argv])
    captured = capsys.readouterr()
    # The world's functions that run in this process (the audit writer) log JSON lines to standard output, as
    # Lambda's would; the command's own output is the rest.
    printed = "".join(line for line in captured.out.splitlines(keepends=True) if not line.startswith("{"))
    return int(exited.value.code or 0), printed, captured.err


def ok(result: tuple[int, str, str]) -> str:
    status, out, err = result
    assert (status, err) == (0, ""), out
    return out


def edit(path: Path, change: Any) -> dict[str, Any]:
    """Load a drafted YAML file, let `change` edit the document, write it back; the document."""
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return document


def confirm_manifest(manifest: dict[str, Any]) -> None:
    """What the person who owns the decision sets: the owner, what it is, the valid range of a loan, a rule, and a
    monitoring window that a day of a small lender's applications fills."""
    manifest["owner"] = "credit-risk"
    manifest["description"] = "Decline or refer small-business loan applications likely to default."
    amount = next(field for field in manifest["inputs"] if field["name"] == "amount")
    amount["maximum"] = LOAN_LIMIT
    manifest["decision"]["rules"] = [
        {
            "name": "amount_over_limit",
            "when": [{"field": "amount", "op": "gt", "value": 900_000}],
            "outcome": "review",
            "reason": "Loans over 900,000 are always reviewed by a person.",
        }
    ]
    manifest["monitoring"]["min_rows"] = 40


def confirm_contract(contract: dict[str, Any]) -> None:
    contract["owner"] = "credit-risk"
    amount = next(field for field in contract["fields"] if field["name"] == "amount")
    amount["maximum"] = LOAN_LIMIT


def applications(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The shipped file's applications as a caller sends them: the manifest's inputs, typed (no label, no time)."""
    types = {field["name"]: field["type"] for field in manifest["inputs"]}
    parse = {"number": float, "integer": int}
    with SHIPPED_FILE.open(newline="") as handle:
        return [
            {name: parse.get(types[name], str)(value) for name, value in row.items() if name in types}
            for row in csv.DictReader(handle)
        ]


def count(out: str, name: str) -> int:
    match = re.search(rf"^\W*{name}\W+(\d+)\W*$", out, re.MULTILINE)
    assert match, f"no {name} in:\n{out}"
    return int(match.group(1))


def test_a_use_case_from_a_csv_file_is_registered_trained_decided_drifted_and_retrained_without_a_restart(
    world: LocalWorld, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    drafts = tmp_path / "drafts"
    manifest_file = drafts / "use_cases" / f"{USE_CASE}.yaml"
    contract_file = drafts / "datasets" / f"{DATASET}.v1.yaml"
    ok(
        leaim(
            capsys,
            world,
            "use-case",
            "draft",
            "--from-csv",
            str(SHIPPED_FILE),
            "--target",
            "defaulted",
            "--name",
            USE_CASE,
            "--out",
            str(drafts),
        )
    )
    manifest = edit(manifest_file, confirm_manifest)
    edit(contract_file, confirm_contract)
    out = ok(leaim(capsys, world, "use-case", "validate", str(manifest_file), str(contract_file)))
    assert f"{manifest_file}: valid (use case {USE_CASE})" in out

    # Registered through the lifecycle API: proposed by the ML engineer, approved by the risk owner, activated.
    for file, name, kind in ((manifest_file, USE_CASE, ()), (contract_file, DATASET, ("--dataset",))):
        out = ok(leaim(capsys, world, "policy", "propose", str(file), "--note", "onboarding"))
        assert f"{name} version 1 proposed by local-ml-engineer" in out
        own = leaim(capsys, world, "policy", "approve", name, "1", *kind, "--api-key", world.api_keys["ml_engineer"])
        assert own[0] != 0 and "403 four_eyes" in own[2], own
        ok(leaim(capsys, world, "policy", "approve", name, "1", *kind))
        ok(leaim(capsys, world, "policy", "activate", name, "1", *kind))
    registered = world.call("GET", f"/v1/use-cases/{USE_CASE}/policies/1", "auditor")
    assert registered["state"] == "active" and registered["digest"] == policy_digest(
        UseCaseManifest.model_validate(manifest).model_dump(mode="json")
    )

    out = ok(leaim(capsys, world, "ingest", str(SHIPPED_FILE), "--dataset", DATASET))
    assert (count(out, "stored"), count(out, "quarantined")) == (3000, 0)
    match = re.search(rf"({DATASET}-\d{{8}}T\S+)", ok(leaim(capsys, world, "snapshot", DATASET)))
    assert match
    out = ok(leaim(capsys, world, "train", "--use-case", USE_CASE, "--snapshot", match.group(1)))
    assert "loan-default v1" in out, out
    ok(leaim(capsys, world, "promote", USE_CASE, "v1"))

    key = world.api_keys["decision_client"]
    known = applications(manifest)[:20]
    models = []
    for index, inputs in enumerate(known):
        answer = send(world.running.api_url, decision_request(USE_CASE, f"known-{index}", inputs, key), 30.0)
        assert answer.status == 200, answer.body
        assert answer.body["policy"] == {"version": 1, "digest": registered["digest"]}
        # A worker that is still loading the new model answers late: that decision falls back, as the policy says.
        models.append(None if answer.body["fallback"] else answer.body["model"])
    assert {(model["name"], model["version"]) for model in models if model} == {("loan-default", "v1")}
    rule = send(
        world.running.api_url,
        decision_request(USE_CASE, "over-limit", {**known[0], "amount": 950_000.0}, key),
        30.0,
    )
    assert (rule.status, rule.body["outcome"]) == (200, "review"), rule.body
    refused = send(
        world.running.api_url, decision_request(USE_CASE, "beyond", {**known[0], "amount": 2 * LOAN_LIMIT}, key), 30.0
    )
    assert refused.status == 422 and "inputs.amount" in str(refused.body), refused.body

    # A new market: large loans to new businesses with small incomes, far from what v1 was trained on.
    for index, inputs in enumerate(applications(manifest)[100:180]):
        drifted = {**inputs, "amount": 600_000.0 + 1_000 * index, "income": 12_000.0 + 50 * index}
        drifted["employment_years"] = 0
        answer = send(world.running.api_url, decision_request(USE_CASE, f"drift-{index}", drifted, key), 30.0)
        assert answer.status == 200, answer.body
    world.settle()

    out = ok(leaim(capsys, world, "monitor", "run", "--use-case", "loan-default"))
    assert f"{USE_CASE} v1 (champion): drift" in out, out
    match = re.search(r"retraining jobs\W+([0-9a-f]{32})\W", out)
    assert match, out
    job = world.wait_for_job(match.group(1))
    assert (job.trigger, job.state) == ("drift", "succeeded"), job.message
    champion, successor = (
        ModelVersionView.model_validate(world.call("GET", f"/v1/models/loan-default/versions/{v}", "ml_engineer"))
        for v in ("v1", job.version)
    )
    assert (successor.manifest.family, successor.manifest.params) == ("logistic_regression", champion.manifest.params)

    world.settle()
    changes = {
        (event.action, event.principal)
        for event in world.audit_log.events(AuditQuery(use_case=USE_CASE), limit=5000)
        if event.action.startswith("policy.") and event.status_code in (200, 201)
    }
    assert {
        ("policy.propose", "local-ml-engineer"),
        ("policy.approve", "local-risk-owner"),
        ("policy.activate", "local-ml-engineer"),
    } <= changes
