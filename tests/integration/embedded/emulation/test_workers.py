"""Local worker processes and the local worker client, over real HTTP on 127.0.0.1: scoring, training,
publishing signed manifests, and the supervisor that replaces a dead or hung process on its own URL."""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from embedded.emulation.workers import LocalWorkerPool, MicroBatcher, Supervision, WorkerHost
from leaim.exceptions import WorkerError, WorkerTimeoutError
from leaim.serving.workers import LocalWorkerClient
from tests.support.signing import manifest_for, sign

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from contracts.inference.v1 import InferenceRequest, InferenceResult
    from contracts.training.v2 import TrainingRequest


@pytest.fixture(scope="module")
def keys_env(public_keys_env: str) -> dict[str, str]:
    return {"LEAIM_MANIFEST_PUBLIC_KEYS": public_keys_env}


@pytest.fixture(scope="module")
def pool(trained, keys_env: dict[str, str]) -> Iterator[LocalWorkerPool]:
    with LocalWorkerPool(trained.root, processes=2, env=keys_env) as running:
        yield running


def _post(url: str, path: str, body: bytes) -> tuple[int, dict[str, object]]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_micro_batcher_hands_waiting_items_over_as_one_batch() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def handle(items: list[int]) -> list[int]:
        batches.append(items)
        release.wait()
        return [item * 10 for item in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(handle, max_batch_size=3, wait_ms=0)
    outputs: dict[int, int] = {}
    threads = [threading.Thread(target=lambda i=i: outputs.update({i: batcher.submit(i)})) for i in range(5)]
    threads[0].start()
    while not batches:
        time.sleep(0.001)
    for thread in threads[1:]:
        thread.start()
    while batcher.waiting < 4:
        time.sleep(0.001)
    release.set()
    for thread in threads:
        thread.join()

    assert batches[0] == [0]
    assert [len(batch) for batch in batches[1:]] == [3, 1]
    assert sorted(item for batch in batches for item in batch) == [0, 1, 2, 3, 4]
    assert outputs == {i: i * 10 for i in range(5)}


def test_micro_batcher_fails_every_item_of_a_failing_batch() -> None:
    def handle(items: list[int]) -> list[int]:
        raise RuntimeError(f"session failed for {items}")

    batcher: MicroBatcher[int, int] = MicroBatcher(handle, max_batch_size=4, wait_ms=1)

    with pytest.raises(RuntimeError, match="session failed"):
        batcher.submit(1)


def test_train_publish_and_score_round_trip_through_worker_processes(
    pool: LocalWorkerPool,
    trained,
    signing_key,
    make_inference_request: Callable[..., InferenceRequest],
    make_training_request: Callable[..., TrainingRequest],
) -> None:
    client = LocalWorkerClient(pool.urls)

    first = client.score(make_inference_request("one", rows=slice(0, 2)), timeout_s=30)
    second = client.score(make_inference_request("two", rows=slice(2, 5)), timeout_s=30)
    request = make_training_request(job_id="job-2", model_version="1.0.1")
    trained_again = client.train(request, timeout_s=60)
    unpublished = make_inference_request(model_version="1.0.1", artifact_digest=trained_again.artifact_digest)
    with pytest.raises(WorkerError, match="404 ArtifactNotFoundError"):
        client.score(unpublished, timeout_s=30)
    client.publish_manifest(sign(manifest_for(request, trained_again), signing_key), timeout_s=30)

    assert (first.request_id, len(first.results), first.artifact_digest) == (
        "one",
        2,
        trained.result.artifact_digest,
    )
    assert len(second.results) == 3
    assert first.worker != second.worker, "round-robin reaches both processes"
    assert trained_again.model_version == "1.0.1"
    assert trained_again.artifact_digest != trained.result.artifact_digest
    assert (trained.root / f"{trained_again.artifact_digest}.onnx").is_file()
    assert (trained.root / f"{trained_again.artifact_digest}.manifest.json").is_file()
    # Both processes serve it: each retries its failed load on the next call.
    rescored = [client.score(unpublished, timeout_s=30) for _ in pool.urls]
    assert {r.artifact_digest for r in rescored} == {trained_again.artifact_digest}
    assert len({r.worker for r in rescored}) == 2


def test_concurrent_requests_all_get_their_own_answer(
    pool: LocalWorkerPool, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    client = LocalWorkerClient(pool.urls[:1])
    requests = [make_inference_request(f"c{i}", rows=slice(i, i + 1)) for i in range(24)]
    results: list[InferenceResult] = []
    lock = threading.Lock()

    def score(request: InferenceRequest) -> None:
        result = client.score(request, timeout_s=30)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=score, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.request_id for r in results) == sorted(r.request_id for r in requests)
    assert all(1 <= r.batch_size <= 24 and len(r.results) == 1 for r in results)
    sequential = client.score(requests[0], timeout_s=30)
    assert sequential.results == next(r for r in results if r.request_id == "c0").results


def test_refusals_come_back_as_worker_errors(
    pool: LocalWorkerPool,
    make_inference_request: Callable[..., InferenceRequest],
    make_training_request: Callable[..., TrainingRequest],
) -> None:
    client = LocalWorkerClient(pool.urls)

    with pytest.raises(WorkerError, match="404 ArtifactNotFoundError"):
        client.score(make_inference_request(artifact_digest="e" * 64), timeout_s=30)
    with pytest.raises(WorkerTimeoutError, match="DeadlineExceededError"):
        client.score(make_inference_request(deadline_unix_ms=int(time.time() * 1000) - 1), timeout_s=30)
    with pytest.raises(WorkerError, match="400 InvalidRequestError"):
        client.train(make_training_request().model_copy(update={"params": {"C": -1.0}}), timeout_s=60)


def test_the_manifest_route_stores_once_and_refuses_conflicts_and_bad_signatures(
    pool: LocalWorkerPool, trained, signing_key
) -> None:
    url = pool.urls[0]
    path = trained.root / f"{trained.result.artifact_digest}.manifest.json"
    stored = path.read_bytes()
    rejected = sign(manifest_for(trained.request, trained.result, "rejected"), signing_key)
    foreign = sign(trained.signed.manifest, Ed25519PrivateKey.generate())

    again = _post(url, "/artifacts/manifests", trained.signed.model_dump_json().encode())
    conflict = _post(url, "/artifacts/manifests", rejected.model_dump_json().encode())
    untrusted = _post(url, "/artifacts/manifests", foreign.model_dump_json().encode())
    invalid = _post(url, "/artifacts/manifests", json.dumps({"manifest": {}, "key_id": "k"}).encode())

    assert again == (200, {"artifact_digest": trained.result.artifact_digest, "stored": True})
    assert conflict[0] == 409
    assert conflict[1]["error"]["type"] == "ManifestConflictError"
    assert untrusted[0] == 422
    assert untrusted[1]["error"]["type"] == "ManifestVerificationError"
    assert "untrusted key" in untrusted[1]["error"]["message"]
    assert invalid[0] == 400
    assert invalid[1]["error"]["type"] == "InvalidRequestError"
    assert path.read_bytes() == stored
    assert sorted(p.name for p in trained.root.iterdir() if p.name.startswith(".")) == []


def test_the_local_client_reports_a_refused_manifest(pool: LocalWorkerPool, trained, signing_key) -> None:
    client = LocalWorkerClient(pool.urls)
    rejected = sign(manifest_for(trained.request, trained.result, "rejected"), signing_key)

    with pytest.raises(WorkerError, match="409 ManifestConflictError"):
        client.publish_manifest(rejected, timeout_s=30)


def test_a_pool_without_trusted_keys_refuses_every_manifest_and_model(
    trained, make_inference_request: Callable[..., InferenceRequest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEAIM_MANIFEST_PUBLIC_KEYS", raising=False)
    with LocalWorkerPool(trained.root, processes=1) as keyless:
        client = LocalWorkerClient(keyless.urls)

        with pytest.raises(WorkerError, match="422 ManifestVerificationError"):
            client.publish_manifest(trained.signed, timeout_s=30)
        with pytest.raises(WorkerError, match="no trusted manifest keys"):
            client.score(make_inference_request(), timeout_s=30)


def test_malformed_calls_get_json_errors_with_4xx_status(pool: LocalWorkerPool) -> None:
    url = pool.urls[0]

    assert _post(url, "/inference/score", b"not json")[0] == 400
    status, body = _post(url, "/inference/score", json.dumps({"artifact_digest": "x", "request": {}}).encode())
    assert status == 400
    assert body["error"] == {"type": "InvalidRequestError", "message": "artifact_digest must be a sha256 hex"}
    status, body = _post(url, "/training/train", json.dumps({"job_id": "j"}).encode())
    assert status == 400
    assert isinstance(body["error"], dict)
    assert body["error"]["type"] == "InvalidRequestError"
    assert _post(url, "/elsewhere", b"{}")[0] == 404


def test_stopped_workers_fail_and_paused_workers_time_out_until_resumed(
    trained, keys_env: dict[str, str], make_inference_request: Callable[..., InferenceRequest]
) -> None:
    with LocalWorkerPool(trained.root, processes=1, env=keys_env) as pool:
        client = LocalWorkerClient(pool.urls)
        assert client.score(make_inference_request(), timeout_s=30).results

        pool.pause()
        started = time.monotonic()
        with pytest.raises(WorkerTimeoutError):
            client.score(make_inference_request(), timeout_s=0.5)
        assert time.monotonic() - started < 10
        pool.resume()
        assert client.score(make_inference_request(), timeout_s=30).results

        pool.stop()
        with pytest.raises(WorkerError) as raised:
            client.score(make_inference_request(), timeout_s=5)
        assert not isinstance(raised.value, WorkerTimeoutError)
        assert "ConnectionRefusedError" in str(raised.value)


def test_worker_processes_exit_when_their_parent_dies(trained) -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from embedded.emulation.workers import LocalWorkerPool\n"
            "pool = LocalWorkerPool(Path(sys.argv[1]), processes=1); pool.start()\n"
            "print(pool.urls[0], flush=True); time.sleep(600)",
            str(trained.root),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        url = parent.stdout.readline().strip()
        assert _healthy(url)
        parent.kill()
        parent.wait()
        give_up = time.monotonic() + 30
        while _healthy(url) and time.monotonic() < give_up:
            time.sleep(0.02)
        assert not _healthy(url)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _healthy(url: str) -> bool:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


# Quicker than the defaults, so each test's replacement comes soon; the waits below stay generous.
BRISK = Supervision(interval_s=0.2, health_timeout_s=0.5, misses_allowed=2)


def _wait_for(probe: Callable[[], object], what: str, timeout_s: float = 90.0) -> None:
    give_up = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    """Whether no process (a zombie included) has this pid any more."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.split(") ", 1)[1].startswith("X")


@pytest.fixture
def supervised(trained, keys_env: dict[str, str]) -> Iterator[LocalWorkerPool]:
    with LocalWorkerPool(trained.root, processes=2, env=keys_env, supervision=BRISK) as running:
        yield running


def test_a_worker_killed_with_sigkill_is_replaced_on_its_url_and_scores_again(
    supervised: LocalWorkerPool,
    make_inference_request: Callable[..., InferenceRequest],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="embedded.emulation.workers")
    url, other = supervised.urls
    victim, bystander = supervised.pids
    client = LocalWorkerClient([url])
    assert client.score(make_inference_request(), timeout_s=30).results

    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: supervised.replacements and _healthy(url), "the killed worker's replacement")

    [replacement] = supervised.replacements
    assert (replacement.url, replacement.old_pid, replacement.reason) == (url, victim, "exited with signal 9")
    assert replacement.new_pid == supervised.pids[0] != victim
    assert supervised.urls == [url, other] and supervised.pids[1] == bystander
    assert _gone(victim), "the dead process is reaped, not left a zombie"
    assert client.score(make_inference_request("after"), timeout_s=30).results
    [line] = [record.getMessage() for record in caplog.records if record.getMessage().startswith("worker replaced")]
    logged: dict[str, Any] = json.loads(line.removeprefix("worker replaced "))
    assert logged["url"] == url and logged["reason"] == "exited with signal 9" and logged["replacements"] == 1
    assert logged["seconds"] == replacement.seconds


def test_a_stopped_worker_is_detected_as_hung_and_replaced(
    supervised: LocalWorkerPool, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    url = supervised.urls[1]
    victim = supervised.pids[1]

    os.kill(victim, signal.SIGSTOP)
    _wait_for(lambda: supervised.replacements and _healthy(url), "the hung worker's replacement")

    [replacement] = supervised.replacements
    assert (replacement.url, replacement.old_pid) == (url, victim)
    assert replacement.reason == "missed 2 health deadlines of 0.5 s in a row"
    assert _gone(victim)
    assert LocalWorkerClient([url]).score(make_inference_request(), timeout_s=30).results


def test_a_paused_pool_is_left_paused_until_resumed(
    supervised: LocalWorkerPool, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    pids = supervised.pids
    supervised.pause()
    # Several rounds of missed health checks pass while paused: none of them leads to a replacement.
    _wait_for(lambda: not _healthy(supervised.urls[0]), "the paused worker to stop answering")
    time.sleep(BRISK.interval_s * (BRISK.misses_allowed + 3))
    supervised.resume()

    assert LocalWorkerClient(supervised.urls).score(make_inference_request(), timeout_s=30).results
    assert supervised.pids == pids and supervised.replacements == []


def test_the_supervisor_stops_with_the_pool(trained, keys_env: dict[str, str]) -> None:
    pool = LocalWorkerPool(trained.root, processes=1, env=keys_env, supervision=BRISK)
    pool.start()
    [pid] = pool.pids
    # Other tests may leave threads of their own behind: the pool's watcher is the one named for its port.
    name = f"worker-watch-{pool.urls[0].rsplit(':', 1)[1]}"
    [watcher] = [thread for thread in threading.enumerate() if thread.name == name]

    pool.stop()

    assert not watcher.is_alive()
    assert _gone(pid) and pool.urls == [] and pool.replacements == []


def test_health_fails_while_a_batch_is_stuck_and_recovers_after() -> None:
    release = threading.Event()

    class StuckWorker:
        def __init__(self, artifact_digest: str) -> None:
            self.score = self

        def local(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
            release.wait()
            return [{"ok": True} for _ in requests]

    host = WorkerHost(StuckWorker, None, lambda signed: None, max_batch_size=4, wait_ms=0, stall_after_s=0.05)
    scoring = threading.Thread(target=host.score, args=("a" * 64, {}))
    scoring.start()
    try:
        _wait_for(host.health_problems, "the stuck batch to show in the health check", timeout_s=30)
        assert host.health_problems() == [f"{'a' * 64}: one batch has run for more than 0.05 s"]
    finally:
        release.set()
        scoring.join()
    assert host.health_problems() == []
