"""Drafting a use case from a data file: a use-case manifest and a dataset contract guessed from its columns.

`draft_use_case` takes a file's header and rows, each cell typed as `leaim ingest` types a CSV cell (a whole
number, a decimal, true or false, else text; an empty cell left out), and profiles every column: its type,
range, allowed values and whether every row fills it. It guesses the record id, the event time, the entity
key, personal data and protected attributes, suggests model features, and renders both drafts as commented
YAML for a person to confirm and edit. The drafts validate as written and the dataset feeds the use case; a
file that lacks what a contract needs is refused with a `ConfigurationError` naming what is missing.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import yaml

from contracts.dataset.v1 import DatasetContract
from contracts.manifest.v1 import Gates, Monitoring, Promotion, UseCaseManifest
from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

Cell = str | int | float | bool
FieldType = Literal["string", "number", "integer", "boolean", "category", "timestamp"]

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# A text column with at most this many values, each repeated on average, is a category.
MAX_CATEGORY_VALUES = 20
# A positive number column skewed beyond this (sample skewness) is suggested as log1p rather than identity.
SKEWED = 1.0
MAX_LENGTHS = (16, 32, 64, 128, 256, 512, 1024, 4096)
# The gates a drafted use case starts from: a version must rank well, be calibrated and treat groups alike.
DRAFT_GATES = Gates(
    min_auc=0.8, max_calibration_error=0.05, min_disparate_impact=0.8, min_group_rows=30, max_latency_p99_ms=10
)
DRAFT_THRESHOLD = 0.5
DRAFT_REVIEW_BAND = {"low": 0.3, "high": 0.5, "outcome": "review"}
DRAFT_LATENCY_BUDGET_MS = 250
DRAFT_OWNER = "unassigned"

# Name words that mark a column, split on "_".
_ID_WORDS = frozenset({"id", "uuid", "key", "ref", "number", "no"})
_PERSON_WORDS = frozenset(
    {
        "applicant", "customer", "client", "person", "user", "member", "patient", "employee", "holder",
        "cardholder", "borrower", "account", "card", "subscriber", "citizen", "buyer", "seller", "driver",
        "student", "tenant", "owner", "guest", "passenger", "beneficiary", "policyholder",
    }
)  # fmt: skip
_PII_WORDS = {
    "a person's name": frozenset({"name", "surname", "forename", "firstname", "lastname", "fullname"}),
    "an email address": frozenset({"email", "mail"}),
    "a phone number": frozenset({"phone", "mobile", "telephone", "tel", "fax"}),
    "an address": frozenset({"address", "street", "postcode", "zip", "zipcode", "postal", "addr"}),
    "a date of birth": frozenset({"dob", "birth", "birthdate", "birthday"}),
    "a government or bank identifier": frozenset({"ssn", "passport", "iban", "nino", "licence", "license"}),
    "an IP address": frozenset({"ip"}),
}
_PROTECTED_WORDS = frozenset(
    {
        "age", "gender", "sex", "race", "ethnicity", "ethnic", "religion", "religious", "nationality",
        "marital", "disability", "disabled", "pregnancy", "pregnant", "orientation", "citizenship", "caste",
    }
)  # fmt: skip
_EVENT_TIME_WORDS = frozenset({"at", "time", "timestamp", "date", "datetime", "when", "occurred", "created"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """What a file's column holds: its type, how many rows fill it, its values' range and distinct values."""

    name: str
    type: FieldType
    filled: int
    rows: int
    distinct: int
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None
    most_common: str | None = None
    longest: int = 0
    skewness: float | None = None
    offsetless_times: bool = False
    emails: bool = False

    @property
    def required(self) -> bool:
        """Every row fills it."""
        return self.filled == self.rows

    @property
    def unique(self) -> bool:
        """Every row fills it with a value no other row has."""
        return self.required and self.distinct == self.rows

    @property
    def words(self) -> frozenset[str]:
        """The words of the column's name."""
        return frozenset(self.name.split("_"))


@dataclass(frozen=True, slots=True)
class Draft:
    """A drafted manifest and dataset contract, their YAML text, and what was guessed and must be confirmed."""

    manifest: UseCaseManifest
    dataset: DatasetContract
    manifest_yaml: str
    dataset_yaml: str
    guessed: list[str]
    to_confirm: list[str]


@dataclass(slots=True)
class _Column:
    """A column as the drafts declare it: its profile and what was guessed about it."""

    profile: ColumnProfile
    pii: str | None = None
    pii_action: Literal["tokenize", "drop"] | None = None
    protected: bool = False
    notes: list[str] = field(default_factory=list)


def profile_columns(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> list[ColumnProfile]:
    """Profile each of `columns` over `rows`; a missing or None cell is an empty one.

    Raises `ConfigurationError` for a column mixing kinds of values (text and numbers, say), which no field type
    accepts, and for a file with no rows.
    """
    values: dict[str, list[Cell]] = {name: [] for name in columns}
    count = 0
    for row in rows:
        count += 1
        for name in columns:
            cell = row.get(name)
            if isinstance(cell, str | int | float | bool) and cell != "":
                values[name].append(cell)
    if count == 0:
        raise ConfigurationError("the file has a header but no rows")
    return [_profile(name, values[name], count) for name in columns]


def _profile(name: str, cells: list[Cell], rows: int) -> ColumnProfile:
    kinds = {_kind(cell) for cell in cells}
    distinct = len(set(cells))
    if not cells:
        return ColumnProfile(name, "string", 0, rows, 0)
    if kinds == {"boolean"}:
        return ColumnProfile(name, "boolean", len(cells), rows, distinct)
    if kinds == {"integer"}:
        whole = [int(cell) for cell in cells]
        skewness = _skewness([float(cell) for cell in whole])
        return ColumnProfile(name, "integer", len(cells), rows, distinct, min(whole), max(whole), skewness=skewness)
    if kinds <= {"integer", "number"}:
        numbers = [float(cell) for cell in cells]
        skewness = _skewness(numbers)
        return ColumnProfile(name, "number", len(cells), rows, distinct, min(numbers), max(numbers), skewness=skewness)
    if kinds != {"text"}:
        shown = " and ".join(sorted(kinds))
        raise ConfigurationError(
            f"column {name!r} mixes {shown} values: a field holds one kind, so make the column's cells alike"
        )
    texts = [str(cell) for cell in cells]
    longest = max(len(text) for text in texts)
    times = [_time(text) for text in texts]
    if all(moment is not None and moment.tzinfo is not None for moment in times):
        return ColumnProfile(name, "timestamp", len(cells), rows, distinct, longest=longest)
    if all(moment is not None for moment in times):
        return ColumnProfile(name, "string", len(cells), rows, distinct, longest=longest, offsetless_times=True)
    counts = Counter(texts)
    # Identifiers repeat (a customer orders again) but are never a category: their values are open-ended.
    identifier = bool(set(name.split("_")) & _ID_WORDS)
    if distinct <= MAX_CATEGORY_VALUES and distinct * 2 <= len(texts) and not identifier:
        return ColumnProfile(
            name,
            "category",
            len(cells),
            rows,
            distinct,
            allowed=tuple(sorted(counts)),
            most_common=counts.most_common(1)[0][0],
            longest=longest,
        )
    emails = all(_EMAIL.match(text) for text in texts)
    return ColumnProfile(name, "string", len(cells), rows, distinct, longest=longest, emails=emails)


def _kind(cell: Cell) -> str:
    if isinstance(cell, bool):
        return "boolean"
    if isinstance(cell, int):
        return "integer"
    if isinstance(cell, float):
        return "number"
    return "text"


def _time(text: str) -> datetime | None:
    # Only text with a date and a time of day counts: a bare "2026-11-23" or "12:00" is not an event time.
    if len(text) < 16 or text[10] not in "Tt ":
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _skewness(numbers: list[float]) -> float | None:
    mean = sum(numbers) / len(numbers)
    second = sum((x - mean) ** 2 for x in numbers) / len(numbers)
    if second == 0.0:
        return None
    third = sum((x - mean) ** 3 for x in numbers) / len(numbers)
    return third / (second * math.sqrt(second))


def draft_use_case(
    columns: Sequence[str],
    rows: Iterable[Mapping[str, object]],
    *,
    target: str,
    name: str,
    dataset: str,
    source: str,
) -> Draft:
    """Draft the use case `name` and the dataset contract `dataset` v1 from a file's `columns` and `rows`.

    `target` is the label column (boolean, or whole numbers 0 and 1); `source` names the file in the drafts'
    comments. Raises `ConfigurationError` naming what the file lacks: a column name that is no field name, the
    target, a timestamp column for the event time, a unique text column for the record id, a feature.
    """
    for what, value in (("use case name", name), ("dataset name", dataset)):
        if not NAME.match(value):
            raise ConfigurationError(
                f"{what} {value!r} must be lowercase letters, digits and _, starting with a letter"
            )
    problems = [column for column in columns if not NAME.match(column)]
    if problems:
        raise ConfigurationError(
            f"column {problems[0]!r} is not a field name (lowercase letters, digits and _, starting with a letter): "
            "rename it in the file's header"
        )
    repeated = [column for column, times in Counter(columns).items() if times > 1]
    if repeated:
        raise ConfigurationError(f"column {repeated[0]!r} appears twice in the header")
    if target not in columns:
        raise ConfigurationError(f"no column {target!r} to be the label; the columns are {', '.join(columns)}")
    profiles = profile_columns(columns, rows)
    by_name = {profile.name: _Column(profile) for profile in profiles}
    _check_label(by_name[target].profile)
    for column in by_name.values():
        if column.profile.name != target:
            _guess_marks(column)
    event_time = _event_time(profiles, target)
    record_id = _record_id(by_name, target)
    entity_key = _entity_key(by_name, record_id, target)
    if by_name[entity_key].pii is not None:
        by_name[entity_key].pii_action = "tokenize"
    features, feature_notes = _features(by_name, {record_id, entity_key, event_time, target})
    if not features:
        raise ConfigurationError(
            "no column can be a model feature: a feature needs a number, boolean or category column that is not the "
            "label, the record id, the entity key, personal data or a protected attribute"
        )
    plan = _Plan(name, dataset, source, target, record_id, event_time, entity_key, list(by_name.values()))
    manifest_yaml = _manifest_yaml(plan, features, feature_notes)
    dataset_yaml = _dataset_yaml(plan)
    manifest = UseCaseManifest.model_validate(yaml.safe_load(manifest_yaml))
    contract = DatasetContract.model_validate(yaml.safe_load(dataset_yaml))
    return Draft(manifest, contract, manifest_yaml, dataset_yaml, _guessed(plan, features), _to_confirm(plan))


def _check_label(label: ColumnProfile) -> None:
    values = {label.minimum, label.maximum}
    if label.type == "boolean":
        if label.distinct < 2:
            raise ConfigurationError(f"target {label.name!r} holds only one value: a label needs both true and false")
        return
    wanted = "a label must be true/false or the whole numbers 0 and 1"
    if label.type == "integer" and not values <= {0, 1}:
        raise ConfigurationError(f"target {label.name!r} holds whole numbers other than 0 and 1: {wanted}")
    if label.type != "integer":
        raise ConfigurationError(f"target {label.name!r} holds {label.type} values: {wanted}")
    if label.distinct < 2:
        raise ConfigurationError(f"target {label.name!r} holds only one value: a label needs both 0 and 1")


def _guess_marks(column: _Column) -> None:
    """Mark a column as personal data or a protected attribute by the words of its name, its type and its values."""
    profile = column.profile
    words = profile.words
    if words & _PROTECTED_WORDS:
        column.protected = True
    person_id = bool(words & _PERSON_WORDS) and bool(words & _ID_WORDS) and profile.type in ("string", "category")
    for kind, marks in _PII_WORDS.items():
        # A name word marks a person's name only in a column of many values: `purpose_name` with five is a category.
        if words & marks and (kind != "a person's name" or profile.type == "string"):
            column.pii = kind
            break
    else:
        if person_id:
            column.pii = "an id of a person"
        elif profile.emails:
            column.pii = "an email address"
    if column.pii is not None:
        column.pii_action = "tokenize" if column.pii == "an id of a person" else "drop"


def _event_time(profiles: list[ColumnProfile], target: str) -> str:
    times = [p for p in profiles if p.type == "timestamp" and p.required and p.name != target]
    if not times:
        offsetless = [p.name for p in profiles if p.offsetless_times]
        hint = f" ({', '.join(offsetless)} holds times without an offset)" if offsetless else ""
        raise ConfigurationError(
            "no column of ISO 8601 times with a UTC offset in every row (e.g. 2026-11-23T10:15:00Z) to be the event "
            f"time{hint}"
        )
    return min(times, key=lambda p: (p.name != "event_time", not p.words & _EVENT_TIME_WORDS)).name


def _record_id(columns: dict[str, _Column], target: str) -> str:
    candidates = [
        c for c in columns.values() if c.profile.type == "string" and c.profile.unique and c.profile.name != target
    ]
    # A record id is stored as it is: prefer a column that is not personal data, then one named like an id.
    ordered = sorted(
        candidates,
        key=lambda c: (c.pii not in (None, "an id of a person"), c.pii is not None, not c.profile.words & _ID_WORDS),
    )
    if not ordered or ordered[0].pii not in (None, "an id of a person"):
        raise ConfigurationError(
            "no column of text values that are unique and in every row to be the record id (e.g. application_id); "
            "a column of whole numbers is read as numbers, so give its values a prefix (app-1, app-2)"
        )
    chosen = ordered[0]
    if chosen.pii is not None:
        chosen.notes.append(
            f"it looks like {chosen.pii} but is the only unique column, so it is the record id, stored as it is: "
            "add a column that identifies the record instead if it identifies a person"
        )
        chosen.pii = chosen.pii_action = None
    return chosen.profile.name


def _entity_key(columns: dict[str, _Column], record_id: str, target: str) -> str:
    candidates = [
        c
        for c in columns.values()
        if c.profile.type == "string"
        and c.profile.required
        and c.profile.words & _ID_WORDS
        and c.profile.name not in (record_id, target)
        and c.pii in (None, "an id of a person")
    ]
    if not candidates:
        return record_id
    return min(candidates, key=lambda c: (c.pii is None, c.profile.distinct)).profile.name


@dataclass(frozen=True, slots=True)
class _Feature:
    name: str
    transform: Literal["identity", "log1p", "indicator"]
    source: str
    equals: str | bool | None = None


def _features(columns: dict[str, _Column], roles: set[str]) -> tuple[list[_Feature], dict[str, str]]:
    """Suggested features and, by feature name, why each was chosen."""
    features: list[_Feature] = []
    notes: dict[str, str] = {}
    for column in columns.values():
        profile = column.profile
        if profile.name in roles or column.pii is not None or column.protected:
            continue
        if profile.type == "boolean":
            features.append(_Feature(profile.name, "indicator", profile.name, equals=True))
            notes[profile.name] = f"1 when {profile.name} is true"
        elif profile.type in ("integer", "number") and profile.skewness is not None:
            if profile.minimum is not None and profile.minimum >= 0 and profile.skewness > SKEWED:
                feature = _Feature(f"log_{profile.name}"[:63], "log1p", profile.name)
                notes[feature.name] = f"log1p: {profile.name} is positive and skewed ({profile.skewness:.1f})"
            else:
                feature = _Feature(profile.name, "identity", profile.name)
            features.append(feature)
        elif profile.type in ("integer", "number"):
            column.notes.append("it holds one value only, so it is no feature")
        elif profile.type == "category" and profile.allowed is not None and len(profile.allowed) > 1:
            reference = profile.most_common
            indicators = [
                _Feature(f"{profile.name}_{_slug(value)}"[:63], "indicator", profile.name, equals=value)
                for value in profile.allowed
                if value != reference
            ]
            if indicators:
                notes[indicators[0].name] = (
                    f"one indicator per value of {profile.name} but its most common, {reference}"
                )
            features += indicators
    return _unique_names(features), notes


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_") or "value"


def _unique_names(features: list[_Feature]) -> list[_Feature]:
    seen: set[str] = set()
    result = []
    for feature in features:
        name, number = feature.name, 2
        while name in seen:
            suffix = f"_{number}"
            name, number = feature.name[: 63 - len(suffix)] + suffix, number + 1
        seen.add(name)
        result.append(_Feature(name, feature.transform, feature.source, feature.equals))
    return result


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything both drafts are written from."""

    name: str
    dataset: str
    source: str
    target: str
    record_id: str
    event_time: str
    entity_key: str
    columns: list[_Column]

    @property
    def model_name(self) -> str:
        """The model's name: the use case's, with hyphens."""
        return self.name.replace("_", "-")

    @property
    def rows(self) -> int:
        """Rows of the file."""
        return self.columns[0].profile.rows


def _flow(value: object) -> str:
    """`value` as YAML in flow style, safe inside a flow collection."""
    text = yaml.safe_dump([value], default_flow_style=True, sort_keys=False, width=1_000_000).strip()
    return text[1:-1]


def _entry(mapping: dict[str, object], comments: list[str], indent: str = "  ") -> list[str]:
    """A list entry: its comment lines, then the mapping on one line, or key by key when that line is long."""
    lines = [f"{indent}# {comment}" for comment in comments]
    line = f"{indent}- {_flow(mapping)}"
    if len(line) <= 120:
        return [*lines, line]
    keys = list(mapping)
    lines.append(f"{indent}- {keys[0]}: {_flow(mapping[keys[0]])}")
    lines += [f"{indent}  {key}: {_flow(mapping[key])}" for key in keys[1:]]
    return lines


def _block(key: str, mapping: dict[str, object]) -> list[str]:
    return [f"{key}:", *(f"  {name}: {_flow(value)}" for name, value in mapping.items())]


def _comment(text: str) -> list[str]:
    """`text` as comment lines of at most 120 characters."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= 120:
            lines[-1] += f" {word}"
        else:
            lines.append(f"# {word}")
    return lines


def _numbers(profile: ColumnProfile) -> dict[str, object]:
    if profile.type not in ("integer", "number") or profile.minimum is None or profile.maximum is None:
        return {}
    if profile.type == "integer":
        return {"minimum": int(profile.minimum), "maximum": int(profile.maximum)}
    return {"minimum": float(profile.minimum), "maximum": float(profile.maximum)}


def _max_length(profile: ColumnProfile) -> dict[str, object]:
    if profile.type != "string":
        return {}
    # Room for values twice as long as the longest seen.
    fitting = [length for length in MAX_LENGTHS if length >= 2 * profile.longest]
    return {"max_length": fitting[0]} if fitting else {}


def _marks(column: _Column, *, stored: bool) -> list[str]:
    """The confirmations a column's entry carries: in the dataset contract when `stored`, else in the manifest."""
    comments = []
    if column.pii is not None:
        action = "tokenized with a keyed HMAC"
        if stored and column.pii_action == "drop":
            action = "dropped"
        comments.append(f"confirm: personal data ({column.pii}), {action} before anything is stored")
    if column.protected:
        comments.append("confirm: protected attribute, kept for bias monitoring and never a model feature")
        if column.profile.type in ("integer", "number"):
            comments.append("bias is measured per value: band it into a category (18-25, 26-40, ...)")
    comments += [f"note: {note}" for note in column.notes]
    return comments


def _manifest_yaml(plan: _Plan, features: list[_Feature], notes: dict[str, str]) -> str:
    lines = [
        *_comment(
            f"Use case {plan.name}, drafted by `leaim use-case draft` from {plan.source} ({plan.rows} rows) for a "
            "person to confirm and edit: comments marked confirm are guesses. Check the edited file with "
            "`leaim use-case validate`."
        ),
        "schema_version: manifest.v1",
        f"name: {plan.name}",
        f"description: {_flow(f'Decide on each {plan.dataset} record by its risk of {plan.target}.')}",
        "# confirm: the team accountable for this decision",
        f"owner: {DRAFT_OWNER}",
        "# The input whose value keys the online features and the sticky canary split.",
        f"entity_key: {plan.entity_key}",
        f"latency_budget_ms: {DRAFT_LATENCY_BUDGET_MS}",
        *_comment(
            "What a caller sends. minimum and maximum are the values seen in the data: widen them to what is valid, "
            "or live values beyond them are refused. allowed lists the values seen."
        ),
        "inputs:",
    ]
    for column in plan.columns:
        profile = column.profile
        if profile.name in (plan.target, plan.event_time) or profile.type == "timestamp":
            continue
        entry: dict[str, object] = {"name": profile.name, "type": profile.type}
        if not profile.required:
            entry["required"] = False
        entry |= _numbers(profile) | _max_length(profile)
        if profile.allowed is not None:
            entry["allowed"] = list(profile.allowed)
        if column.pii is not None:
            entry["pii"] = True
        if column.protected:
            entry["protected"] = True
        lines += _entry(entry, _marks(column, stored=False))
    lines += [
        *_comment(
            "Model features, each one shared transform of an input: identity, log1p, indicator, and also ratio, "
            "mismatch and in_range. None reads the label, personal data or a protected attribute."
        ),
        "features:",
    ]
    for feature in features:
        entry = {"name": feature.name, "transform": feature.transform, "source": feature.source}
        if feature.equals is not None:
            entry["equals"] = feature.equals
        lines += _entry(entry, [notes[feature.name]] if feature.name in notes else [])
    lines += [
        "model:",
        f"  name: {plan.model_name}",
        "  family: logistic_regression",
        f"  target: {plan.target}",
        "  params: {C: 1.0, max_iter: 200}",
        "  # Retrain on a fresh snapshot each time the retraining schedule runs, then judge the successor in shadow.",
        "  scheduled_retraining: false",
        *_comment(
            "confirm: how a score becomes an outcome. Rules are checked first, and the first whose conditions all "
            "hold decides, e.g. {name: amount_over_limit, when: [{field: amount, op: gt, value: 100000}], outcome: "
            "review, reason: ...}. Scores at or above the threshold get positive_outcome, the others "
            "negative_outcome (the favorable one), and scores in [low, high) of the review band go to a person."
        ),
        "decision:",
        "  outcomes: [approved, declined, review]",
        f"  threshold: {DRAFT_THRESHOLD}",
        "  positive_outcome: declined",
        "  negative_outcome: approved",
        f"  review_band: {_flow(DRAFT_REVIEW_BAND)}",
        "  rules: []",
        "# confirm: what callers get when the model path fails (timeout, open circuit, worker error).",
        "fallback:",
        "  outcome: review",
        f"  reason: {_flow('The model could not answer in time; a person reviews the case.')}",
        *_comment(
            "A trained version serves traffic only if it passes these on its held-out split (precision and recall "
            "at the threshold; disparate impact over each protected attribute, among groups of min_group_rows)."
        ),
        *_block("gates", DRAFT_GATES.model_dump()),
        "# The promotion controller judges a challenger on its recent traffic against the champion.",
        *_block("promotion", Promotion().model_dump()),
        *_comment(
            "The drift and bias monitor compares the live decisions of the last window_hours with each live "
            "version's training baseline; drift requests a retraining when retrain_on_drift is true."
        ),
        *_block("monitoring", Monitoring().model_dump(exclude_none=True)),
    ]
    return "\n".join(lines) + "\n"


def _dataset_yaml(plan: _Plan) -> str:
    lines = [
        *_comment(
            f"Dataset {plan.dataset} v1, drafted by `leaim use-case draft` from {plan.source} ({plan.rows} rows) for "
            f"a person to confirm and edit: comments marked confirm are guesses. Feeds the use case {plan.name}: "
            "its training data and the online features of each entity."
        ),
        "schema_version: dataset.v1",
        f"dataset: {plan.dataset}",
        "version: v1",
        f"description: {_flow(f'Records of {plan.source}, drafted for the use case {plan.name}.')}",
        "# confirm: the team that produces these records",
        f"owner: {DRAFT_OWNER}",
        "# A record delivered twice is stored once: its id is unique in the file.",
        f"record_id: {plan.record_id}",
        "# When the event happened: partitions the store and orders the online features.",
        f"event_time: {plan.event_time}",
        f"use_case: {plan.name}",
        f"label: {plan.target}",
        *_comment(
            "Every column of the file, so that each of its rows is accepted. minimum and maximum are the values "
            "seen: widen them to what is valid. pii: tokenize keeps a keyed token, pii: drop keeps nothing."
        ),
        "fields:",
    ]
    for column in plan.columns:
        profile = column.profile
        is_label = profile.name == plan.target
        entry: dict[str, object] = {"name": profile.name, "type": profile.type}
        # A label is often known only later than its record: records arrive without it, and are labeled later.
        if not profile.required or is_label:
            entry["required"] = False
        entry |= _numbers(profile) | _max_length(profile)
        if profile.allowed is not None:
            entry["allowed"] = list(profile.allowed)
        if column.pii_action is not None:
            entry["pii"] = column.pii_action
        if column.protected:
            entry["description"] = "Protected attribute, kept for bias monitoring only"
        if is_label:
            entry["description"] = "The training label; may arrive after its record"
        lines += _entry(entry, [] if is_label else _marks(column, stored=True))
    return "\n".join(lines) + "\n"


def _guessed(plan: _Plan, features: list[_Feature]) -> list[str]:
    profiles = {column.profile.name: column.profile for column in plan.columns}
    label = profiles[plan.target]
    kinds = Counter(column.profile.type for column in plan.columns)
    return [
        f"columns: {', '.join(f'{count} {kind}' for kind, count in sorted(kinds.items()))}, over {plan.rows} rows",
        f"record id: {plan.record_id} (text, unique in every row)",
        f"event time: {plan.event_time} (ISO 8601 times with an offset)",
        f"entity key: {plan.entity_key}",
        f"label: {plan.target} ({label.type}, {label.filled} of {plan.rows} rows labeled)",
        f"features: {len(features)} ({', '.join(feature.name for feature in features)})",
    ]


def _to_confirm(plan: _Plan) -> list[str]:
    confirm = [
        f"{column.profile.name}: {mark.removeprefix('confirm: ').removeprefix('note: ')}"
        for column in plan.columns
        for mark in _marks(column, stored=True)
    ]
    if not any(column.protected for column in plan.columns):
        confirm.append("no protected attribute was recognised: mark one (protected: true) for the bias gate")
    confirm.append(
        f"owner, description, decision (threshold {DRAFT_THRESHOLD}, review band, rules), fallback and gates are "
        "defaults: set them"
    )
    return confirm


def feed_problem_paths(problems: list[str], contract: DatasetContract) -> list[str]:
    """Each of `feed_problems`' messages about `contract`, led by the path of the field at fault.

    A message naming one of the contract's fields points at it (at its `type`, `allowed` or `pii`, by what is
    wrong); one about a missing field points at `fields`, one about the use case at `use_case`.
    """
    positions = {spec.name: index for index, spec in enumerate(contract.fields)}
    located = []
    for problem in problems:
        path = "fields"
        if "feeds unknown use case" in problem:
            path = "use_case"
        else:
            named = re.search(r"(?:field|drops) '([^']+)'", problem)
            if named and named.group(1) in positions:
                path = f"fields.{positions[named.group(1)]}"
                for clue, key in (("is a ", "type"), ("allows values", "allowed"), ("PII", "pii"), ("drops", "pii")):
                    if clue in problem:
                        path += f".{key}"
                        break
        located.append(f"{path}: {problem}")
    return located
