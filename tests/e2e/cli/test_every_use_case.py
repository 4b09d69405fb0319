"""The local commands with a second use case configured beside the reference, or instead of it: `leaim up` trains
what it can and shows a request of every use case, `sample-data` writes any dataset, the lifecycle commands take
either name of a use case, and `leaim monitor run` finds drift now and retrains the champion as its family."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from rich.console import Console

from contracts.model.v1 import ModelVersionView, TrainingJob
from embedded.cli import main
from embedded.cli.stack import print_stack, start_use_cases
from embedded.clients.http import Sent, send
from embedded.clients.records import read_records
from embedded.demos.traffic import decision_request
from embedded.world import LocalWorld, WorldOptions
from leaim.data.datasets import shipped_directory as shipped_datasets
from leaim.domain.manifests import shipped_directory as shipped_use_cases
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Iterator

CHURN = Path(__file__).parent / "churn"
LEAIM = [sys.executable, "-c", "from embedded.cli import main; main()"]
READY = "Ctrl-C stops the stack."
EXAMPLE = re.compile(r"curl -s -X POST (\S+)(/v1/decisions/\w+) -H 'x-api-key: (\S+)' -d '(.+)'$", re.MULTILINE)
BOTH = "card_fraud (model card-fraud), customer_churn (model churn)"


def leaim(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    captured = capsys.readouterr()
    # The world's functions that run in this process (the audit writer) log JSON lines to standard output, as
    # Lambda's would; the command's own output is the rest.
    printed = "".join(line for line in captured.out.splitlines(keepends=True) if not line.startswith("{"))
    return int(exited.value.code or 0), printed, captured.err


def folders(root: Path, *, reference: bool) -> tuple[Path, Path]:
    """A use case folder and a dataset folder holding customer_churn, with the shipped reference or without."""
    use_cases, datasets = root / "use_cases", root / "datasets"
    use_cases.mkdir(parents=True)
    datasets.mkdir(parents=True)
    shutil.copy(CHURN / "customer_churn.yaml", use_cases)
    shutil.copy(CHURN / "subscriptions.v1.yaml", datasets)
    if reference:
        shutil.copy(shipped_use_cases() / "card_fraud.yaml", use_cases)
        for contract in shipped_datasets().glob("*.yaml"):
            shutil.copy(contract, datasets)
    return use_cases, datasets


def sent_example(out: str, use_case: str) -> dict[str, Any]:
    """Send the example request `leaim up` printed for `use_case`; the answer's body."""
    examples = {match.group(2): match for match in EXAMPLE.finditer(out)}
    match = examples[f"/v1/decisions/{use_case}"]
    api_url, path, key, body = match.groups()
    answer = send(api_url, Sent("example", "POST", path, body.encode(), {"x-api-key": key}), 60.0)
    assert answer.status == 200, answer.body
    return dict(answer.body)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich folds tables to the terminal's width; a wide one keeps each value on one line."""
    monkeypatch.setenv("COLUMNS", "250")


def test_sample_data_writes_any_configured_dataset_and_names_what_it_cannot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_cases, datasets = folders(tmp_path, reference=True)
    monkeypatch.setenv("LEAIM_USE_CASES_DIR", str(use_cases))
    monkeypatch.setenv("LEAIM_DATASETS_DIR", str(datasets))
    records = tmp_path / "subscriptions.csv"
    base = ("--state-dir", str(tmp_path / "state"), "sample-data", str(records))

    status, out, _ = leaim(capsys, *base, "--dataset", "subscriptions", "--rows", "30", "--bad", "2", "--seed", "5")

    assert status == 0
    assert out.splitlines() == [
        f"Wrote 32 subscriptions v1 records to {records}: 30 valid, 2 broken",
        "The broken ones have record ids bad-5-NNNNN: missing field, value out of range, unknown category, "
        "timestamp without offset, in turn.",
        f"Try: leaim ingest {records} --dataset subscriptions",
    ]
    written = list(read_records(records))
    assert len(written) == 32 and sum(str(r["record_id"]).startswith("bad-5-") for r in written) == 2
    assert leaim(capsys, *base, "--dataset", "accounts") == (
        2,
        "",
        "leaim: no dataset 'accounts' is configured: there are subscriptions, transactions "
        "(LEAIM_DATASETS_DIR names another folder)\n",
    )
    assert leaim(capsys, *base, "--dataset", "transactions", "--contract-version", "v3") == (
        2,
        "",
        "leaim: dataset transactions has no contract version v3: it has v1, v2\n",
    )


def test_monitor_run_without_a_local_stack_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert leaim(capsys, "--state-dir", str(tmp_path), "monitor", "run") == (
        2,
        "",
        f"leaim: no local stack runs from {tmp_path.resolve()}: start `leaim up`, or pass --state-dir\n",
    )


@pytest.mark.slow
def test_leaim_up_without_the_reference_starts_and_shows_how_to_train_and_call_the_use_case_it_has(
    tmp_path: Path,
) -> None:
    use_cases, datasets = folders(tmp_path, reference=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "up.log"
    environment = {**os.environ, "LEAIM_USE_CASES_DIR": str(use_cases), "LEAIM_DATASETS_DIR": str(datasets)}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*LEAIM, "--state-dir", str(tmp_path / "state"), "up", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=environment,
        )
    try:
        deadline = time.monotonic() + 180
        while READY not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        out = log.read_text()

        assert "Active model" not in out
        assert (
            "Not trained: customer_churn. Train it: leaim sample-data subscriptions.jsonl --dataset subscriptions && "
            "leaim ingest subscriptions.jsonl --dataset subscriptions && leaim snapshot subscriptions && "
            "leaim train --use-case customer_churn --snapshot <id> --deploy shadow"
        ) in out
        assert "/v1/decisions/card_fraud" not in out
        answer = sent_example(out, "customer_churn")
        assert answer["outcome"] == "no_action" and answer["fallback"] is True
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    root = tmp_path_factory.mktemp("cli-use-cases")
    use_cases, datasets = folders(root, reference=True)
    with pytest.MonkeyPatch.context() as patch:
        # The commands and the functions read the same folders, as `leaim up` and its commands do in one shell.
        patch.setenv("LEAIM_USE_CASES_DIR", str(use_cases))
        patch.setenv("LEAIM_DATASETS_DIR", str(datasets))
        options = WorldOptions(
            state_dir=root / "state", stack_name="cli-use-cases", run_schedules=False, use_cases_dir=use_cases
        )
        with LocalWorld(options) as running:
            yield running


def state(world: LocalWorld) -> tuple[str, str]:
    return "--state-dir", str(world.state_dir)


@pytest.mark.slow
def test_with_two_use_cases_a_command_that_needs_one_asks_which_naming_both_names(
    world: LocalWorld, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert leaim(capsys, *state(world), "train", "--snapshot", "s-1") == (
        2,
        "",
        f"leaim: name the use case with --use-case: 2 are configured ({BOTH})\n",
    )
    assert leaim(capsys, *state(world), "promote", "churm", "v1") == (
        2,
        "",
        f"leaim: no use case or model is named 'churm': there are {BOTH}\n",
    )
    assert leaim(capsys, *state(world), "monitor", "run", "--use-case", "churm") == (
        2,
        "",
        f"leaim: no use case or model is named 'churm': there are {BOTH}\n",
    )
    assert leaim(capsys, *state(world), "sample-data", str(tmp_path / "records.jsonl")) == (
        2,
        "",
        "leaim: name the dataset with --dataset: 2 are configured (subscriptions, transactions)\n",
    )


@pytest.mark.slow
def test_up_shows_a_request_of_every_use_case_that_the_api_decides(world: LocalWorld) -> None:
    printed = io.StringIO()
    console = Console(file=printed, width=250)
    examples = start_use_cases(world, Path(os.environ["LEAIM_DATASETS_DIR"]), console, train=False)
    print_stack(world, examples, console)
    out = printed.getvalue()

    assert [(e.use_case, e.datasets) for e in examples] == [
        ("card_fraud", ["transactions"]),
        ("customer_churn", ["subscriptions"]),
    ]
    for use_case in ("card_fraud", "customer_churn"):
        assert sent_example(out, use_case)["use_case"] == use_case
    assert "leaim train --use-case customer_churn --snapshot <id>" in out
    assert "leaim sample-data transactions.jsonl --dataset transactions" in out


def count(out: str, name: str) -> int:
    match = re.search(rf"^\W*{name}\W+(\d+)\W*$", out, re.MULTILINE)
    assert match, f"no {name} in:\n{out}"
    return int(match.group(1))


@pytest.mark.slow
def test_a_second_use_case_is_fed_trained_named_either_way_monitored_and_retrained_as_its_champion(
    world: LocalWorld, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    records = tmp_path / "subscriptions.jsonl"
    status, out, _ = leaim(
        capsys, *state(world), "sample-data", str(records), "--dataset", "subscriptions", "--rows", "1500", "--bad", "4"
    )
    assert status == 0 and f"Try: leaim ingest {records} --dataset subscriptions" in out
    status, out, err = leaim(capsys, *state(world), "ingest", str(records), "--dataset", "subscriptions")
    assert (status, err) == (0, "")
    assert (count(out, "stored"), count(out, "quarantined")) == (1500, 4)
    status, out, _ = leaim(capsys, *state(world), "snapshot", "subscriptions")
    match = re.search(r"(subscriptions-\d{8}T\S+)", out)
    assert status == 0 and match, out
    snapshot = match.group(1)

    # By the use case's name, as another family than its manifest's: the first approved version is champion.
    status, out, _ = leaim(
        capsys,
        *state(world),
        "train",
        "--use-case",
        "customer_churn",
        "--snapshot",
        snapshot,
        "--family",
        "gradient_boosted_trees",
        "--param",
        "n_estimators=30",
        "--param",
        "max_depth=2",
        "--deploy",
        "shadow",
    )
    assert status == 0, out
    assert "churn v1" in out and "approved; champion (the use case had none)" in out
    # By the model's name, and under --model, which takes either.
    status, out, _ = leaim(capsys, *state(world), "train", "--model", "churn", "--snapshot", snapshot)
    assert status == 0 and "churn v2" in out, out
    status, out, _ = leaim(capsys, *state(world), "models", "customer_churn", "v2")
    assert status == 0 and "logistic_regression" in out
    status, out, _ = leaim(capsys, *state(world), "promote", "churn", "v2", "--policy", "shadow")
    assert status == 0 and "Traffic of customer_churn" in out and "v2 (shadow)" in out
    status, out, _ = leaim(capsys, *state(world), "rollback", "churn", "--reason", "only tried")
    assert status == 0 and re.search(r"challenger\W+-\W", out)
    status, out, _ = leaim(capsys, *state(world), "traffic", "customer_churn")
    assert status == 0 and re.search(r"champion\W+v1\W", out)

    # New subscribers, all on short tenures and high bills without autopay: far from what v1 was trained on.
    key = world.api_keys["decision_client"]
    for index in range(60):
        inputs = {
            "customer_id": f"new-{index}",
            "plan": "basic",
            "tenure_months": index % 4,
            "monthly_spend": 420.0 + index,
            "autopay": False,
        }
        answer = send(world.running.api_url, decision_request("customer_churn", f"drift-{index}", inputs, key), 30.0)
        assert answer.status == 200, answer.body
    world.settle()

    status, out, err = leaim(capsys, *state(world), "monitor", "run", "--use-case", "churn")

    assert (status, err) == (0, ""), out
    # Rich folds a title to its table's width; a decision that fell back (a busy worker) has no score to judge.
    assert re.search(r"Drift of churn v1 \(champion\)\s+over\s+\d+\s+decisions", out), out
    assert "customer_churn v1 (champion): drift" in out
    match = re.search(r"retraining jobs\W+([0-9a-f]{32})\W", out)
    assert match, out
    job = world.wait_for_job(match.group(1))
    champion = ModelVersionView.model_validate(world.call("GET", "/v1/models/churn/versions/v1", "ml_engineer"))
    assert (job.trigger, job.family, job.params) == ("drift", "gradient_boosted_trees", champion.manifest.params)
    assert job.state == "succeeded", job.message
    successor = ModelVersionView.model_validate(
        world.call("GET", f"/v1/models/churn/versions/{job.version}", "ml_engineer")
    )
    assert successor.manifest.family == "gradient_boosted_trees"
    assert TrainingJob.model_validate(world.call("GET", f"/v1/training-jobs/{job.job_id}", "ml_engineer")) == job
    runs = world.audit_log.events(AuditQuery(action="monitor.run", source="leaim monitor run"))
    assert [(run.outcome, run.principal) for run in runs] == [("success", "monitor:drift")]
    assert runs[0].details["retraining_jobs"] == [job.job_id]
