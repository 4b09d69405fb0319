"""Dataset contract, version 1: the fields of one version of an ingested dataset, written as YAML.

A dataset version is one YAML file in `contracts/datasets/` (`transactions.v2.yaml`). Versions of a
dataset evolve additively: a later version keeps every field of the earlier ones unchanged and only adds
optional fields, so every version stays accepted while producers migrate.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from contracts._base import Contract

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Version = Annotated[str, StringConstraints(pattern=r"^v[1-9][0-9]{0,3}$")]


class DatasetField(Contract):
    """One field of a record, with its type, its range and what minimization does to it."""

    name: Name
    type: Literal["string", "number", "integer", "boolean", "category", "timestamp"]
    required: bool = True
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = Field(default=None, ge=1)
    allowed: list[str] | None = Field(default=None, description="Allowed values of a category field.")
    pii: Literal["tokenize", "drop"] | None = Field(
        default=None, description="Personal data: replaced by a keyed token, or dropped, before anything is stored."
    )

    @model_validator(mode="after")
    def _consistent(self) -> DatasetField:
        if self.type == "category" and not self.allowed:
            raise ValueError(f"category field {self.name!r} needs 'allowed' values")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"field {self.name!r}: minimum is above maximum")
        if self.pii == "tokenize" and self.type not in ("string", "category"):
            raise ValueError(f"field {self.name!r}: only string and category fields can be tokenized")
        return self


class DatasetContract(Contract):
    """One version of a dataset: its fields, its record id and event time, and the use case it feeds."""

    schema_version: Literal["dataset.v1"] = "dataset.v1"
    dataset: Name
    version: Version
    description: str
    owner: str
    record_id: str = Field(description="Field that identifies a record: a record delivered twice is stored once.")
    event_time: str = Field(description="Timestamp field saying when the event happened; partitions the store.")
    use_case: Name = Field(description="Use case whose features are computed and whose online store is fed.")
    label: str | None = Field(default=None, description="Boolean or 0/1 integer field holding the training label.")
    fields: list[DatasetField] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_resolve(self) -> DatasetContract:
        fields = {field.name: field for field in self.fields}
        problems: list[str] = []
        if len(fields) != len(self.fields):
            problems.append("field names must be unique")
        record_id = fields.get(self.record_id)
        if record_id is None or not record_id.required or record_id.type != "string" or record_id.pii:
            problems.append(f"record_id {self.record_id!r} must be a required string field that is not PII")
        event_time = fields.get(self.event_time)
        if event_time is None or not event_time.required or event_time.type != "timestamp" or event_time.pii:
            problems.append(f"event_time {self.event_time!r} must be a required timestamp field")
        if self.label is not None:
            label = fields.get(self.label)
            if label is None or label.type not in ("boolean", "integer") or label.pii:
                problems.append(f"label {self.label!r} must be a boolean or integer field")
        if problems:
            raise ValueError("; ".join(problems))
        return self
