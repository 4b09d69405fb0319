"""Seeded synthetic data for the reference card-fraud use case, with optional drift.

Labels come from a fixed logistic ground truth over the features computed by the serving transforms,
so a model trained on this data has something real to learn and drift is visible to a monitor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from leaim.data.features import feature_vector
from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from pydantic import JsonValue

    from contracts.dataset.v1 import DatasetContract
    from contracts.manifest.v1 import UseCaseManifest

HOME_COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "GB", "US"]
FOREIGN_COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "GB", "US", "BR", "NG", "RU", "OTHER"]
MERCHANTS = ["grocery", "fuel", "restaurants", "travel", "electronics", "digital_goods", "gambling", "other"]
MERCHANT_WEIGHTS = [0.30, 0.12, 0.18, 0.07, 0.08, 0.08, 0.03, 0.14]
AGE_BANDS = ["18-25", "26-40", "41-65", "65+"]
FIRST_NAMES = ["Ana", "Ben", "Chloe", "Dario", "Eva", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kemi", "Lena"]
LAST_NAMES = ["Almeida", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ivanova", "Jansen"]
# Ground truth over the model features, in log-odds: what makes a transaction fraudulent here.
TRUE_WEIGHTS = {
    "log_amount": 0.3,
    "amount_to_avg": 0.6,
    "txn_count_24h": 0.2,
    "foreign": 2.5,
    "night": 2.0,
    "card_not_present": 1.7,
    "risky_merchant": 2.0,
    "gambling": 2.0,
}
# Chosen with the weights so that, without drift, about 3% of transactions are fraud and a logistic
# regression on the model features reaches a ROC AUC near 0.9.
TRUE_BIAS = -8.6
INPUT_NAMES = frozenset(
    {
        "transaction_id",
        "card_id",
        "amount",
        "merchant_category",
        "country",
        "hour_of_day",
        "card_present",
        "cardholder_name",
        "cardholder_age_band",
    }
)
ONLINE_NAMES = frozenset({"avg_amount_30d", "txn_count_24h", "home_country"})
CATEGORY_VALUES = {
    "merchant_category": MERCHANTS,
    "country": [*FOREIGN_COUNTRIES, "KP", "IR"],
    "cardholder_age_band": AGE_BANDS,
}


@dataclass(frozen=True, slots=True)
class Card:
    """A card and its holder."""

    card_id: str
    home_country: str
    avg_amount_30d: float
    txn_count_24h: int
    cardholder_name: str
    age_band: str


@dataclass(frozen=True, slots=True)
class LabeledTransaction:
    """Inputs as a caller sends them, the card's online features, and whether it was fraud."""

    inputs: dict[str, str | int | float | bool]
    online: dict[str, str | int | float]
    label: int


def card_fraud_problems(manifest: UseCaseManifest) -> list[str]:
    """Why this generator cannot produce `manifest`'s inputs, online features or features; empty when it can."""
    problems: list[str] = []
    inputs = {field.name: field for field in manifest.inputs}
    if set(inputs) != INPUT_NAMES:
        problems.append(f"inputs must be {sorted(INPUT_NAMES)}")
    if {feature.name for feature in manifest.online_features} != ONLINE_NAMES:
        problems.append(f"online features must be {sorted(ONLINE_NAMES)}")
    missing = set(TRUE_WEIGHTS) - set(manifest.feature_names)
    if missing:
        problems.append(f"features {sorted(missing)} are missing")
    for name, values in CATEGORY_VALUES.items():
        field = inputs.get(name)
        if field is not None and field.allowed is not None and not set(values) <= set(field.allowed):
            problems.append(f"input {name!r} must allow {sorted(values)}")
    return problems


class CardFraudGenerator:
    """Cards and transactions; `drift` in [0, 1] moves amounts, foreign share, night share and merchants.

    The same seed and the same sequence of calls give identical output.
    """

    def __init__(self, manifest: UseCaseManifest, seed: int, drift: float = 0.0) -> None:
        """Generate for `manifest` (the card-fraud use case) from `seed`, shifted by `drift`."""
        if not 0.0 <= drift <= 1.0:
            raise ValueError("drift must be between 0 and 1")
        problems = card_fraud_problems(manifest)
        if problems:
            raise ConfigurationError(f"use case {manifest.name!r} is not card-fraud shaped: " + "; ".join(problems))
        self._manifest = manifest
        self._seed = seed
        self._drift = drift
        self._rng = np.random.default_rng(seed)
        self._cards_issued = 0

    def cards(self, n: int) -> list[Card]:
        """`n` new cards with their holders and recent activity; ids never repeat within a generator."""
        rng = self._rng
        first = self._cards_issued
        self._cards_issued += n
        return [
            Card(
                card_id=f"card-{self._seed}-{index:06d}",
                home_country=str(rng.choice(HOME_COUNTRIES)),
                avg_amount_30d=round(float(rng.lognormal(4.0, 0.6)), 2),
                txn_count_24h=int(rng.poisson(2.5)),
                cardholder_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                age_band=str(rng.choice(AGE_BANDS, p=[0.15, 0.35, 0.38, 0.12])),
            )
            for index in range(first, first + n)
        ]

    def online_features(self, card: Card) -> dict[str, str | int | float]:
        """The card's online features, as the feature store holds them."""
        return {
            "avg_amount_30d": card.avg_amount_30d,
            "txn_count_24h": card.txn_count_24h,
            "home_country": card.home_country,
        }

    def transactions(self, n: int, cards: list[Card]) -> list[LabeledTransaction]:
        """`n` transactions of random `cards`, each with its fraud label.

        Inputs are valid against the manifest; the label is drawn from the logistic ground truth
        (`TRUE_WEIGHTS`, `TRUE_BIAS`) over the features computed by `feature_vector`.
        """
        if not cards:
            raise ValueError("transactions need at least one card")
        rng, drift = self._rng, self._drift
        merchant_weights = np.array(MERCHANT_WEIGHTS)
        merchant_weights[MERCHANTS.index("digital_goods")] += 0.20 * drift
        merchant_weights /= merchant_weights.sum()
        foreign_share = 0.10 + 0.30 * drift
        night_share = 0.10 + 0.25 * drift
        start = rng.integers(0, 1_000_000_000)
        result = []
        for index in range(n):
            card = cards[int(rng.integers(0, len(cards)))]
            amount = card.avg_amount_30d * float(rng.lognormal(0.0, 0.7)) * (1.0 + 1.5 * drift)
            if rng.random() < 0.001:
                amount = float(rng.uniform(20_000, 60_000))
            country = str(rng.choice(FOREIGN_COUNTRIES)) if rng.random() < foreign_share else card.home_country
            if rng.random() < 0.002:
                country = str(rng.choice(["KP", "IR"]))
            hour = int(rng.integers(0, 6)) if rng.random() < night_share else int(rng.integers(6, 24))
            inputs: dict[str, str | int | float | bool] = {
                "transaction_id": f"tx-{self._seed}-{start + index}",
                "card_id": card.card_id,
                "amount": round(min(max(amount, 0.01), 100_000.0), 2),
                "merchant_category": str(rng.choice(MERCHANTS, p=merchant_weights)),
                "country": country,
                "hour_of_day": hour,
                "card_present": bool(rng.random() >= 0.35),
                "cardholder_name": card.cardholder_name,
                "cardholder_age_band": card.age_band,
            }
            online = self.online_features(card)
            features = feature_vector(self._manifest, inputs, online)
            logit = TRUE_BIAS + sum(
                TRUE_WEIGHTS.get(name, 0.0) * value
                for name, value in zip(self._manifest.feature_names, features, strict=True)
            )
            label = int(rng.random() < 1.0 / (1.0 + math.exp(-logit)))
            result.append(LabeledTransaction(inputs=inputs, online=online, label=label))
        return result


def writes_records_of(contract: DatasetContract, manifest: UseCaseManifest) -> bool:
    """Whether `transaction_record` writes records of `contract`: a transactions dataset of a card-fraud use case."""
    keys = (contract.record_id, contract.event_time, contract.label)
    names = INPUT_NAMES | ONLINE_NAMES | {"event_time", "is_fraud"}
    return (
        not card_fraud_problems(manifest)
        and keys == ("transaction_id", "event_time", "is_fraud")
        and names <= {field.name for field in contract.fields}
    )


def transaction_record(
    transaction: LabeledTransaction, event_time: datetime, *, labeled: bool = True
) -> dict[str, str | int | float | bool]:
    """A `transactions` dataset record (contract v1) of a generated transaction, as a producer sends it."""
    record: dict[str, str | int | float | bool] = {
        **transaction.inputs,
        **transaction.online,
        "event_time": event_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    if labeled:
        record["is_fraud"] = bool(transaction.label)
    return record


SAMPLE_DAYS = timedelta(days=14)
# The kinds of broken record `sample_records` mixes in, in turn.
BROKEN_KINDS = ("missing field", "amount out of range", "unknown category", "timestamp without offset")


def sample_records(
    manifest: UseCaseManifest, rows: int, bad: int, *, seed: int, now: datetime
) -> list[dict[str, JsonValue]]:
    """`rows` valid `transactions` v1 records with event times over the 14 days before `now`, and `bad` broken ones.

    The broken records are spread evenly among the valid ones, each kind of `BROKEN_KINDS` in turn, and their
    record ids start with `bad-`.
    """
    generator = CardFraudGenerator(manifest, seed=seed)
    transactions = generator.transactions(rows + bad, generator.cards(200))
    step = SAMPLE_DAYS / rows
    start = now - SAMPLE_DAYS
    keyed: list[tuple[tuple[int, int], dict[str, JsonValue]]] = [
        ((index, 1), dict(transaction_record(transaction, start + index * step)))
        for index, transaction in enumerate(transactions[:rows])
    ]
    for number, transaction in enumerate(transactions[rows:]):
        position = (number + 1) * rows // (bad + 1)
        record = _broken(dict(transaction_record(transaction, start + position * step)), number)
        keyed.append(((position, 0), {**record, "transaction_id": f"bad-{seed}-{number:05d}"}))
    return [record for _, record in sorted(keyed, key=lambda pair: pair[0])]


def _broken(record: dict[str, JsonValue], number: int) -> dict[str, JsonValue]:
    """The record with one fault, the kind `BROKEN_KINDS[number % 4]`."""
    kind = BROKEN_KINDS[number % len(BROKEN_KINDS)]
    if kind == "missing field":
        return {name: value for name, value in record.items() if name != "country"}
    if kind == "amount out of range":
        return {**record, "amount": 250_000.0}
    if kind == "unknown category":
        return {**record, "merchant_category": "casino"}
    moment = datetime.fromisoformat(str(record["event_time"]))
    return {**record, "event_time": moment.replace(tzinfo=None).isoformat(timespec="seconds")}
