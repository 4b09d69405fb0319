"""Every decision names the policy version that made it, and a shadow version's outcome is recorded beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contracts.policy.v1 import PolicyHead, PolicyVersion
from leaim.domain.manifests import ManifestCatalog
from leaim.domain.policies import LivePolicies, policy_digest
from tests.support.fakes import World, decide

if TYPE_CHECKING:
    from contracts.policy.v1 import PolicyKind

USE_CASE = "card_fraud"


class Registry:
    """Heads and versions in memory: the pure logic of what the catalog serves, not the store."""

    def __init__(self) -> None:
        self._heads: dict[str, PolicyHead] = {}
        self._versions: dict[tuple[str, int], PolicyVersion] = {}

    def add(self, version: int, document: dict[str, Any]) -> str:
        digest = policy_digest(document)
        self._versions[USE_CASE, version] = PolicyVersion(
            kind="use_case",
            subject=USE_CASE,
            version=version,
            digest=digest,
            document=document,
            key_id="k",
            signature="s",
            origin="api",
            proposed_by="alice",
            proposed_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
        return digest

    def set(self, *, active: int, shadow: int | None = None) -> None:
        self._heads[USE_CASE] = PolicyHead(kind="use_case", subject=USE_CASE, active=active, shadow=shadow, latest=2)

    def heads(self, kind: PolicyKind) -> list[PolicyHead]:
        return list(self._heads.values()) if kind == "use_case" else []

    def head(self, kind: PolicyKind, subject: str) -> PolicyHead | None:
        return self._heads.get(subject)

    def version(self, kind: PolicyKind, subject: str, version: int) -> PolicyVersion | None:
        return self._versions.get((subject, version))


def world_on(registry: Registry) -> World:
    catalog = ManifestCatalog.live(LivePolicies(registry, monotonic=lambda: 0.0, ttl_s=0.0))
    return World(catalog=catalog)


def documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """The shipped manifest, and the same with every score of the review band declined instead."""
    document = ManifestCatalog.from_directory(None).get(USE_CASE).model_dump(mode="json")
    stricter = {**document, "decision": {**document["decision"], "threshold": 0.15, "review_band": None}}
    return document, stricter


def test_a_decision_names_the_active_version_and_its_digest() -> None:
    registry = Registry()
    document, stricter = documents()
    registry.add(1, document)
    digest = registry.add(2, stricter)
    registry.set(active=2)
    world = world_on(registry)
    world.put_card("card-42", {"avg_amount_30d": 50.0, "txn_count_24h": 1, "home_country": "DE"})

    result, audit = decide(world, "r-mid", country="US", card_present=False, amount=50.0)

    assert result.response.policy is not None
    assert (result.response.policy.version, result.response.policy.digest) == (2, digest)
    assert result.response.outcome == "declined", "version 2 has no review band"
    event = audit.stored
    assert event is not None
    assert (event.details["policy_version"], event.details["policy_digest"]) == (2, digest)
    assert event.details["online"] == {"avg_amount_30d": 50.0, "txn_count_24h": 1, "home_country": "DE"}
    assert "policy_shadow" not in event.details


def test_a_shadow_version_is_evaluated_on_the_same_score_and_only_recorded() -> None:
    registry = Registry()
    document, stricter = documents()
    registry.add(1, document)
    shadow_digest = registry.add(2, stricter)
    registry.set(active=1, shadow=2)
    world = world_on(registry)
    world.put_card("card-42", {"avg_amount_30d": 50.0, "txn_count_24h": 1, "home_country": "DE"})

    result, audit = decide(world, "r-mid", country="US", card_present=False, amount=50.0)

    assert result.response.outcome == "review" and result.response.policy is not None
    assert result.response.policy.version == 1
    assert audit.stored is not None
    assert audit.stored.details["policy_shadow"] == {"version": 2, "digest": shadow_digest, "outcome": "declined"}


def test_a_rule_of_the_shadow_version_decides_its_outcome_as_it_would_live() -> None:
    registry = Registry()
    document, _ = documents()
    rules = [
        {**rule, "outcome": "review"} if rule["name"] == "sanctioned_country" else rule
        for rule in document["decision"]["rules"]
    ]
    registry.add(1, document)
    registry.add(2, {**document, "decision": {**document["decision"], "rules": rules}})
    registry.set(active=1, shadow=2)
    world = world_on(registry)

    result, audit = decide(world, "r-kp", country="KP")

    assert result.response.outcome == "declined"
    assert audit.stored is not None and audit.stored.details["policy_shadow"]["outcome"] == "review"


def test_a_catalog_of_files_binds_decisions_to_the_file_digest_without_a_version() -> None:
    world = World()

    result, _ = decide(world, "r-file")

    assert result.response.policy is not None and result.response.policy.version is None
    document = world.catalog.get(USE_CASE).model_dump(mode="json")
    assert result.response.policy.digest == policy_digest(document)
