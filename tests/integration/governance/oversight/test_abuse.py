"""The abuse monitor over decisions really made and stored, keys in a real key table and throttles in a real rate
limit table (moto's server): a rate burst, a one-feature sweep and an out-of-distribution flood are each found with
their evidence, ordinary seeded traffic raises nothing, a throttled key is refused, and a gone signal closes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from embedded.emulation.aws import LocalEndpoint
from embedded.synthetic import CardFraudGenerator
from gpu_workers.training.evaluation import baseline
from leaim.adapters.dynamodb import DynamoApiKeyStore
from leaim.adapters.dynamodb_limits import DynamoRateLimiter
from leaim.adapters.sql.requests import SqlRequestHistory
from leaim.data.features import feature_vector
from leaim.data.privacy import entity_id
from leaim.governance.access.gate import Invocation
from leaim.governance.access.limits import RateLimits
from leaim.governance.access.policy import key_digest
from leaim.governance.audit.events import ScheduleGate
from leaim.governance.oversight.abuse import AbuseMonitor, AbuseThresholds, run_abuse_monitor
from leaim.governance.ports import ApiKeyRecord
from leaim.governance.statistics.abuse import BaselineThresholds, ProbingThresholds, RateThresholds
from tests.integration.governance.harness import USE_CASE, GovernanceBench
from tests.support.accepted import template_table
from tests.support.factories import model_manifest
from tests.support.fakes import PII_KEY

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy import Engine

    from contracts.governance.v1 import Alert
    from embedded.synthetic import Card
    from leaim.governance.oversight.abuse import AbuseRun

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()
WINDOW_S = 600
HISTORY = 6
THRESHOLDS = AbuseThresholds(
    window_s=WINDOW_S,
    history_windows=HISTORY,
    rate=RateThresholds(floor=60, min_ratio=3.0, min_z=6.0),
    probing=ProbingThresholds(min_sweep=6, min_requests=20, min_share=0.1),
    baseline=BaselineThresholds(min_requests=20, min_share=0.2, min_ratio=5.0),
)
# Principal, role, plan: three ordinary services, then the keys the attacks are sent with.
KEYS = {
    "shop-a-key": ("shop-a", "standard"),
    "shop-b-key": ("shop-b", "standard"),
    "shop-c-key": ("shop-c", "standard"),
    "scraper-key": ("scraper", "trial"),
    "prober-key": ("prober", "bulk"),
    "flooder-key": ("flooder", "standard"),
}
ORDINARY = ("shop-a-key", "shop-b-key", "shop-c-key")


class MovedClock:
    """Time the test moves, so that the history windows lie in the past."""

    def __init__(self, now: float) -> None:
        self.wall = now

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.wall


class AbuseBench(GovernanceBench):
    """The governance bench with keyed callers: keys in a key table, plans enforced, time moved by the test."""

    def __init__(self, engine: Engine, tmp_path: Path, endpoint: LocalEndpoint) -> None:
        keys_table, dynamodb = template_table(endpoint, "ApiKeysTable")
        limits_table, _ = template_table(endpoint, "RateLimitsTable")
        self.moved = MovedClock(START)
        # Where the judged window ends: the monitor runs there, so its windows are the ones the traffic was sent in.
        self.window_end = START + (HISTORY + 1) * WINDOW_S
        self.key_store = DynamoApiKeyStore(keys_table, dynamodb, cache_s=0.0, clock=self.moved.now)
        self.limiter = DynamoRateLimiter(limits_table, dynamodb, clock=self.moved.now)
        for secret, (principal, plan) in KEYS.items():
            self.key_store.add(
                ApiKeyRecord(
                    key_digest=key_digest(secret),
                    key_id=f"key_{principal}",
                    principal=principal,
                    role="decision_client",
                    use_cases=(USE_CASE,),
                    datasets=(),
                    plan=plan,
                    created_at=datetime.fromtimestamp(START - 86_400, UTC),
                    created_by="tester",
                )
            )
        super().__init__(engine, tmp_path, keys=self.key_store, limits=RateLimits(self.limiter), clock=self.moved)
        self.abuse = AbuseMonitor(
            catalog=self.catalog,
            router=self.registry,
            registry=self.registry,
            requests=SqlRequestHistory(engine),
            store=self.store,
            keys=self.key_store,
            throttle=self.limiter,
            clock=self.moved,
            thresholds=THRESHOLDS,
        )
        self.generator = CardFraudGenerator(self.manifest, seed=41)
        self.cards = self.generator.cards(400)
        for card in self.cards:
            self.features.put(USE_CASE, entity_id(self.manifest, {"card_id": card.card_id}, PII_KEY), self.online(card))
        self.publish_generated_champion()

    def online(self, card: Card) -> dict[str, Any]:
        return self.generator.online_features(card)

    def publish_generated_champion(self) -> None:
        """A champion whose baseline is the generator's own training distribution, online features included."""
        training = CardFraudGenerator(self.manifest, seed=7)
        rows = [
            feature_vector(self.manifest, item.inputs, item.online)
            for item in training.transactions(4000, training.cards(400))
        ]
        matrix = np.array(rows, dtype=np.float64)
        scores = np.array([self.score(row) for row in matrix], dtype=np.float64)
        manifest = model_manifest("v1", baseline=baseline(self.manifest.feature_names, matrix, scores))
        self.registry.publish(self.signer.sign(manifest))
        self.registry.set_champion(USE_CASE, "card-fraud", "v1", actor="tester")

    def send(self, key: str, inputs: dict[str, Any], *, step_s: float) -> tuple[int, dict[str, Any]]:
        """One decision request with `key`, then the clock moved by `step_s`."""
        body = json.dumps({"request_id": uuid.uuid4().hex, "inputs": inputs}).encode()
        answer = self.decision_api.create(
            USE_CASE, body, Invocation(invocation_id=uuid.uuid4().hex, headers={"x-api-key": key})
        )
        self.moved.wall += step_s
        return answer.status, answer.body

    def ordinary(self, key: str, count: int, *, step_s: float) -> None:
        for item in self.generator.transactions(count, self.cards):
            status, body = self.send(key, dict(item.inputs), step_s=step_s)
            assert status == 200, body

    def history(self) -> None:
        """`HISTORY` past windows of ordinary traffic from every key, ten requests each per window."""
        for _ in range(HISTORY):
            for key in KEYS:
                self.ordinary(key, 10, step_s=WINDOW_S / (10 * len(KEYS)))

    def run(self) -> AbuseRun:
        """Run the monitor at the end of the judged window; the next window is judged next."""
        self.moved.wall = self.window_end
        self.window_end += WINDOW_S
        return self.abuse.run()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bench(engine: Engine, tmp_path: Path, endpoint: LocalEndpoint) -> AbuseBench:
    return AbuseBench(engine, tmp_path, endpoint)


def abuse_alerts(run: AbuseRun) -> dict[str, Alert]:
    return {alert.subject: alert for alert in run.opened if alert.kind == "abuse"}


def current_window(bench: AbuseBench, *, burst: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """The judged window: ordinary traffic from the shops, and `burst` requests of other keys between them."""
    for key in ORDINARY:
        bench.ordinary(key, 10, step_s=1.0)
    for key, requests in (burst or {}).items():
        for inputs in requests:
            status, body = bench.send(key, inputs, step_s=0.25)
            assert status == 200, body


def test_ordinary_seeded_traffic_from_several_principals_raises_no_alert(bench: AbuseBench) -> None:
    bench.history()
    current_window(bench)

    run = bench.run()

    [report] = run.reports
    assert (report.status, report.principals, report.findings) == ("clear", 3, [])
    assert run.opened == [] and run.throttles == [] and run.problems == []


def test_a_rate_burst_is_flagged_and_its_trial_key_throttled_and_refused(bench: AbuseBench) -> None:
    bench.history()
    burst = [dict(item.inputs) for item in bench.generator.transactions(90, bench.cards)]
    current_window(bench, burst={"scraper-key": burst})

    run = bench.run()

    assert set(abuse_alerts(run)) == {"rate:scraper"}
    alert = abuse_alerts(run)["rate:scraper"]
    evidence = alert.evidence
    assert evidence is not None
    assert (evidence.signal, evidence.principal, evidence.key_ids) == ("rate", "scraper", ["key_scraper"])
    assert evidence.figures["requests"] == 90 and evidence.figures["history_median"] == 10.0
    assert evidence.figures["ratio"] == 9.0 and float(evidence.figures["z"]) >= 6.0
    assert len(evidence.sample_decision_ids) == 5
    stored = {decision.response.decision_id for decision in bench.store.window(USE_CASE, *EVER)}
    assert set(evidence.sample_decision_ids) <= stored
    # The trial plan throttles on abuse: a tenth of 5 requests/s, with a burst of 1, for an hour.
    [throttle] = evidence.throttles
    assert (throttle.key_id, throttle.plan, throttle.rate_per_s, throttle.burst) == ("key_scraper", "trial", 0.5, 1)
    assert throttle.until.timestamp() == pytest.approx(bench.moved.wall + 3600, abs=1)
    assert "throttled key_scraper to 0.5/s" in alert.message
    assert [item.key_id for item in run.throttles] == ["key_scraper"]
    first, _ = bench.send("scraper-key", dict(burst[0], transaction_id="again-1"), step_s=0.0)
    refused, body = bench.send("scraper-key", dict(burst[0], transaction_id="again-2"), step_s=0.0)
    assert (first, refused, body["error"]) == (200, 429, "rate_limited")
    assert "throttled after an abuse alert" in body["message"]
    # The stored alert holds its evidence.
    [open_alert] = [a for a in bench.store.alerts(use_case=USE_CASE) if a.kind == "abuse"]
    assert open_alert.evidence == evidence


def test_a_one_feature_sweep_is_probing_and_a_bulk_key_is_only_alerted(bench: AbuseBench) -> None:
    bench.history()
    card = bench.cards[0]
    fixed = {
        "card_id": card.card_id,
        "merchant_category": "electronics",
        "country": card.home_country,
        "hour_of_day": 14,
        "card_present": False,
        "cardholder_name": card.cardholder_name,
        "cardholder_age_band": card.age_band,
    }
    sweep = [dict(fixed, transaction_id=f"probe-{step}", amount=10.0 + 25.0 * step) for step in range(40)]
    current_window(bench, burst={"prober-key": sweep})

    run = bench.run()

    assert set(abuse_alerts(run)) == {"probing:prober"}
    evidence = abuse_alerts(run)["probing:prober"].evidence
    assert evidence is not None
    assert evidence.figures["swept_field"] == "amount" and evidence.figures["largest_sweep"] == 40
    assert evidence.figures["requests_in_sweeps"] == 40
    assert (evidence.key_ids, evidence.throttles, run.throttles) == (["key_prober"], [], [])
    status, _ = bench.send("prober-key", dict(sweep[0], transaction_id="after"), step_s=0.0)
    assert status == 200, "a bulk key is never throttled on its own"


def test_an_out_of_distribution_flood_is_flagged_and_closed_once_it_stops(bench: AbuseBench) -> None:
    bench.history()
    # Micro-amounts far below any the champion was trained on (rules decide amounts over 20,000 unscored).
    flood = []
    for number, item in enumerate(bench.generator.transactions(30, bench.cards)):
        flood.append(dict(item.inputs, transaction_id=f"ood-{number}", amount=0.01 * (number + 1)))
    current_window(bench, burst={"flooder-key": flood})

    flagged = bench.run()
    current_window(bench)
    cleared = bench.run()

    assert set(abuse_alerts(flagged)) == {"out_of_baseline:flooder"}
    evidence = abuse_alerts(flagged)["out_of_baseline:flooder"].evidence
    assert evidence is not None
    assert (evidence.figures["outside"], evidence.figures["share"], evidence.figures["others_share"]) == (30, 1.0, 0.0)
    assert "log_amount" in str(evidence.figures["features"]).split(",")
    assert [item.key_id for item in evidence.throttles] == ["key_flooder"]
    assert cleared.opened == [] and cleared.closed == 1
    assert [a for a in bench.store.alerts(use_case=USE_CASE) if a.kind == "abuse"] == []


def test_the_run_stores_one_audit_event_naming_findings_and_throttles(bench: AbuseBench) -> None:
    bench.history()
    burst = [dict(item.inputs) for item in bench.generator.transactions(90, bench.cards)]
    current_window(bench, burst={"scraper-key": burst})
    gate = ScheduleGate(
        audit_log=bench.audit_log, telemetry=bench.telemetry, clock=bench.moved, source="AbuseMonitorFunction"
    )

    bench.moved.wall = bench.window_end
    run_abuse_monitor(bench.abuse, gate, "abuse-run-1")

    events = [e for e in bench.audit_log.events(limit=100_000) if e.invocation_id == "abuse-run-1"]
    assert [(e.action, e.outcome, e.principal, e.source) for e in events] == [
        ("abuse.run", "success", "monitor:abuse", "AbuseMonitorFunction")
    ]
    details = events[0].details
    assert details["abuse"] == {USE_CASE: "abuse"}
    assert details["findings"] == [f"{USE_CASE}:rate:scraper"]
    assert [item["key_id"] for item in details["throttled"]] == ["key_scraper"]


EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
