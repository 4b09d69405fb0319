"""Model registry on SQL: signed, immutable model versions and the traffic policy of each use case.

A policy names the champion, an optional challenger under a shadow or canary policy, and the previous
champion a rollback restores. Every change is one conditional write on the policy's revision (the
INSERT of revision 1, or an UPDATE naming the revision it read), so of two racing changes exactly one
is stored, whole, and the other raises RevisionConflictError: nothing is half-applied or overwritten.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from contracts.model.v1 import ModelSummary, SignedManifest, TrafficPolicy
from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.adapters.sql.tables import ModelVersionRow, TrafficChangeRow, TrafficPolicyRow, utc_now
from leaim.exceptions import (
    LeaimError,
    ModelVersionExistsError,
    NotFoundError,
    RevisionConflictError,
    TrafficChangeError,
    VersionRejectedError,
)
from leaim.serving.ports import ActiveModel, TrafficPlan

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Engine

    from leaim.governance.oversight.ports import TrafficChangeKind
    from leaim.serving.ports import TrafficPlanPublisher

logger = logging.getLogger(__name__)

CHALLENGER_POLICIES = ("shadow", "canary")
NUMBERED_VERSION = re.compile(r"^v([0-9]+)$")


@dataclass(frozen=True, slots=True)
class _Routing:
    """The part of a traffic policy a change decides; revision, time and actor are added by the write."""

    model_name: str
    champion: str
    challenger: str | None = None
    policy: str | None = None
    canary_percent: float = 0.0
    previous_champion: str | None = None

    def without_challenger(self) -> _Routing:
        return replace(self, challenger=None, policy=None, canary_percent=0.0)


class SqlModelRegistry:
    """`ModelRegistry` and `ModelRouter` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine, *, plans: TrafficPlanPublisher | None = None) -> None:
        self._engine = engine
        self._plans = plans

    def publish_plans(self) -> int:
        """Publish every use case's plan at its current revision (a repair of any publication that failed).

        Returns how many were published; one that cannot be is logged and the others go on.
        """
        if self._plans is None:
            return 0
        try:
            with Session(self._engine) as session:
                revisions = {row.use_case: row.revision for row in session.exec(select(TrafficPolicyRow)).all()}
        except SQLAlchemyError as error:
            raise StoreUnavailableError("traffic policies could not be read") from error
        return sum(self._publish(use_case, revision) for use_case, revision in sorted(revisions.items()))

    def _publish(self, use_case: str, revision: int) -> bool:
        """Publish the use case's plan after a change at `revision`; a failure is logged, for the next repair."""
        if self._plans is None:
            return False
        try:
            plan = self.plan(use_case)
            if plan is not None:
                self._plans.publish(use_case, plan, revision)
        except LeaimError as error:
            logger.error(
                "traffic plan of use case %r at revision %d is not published (%s); the promotion controller "
                "publishes it on its next run",
                use_case,
                revision,
                error,
            )
            return False
        return plan is not None

    def publish(self, signed: SignedManifest) -> SignedManifest:
        """Record a new version and return it as stored.

        Versions are immutable: publishing a (name, version) that exists raises ModelVersionExistsError, even
        with identical content, so a version's signature is only ever checked against one manifest.
        Raises ValueError when the manifest holds a value JSON cannot carry (NaN, infinity).
        """
        manifest = signed.manifest
        label = f"{manifest.model_name}:{manifest.model_version}"
        row = ModelVersionRow(
            name=manifest.model_name,
            version=manifest.model_version,
            use_case=manifest.use_case,
            family=manifest.family,
            artifact_digest=manifest.artifact_digest,
            feature_names=list(manifest.feature_names),
            status=manifest.status,
            manifest=_json_document(signed.model_dump(mode="json"), f"manifest of model version {label}"),
        )
        stored = SignedManifest.model_validate(row.manifest)
        try:
            with Session(self._engine) as session, session.begin():
                session.add(row)
        except IntegrityError as error:
            existing = self.get(manifest.model_name, manifest.model_version)
            if existing is None:
                raise StoreUnavailableError(f"model version {label} could not be published") from error
            raise ModelVersionExistsError(
                manifest.model_name, manifest.model_version, existing.manifest.artifact_digest
            ) from error
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"model version {label} could not be published") from error
        return stored

    def get(self, name: str, version: str) -> SignedManifest | None:
        """A published version, or None."""
        statement = select(col(ModelVersionRow.manifest)).where(
            col(ModelVersionRow.name) == name, col(ModelVersionRow.version) == version
        )
        try:
            with Session(self._engine) as session:
                document = session.exec(statement).first()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"model version {name}:{version} could not be read") from error
        return None if document is None else SignedManifest.model_validate(document)

    def versions(self, name: str) -> list[SignedManifest]:
        """Every published version of model `name`, oldest first."""
        statement = (
            select(col(ModelVersionRow.manifest))
            .where(col(ModelVersionRow.name) == name)
            .order_by(col(ModelVersionRow.created_at), col(ModelVersionRow.version))
        )
        try:
            with Session(self._engine) as session:
                documents = session.exec(statement).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"versions of model {name!r} could not be read") from error
        return [SignedManifest.model_validate(document) for document in documents]

    def models(self) -> list[ModelSummary]:
        """One summary per model, by name.

        Use case, family and latest version are those of the version published last; champion and
        challenger come from that use case's traffic policy when the policy serves this model.
        """
        versions = select(
            col(ModelVersionRow.name),
            col(ModelVersionRow.version),
            col(ModelVersionRow.use_case),
            col(ModelVersionRow.family),
        ).order_by(col(ModelVersionRow.name), col(ModelVersionRow.created_at), col(ModelVersionRow.version))
        counts = select(col(ModelVersionRow.name), col(ModelVersionRow.status), func.count()).group_by(
            col(ModelVersionRow.name), col(ModelVersionRow.status)
        )
        try:
            with Session(self._engine) as session:
                # Oldest first, so the last row seen of each name is its latest version.
                latest = {
                    name: (version, use_case, family) for name, version, use_case, family in session.exec(versions)
                }
                tally = {(name, status): number for name, status, number in session.exec(counts)}
                policies = {policy.use_case: policy for policy in session.exec(select(TrafficPolicyRow))}
        except SQLAlchemyError as error:
            raise StoreUnavailableError("the model list could not be read") from error
        summaries = []
        for name in sorted(latest):
            version, use_case, family = latest[name]
            policy = policies.get(use_case)
            serving = policy if policy is not None and policy.model_name == name else None
            approved, rejected = tally.get((name, "approved"), 0), tally.get((name, "rejected"), 0)
            summaries.append(
                ModelSummary(
                    model_name=name,
                    use_case=use_case,
                    family=family,
                    versions=sum(number for (model, _), number in tally.items() if model == name),
                    approved=approved,
                    rejected=rejected,
                    champion=None if serving is None else serving.champion_version,
                    challenger=None if serving is None else serving.challenger_version,
                    latest_version=version,
                )
            )
        return summaries

    def next_version(self, name: str) -> str:
        """`v<n+1>` after the highest `v<n>` published for model `name` (`v1` for a new model).

        Versions named otherwise are ignored, so a hand-named version never blocks the numbering.
        """
        statement = select(col(ModelVersionRow.version)).where(col(ModelVersionRow.name) == name)
        try:
            with Session(self._engine) as session:
                versions = session.exec(statement).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"versions of model {name!r} could not be read") from error
        numbers = [int(match.group(1)) for match in map(NUMBERED_VERSION.match, versions) if match]
        return f"v{max(numbers, default=0) + 1}"

    def traffic(self, use_case: str) -> TrafficPolicy | None:
        """The use case's traffic policy, or None before its first champion."""
        try:
            with Session(self._engine) as session:
                row = session.get(TrafficPolicyRow, use_case)
                policy = None if row is None else _policy(row)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"traffic policy of use case {use_case!r} could not be read") from error
        return policy

    def plan(self, use_case: str) -> TrafficPlan | None:
        """The champion and challenger serving `use_case`, read in one query; None before its first champion.

        This is the decision path's `ModelRouter`: only the columns it needs, never the manifest documents.
        """
        statement = (
            select(
                TrafficPolicyRow,
                col(ModelVersionRow.version),
                col(ModelVersionRow.artifact_digest),
                col(ModelVersionRow.feature_names),
            )
            .join(
                ModelVersionRow,
                (col(ModelVersionRow.name) == col(TrafficPolicyRow.model_name))
                & col(ModelVersionRow.version).in_(
                    [col(TrafficPolicyRow.champion_version), col(TrafficPolicyRow.challenger_version)]
                ),
            )
            .where(col(TrafficPolicyRow.use_case) == use_case)
        )
        try:
            with Session(self._engine) as session:
                rows = session.exec(statement).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"traffic plan of use case {use_case!r} could not be read") from error
        if not rows:
            return None
        policy = rows[0][0]
        models = {
            version: ActiveModel(
                name=policy.model_name, version=version, artifact_digest=digest, feature_names=tuple(features)
            )
            for _, version, digest, features in rows
        }
        return TrafficPlan(
            champion=models[policy.champion_version],
            challenger=None if policy.challenger_version is None else models[policy.challenger_version],
            policy=policy.policy,
            canary_percent=policy.canary_percent,
        )

    def set_champion(
        self, use_case: str, model_name: str, version: str, *, actor: str, expected_revision: int | None = None
    ) -> TrafficPolicy:
        """Make an approved version the champion of `use_case`; the first call creates the policy at revision 1.

        The former champion becomes the previous champion, which `restore_previous` brings back; a
        challenger promoted this way stops being the challenger. Raises NotFoundError (no such version),
        VersionRejectedError, TrafficChangeError (the version is already champion, or belongs to another use
        case or model than the one the use case serves) and RevisionConflictError.
        """

        def promote(current: _Routing | None) -> _Routing:
            if current is None:
                return _Routing(model_name=model_name, champion=version)
            _same_model(use_case, current, model_name)
            if current.champion == version:
                raise TrafficChangeError(f"{model_name}:{version} is already the champion of use case {use_case!r}")
            promoted = replace(current, champion=version, previous_champion=current.champion)
            return promoted.without_challenger() if current.challenger == version else promoted

        return self._change(
            use_case,
            "promote",
            actor=actor,
            expected_revision=expected_revision,
            target=(model_name, version),
            decide=promote,
        )

    def set_challenger(
        self,
        use_case: str,
        model_name: str,
        version: str,
        policy: str,
        canary_percent: float,
        *,
        actor: str,
        expected_revision: int | None = None,
    ) -> TrafficPolicy:
        """Make an approved version the challenger under `policy`, replacing any challenger.

        `policy` is "shadow" (scored beside the champion, which decides; stored with canary_percent 0) or
        "canary" (decides `canary_percent` of the traffic, which must lie strictly between 0 and 100).
        Raises ValueError for any other policy or share, NotFoundError, VersionRejectedError,
        TrafficChangeError (no champion yet, the version is the champion, or it belongs to another use case
        or model) and RevisionConflictError.
        """
        if policy not in CHALLENGER_POLICIES:
            raise ValueError(f"a challenger's policy is one of {list(CHALLENGER_POLICIES)}, not {policy!r}")
        if policy == "canary" and not 0.0 < canary_percent < 100.0:
            raise ValueError(f"a canary takes more than 0 and less than 100 percent, not {canary_percent}")
        share = canary_percent if policy == "canary" else 0.0

        def challenge(current: _Routing | None) -> _Routing:
            if current is None:
                raise TrafficChangeError(f"use case {use_case!r} has no champion yet; promote with policy full first")
            _same_model(use_case, current, model_name)
            if current.champion == version:
                raise TrafficChangeError(
                    f"{model_name}:{version} is the champion of use case {use_case!r}; it cannot also be its challenger"
                )
            return replace(current, challenger=version, policy=policy, canary_percent=share)

        return self._change(
            use_case,
            "challenge",
            actor=actor,
            expected_revision=expected_revision,
            target=(model_name, version),
            decide=challenge,
        )

    def clear_challenger(self, use_case: str, *, actor: str, expected_revision: int | None = None) -> TrafficPolicy:
        """Take the challenger out of traffic (the rollback of a challenger).

        Raises TrafficChangeError when there is no challenger, and RevisionConflictError.
        """

        def clear(current: _Routing | None) -> _Routing:
            if current is None or current.challenger is None:
                raise TrafficChangeError(f"use case {use_case!r} has no challenger to roll back")
            return current.without_challenger()

        return self._change(use_case, "clear", actor=actor, expected_revision=expected_revision, decide=clear)

    def restore_previous(self, use_case: str, *, actor: str, expected_revision: int | None = None) -> TrafficPolicy:
        """Make the previous champion the champion again (the rollback of a champion).

        The previous champion is then cleared rather than swapped with the rolled-back one, so a second
        rollback fails instead of flipping back to the version just rolled back. A challenger stays, unless
        it is the restored version. Raises TrafficChangeError when there is no previous champion, and
        RevisionConflictError.
        """

        def restore(current: _Routing | None) -> _Routing:
            if current is None or current.previous_champion is None:
                raise TrafficChangeError(f"use case {use_case!r} has no previous champion to roll back to")
            restored = replace(current, champion=current.previous_champion, previous_champion=None)
            return restored.without_challenger() if current.challenger == current.previous_champion else restored

        return self._change(use_case, "restore", actor=actor, expected_revision=expected_revision, decide=restore)

    def _change(
        self,
        use_case: str,
        change: TrafficChangeKind,
        *,
        actor: str,
        expected_revision: int | None,
        decide: Callable[[_Routing | None], _Routing],
        target: tuple[str, str] | None = None,
    ) -> TrafficPolicy:
        """Read the policy, let `decide` compute the new routing, and write it only if the revision is unchanged,
        with the change's history row in the same transaction.

        With no expected revision the write is still conditional on the revision just read, so a change
        made between the read and the write raises RevisionConflictError instead of being overwritten.
        """
        try:
            with Session(self._engine) as session, session.begin():
                if target is not None:
                    _check_servable(session, use_case, *target)
                current = session.get(TrafficPolicyRow, use_case)
                stored = 0 if current is None else current.revision
                if expected_revision is not None and expected_revision != stored:
                    raise RevisionConflictError(
                        f"traffic policy of use case {use_case!r} is at revision {stored}, not {expected_revision}"
                    )
                routing = decide(None if current is None else _routing(current))
                row = TrafficPolicyRow(
                    use_case=use_case,
                    model_name=routing.model_name,
                    champion_version=routing.champion,
                    challenger_version=routing.challenger,
                    policy=routing.policy,
                    canary_percent=routing.canary_percent,
                    previous_champion=routing.previous_champion,
                    revision=stored + 1,
                    updated_at=utc_now(),
                    updated_by=actor,
                )
                if current is None:
                    _insert_first(session, row)
                else:
                    _update_from(session, row, stored)
                session.add(_history(row, change))
                changed = _policy(row)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"traffic policy of use case {use_case!r} could not be changed") from error
        self._publish(use_case, changed.revision)
        return changed


def _history(row: TrafficPolicyRow, change: TrafficChangeKind) -> TrafficChangeRow:
    version = {"promote": row.champion_version, "challenge": row.challenger_version, "restore": row.champion_version}
    return TrafficChangeRow(
        use_case=row.use_case,
        revision=row.revision,
        change=change,
        model_name=row.model_name,
        version=version.get(change),
        champion_version=row.champion_version,
        challenger_version=row.challenger_version,
        policy=row.policy,
        changed_at=row.updated_at,
        changed_by=row.updated_by,
    )


def _check_servable(session: Session, use_case: str, model_name: str, version: str) -> None:
    label = f"{model_name}:{version}"
    row = session.get(ModelVersionRow, (model_name, version))
    if row is None:
        raise NotFoundError(f"model version {label} is not published")
    if row.status != "approved":
        raise VersionRejectedError(f"model version {label} was rejected by its gates and cannot serve traffic")
    if row.use_case != use_case:
        raise TrafficChangeError(f"model version {label} was trained for use case {row.use_case!r}, not {use_case!r}")


def _same_model(use_case: str, current: _Routing, model_name: str) -> None:
    if current.model_name != model_name:
        raise TrafficChangeError(f"use case {use_case!r} is served by model {current.model_name!r}, not {model_name!r}")


def _insert_first(session: Session, row: TrafficPolicyRow) -> None:
    session.add(row)
    try:
        session.flush()
    except IntegrityError as error:
        # Only the primary key can clash: the versions were read in this transaction and are never deleted.
        raise RevisionConflictError(
            f"traffic policy of use case {row.use_case!r} was created by a concurrent change"
        ) from error


def _update_from(session: Session, row: TrafficPolicyRow, revision: int) -> None:
    changed = {name: getattr(row, name) for name in TrafficPolicyRow.model_fields if name != "use_case"}
    statement = (
        update(TrafficPolicyRow)
        .where(col(TrafficPolicyRow.use_case) == row.use_case, col(TrafficPolicyRow.revision) == revision)
        .values(changed)
        .execution_options(synchronize_session=False)
    )
    if session.exec(statement).rowcount != 1:
        raise RevisionConflictError(
            f"traffic policy of use case {row.use_case!r} changed after revision {revision} was read"
        )


def _routing(row: TrafficPolicyRow) -> _Routing:
    return _Routing(
        model_name=row.model_name,
        champion=row.champion_version,
        challenger=row.challenger_version,
        policy=row.policy,
        canary_percent=row.canary_percent,
        previous_champion=row.previous_champion,
    )


def _policy(row: TrafficPolicyRow) -> TrafficPolicy:
    return TrafficPolicy.model_validate(
        {
            "use_case": row.use_case,
            "model_name": row.model_name,
            "champion": row.champion_version,
            "challenger": row.challenger_version,
            "policy": row.policy,
            "canary_percent": row.canary_percent,
            "previous_champion": row.previous_champion,
            "revision": row.revision,
            "updated_at": row.updated_at,
            "updated_by": row.updated_by,
        }
    )


def _json_document(value: dict[str, Any], what: str) -> dict[str, Any]:
    # PostgreSQL's JSONB cannot hold NaN or infinity; refuse them here, naming the document.
    try:
        document: dict[str, Any] = json.loads(json.dumps(value, allow_nan=False))
    except ValueError as error:
        raise ValueError(f"{what} cannot be stored as JSON: {error}") from error
    return document
