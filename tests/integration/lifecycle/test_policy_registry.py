"""The policy registry on a real DynamoDB table (moto's server) as `template.yaml` declares it, read back through the
catalogs every function serves from: proposals, four eyes, activation races, rollback, retirement and seeding."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest

from contracts.policy.v1 import PolicyProposal, PolicyTransition
from embedded.emulation.aws import LocalEndpoint
from leaim.adapters.dynamodb_policies import DynamoPolicyStore
from leaim.bootstrap.lifecycle import seed_policies
from leaim.data.datasets import DatasetCatalog
from leaim.domain.clock import SystemClock
from leaim.domain.manifests import ManifestCatalog
from leaim.domain.policies import LivePolicies, policy_digest
from leaim.exceptions import NotFoundError, RevisionConflictError
from leaim.lifecycle.policies import (
    FourEyesError,
    InvalidPolicyError,
    PolicyModelMismatchError,
    PolicyRegistry,
    PolicyStateError,
    PolicyUnchangedError,
)
from leaim.lifecycle.signing import PolicySigner
from tests.support.accepted import template_table

if TYPE_CHECKING:
    from collections.abc import Iterator

USE_CASE = "card_fraud"
NO_REASON = PolicyTransition()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Registry:
    """A registry on a fresh table, its catalogs (read with no cache unless `ttl_s` says how long a function's
    container keeps the heads it read), and the features its live model takes."""

    def __init__(self, endpoint: LocalEndpoint, ttl_s: float = 0.0) -> None:
        table, client = template_table(endpoint, "PoliciesTable")
        self.store = DynamoPolicyStore(table, client)
        policies = LivePolicies(self.store, monotonic=SystemClock().monotonic, ttl_s=ttl_s)
        self.manifests = ManifestCatalog.live(policies)
        self.datasets = DatasetCatalog.live(policies, self.manifests)
        self.live: dict[str, list[str]] = {}
        self.signer = PolicySigner.generate()
        self.registry = PolicyRegistry(
            store=self.store,
            signer=self.signer,
            manifests=self.manifests,
            live_features=self.live.get,
            shadow_outcomes=None,
            clock=SystemClock(),
        )
        seed_policies(self.registry, self.manifests, self.datasets)

    def manifest(self, **decision: Any) -> dict[str, Any]:
        """The active manifest's document with `decision` fields changed."""
        document = self.manifests.get(USE_CASE).model_dump(mode="json")
        document["decision"] = {**document["decision"], **decision}
        return document

    def approved(self, document: dict[str, Any]) -> int:
        """Propose `document` as alice and approve it as bob; its version number."""
        version = self.registry.propose("use_case", USE_CASE, PolicyProposal(document=document), actor="alice")
        self.registry.approve("use_case", USE_CASE, version.version, NO_REASON, actor="bob")
        return version.version


@pytest.fixture
def registry(endpoint: LocalEndpoint) -> Registry:
    return Registry(endpoint)


def test_the_bootstrap_files_are_seeded_once_as_active_signed_versions(registry: Registry) -> None:
    head = registry.store.head("use_case", USE_CASE)
    assert head is not None
    assert (head.active, head.latest) == (1, 1)
    bound = registry.manifests.bound(USE_CASE)
    assert (bound.version, bound.digest) == (1, policy_digest(bound.manifest.model_dump(mode="json")))
    seeded = registry.registry.get("use_case", USE_CASE, 1)
    assert (seeded.proposed_by, seeded.approved_by, seeded.state) == (
        "file:use_cases/card_fraud.yaml",
        "deploy",
        "active",
    )
    assert registry.registry.verifies(seeded)
    transactions = registry.store.head("dataset", "transactions")
    assert transactions is not None
    assert (transactions.active, transactions.previous) == (2, [1])
    assert registry.datasets.versions("transactions") == ["v1", "v2"]

    assert seed_policies(registry.registry, registry.manifests, registry.datasets) == []
    assert registry.store.head("use_case", USE_CASE) == head


def test_a_proposal_is_signed_and_diffed_and_decides_only_once_another_principal_approved_and_activated_it(
    registry: Registry,
) -> None:
    proposal = PolicyProposal(document=registry.manifest(threshold=0.55), note="fewer declines")
    version = registry.registry.propose("use_case", USE_CASE, proposal, actor="alice")

    assert (version.version, version.base_version, version.state) == (2, 1, "proposed")
    assert [(c.path, c.before, c.after) for c in version.changes] == [("decision.threshold", 0.4, 0.55)]
    assert registry.registry.verifies(version)
    with pytest.raises(PolicyStateError, match="not approved"):
        registry.registry.activate("use_case", USE_CASE, 2, NO_REASON, actor="alice")
    with pytest.raises(FourEyesError, match="another principal"):
        registry.registry.approve("use_case", USE_CASE, 2, NO_REASON, actor="alice")
    assert registry.manifests.get(USE_CASE).decision.threshold == 0.4

    registry.registry.approve("use_case", USE_CASE, 2, PolicyTransition(reason="reviewed"), actor="bob")
    _, after = registry.registry.activate("use_case", USE_CASE, 2, NO_REASON, actor="alice")

    assert (after.active, after.previous) == (2, [1])
    bound = registry.manifests.bound(USE_CASE)
    assert (bound.version, bound.manifest.decision.threshold) == (2, 0.55)
    assert registry.registry.get("use_case", USE_CASE, 2).approved_by == "bob"
    with pytest.raises(PolicyUnchangedError, match="version 2"):
        registry.registry.propose("use_case", USE_CASE, proposal, actor="carol")


def test_an_invalid_document_names_each_problem_by_its_path_and_registers_nothing(registry: Registry) -> None:
    document = registry.manifest(threshold=1.5, positive_outcome="refused")
    document["latency_budget_ms"] = "fast"

    with pytest.raises(InvalidPolicyError) as refused:
        registry.registry.propose("use_case", USE_CASE, PolicyProposal(document=document), actor="alice")

    fields = {error.field for error in refused.value.fields}
    assert {"document.decision.threshold", "document.latency_budget_ms"} <= fields
    # A check across fields names the value at fault, as `leaim use-case validate` does.
    crossed = registry.manifest()
    crossed["features"][2] = {**crossed["features"][2], "source": "amount_typo"}
    with pytest.raises(InvalidPolicyError) as refused:
        registry.registry.propose("use_case", USE_CASE, PolicyProposal(document=crossed), actor="alice")
    assert [(e.field, e.message) for e in refused.value.fields] == [
        ("document.features.2.source", f"feature {crossed['features'][2]['name']!r} reads unknown field 'amount_typo'")
    ]
    other = registry.manifest()
    other["name"] = "loan_default"
    with pytest.raises(InvalidPolicyError, match=r"document\.name"):
        registry.registry.propose("use_case", USE_CASE, PolicyProposal(document=other), actor="alice")
    head = registry.store.head("use_case", USE_CASE)
    assert head is not None
    assert head.latest == 1


def test_of_two_concurrent_activations_one_wins_and_the_other_is_refused(registry: Registry) -> None:
    first, second = (
        registry.approved(registry.manifest(threshold=0.5)),
        registry.approved(registry.manifest(threshold=0.6)),
    )
    revision = registry.registry.list("use_case", USE_CASE).head.revision
    outcomes: dict[int, object] = {}
    start = threading.Barrier(2)

    def activate(version: int) -> None:
        start.wait()
        try:
            outcomes[version] = registry.registry.activate(
                "use_case", USE_CASE, version, PolicyTransition(expected_revision=revision), actor="alice"
            )[1].active
        except RevisionConflictError as error:
            outcomes[version] = error

    threads = [threading.Thread(target=activate, args=(version,)) for version in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    won = [version for version, outcome in outcomes.items() if outcome == version]
    lost = [outcome for outcome in outcomes.values() if isinstance(outcome, RevisionConflictError)]
    assert len(won) == 1 and len(lost) == 1
    assert registry.manifests.bound(USE_CASE).version == won[0]


def test_a_version_the_live_model_cannot_take_is_refused_with_the_features_that_differ(registry: Registry) -> None:
    document = registry.manifest()
    document["features"] = [feature for feature in document["features"] if feature["name"] != "night"]
    del document["adverse_action"]["features"]["night"]
    version = registry.approved(document)
    registry.live[USE_CASE] = registry.manifests.get(USE_CASE).feature_names

    with pytest.raises(PolicyModelMismatchError, match=r"not declared: \['night'\]"):
        registry.registry.activate("use_case", USE_CASE, version, NO_REASON, actor="alice")
    with pytest.raises(PolicyModelMismatchError):
        registry.registry.shadow(USE_CASE, version, NO_REASON, actor="alice")
    assert registry.manifests.bound(USE_CASE).version == 1


def test_a_rollback_restores_the_version_before_and_a_retired_version_never_comes_back(registry: Registry) -> None:
    version = registry.approved(registry.manifest(threshold=0.7))
    registry.registry.activate("use_case", USE_CASE, version, NO_REASON, actor="alice")

    _, after = registry.registry.rollback("use_case", USE_CASE, PolicyTransition(reason="too strict"), actor="bob")
    assert (after.active, after.previous) == (1, [])
    assert registry.manifests.bound(USE_CASE).version == 1
    with pytest.raises(PolicyStateError, match="no earlier active version"):
        registry.registry.rollback("use_case", USE_CASE, NO_REASON, actor="bob")

    registry.registry.retire("use_case", USE_CASE, version, NO_REASON, actor="bob")
    assert registry.registry.get("use_case", USE_CASE, version).state == "retired"
    with pytest.raises(PolicyStateError, match="retired"):
        registry.registry.activate("use_case", USE_CASE, version, NO_REASON, actor="alice")
    with pytest.raises(PolicyStateError, match="is active"):
        registry.registry.retire("use_case", USE_CASE, 1, NO_REASON, actor="bob")


def test_a_shadow_version_is_read_beside_the_active_one(registry: Registry) -> None:
    proposed = registry.registry.propose(
        "use_case", USE_CASE, PolicyProposal(document=registry.manifest(threshold=0.3)), actor="alice"
    )
    registry.registry.shadow(USE_CASE, proposed.version, NO_REASON, actor="alice")

    shadow = registry.manifests.shadow(USE_CASE)
    assert shadow is not None
    assert (shadow.version, shadow.manifest.decision.threshold) == (proposed.version, 0.3)
    assert registry.manifests.bound(USE_CASE).version == 1
    assert registry.registry.get("use_case", USE_CASE, proposed.version).state == "shadow"


def test_a_new_use_case_is_served_once_activated_and_a_new_dataset_version_must_stay_additive(
    registry: Registry,
) -> None:
    document = registry.manifest()
    document["name"] = "card_fraud_eu"
    with pytest.raises(NotFoundError):
        registry.manifests.get("card_fraud_eu")
    version = registry.registry.propose("use_case", "card_fraud_eu", PolicyProposal(document=document), actor="alice")
    registry.registry.approve("use_case", "card_fraud_eu", version.version, NO_REASON, actor="bob")
    registry.registry.activate("use_case", "card_fraud_eu", version.version, NO_REASON, actor="alice")
    assert "card_fraud_eu" in registry.manifests.names()

    contract = registry.datasets.latest("transactions").model_dump(mode="json")
    contract["version"] = "v3"
    contract["fields"] = [field for field in contract["fields"] if field["name"] != "channel"]
    with pytest.raises(InvalidPolicyError, match="removes field 'channel'"):
        registry.registry.propose("dataset", "transactions", PolicyProposal(document=contract), actor="alice")
    contract["version"] = "v4"
    with pytest.raises(InvalidPolicyError, match="the next version of 'transactions' is v3"):
        registry.registry.propose("dataset", "transactions", PolicyProposal(document=contract), actor="alice")


def test_a_dataset_for_a_use_case_activated_a_moment_ago_is_checked_against_it_whatever_the_cache_holds(
    endpoint: LocalEndpoint,
) -> None:
    cached = Registry(endpoint, ttl_s=3600.0)
    document = cached.manifest()
    document["name"] = "card_fraud_eu"
    version = cached.registry.propose("use_case", "card_fraud_eu", PolicyProposal(document=document), actor="alice")
    cached.registry.approve("use_case", "card_fraud_eu", version.version, NO_REASON, actor="bob")
    cached.registry.activate("use_case", "card_fraud_eu", version.version, NO_REASON, actor="alice")
    contract = cached.datasets.latest("transactions").model_dump(mode="json")
    contract.update(dataset="transactions_eu", version="v1", use_case="card_fraud_eu")

    proposed = cached.registry.propose("dataset", "transactions_eu", PolicyProposal(document=contract), actor="alice")
    cached.registry.approve("dataset", "transactions_eu", proposed.version, NO_REASON, actor="bob")
    cached.registry.activate("dataset", "transactions_eu", proposed.version, NO_REASON, actor="alice")

    assert cached.datasets.latest("transactions_eu").use_case == "card_fraud_eu"
