"""Dataset contracts: the shipped catalog, additive versions, and datasets that can feed their use case."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import yaml

from leaim.data.datasets import DatasetCatalog, shipped_directory
from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import ConfigurationError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


@pytest.fixture(scope="module")
def manifests() -> ManifestCatalog:
    return ManifestCatalog.from_directory(None)


def shipped(version: str) -> dict[str, Any]:
    document = yaml.safe_load((shipped_directory() / f"transactions.{version}.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def field_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(field for field in document["fields"] if field["name"] == name)


def write(folder: Path, file_name: str, document: dict[str, Any]) -> None:
    (folder / file_name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def folder_with(tmp_path: Path, v2_change: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """The shipped v1 and v2, with `v2_change` applied to v2."""
    write(tmp_path, "transactions.v1.yaml", shipped("v1"))
    v2 = shipped("v2")
    if v2_change is not None:
        v2_change(v2)
    write(tmp_path, "transactions.v2.yaml", v2)
    return tmp_path


def test_shipped_catalog_holds_both_transaction_versions_and_v2_is_latest(manifests: ManifestCatalog) -> None:
    catalog = DatasetCatalog.from_directory(manifests)
    assert catalog.names() == ["transactions"]
    assert catalog.versions("transactions") == ["v1", "v2"]
    latest = catalog.latest("transactions")
    assert latest.version == "v2"
    v1 = catalog.get("transactions", "v1")
    assert v1 is not None
    assert {field.name for field in latest.fields} - {field.name for field in v1.fields} == {"channel", "device_id"}
    assert catalog.get("transactions", "v3") is None
    with pytest.raises(NotFoundError, match="unknown dataset 'payments'"):
        catalog.versions("payments")


def test_copied_shipped_contracts_load_from_another_folder(manifests: ManifestCatalog, tmp_path: Path) -> None:
    catalog = DatasetCatalog.from_directory(manifests, folder_with(tmp_path))
    assert catalog.versions("transactions") == ["v1", "v2"]


def test_versions_are_ordered_by_number_not_by_text(manifests: ManifestCatalog, tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    v10 = shipped("v2")
    v10["version"] = "v10"
    v10["fields"].append({"name": "wallet", "type": "string", "required": False})
    write(folder, "transactions.v10.yaml", v10)
    catalog = DatasetCatalog.from_directory(manifests, folder)
    assert catalog.versions("transactions") == ["v1", "v2", "v10"]
    assert catalog.latest("transactions").version == "v10"


def _change_amount_maximum(v2: dict[str, Any]) -> None:
    field_of(v2, "amount")["maximum"] = 5000


def _remove_country(v2: dict[str, Any]) -> None:
    v2["fields"] = [field for field in v2["fields"] if field["name"] != "country"]


def _require_channel(v2: dict[str, Any]) -> None:
    field_of(v2, "channel")["required"] = True


def _change_label(v2: dict[str, Any]) -> None:
    v2["label"] = None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_change_amount_maximum, "transactions v2 changes field 'amount' of v1"),
        (_remove_country, "transactions v2 removes field 'country' of v1"),
        (_require_channel, "transactions v2 adds field 'channel' as required"),
        (_change_label, "transactions v2 changes label of v1"),
    ],
    ids=["changed-field", "removed-field", "new-required-field", "changed-label"],
)
def test_a_version_that_is_not_additive_is_refused_naming_the_field(
    manifests: ManifestCatalog, tmp_path: Path, change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        DatasetCatalog.from_directory(manifests, folder_with(tmp_path, change))
    assert problem in str(raised.value)


def test_every_problem_is_reported_at_once(manifests: ManifestCatalog, tmp_path: Path) -> None:
    def both(v2: dict[str, Any]) -> None:
        _change_amount_maximum(v2)
        _remove_country(v2)

    with pytest.raises(ConfigurationError) as raised:
        DatasetCatalog.from_directory(manifests, folder_with(tmp_path, both))
    message = str(raised.value)
    assert "changes field 'amount'" in message
    assert "removes field 'country'" in message
    # v2 without `country` also no longer supplies that input of card_fraud.
    assert "transactions v2 has no field for input 'country' of card_fraud" in message


def only_v1(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    v1 = shipped("v1")
    change(v1)
    write(tmp_path, "transactions.v1.yaml", v1)
    return tmp_path


def _unknown_use_case(v1: dict[str, Any]) -> None:
    v1["use_case"] = "loan_risk"


def _no_amount(v1: dict[str, Any]) -> None:
    v1["fields"] = [field for field in v1["fields"] if field["name"] != "amount"]


def _no_home_country(v1: dict[str, Any]) -> None:
    v1["fields"] = [field for field in v1["fields"] if field["name"] != "home_country"]


def _card_id_in_clear(v1: dict[str, Any]) -> None:
    del field_of(v1, "card_id")["pii"]


def _name_in_clear(v1: dict[str, Any]) -> None:
    del field_of(v1, "cardholder_name")["pii"]


def _card_id_dropped(v1: dict[str, Any]) -> None:
    field_of(v1, "card_id")["pii"] = "drop"


def _amount_as_string(v1: dict[str, Any]) -> None:
    field_of(v1, "amount").update(type="string", minimum=None, maximum=None)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_unknown_use_case, "transactions v1 feeds unknown use case 'loan_risk'"),
        (_no_amount, "transactions v1 has no field for input 'amount' of card_fraud"),
        (_no_home_country, "transactions v1 has no field for online feature 'home_country' of card_fraud"),
        (_card_id_in_clear, "field 'card_id' is PII in card_fraud but neither tokenized nor dropped"),
        (_name_in_clear, "field 'cardholder_name' is PII in card_fraud but neither tokenized nor dropped"),
        (_card_id_dropped, "drops 'card_id', the entity key of card_fraud"),
        (_amount_as_string, "field 'amount' is a string, but number is needed"),
    ],
    ids=[
        "unknown-use-case",
        "missing-input",
        "missing-online-feature",
        "pii-entity-in-clear",
        "pii-name-in-clear",
        "entity-key-dropped",
        "mistyped-input",
    ],
)
def test_a_dataset_that_cannot_feed_its_use_case_is_refused(
    manifests: ManifestCatalog, tmp_path: Path, change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        DatasetCatalog.from_directory(manifests, only_v1(tmp_path, change))
    assert problem in str(raised.value)


def test_an_optional_input_may_be_missing(manifests: ManifestCatalog, tmp_path: Path) -> None:
    def no_age_band(v1: dict[str, Any]) -> None:
        v1["fields"] = [field for field in v1["fields"] if field["name"] != "cardholder_age_band"]

    catalog = DatasetCatalog.from_directory(manifests, only_v1(tmp_path, no_age_band))
    assert catalog.versions("transactions") == ["v1"]


def test_file_name_must_match_dataset_and_version(manifests: ManifestCatalog, tmp_path: Path) -> None:
    write(tmp_path, "transactions.v3.yaml", shipped("v1"))
    with pytest.raises(ConfigurationError, match=r"transactions\.v3\.yaml: a contract of transactions\.v1"):
        DatasetCatalog.from_directory(manifests, tmp_path)


def test_a_contract_violating_its_own_schema_is_refused_naming_the_field(
    manifests: ManifestCatalog, tmp_path: Path
) -> None:
    def event_time_as_string(v1: dict[str, Any]) -> None:
        field_of(v1, "event_time")["type"] = "string"

    with pytest.raises(ConfigurationError, match="event_time 'event_time' must be a required timestamp field"):
        DatasetCatalog.from_directory(manifests, only_v1(tmp_path, event_time_as_string))


def test_a_missing_folder_is_a_configuration_error(manifests: ManifestCatalog, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        DatasetCatalog.from_directory(manifests, tmp_path / "nowhere")


@pytest.mark.parametrize("pii", ["tokenize", "drop"])
def test_a_record_id_that_is_pii_is_refused_naming_record_id(
    manifests: ManifestCatalog, tmp_path: Path, pii: str
) -> None:
    def record_id_is_pii(v1: dict[str, Any]) -> None:
        field_of(v1, "transaction_id")["pii"] = pii

    # Record ids are kept in clear in the ledger, the quarantine and reports: one that is personal data cannot be.
    with pytest.raises(ConfigurationError, match="record_id 'transaction_id' must be a required string field"):
        DatasetCatalog.from_directory(manifests, only_v1(tmp_path, record_id_is_pii))
