"""Conformance fuzzing of every operation of the committed OpenAPI document against the running local stack.

Each operation is sent generated requests, valid and invalid, with the key of each role it allows (and of roles it
refuses, which must get a refusal the document declares); every answer must be no server error, of a declared
status, content type, body schema and headers, and a 4xx an `ErrorResponse` (a 422 naming its fields). Chains
follow what one answer names into the next request: a decision into its reads and its outcome, a snapshot into its
reads. `LEAIM_FUZZ_EXAMPLES` sets the size (see `conformance`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from contracts.decision.v1 import DecisionResponse
from contracts.governance.v1 import Explanation, RecordedOutcome
from contracts.ingest.v1 import SnapshotList, SnapshotManifest
from embedded.synthetic import CardFraudGenerator
from tests.e2e.security.conformance import (
    REFUSED_EXAMPLES,
    FuzzSize,
    KnownObjects,
    Target,
    TrafficGuard,
    cases,
    check_refused,
    declared_statuses,
    foreign_targets,
    hypothesis_settings,
    load_schema,
    send,
    targets,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from schemathesis import Case
    from schemathesis.specs.openapi.schemas import OpenApiSchema

    from tests.e2e.security.conftest import SecurityStack

pytestmark = pytest.mark.slow

SIZE = FuzzSize.from_environment()
TARGETS = targets(SIZE)
FOREIGN_TARGETS = foreign_targets()
# The chains make objects one after the other; a few examples follow each one through.
CHAIN_EXAMPLES = 4


@pytest.fixture(scope="module")
def schema() -> OpenApiSchema:
    return load_schema()


@pytest.fixture(scope="module")
def transactions(security: SecurityStack) -> list[dict[str, Any]]:
    """Valid decision inputs for the cards whose features the stack holds."""
    generator = CardFraudGenerator(security.world.manifest, seed=99)
    return [t.inputs for t in generator.transactions(50, generator.cards(50))]


@pytest.fixture(scope="module")
def known(security: SecurityStack, transactions: list[dict[str, Any]]) -> KnownObjects:
    return KnownObjects.find(security.api_url, security.keys, security.world.manifest, transactions[0])


@pytest.fixture(scope="module")
def guard(security: SecurityStack) -> Iterator[TrafficGuard]:
    """Fuzzed lifecycle requests may queue training and change traffic: the module leaves it as it found it."""
    guard = TrafficGuard.before(security.api_url, security.keys["ml_engineer"], security.world.manifest.name)
    yield guard
    guard.restore()


@pytest.mark.parametrize("target", TARGETS, ids=[target.id for target in TARGETS])
def test_every_operation_answers_as_its_document_says(
    security: SecurityStack, schema: OpenApiSchema, known: KnownObjects, guard: TrafficGuard, target: Target
) -> None:
    operation = schema.find_operation_by_id(target.operation_id)
    key = None if target.role is None else security.keys[target.role]
    declared = declared_statuses(target.operation_id)
    examples = SIZE.examples if target.allowed or SIZE.every_refused_role else REFUSED_EXAMPLES

    @hypothesis_settings(examples)
    @given(case=cases(operation, target.mode, known.path_parameters(operation)))
    def fuzz(case: Case) -> None:
        response = send(case, security.api_url, key)
        if not target.allowed:
            check_refused(case, response, declared)
        guard.note(response)

    fuzz()


@pytest.mark.parametrize("target", FOREIGN_TARGETS, ids=[target.id for target in FOREIGN_TARGETS])
def test_a_key_of_another_use_case_reaches_nothing_of_this_one(
    security: SecurityStack, schema: OpenApiSchema, known: KnownObjects, target: Target
) -> None:
    operation = schema.find_operation_by_id(target.operation_id)
    known_path = known.path_parameters(operation)
    assert target.role is not None
    key = security.foreign[target.role]
    declared = declared_statuses(target.operation_id)

    @hypothesis_settings(REFUSED_EXAMPLES)
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=known_path))
    def fuzz(case: Case) -> None:
        check_refused(case, send(case, security.api_url, key), declared)

    fuzz()


def test_a_decision_is_read_explained_and_given_its_outcome(
    security: SecurityStack, schema: OpenApiSchema, known: KnownObjects, transactions: list[dict[str, Any]]
) -> None:
    """createDecision -> readDecision, readExplanation (its maker, a reviewer, an auditor; not another client) ->
    recordOutcome, and the same truth again; each request generated, the ids taken from the answer before."""
    decide = schema.find_operation_by_id("createDecision")
    read = schema.find_operation_by_id("readDecision")
    explain = schema.find_operation_by_id("readExplanation")
    record = schema.find_operation_by_id("recordOutcome")
    keys = security.keys

    @hypothesis_settings(min(SIZE.examples, CHAIN_EXAMPLES))
    @given(data=st.data())
    def chain(data: st.DataObject) -> None:
        case = data.draw(decide.as_strategy(path_parameters={"id": known.use_case}))
        # A transaction the manifest accepts (generated inputs are all refused), under a generated request id made
        # unique: the same idempotency key with other inputs is a conflict.
        request_id = f"{case.body['request_id'][:64]}-{uuid.uuid4().hex}"
        case.body = {"request_id": request_id, "inputs": data.draw(st.sampled_from(transactions))}
        made = send(case, security.api_url, keys["decision_client"])
        assert made.status_code == 200, made.text
        decision = DecisionResponse.model_validate_json(made.content)
        reached = {"id": decision.decision_id}

        for role in ("decision_client", "reviewer", "auditor"):
            answer = send(data.draw(read.as_strategy(path_parameters=reached)), security.api_url, keys[role])
            assert answer.status_code == 200, answer.text
            assert DecisionResponse.model_validate_json(answer.content).decision_id == decision.decision_id
            answer = send(data.draw(explain.as_strategy(path_parameters=reached)), security.api_url, keys[role])
            assert answer.status_code == 200, answer.text
            assert Explanation.model_validate_json(answer.content).decision_id == decision.decision_id
        other = send(data.draw(read.as_strategy(path_parameters=reached)), security.api_url, security.peer)
        assert other.status_code == 404, other.text

        outcome = data.draw(record.as_strategy(path_parameters=reached))
        first = send(outcome, security.api_url, keys["decision_client"])
        assert first.status_code == 201, first.text
        recorded = RecordedOutcome.model_validate_json(first.content)
        assert recorded.decision_id == decision.decision_id
        again = send(outcome, security.api_url, keys["decision_client"])
        assert again.status_code == 200, again.text

    chain()


def test_a_snapshot_is_read_and_listed(security: SecurityStack, schema: OpenApiSchema, known: KnownObjects) -> None:
    """createSnapshot (a generated range, or all records) -> readSnapshot and listSnapshots by every role that may."""
    create = schema.find_operation_by_id("createSnapshot")
    read = schema.find_operation_by_id("readSnapshot")
    listed = schema.find_operation_by_id("listSnapshots")
    dataset = {"dataset": known.dataset}
    read_roles = read.definition.raw["x-leaim-roles"]
    made: list[str] = []

    @hypothesis_settings(min(SIZE.examples, CHAIN_EXAMPLES))
    @given(data=st.data())
    def chain(data: st.DataObject) -> None:
        case = data.draw(
            st.one_of(create.as_strategy(path_parameters=dataset, body={}), create.as_strategy(path_parameters=dataset))
        )
        answer = send(case, security.api_url, security.keys["data_steward"])
        # A generated range may hold no record: that is a conflict, and nothing to read.
        assert answer.status_code in {201, 409}, answer.text
        if answer.status_code == 409:
            return
        snapshot = SnapshotManifest.model_validate_json(answer.content)
        made.append(snapshot.snapshot_id)
        reached = {**dataset, "snapshot_id": snapshot.snapshot_id}
        for role in read_roles:
            answer = send(data.draw(read.as_strategy(path_parameters=reached)), security.api_url, security.keys[role])
            assert answer.status_code == 200, answer.text
            assert SnapshotManifest.model_validate_json(answer.content) == snapshot
            answer = send(data.draw(listed.as_strategy(path_parameters=dataset)), security.api_url, security.keys[role])
            assert answer.status_code == 200, answer.text
            listing = SnapshotList.model_validate_json(answer.content)
            assert snapshot.snapshot_id in {item.snapshot_id for item in listing.items}

    chain()
    assert made, "no generated snapshot request made a snapshot"
