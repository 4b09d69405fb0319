"""The ingestion commands of `leaim`: record files, sample data, the API client's errors, and a run on the stack."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from embedded.cli import main
from embedded.clients.exceptions import RecordFileError
from embedded.clients.local import NO_LOCAL_STACK
from embedded.clients.records import EXTRA_CELLS, batches, count_records, read_records, write_records
from embedded.synthetic import BROKEN_KINDS, sample_records
from embedded.world import LocalWorld, WorldOptions
from leaim.data.datasets import DatasetCatalog
from leaim.data.validation import validate_fields
from leaim.domain.manifests import ManifestCatalog

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MANIFEST = ManifestCatalog.from_directory(None).get("card_fraud")
CONTRACT = DatasetCatalog.from_directory(ManifestCatalog.from_directory(None)).get("transactions", "v1")
# The field each kind of broken sample record gets wrong, in the order of BROKEN_KINDS.
OFFENDING = ["record.country", "record.amount", "record.merchant_category", "record.event_time"]


def problems(record: dict[str, Any]) -> list[str]:
    assert CONTRACT is not None
    _, errors = validate_fields(CONTRACT.fields, record, prefix="record.", unknown="a field of transactions v1")
    return [error.field for error in errors]


def leaim(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command; its exit status, and what it printed on stdout and stderr."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables on one line each, so their values can be read back."""
    monkeypatch.setenv("COLUMNS", "250")


def test_json_lines_are_read_as_values_and_a_broken_line_is_kept_as_its_text(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(
        b'{"transaction_id": "t-1", "amount": 12.5, "card_present": true}\n'
        b"\n"
        b'{"transaction_id": "t-2", "amount": \n'
        b"[1, 2]\n"
        b'{"amount": NaN}\n'
        b'{"name": "caf\xe9"}\n'
    )

    records = list(read_records(path))

    assert records == [
        {"transaction_id": "t-1", "amount": 12.5, "card_present": True},
        '{"transaction_id": "t-2", "amount":',
        [1, 2],
        '{"amount": NaN}',
        '{"name": "caf\ufffd"}',
    ]
    assert count_records(path) == len(records)


def test_csv_cells_become_numbers_booleans_or_absent_fields(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    path.write_text(
        "transaction_id,amount,hour_of_day,card_present,country,code,band,exponent,huge\n"
        "t-1,12.5,3,true,DE,007,18-25,1e3,nan\n"
        "t-2,-4,0,FALSE,,,65+,2.5E-1,1e999\n"
        "t-3,1,2,false,FR,x,41-65,3,4,extra\n",
        encoding="utf-8",
    )

    records = list(read_records(path))

    assert records == [
        {
            "transaction_id": "t-1",
            "amount": 12.5,
            "hour_of_day": 3,
            "card_present": True,
            "country": "DE",
            "code": "007",
            "band": "18-25",
            "exponent": 1000.0,
            "huge": "nan",
        },
        {
            "transaction_id": "t-2",
            "amount": -4,
            "hour_of_day": 0,
            "card_present": False,
            "band": "65+",
            "exponent": 0.25,
            "huge": "1e999",
        },
        {
            "transaction_id": "t-3",
            "amount": 1,
            "hour_of_day": 2,
            "card_present": False,
            "country": "FR",
            "code": "x",
            "band": "41-65",
            "exponent": 3,
            "huge": 4,
            EXTRA_CELLS: ["extra"],
        },
    ]
    assert isinstance(records[0]["hour_of_day"], int)
    assert count_records(path) == 3


def test_a_file_that_is_neither_json_lines_nor_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "records.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(RecordFileError, match=r"expected a \.jsonl or \.csv file"):
        read_records(path)


def test_batches_hold_at_most_the_records_and_bytes_asked_for() -> None:
    records = [{"n": index, "pad": "x" * 100} for index in range(25)]

    assert [len(batch) for batch in batches(records, 10)] == [10, 10, 5]
    by_size = list(batches(records, 10, max_bytes=1024 + 5 * 120))
    assert all(len(batch) <= 5 for batch in by_size)
    assert [record for batch in by_size for record in batch] == records


def test_sample_data_writes_the_valid_and_broken_records_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sample.jsonl"

    status, out, _ = leaim(capsys, "--state-dir", str(tmp_path / "state"), "sample-data", str(path), "--rows", "40")
    assert status == 0
    assert "40 valid, 0 broken" in out
    status, _, _ = leaim(
        capsys, "--state-dir", str(tmp_path / "state"), "sample-data", str(path), "--rows", "40", "--bad", "8"
    )

    assert status == 0
    records = list(read_records(path))
    assert len(records) == 48
    valid = [r for r in records if isinstance(r, dict) and not str(r["transaction_id"]).startswith("bad-")]
    broken = [r for r in records if isinstance(r, dict) and str(r["transaction_id"]).startswith("bad-")]
    assert len(valid) == 40
    assert all(problems(record) == [] for record in valid)
    assert [problems(record) for record in broken] == [[OFFENDING[n % len(BROKEN_KINDS)]] for n in range(8)]
    # Mixed in, not appended: the first broken record comes before the last valid one.
    assert records.index(broken[0]) < records.index(valid[-1])
    times = [datetime.fromisoformat(str(record["event_time"])) for record in valid]
    assert times == sorted(times)
    assert (times[-1] - times[0]).days == 13


def test_sample_records_survive_a_round_trip_through_csv(tmp_path: Path) -> None:
    records = sample_records(MANIFEST, 30, 8, seed=3, now=datetime(2026, 11, 23, tzinfo=UTC))
    path = tmp_path / "sample.csv"

    write_records(path, records, "csv")

    assert list(read_records(path)) == records


@pytest.mark.parametrize(
    "command",
    [
        ["ingest", "records.jsonl", "--dataset", "transactions"],
        ["snapshot", "transactions"],
        ["snapshots", "transactions"],
        ["quarantine", "transactions"],
        ["quarantine", "transactions", "--replay"],
    ],
)
def test_without_a_local_stack_or_an_api_url_the_command_says_so_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    status, out, err = leaim(capsys, "--state-dir", str(tmp_path), *command)

    assert status == 2
    assert err == "leaim: no local stack is running: start one with `leaim up` or pass --api-url and --api-key\n"
    assert out == ""


def test_the_state_left_by_a_stopped_stack_does_not_count_as_a_running_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), RefusingApi)
    port = closed.server_address[1]
    closed.server_close()
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "stack.json").write_text(json.dumps({"api_url": f"http://127.0.0.1:{port}/prod"}))
    (tmp_path / "api-keys.json").write_text(json.dumps({"ml_engineer": "k"}))

    status, _, err = leaim(capsys, "--state-dir", str(tmp_path), "snapshots", "transactions")

    assert (status, err) == (2, f"leaim: {NO_LOCAL_STACK}\n")


def test_an_api_url_without_a_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = leaim(capsys, "--state-dir", str(tmp_path), "snapshots", "transactions", "--api-url", "http://x")

    assert (status, err) == (2, "leaim: pass --api-key with --api-url http://x\n")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["ingest", "f.jsonl", "--dataset", "transactions", "--batch-size", "10001"], "more than the 10000 records"),
        (["snapshot", "transactions", "--since", "2026-11-01T00:00:00"], "is not an ISO 8601 time with an offset"),
        (["quarantine", "transactions", "--id", "q-1"], "--id and --contract-version need --replay"),
        (["sample-data", "f.jsonl", "--bad", "-1"], "-1 is not at least 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    status, _, err = leaim(capsys, "--state-dir", str(tmp_path), *arguments)

    assert status == 2
    last = err.splitlines()[-1]
    assert re.match(r"leaim( [a-z-]+)?: error: ", last)
    assert message in last


class RefusingApi(BaseHTTPRequestHandler):
    """Answers every request as an API that refuses it."""

    def do_GET(self) -> None:
        body = {
            "error": "invalid_request",
            "message": "body is not\na snapshot request",
            "fields": [{"field": "since", "message": "Input should be a valid datetime", "type": "datetime_parsing"}],
            "trace_id": "t",
        }
        payload = json.dumps(body).encode()
        self.send_response(422)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def refusing_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_error_answer_is_one_line_with_status_code_message_and_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refusing_api: str
) -> None:
    status, _, err = leaim(
        capsys, "--state-dir", str(tmp_path), "snapshots", "transactions", "--api-url", refusing_api, "--api-key", "k"
    )

    assert status == 2
    assert err == (
        "leaim: GET /v1/datasets/transactions/snapshots answered 422 invalid_request: "
        "body is not a snapshot request (since Input should be a valid datetime)\n"
    )


def test_an_api_that_does_not_answer_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingApi)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    server.server_close()

    status, _, err = leaim(
        capsys, "--state-dir", str(tmp_path), "quarantine", "transactions", "--api-url", url, "--api-key", "k"
    )

    assert status == 2
    assert err.startswith(f"leaim: GET /v1/ingest/transactions/quarantine: no answer from {url}: ")
    assert err.count("\n") == 1


def number(out: str, name: str) -> int:
    """The value of `name` in a printed table of named values."""
    match = re.search(rf"^\W*{name}\W+(\d+)\W*$", out, re.MULTILINE)
    assert match, f"no {name} in:\n{out}"
    return int(match.group(1))


@pytest.mark.slow
def test_ingest_quarantine_replay_and_snapshot_on_the_local_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    sample = tmp_path / "sample.csv"
    base = ["--state-dir", str(state)]
    leaim(capsys, *base, "sample-data", str(sample), "--rows", "200", "--bad", "8", "--seed", "5")

    with LocalWorld(WorldOptions(state_dir=state, worker_processes=1, stack_name="cli-ingest")):
        status, out, err = leaim(
            capsys, *base, "ingest", str(sample), "--dataset", "transactions", "--batch-size", "50"
        )
        assert (status, err) == (0, "")
        counts = {name: number(out, name) for name in ("received", "stored", "duplicates", "quarantined")}
        assert counts == {"received": 208, "stored": 200, "duplicates": 0, "quarantined": 8}
        assert "Quarantined: 8" in out
        assert len(re.findall(r"bad-5-0000\d", out)) == 8
        # Quarantined records are named by their place in the file, across batches.
        for position, record in enumerate(read_records(sample), start=1):
            if isinstance(record, dict) and str(record["transaction_id"]).startswith("bad-"):
                assert re.search(rf"record {position}\W+{record['transaction_id']}\W", out)

        status, out, _ = leaim(capsys, *base, "ingest", str(sample), "--dataset", "transactions", "--batch-size", "50")
        assert status == 0
        assert (number(out, "stored"), number(out, "duplicates"), number(out, "quarantined")) == (200, 200, 8)

        status, out, _ = leaim(capsys, *base, "quarantine", "transactions", "--limit", "5")
        assert status == 0
        assert "Quarantined records of transactions: 5 (more follow" in out
        status, out, _ = leaim(capsys, *base, "quarantine", "transactions")
        assert status == 0
        assert len(set(re.findall(r"bad-5-0000\d", out))) == 8
        assert "record.merchant_category" in out

        status, out, _ = leaim(capsys, *base, "quarantine", "transactions", "--replay", "--contract-version", "v2")
        assert status == 0
        assert (number(out, "replayed"), number(out, "stored"), number(out, "still quarantined")) == (8, 0, 8)

        status, out, _ = leaim(capsys, *base, "snapshot", "transactions")
        assert status == 0
        assert (number(out, "rows"), number(out, "labeled rows")) == (200, 200)
        snapshot_id = re.search(r"^\W*snapshot\W+(\S+)", out, re.MULTILINE)
        assert snapshot_id

        status, out, _ = leaim(capsys, *base, "snapshots", "transactions")
        assert status == 0
        assert "Snapshots of transactions: 1" in out
        assert snapshot_id.group(1) in out

        status, _, err = leaim(capsys, *base, "snapshot", "transactions", "--until", "2000-01-01T00:00:00Z")
        assert status == 2
        assert err.startswith("leaim: POST /v1/datasets/transactions/snapshots answered 409 no_records: ")
