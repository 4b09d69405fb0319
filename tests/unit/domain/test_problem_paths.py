"""Every problem of a manifest or dataset contract on its own line, led by the path of the value at fault."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import yaml

from contracts.dataset.v1 import DatasetContract
from contracts.manifest.v1 import UseCaseManifest
from leaim.data.datasets import shipped_directory as shipped_datasets
from leaim.domain.manifests import contract_problems, load_manifest, read_yaml_document, shipped_directory
from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path


def reference() -> dict[str, Any]:
    return yaml.safe_load((shipped_directory() / "card_fraud.yaml").read_text())


def transactions() -> dict[str, Any]:
    return yaml.safe_load((shipped_datasets() / "transactions.v1.yaml").read_text())


def test_the_shipped_contracts_have_no_problem() -> None:
    assert contract_problems(reference(), UseCaseManifest) == []
    assert contract_problems(transactions(), DatasetContract) == []


def test_typos_in_fields_are_each_named_with_their_path() -> None:
    manifest = reference()
    manifest["inputs"][3]["allowed"] = None
    manifest["inputs"][2].update(minimum=10, maximum=1)
    manifest["features"][1].pop("other")
    manifest["features"][4].pop("high")
    manifest["features"][6].pop("equals")
    manifest["decision"]["review_band"]["low"] = 0.5
    manifest["inputs"][5]["type"] = "int"
    manifest["colour"] = "blue"

    assert contract_problems(manifest, UseCaseManifest) == [
        "inputs.2.minimum: field 'amount': minimum is above maximum",
        "inputs.3.allowed: category field 'merchant_category' needs 'allowed' values",
        "inputs.5.type: Input should be 'string', 'number', 'integer', 'boolean' or 'category'",
        "features.1.other: feature 'amount_to_avg': ratio needs 'other'",
        "features.4.high: feature 'night': in_range needs 'low' and 'high'",
        "features.6.equals: feature 'risky_merchant': indicator needs 'equals'",
        "decision.review_band.low: review band: low must be below high",
        "colour: Extra inputs are not permitted",
    ]


def test_broken_references_are_each_named_with_the_path_of_the_value_that_names_them() -> None:
    manifest = reference()
    manifest["entity_key"] = "card"
    manifest["features"][0]["source"] = "amout"
    manifest["features"][3]["other"] = "home_contry"
    manifest["features"].append({"name": "age", "transform": "identity", "source": "cardholder_age_band"})
    manifest["decision"]["positive_outcome"] = "blocked"
    manifest["fallback"]["outcome"] = "blocked"
    manifest["decision"]["rules"][1]["outcome"] = "escalate"
    manifest["decision"]["rules"][0]["when"].append({"field": "planet", "op": "eq", "value": "mars"})
    manifest["model"]["params"] = {"C": 0, "gamma": 2}
    manifest["inputs"].append(dict(manifest["inputs"][0]))

    assert contract_problems(manifest, UseCaseManifest) == [
        "inputs.9.name: input names must be unique",
        "entity_key: entity_key 'card' is not an input",
        "features.0.source: feature 'log_amount' reads unknown field 'amout'",
        "features.3.other: feature 'foreign' reads unknown field 'home_contry'",
        "features.8.source: feature 'age' reads protected attribute 'cardholder_age_band'",
        "decision.positive_outcome: outcome 'blocked' is not in decision.outcomes",
        "fallback.outcome: outcome 'blocked' is not in decision.outcomes",
        "decision.rules.1.outcome: outcome 'escalate' is not in decision.outcomes",
        "decision.rules.0.when.1.field: rule 'sanctioned_country' tests unknown field 'planet'",
        "model.params.gamma: unsupported logistic_regression param 'gamma'; allowed ['C', 'class_weight', 'max_iter', "
        "'tol']",
        "model.params.C: param C must be in (0.0, 10000.0], got 0",
        "adverse_action.features: adverse_action has no statement for feature 'age'",
    ]


def test_adverse_action_problems_are_each_named_with_their_path() -> None:
    manifest = reference()
    adverse = manifest["adverse_action"]
    adverse["outcomes"] = ["declined", "refused"]
    adverse["features"]["planet"] = {"code": "X01", "statement": "Not a feature."}
    del adverse["features"]["night"]
    adverse["rules"]["amount_over_limt"] = {"code": "R01", "statement": "Not a rule."}
    adverse["max_reasons"] = 5

    assert contract_problems(manifest, UseCaseManifest) == [
        "adverse_action.max_reasons: Input should be less than or equal to 4",
    ]
    adverse["max_reasons"] = 4
    assert contract_problems(manifest, UseCaseManifest) == [
        "adverse_action.outcomes.1: adverse outcome 'refused' is not in decision.outcomes",
        "adverse_action.features: adverse_action has no statement for feature 'night'",
        "adverse_action.features.planet: adverse_action states unknown feature 'planet'",
        "adverse_action.rules.amount_over_limt: adverse_action states unknown rule 'amount_over_limt'",
    ]


def test_dataset_contract_problems_are_named_with_their_paths() -> None:
    contract = transactions()
    contract["fields"][5]["allowed"] = []
    contract["fields"][3]["pii"] = "tokenize"
    contract["record_id"] = "card_id"
    assert contract_problems(contract, DatasetContract) == [
        "fields.3.pii: field 'amount': only string and category fields can be tokenized",
        "fields.5.allowed: category field 'country' needs 'allowed' values",
    ]

    contract = transactions()
    contract["record_id"] = "card_id"
    contract["event_time"] = "hour_of_day"
    contract["label"] = "cardholder_name"
    contract["fields"].append(dict(contract["fields"][0]))
    assert contract_problems(contract, DatasetContract) == [
        "fields.14.name: field names must be unique",
        "record_id: record_id 'card_id' must be a required string field that is not PII",
        "event_time: event_time 'hour_of_day' must be a required timestamp field",
        "label: label 'cardholder_name' must be a boolean or integer field",
    ]


def test_loading_a_broken_manifest_names_its_file_and_every_path(tmp_path: Path) -> None:
    manifest = reference()
    manifest["features"][0]["source"] = "amout"
    manifest["fallback"]["outcome"] = "blocked"
    path = tmp_path / "card_fraud.yaml"
    path.write_text(yaml.safe_dump(manifest))

    with pytest.raises(ConfigurationError) as raised:
        load_manifest(path)

    assert str(raised.value) == (
        f"{path}: features.0.source: feature 'log_amount' reads unknown field 'amout'; "
        "fallback.outcome: outcome 'blocked' is not in decision.outcomes"
    )


def test_a_file_that_is_no_yaml_mapping_cannot_be_read(tmp_path: Path) -> None:
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigurationError, match="must be a YAML mapping, not list"):
        read_yaml_document(listing)
    with pytest.raises(ConfigurationError, match="cannot read the file"):
        read_yaml_document(tmp_path / "absent.yaml")
