"""The abuse signals on constructed counts, inputs and features."""

from __future__ import annotations

import random

from contracts.training.v2 import Baseline, Histogram
from leaim.governance.statistics.abuse import (
    BaselineThresholds,
    OutOfBaseline,
    ProbingThresholds,
    RateThresholds,
    baseline_flood,
    baseline_ranges,
    out_of_baseline,
    probing,
    rate_anomaly,
)

RATE = RateThresholds(floor=50, min_ratio=3.0, min_z=6.0)
FIELDS = ["card_id", "amount", "merchant_category", "hour_of_day"]


def test_a_quiet_key_tripling_is_no_anomaly_but_a_burst_far_above_its_history_is() -> None:
    quiet = rate_anomaly(3, [1, 0, 1, 2, 1, 1], RATE)
    burst = rate_anomaly(240, [30, 28, 35, 31, 29, 33, 30, 32], RATE)

    assert (quiet.ratio, quiet.anomalous) == (3.0, False), "under the floor"
    assert burst.anomalous and burst.median == 30.5 and burst.ratio > 7 and burst.z > 6


def test_an_earlier_burst_does_not_hide_the_next_and_a_volatile_principal_needs_more() -> None:
    steady = [40] * 10 + [900]
    volatile = [10, 150, 20, 130, 15, 160, 25, 140, 12, 155]

    again = rate_anomaly(400, steady, RATE)
    swing = rate_anomaly(400, volatile, RATE)

    assert again.median == 40 and again.anomalous, "the median ignores the one earlier burst"
    assert swing.ratio >= 3.0 and swing.z < 6.0 and not swing.anomalous, "within its own swings"


def test_a_one_field_sweep_with_the_rest_fixed_is_probing_and_random_traffic_is_not() -> None:
    rng = random.Random(5)
    ordinary = [
        {
            "card_id": f"card-{rng.randrange(300)}",
            "amount": round(rng.lognormvariate(4.0, 0.7), 2),
            "merchant_category": rng.choice(["grocery", "fuel", "travel"]),
            "hour_of_day": rng.randrange(24),
            "transaction_id": f"t{index}",
        }
        for index in range(200)
    ]
    sweep = [
        {
            "card_id": "card-1",
            "amount": 10.0 * step,
            "merchant_category": "fuel",
            "hour_of_day": 3,
            "transaction_id": f"p{step}",
        }
        for step in range(1, 41)
    ]

    clean = probing(ordinary, FIELDS, ProbingThresholds())
    found = probing(ordinary + sweep, FIELDS, ProbingThresholds())

    assert (clean.in_sweeps, clean.probing) == (0, False)
    assert found.probing and found.in_sweeps == 40 and found.largest == 40 and found.largest_field == "amount"
    assert sorted(found.members) == list(range(200, 240))


def test_a_grid_over_two_fields_is_sweeps_of_each() -> None:
    grid = [
        {"card_id": "c", "amount": float(amount), "merchant_category": "fuel", "hour_of_day": hour}
        for amount in range(8)
        for hour in range(8)
    ]

    found = probing(grid, FIELDS, ProbingThresholds(min_sweep=6, min_requests=30, min_share=0.5))

    assert found.probing and found.in_sweeps == 64 and found.swept == {"amount": 64, "hour_of_day": 64}


def test_requests_outside_the_training_range_are_counted_by_feature_and_judged_against_the_others() -> None:
    reference = Baseline(
        features={
            "log_amount": Histogram(edges=[0.9, 3.0, 10.7], counts=[5, 5]),
            "night": Histogram(edges=[0.0, 1.0, 1.0], counts=[8, 2]),
        },
        score=Histogram(edges=[0.0, 1.0], counts=[10]),
        rows=10,
    )
    ranges = baseline_ranges(reference)
    features = [{"log_amount": 0.1, "night": 0.0}] * 25 + [{"log_amount": 4.0, "night": 1.0}] * 5 + [None]

    mine = out_of_baseline(features, ranges)
    others = out_of_baseline([{"log_amount": 4.0, "night": 0.0}] * 99 + [{"log_amount": 12.0, "night": 0.0}], ranges)

    assert ranges == {"log_amount": (0.9, 10.7), "night": (0.0, 1.0)}
    assert (mine.requests, len(mine.outside), mine.features) == (30, 25, {"log_amount": 25})
    assert others.share == 0.01
    assert baseline_flood(mine, others, BaselineThresholds())
    drifted = OutOfBaseline(requests=100, outside=list(range(40)), features={})
    assert not baseline_flood(mine, drifted, BaselineThresholds()), "everyone outside is drift, not abuse"
