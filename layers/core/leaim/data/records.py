"""One record, checked against its dataset contract, minimized, and turned into stored values and features.

The features come from `leaim.data.features.feature_vector`, the function the decision path calls on a
live request: a record yields the same numbers when it is ingested as when it is served.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from contracts.error.v1 import FieldError
from leaim.data.features import feature_vector, merge_online
from leaim.data.parquet import ColumnSpec
from leaim.data.privacy import entity_id, token
from leaim.data.validation import is_text, validate_fields
from leaim.domain.clock import SystemClock
from leaim.exceptions import SnapshotFormatError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from contracts.dataset.v1 import DatasetContract
    from contracts.ingest.v1 import SnapshotManifest
    from contracts.manifest.v1 import UseCaseManifest
    from leaim.data.parquet import ColumnKind, ParquetTable
    from leaim.data.validation import FieldValue
    from leaim.domain.clock import Clock

# Columns every stored row carries besides its contract's fields. Field names cannot start with "_".
INGESTED_AT = "_ingested_at"
CONTRACT_VERSION = "_contract_version"
SOURCE = "_source"
FEATURE_VERSION = "_feature_version"
FEATURE_PREFIX = "_feature_"
# Field problems a record's reason and report list; a record with more says how many more.
MAX_FIELD_ERRORS = 20
# Event times may run this far ahead of the ingesting clock (producers' clocks drift), and no earlier than this.
MAX_CLOCK_SKEW = timedelta(days=1)
EARLIEST_EVENT = datetime(1970, 1, 1, tzinfo=UTC)
_KINDS: dict[str, ColumnKind] = {
    "string": "string",
    "category": "string",
    "number": "double",
    "integer": "int64",
    "boolean": "boolean",
    "timestamp": "timestamp",
}


@dataclass(frozen=True, slots=True)
class PreparedRecord:
    """A valid record as it will be stored: minimized values, model features and online features."""

    record_id: str
    event_time: datetime
    contract_version: str
    values: dict[str, FieldValue]
    features: tuple[float, ...]
    entity: str
    online: dict[str, str | int | float]
    digest: str


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """Why a record was refused, with the offending fields."""

    reason: str
    fields: list[FieldError]
    record_id: str | None = None


def feature_version(manifest: UseCaseManifest) -> str:
    """A digest of the use case's feature definitions: it changes whenever the features would."""
    definitions = {
        "features": [feature.model_dump(mode="json") for feature in manifest.features],
        "online": [feature.model_dump(mode="json") for feature in manifest.online_features],
    }
    return "fv-" + hashlib.sha256(json.dumps(definitions, sort_keys=True).encode()).hexdigest()[:12]


def feature_column(name: str) -> str:
    """The stored column holding model feature `name`."""
    return f"{FEATURE_PREFIX}{name}"


def stored_columns(contract: DatasetContract, manifest: UseCaseManifest) -> list[ColumnSpec]:
    """Columns of the offline store for a dataset: give the newest contract, whose fields include all older ones."""
    kept = [ColumnSpec(f.name, _KINDS[f.type], required=f.required) for f in contract.fields if f.pii != "drop"]
    meta = [
        ColumnSpec(INGESTED_AT, "timestamp", required=True),
        ColumnSpec(CONTRACT_VERSION, "string", required=True),
        ColumnSpec(SOURCE, "string", required=True),
        ColumnSpec(FEATURE_VERSION, "string", required=True),
    ]
    features = [ColumnSpec(feature_column(name), "double", required=True) for name in manifest.feature_names]
    return [*kept, *meta, *features]


def _canonical(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a stored value")


class RecordPreparer:
    """Checks, minimizes and featurizes records of one contract version."""

    def __init__(
        self, contract: DatasetContract, manifest: UseCaseManifest, pii_key: bytes, clock: Clock | None = None
    ) -> None:
        """Prepare records of `contract`, featurized for `manifest`, PII tokenized with `pii_key`.

        `clock` (the system clock by default) bounds event times: none may lie more than a day ahead.
        """
        self.contract = contract
        self._clock = clock or SystemClock()
        self._manifest = manifest
        self._key = pii_key
        self._tokenized = {f.name for f in contract.fields if f.pii == "tokenize"}
        self._dropped = {f.name for f in contract.fields if f.pii == "drop"}
        self._inputs = [field.name for field in manifest.inputs]
        self._online = [feature.name for feature in manifest.online_features]
        self._unknown = f"a field of {contract.dataset} {contract.version}"
        self._entity = manifest.entity_key

    def _event_time_errors(self, moment: object) -> list[FieldError]:
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        field = f"record.{self.contract.event_time}"
        return [FieldError(field=field, message=m, type="out_of_range") for m in _event_time_problems(moment, now)]

    def prepare(self, payload: object) -> PreparedRecord | RecordProblem:
        """The stored form of `payload`, or every problem with it."""
        if not isinstance(payload, dict):
            kind = "array" if isinstance(payload, list) else type(payload).__name__
            return RecordProblem(
                "record is not a JSON object", [FieldError(field="record", message=f"is {kind}", type="type_error")]
            )
        contract = self.contract
        record_id = payload.get(contract.record_id)
        shown_id = record_id if isinstance(record_id, str) and len(record_id) <= 256 and is_text(record_id) else None
        cleaned, errors = validate_fields(contract.fields, payload, prefix="record.", unknown=self._unknown)
        errors += self._event_time_errors(cleaned.get(contract.event_time))
        if errors:
            # A record can hold any number of unknown fields: the reason names the first few.
            problems = "; ".join(f"{error.field} {error.message}" for error in errors[:MAX_FIELD_ERRORS])
            more = f"; and {len(errors) - MAX_FIELD_ERRORS} more" if len(errors) > MAX_FIELD_ERRORS else ""
            return RecordProblem(
                f"record does not match {contract.dataset} {contract.version}: {problems}{more}",
                errors[:MAX_FIELD_ERRORS],
                shown_id,
            )
        inputs = {name: cleaned[name] for name in self._inputs if name in cleaned}
        online = merge_online(self._manifest, {name: cleaned[name] for name in self._online if name in cleaned})
        try:
            features = feature_vector(self._manifest, inputs, online)
        except (ValueError, OverflowError) as error:
            problem = FieldError(field="record", message=str(error), type="feature_error")
            return RecordProblem(f"features could not be computed: {error}", [problem], shown_id)
        values = {
            name: token(self._key, name, value) if name in self._tokenized else value
            for name, value in cleaned.items()
            if name not in self._dropped
        }
        canonical = json.dumps(values, sort_keys=True, default=_canonical)
        event_time = cleaned[contract.event_time]
        assert isinstance(event_time, datetime)
        return PreparedRecord(
            record_id=str(cleaned[contract.record_id]),
            event_time=event_time,
            contract_version=contract.version,
            values=values,
            features=tuple(features),
            # A tokenized entity key already holds the token the online store is keyed by.
            entity=str(values[self._entity])
            if self._entity in self._tokenized
            else entity_id(self._manifest, inputs, self._key),
            online={name: online[name] for name in self._online},
            digest=hashlib.sha256(canonical.encode()).hexdigest(),
        )


def _event_time_problems(moment: object, now: datetime) -> list[str]:
    if not isinstance(moment, datetime):
        return []
    if moment > now + MAX_CLOCK_SKEW:
        # A future event time would win every later update of the online store.
        return [f"is more than {MAX_CLOCK_SKEW.days} day ahead of the time of ingestion"]
    if moment < EARLIEST_EVENT:
        return [f"is before {EARLIEST_EVENT.date().isoformat()}"]
    return []


def column_data(
    columns: Sequence[ColumnSpec],
    records: Sequence[PreparedRecord],
    *,
    manifest: UseCaseManifest,
    source: str,
    ingested_at: datetime,
) -> dict[str, list[object | None]]:
    """`records` laid out by column, as the offline store holds them."""
    version = feature_version(manifest)
    data: dict[str, list[object | None]] = {}
    meta: dict[str, object] = {INGESTED_AT: ingested_at, SOURCE: source, FEATURE_VERSION: version}
    positions = {feature_column(name): index for index, name in enumerate(manifest.feature_names)}
    for column in columns:
        name = column.name
        if name in positions:
            index = positions[name]
            data[name] = [record.features[index] for record in records]
        elif name == CONTRACT_VERSION:
            data[name] = [record.contract_version for record in records]
        elif name in meta:
            data[name] = [meta[name]] * len(records)
        else:
            data[name] = [record.values.get(name) for record in records]
    return data


def training_matrix(
    manifest: UseCaseManifest, snapshot: SnapshotManifest, table: ParquetTable
) -> tuple[list[list[float]], list[int]]:
    """Feature rows and labels of a snapshot's labeled records, in the manifest's feature order.

    Raises `SnapshotFormatError` when the snapshot's features were computed by other definitions than the
    manifest's, or when it has no label.
    """
    expected = feature_version(manifest)
    if snapshot.feature_version != expected:
        raise SnapshotFormatError(
            f"snapshot {snapshot.snapshot_id} holds features {snapshot.feature_version}, "
            f"but {manifest.name} now computes {expected}: cut a new snapshot"
        )
    if snapshot.label is None or snapshot.label not in table.data:
        raise SnapshotFormatError(f"snapshot {snapshot.snapshot_id} has no label column")
    labels = table.data[snapshot.label]
    columns = [table.data[feature_column(name)] for name in manifest.feature_names]
    rows: list[list[float]] = []
    targets: list[int] = []
    for index, label in enumerate(labels):
        if label is None:
            continue
        rows.append([float(column[index]) for column in columns])  # type: ignore[arg-type]
        targets.append(int(label))  # type: ignore[call-overload]
    return rows, targets


def protected_groups(
    manifest: UseCaseManifest, snapshot: SnapshotManifest, table: ParquetTable
) -> dict[str, list[str | None]]:
    """Values of the manifest's protected attributes for the rows `training_matrix` returns, in the same order.

    Only attributes the snapshot holds are returned: bias is measured on them, the model never sees them.
    """
    if snapshot.label is None or snapshot.label not in table.data:
        raise SnapshotFormatError(f"snapshot {snapshot.snapshot_id} has no label column")
    labeled = [index for index, label in enumerate(table.data[snapshot.label]) if label is not None]
    groups: dict[str, list[str | None]] = {}
    for field in manifest.inputs:
        if field.protected and field.name in table.data:
            column = table.data[field.name]
            groups[field.name] = [None if column[index] is None else str(column[index]) for index in labeled]
    return groups


def partition_day(moment: datetime) -> str:
    """The `YYYY-MM-DD` partition of an event time (UTC)."""
    return moment.astimezone(UTC).date().isoformat()
