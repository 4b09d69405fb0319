"""Feature-level access: every read masks the values of fields marked `pii` or `protected`, unless the caller's role
is granted that class of field (`FIELD_GRANTS` in the access policy).

A use case manifest marks its inputs (`pii: true`, `protected: true`). A dataset contract marks its PII fields
(`pii: tokenize` or `drop`) and shares the marks of the use case it feeds: a field of the same name is marked as
that input is. A model feature computed from a marked input is marked as that input: its value tells what the
input was (an indicator on a card number, a mismatch of two personal fields).

A masked value reads `MASK` whatever it was: a clear value, a token or a number. So a reader learns neither the
value nor whether two records share it. A null stays null: there is no value to hide. `FieldMarks.hidden` is the
one rule of who sees what, `mask` the one function that applies it to a document; the functions below it apply
`mask` to each kind of document a read returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leaim.governance.access.policy import FieldClass, sees_field

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from contracts.dataset.v1 import DatasetContract
    from contracts.decision.v1 import DecisionResponse, Reason
    from contracts.governance.v1 import Explanation, Review
    from contracts.manifest.v1 import UseCaseManifest
    from contracts.trail.v1 import AuditRecord
    from leaim.domain.manifests import ManifestCatalog
    from leaim.governance.ports import Principal

MASK = "***"


@dataclass(frozen=True, slots=True)
class FieldMarks:
    """The marked fields of a manifest or a dataset contract, each with its classes, and the model features
    computed from marked inputs, each with the classes of the inputs it reads."""

    fields: Mapping[str, frozenset[FieldClass]]
    features: Mapping[str, frozenset[FieldClass]] = field(default_factory=dict)

    def hidden(self, principal: Principal) -> frozenset[str]:
        """The fields whose values `principal` may not see: those of a class its role is not granted."""
        return _hidden(self.fields, principal)

    def hidden_features(self, principal: Principal) -> frozenset[str]:
        """The model features whose values `principal` may not see."""
        return _hidden(self.features, principal)

    def __or__(self, other: FieldMarks) -> FieldMarks:
        return FieldMarks(_union(self.fields, other.fields), _union(self.features, other.features))


def input_marks(manifest: UseCaseManifest) -> FieldMarks:
    """The marked inputs of a use case, and the features computed from them."""
    fields = {spec.name: _classes(pii=spec.pii, protected=spec.protected) for spec in manifest.inputs}
    marked = {name: classes for name, classes in fields.items() if classes}
    features: dict[str, frozenset[FieldClass]] = {}
    for feature in manifest.features:
        operands = [operand for operand in (feature.source, feature.other) if operand is not None]
        classes = frozenset().union(*(marked.get(operand, frozenset()) for operand in operands))
        if classes:
            features[feature.name] = classes
    return FieldMarks(marked, features)


def dataset_marks(contract: DatasetContract, manifest: UseCaseManifest) -> FieldMarks:
    """The marked fields of a dataset version: its own PII fields, and the fields the use case it feeds marks."""
    own = FieldMarks({spec.name: frozenset({FieldClass.PII}) for spec in contract.fields if spec.pii})
    names = {spec.name for spec in contract.fields}
    fed = input_marks(manifest).fields
    return own | FieldMarks({name: classes for name, classes in fed.items() if name in names})


def catalog_marks(catalog: ManifestCatalog) -> FieldMarks:
    """The marks of every use case at once: for a document that names no use case."""
    marks = FieldMarks({})
    for name in catalog.names():
        marks = marks | input_marks(catalog.get(name))
    return marks


def mask(document: Any, marks: FieldMarks, principal: Principal) -> Any:
    """`document` (a JSON value) with the value under every key that names a field `principal` may not see, at any
    depth, replaced by `MASK`."""
    return _masked(document, marks.hidden(principal))


def masked_review(review: Review, manifest: UseCaseManifest, principal: Principal) -> Review:
    """A review with its stored inputs masked for `principal`."""
    return review.model_copy(update={"inputs": mask(review.inputs, input_marks(manifest), principal)})


def masked_explanation(explanation: Explanation, manifest: UseCaseManifest, principal: Principal) -> Explanation:
    """An explanation without the values of the features `principal` may not see: they are left out of `features`
    (which holds numbers only) and named in `masked_features`, and their reasons lose value and contribution."""
    hidden = input_marks(manifest).hidden_features(principal)
    if explanation.features is None:
        return explanation.model_copy(update={"reasons": masked_reasons(explanation.reasons, hidden)})
    features = {name: value for name, value in explanation.features.items() if name not in hidden}
    return explanation.model_copy(
        update={
            "features": features,
            "masked_features": sorted(hidden & explanation.features.keys()),
            "reasons": masked_reasons(explanation.reasons, hidden),
        }
    )


def masked_decision(decision: DecisionResponse, manifest: UseCaseManifest, principal: Principal) -> DecisionResponse:
    """A decision whose feature reasons (and principal reasons) hide the values of the features `principal` may not
    see."""
    hidden = input_marks(manifest).hidden_features(principal)
    update: dict[str, object] = {"reasons": masked_reasons(decision.reasons, hidden)}
    if decision.principal_reasons is not None:
        update["principal_reasons"] = [
            reason.model_copy(update={"contribution": None})
            if reason.kind == "feature" and reason.factor in hidden
            else reason
            for reason in decision.principal_reasons
        ]
    return decision.model_copy(update=update)


def masked_reasons(reasons: Iterable[Reason], hidden_features: frozenset[str]) -> list[Reason]:
    """`reasons` with those about a hidden feature stripped of its value and contribution, which would tell it.

    The reason stays, so the explanation still says which features mattered.
    """
    return [
        reason.model_copy(update={"message": f"{reason.feature}={MASK}", "value": None, "contribution": None})
        if reason.kind == "feature" and reason.feature in hidden_features
        else reason
        for reason in reasons
    ]


def masked_record(record: AuditRecord, marks: FieldMarks, principal: Principal) -> AuditRecord:
    """An audit record with its event's details masked for `principal`.

    The masked record no longer hashes to its chain link: the trail is verified from the store and its archive.
    """
    event = record.event
    if not event.details:
        return record
    details = mask(event.details, marks, principal)
    return record.model_copy(update={"event": event.model_copy(update={"details": details})})


def masked_records(
    records: Iterable[AuditRecord], catalog: ManifestCatalog, principal: Principal
) -> Iterator[AuditRecord]:
    """Audit records masked for `principal`, streamed: each event by the marks of its use case, an event of no use
    case (or of one no longer in the catalog) by the marks of every use case."""
    every = catalog_marks(catalog)
    by_use_case = {name: input_marks(catalog.get(name)) for name in catalog.names()}
    for record in records:
        use_case = record.event.use_case
        yield masked_record(record, by_use_case.get(use_case, every) if use_case else every, principal)


def _masked(value: Any, hidden: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {
            key: MASK if key in hidden and item is not None else _masked(item, hidden) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked(item, hidden) for item in value]
    return value


def _hidden(marked: Mapping[str, frozenset[FieldClass]], principal: Principal) -> frozenset[str]:
    return frozenset(name for name, classes in marked.items() if not sees_field(principal.role, classes))


def _classes(*, pii: bool, protected: bool) -> frozenset[FieldClass]:
    return frozenset(
        field_class for field_class, marked in ((FieldClass.PII, pii), (FieldClass.PROTECTED, protected)) if marked
    )


def _union(
    left: Mapping[str, frozenset[FieldClass]], right: Mapping[str, frozenset[FieldClass]]
) -> dict[str, frozenset[FieldClass]]:
    return {name: left.get(name, frozenset()) | right.get(name, frozenset()) for name in left.keys() | right.keys()}
