"""`leaim load` and `leaim capacity` refuse options they cannot run with, naming the problem, before starting."""

from __future__ import annotations

import pytest

from embedded.cli import build_parser, main


def refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    assert exited.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("rates", "problem"),
    [
        ("10,5", "the rates must rise: 5 comes after 10"),
        ("10,10", "the rates must rise: 10 comes after 10"),
        ("10,fast", "'fast' is not a rate per second"),
        ("0,10", "a rate must be a positive number, not 0"),
        ("nan", "a rate must be a positive number, not nan"),
    ],
)
def test_load_refuses_rates_that_are_not_a_rising_ramp(
    capsys: pytest.CaptureFixture[str], rates: str, problem: str
) -> None:
    assert problem in refusal(capsys, "load", "--rates", rates)


def test_load_refuses_a_window_that_is_not_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert "0 is not a positive number of seconds" in refusal(capsys, "load", "--step-s", "0")
    assert "-1 is not 0 or more seconds" in refusal(capsys, "load", "--warmup-s", "-1")


def test_capacity_refuses_a_rate_or_tree_count_that_is_not_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert "0 is not a positive number per second" in refusal(capsys, "capacity", "--writer-events-per-s", "0")
    assert "tree counts: 0 is not at least 1" in refusal(capsys, "capacity", "--tree-counts", "100,0")


def test_the_defaults_are_the_documented_ramp_and_scenario() -> None:
    load = build_parser().parse_args(["load"])
    capacity = build_parser().parse_args(["capacity", "--tree-counts", "10,200"])

    assert load.rates == (5.0, 10.0, 15.0, 20.0, 30.0, 50.0)
    assert (load.step_s, load.warmup_s, load.audit_samples) == (20.0, 5.0, 10)
    assert capacity.tree_counts == (10, 200)
    assert (capacity.rate, capacity.writer_events_per_s) == (10_000.0, 30_000.0)
