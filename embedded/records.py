"""Seeded sample records of any dataset, drawn from its dataset contract, and example inputs of any use case.

Every value keeps to its field: numbers and integers within their range, categories among their allowed values,
strings within their length, timestamps over the days before now with a UTC offset, record ids unique. Fields
that are online features of the use case hold one value per entity, as a feature store would. When the contract
has a label, it is drawn from a seeded logistic ground truth over the use case's model features (computed by the
serving transforms), so that a model trained on the records has something to learn.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from leaim.data.features import feature_vector, merge_online
from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from pydantic import JsonValue

    from contracts.dataset.v1 import DatasetContract, DatasetField
    from contracts.manifest.v1 import InputField, UseCaseManifest

SAMPLE_DAYS = timedelta(days=14)
# Distinct entities (values of the use case's entity key) that the records of one call are spread over.
ENTITIES = 200
# The kinds of broken record `contract_records` mixes in, in turn, among those the contract can show.
BROKEN_KINDS = ("missing field", "value out of range", "unknown category", "timestamp without offset")
# The ground truth: its share of positive labels, and how strongly the features decide them (in log-odds per
# standard deviation of the weighted features).
POSITIVE_SHARE = 0.25
SIGNAL = 2.5
# Bounds of a number or an integer field that declares none.
DEFAULT_LOW, DEFAULT_HIGH = 0.0, 100.0


def _bounds(field: DatasetField | InputField) -> tuple[float, float]:
    low = field.minimum if field.minimum is not None else min(DEFAULT_LOW, (field.maximum or 0.0) - DEFAULT_HIGH)
    high = field.maximum if field.maximum is not None else low + DEFAULT_HIGH
    return low, high


def _text(prefix: str, number: int, max_length: int | None) -> str:
    """`prefix-number`, cut from the front of the prefix when the field allows fewer characters."""
    suffix = f"-{number}"
    if max_length is None:
        return prefix + suffix
    return (prefix[: max(max_length - len(suffix), 1)] + suffix)[-max_length:]


def _value(field: DatasetField | InputField, rng: np.random.Generator) -> JsonValue:
    """A valid value of a string, number, integer, boolean or category field."""
    if field.type == "category":
        assert field.allowed is not None
        return str(rng.choice(field.allowed))
    if field.type == "boolean":
        return bool(rng.random() < 0.5)
    if field.type == "integer":
        low, high = _bounds(field)
        if math.ceil(low) > math.floor(high):
            raise ConfigurationError(f"field {field.name!r} has no whole number between {low:g} and {high:g}")
        return int(rng.integers(math.ceil(low), math.floor(high) + 1))
    if field.type == "number":
        low, high = _bounds(field)
        return min(max(round(float(rng.uniform(low, high)), 2), low), high)
    return _text(field.name, int(rng.integers(0, 1_000_000)), field.max_length)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def example_inputs(manifest: UseCaseManifest, seed: int) -> dict[str, JsonValue]:
    """Inputs of one decision request of `manifest`: a valid value for each of its inputs, optional ones too."""
    rng = np.random.default_rng(seed)
    return {field.name: _value(field, rng) for field in manifest.inputs}


def broken_kinds(contract: DatasetContract) -> tuple[str, ...]:
    """The kinds of `BROKEN_KINDS` a record of `contract` can show: no unknown category without a category field."""
    plain = _plain(contract)
    kinds = ["missing field"]
    if any(_bounded(field) for field in plain):
        kinds.append("value out of range")
    if any(field.type == "category" for field in plain):
        kinds.append("unknown category")
    kinds.append("timestamp without offset")
    return tuple(kinds)


def _bounded(field: DatasetField) -> bool:
    return field.type in ("number", "integer") and (field.minimum is not None or field.maximum is not None)


def _plain(contract: DatasetContract) -> list[DatasetField]:
    """The fields other than the record id, the event time and the label."""
    special = {contract.record_id, contract.event_time, contract.label}
    return [field for field in contract.fields if field.name not in special]


def contract_records(
    contract: DatasetContract, manifest: UseCaseManifest, rows: int, bad: int, *, seed: int, now: datetime
) -> list[dict[str, JsonValue]]:
    """`rows` valid records of `contract` with event times over the 14 days before `now`, and `bad` broken ones.

    `manifest` is the use case the dataset feeds: its entity key and online features shape the records, its model
    features decide the labels. The broken records are spread evenly among the valid ones, each kind of
    `broken_kinds(contract)` in turn, and their record ids start with `bad-`. The same arguments give the same
    records.
    """
    rng = np.random.default_rng(seed)
    fields = {field.name: field for field in contract.fields}
    id_field = fields[contract.record_id]
    online = sorted({feature.name for feature in manifest.online_features} & set(fields))
    # A string entity key spreads the records over a few entities; another kind of key is drawn like any field,
    # and a key that is the record id stays unique.
    key = fields.get(manifest.entity_key)
    entity = key if key is not None and key.type == "string" and key.name != contract.record_id else None
    entities = [
        {
            **({} if entity is None else {entity.name: _text(f"{entity.name}-{seed}", index, entity.max_length)}),
            **{name: _value(fields[name], rng) for name in online},
        }
        for index in range(ENTITIES)
    ]
    drawn = [field for field in _plain(contract) if field.name not in online and field is not entity]
    step = SAMPLE_DAYS / max(rows, 1)
    start = now - SAMPLE_DAYS
    records: list[dict[str, JsonValue]] = []
    for index in range(rows + bad):
        record: dict[str, JsonValue] = {
            contract.record_id: _record_id(id_field, f"{contract.dataset}-{seed}-{index:06d}"),
            contract.event_time: _timestamp(start + min(index, rows) * step),
            **entities[int(rng.integers(0, ENTITIES))],
        }
        for field in drawn:
            moment = start + float(rng.random()) * SAMPLE_DAYS
            record[field.name] = _timestamp(moment) if field.type == "timestamp" else _value(field, rng)
        records.append(record)
    if contract.label is not None:
        _label(contract, manifest, records, rng)
    kinds = broken_kinds(contract)
    keyed: list[tuple[tuple[int, int], dict[str, JsonValue]]] = [
        ((index, 1), record) for index, record in enumerate(records[:rows])
    ]
    for number, record in enumerate(records[rows:]):
        position = (number + 1) * rows // (bad + 1)
        placed = {
            **record,
            contract.record_id: _record_id(id_field, f"bad-{seed}-{number:05d}"),
            contract.event_time: _timestamp(start + position * step),
        }
        keyed.append(((position, 0), _broken(contract, placed, kinds[number % len(kinds)])))
    return [record for _, record in sorted(keyed, key=lambda pair: pair[0])]


def _record_id(field: DatasetField, record_id: str) -> str:
    if field.max_length is not None and len(record_id) > field.max_length:
        raise ConfigurationError(
            f"record id {field.name!r} allows {field.max_length} characters, too few for ids such as {record_id!r}"
        )
    return record_id


def _label(
    contract: DatasetContract, manifest: UseCaseManifest, records: list[dict[str, JsonValue]], rng: np.random.Generator
) -> None:
    """Set each record's label from a logistic ground truth over the model features, or at random when the
    features cannot be computed from the records."""
    if not records:
        return
    label = next(field for field in contract.fields if field.name == contract.label)
    inputs = [field.name for field in manifest.inputs]
    online = [feature.name for feature in manifest.online_features]
    try:
        matrix = np.array(
            [
                feature_vector(
                    manifest,
                    {name: record[name] for name in inputs if name in record},
                    merge_online(manifest, {name: record.get(name) for name in online}),
                )
                for record in records
            ]
        )
    except (ValueError, OverflowError):
        matrix = np.zeros((len(records), 0))
    spread = matrix.std(axis=0)
    informative = spread > 0
    bias = math.log(POSITIVE_SHARE / (1 - POSITIVE_SHARE))
    logits = np.full(len(records), bias)
    if informative.any():
        standard = (matrix[:, informative] - matrix[:, informative].mean(axis=0)) / spread[informative]
        score = standard @ rng.normal(0.0, 1.0, int(informative.sum()))
        if score.std() > 0:
            logits += SIGNAL * score / score.std()
    positive = rng.random(len(records)) < 1.0 / (1.0 + np.exp(-logits))
    for record, value in zip(records, positive, strict=True):
        record[label.name] = bool(value) if label.type == "boolean" else int(value)


def _broken(contract: DatasetContract, record: dict[str, JsonValue], kind: str) -> dict[str, JsonValue]:
    """The record with one fault of `kind`."""
    plain = _plain(contract)
    if kind == "missing field":
        required = [f.name for f in plain if f.required] or [contract.event_time]
        return {name: value for name, value in record.items() if name != required[0]}
    if kind == "value out of range":
        field = next(f for f in plain if _bounded(f))
        if field.maximum is not None:
            return {**record, field.name: math.floor(field.maximum) + 1}
        assert field.minimum is not None
        return {**record, field.name: math.ceil(field.minimum) - 1}
    if kind == "unknown category":
        field = next(f for f in plain if f.type == "category")
        assert field.allowed is not None
        return {**record, field.name: "-".join(["not", *field.allowed])[:64]}
    moment = datetime.fromisoformat(str(record[contract.event_time]))
    return {**record, contract.event_time: moment.replace(tzinfo=None).isoformat(timespec="seconds")}
