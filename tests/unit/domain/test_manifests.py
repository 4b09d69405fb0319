from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml

from leaim.domain.manifests import ManifestCatalog, load_manifest, shipped_directory
from leaim.exceptions import ConfigurationError, NotFoundError

if TYPE_CHECKING:
    from pathlib import Path


def reference() -> dict:
    return yaml.safe_load((shipped_directory() / "card_fraud.yaml").read_text())


def write(tmp_path: Path, document: dict | str, name: str = "card_fraud") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def test_the_shipped_reference_use_case_loads() -> None:
    catalog = ManifestCatalog.from_directory(None)
    manifest = catalog.get("card_fraud")
    assert catalog.names() == ["card_fraud"]
    assert manifest.entity_key == "card_id"
    assert {f.name for f in manifest.inputs if f.pii} == {"card_id", "cardholder_name"}
    assert [f.name for f in manifest.inputs if f.protected] == ["cardholder_age_band"]


def test_unknown_use_case_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="mortgage"):
        ManifestCatalog.from_directory(None).get("mortgage")


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "name: [unclosed")
    with pytest.raises(ConfigurationError, match=r"card_fraud\.yaml: not valid YAML"):
        load_manifest(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["decision"].update(positive_outcome="blocked"), "outcome 'blocked' is not in decision.outcomes"),
        (
            lambda m: m["features"].append({"name": "age", "transform": "identity", "source": "cardholder_age_band"}),
            "reads protected attribute 'cardholder_age_band'",
        ),
        (
            lambda m: m["features"].append({"name": "z", "transform": "identity", "source": "zip_code"}),
            "reads unknown field 'zip_code'",
        ),
        (lambda m: m.update(latency_budget_ms=-5), "latency_budget_ms"),
        (lambda m: m["inputs"][2].update(minimum=10, maximum=1), "minimum is above maximum"),
        (lambda m: m["fallback"].update(outcome="escalated"), "outcome 'escalated' is not in decision.outcomes"),
        (
            lambda m: m["decision"]["rules"][0]["when"][0].update(field="planet"),
            "rule 'sanctioned_country' tests unknown field 'planet'",
        ),
        (lambda m: m.update(entity_key="iban"), "entity_key 'iban' is not an input"),
    ],
)
def test_broken_manifests_are_refused_naming_the_problem(tmp_path: Path, change, message: str) -> None:
    document = reference()
    change(document)
    with pytest.raises(ConfigurationError, match=message):
        load_manifest(write(tmp_path, document))


def test_file_name_must_match_the_manifest_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="differs from its file name"):
        load_manifest(write(tmp_path, reference(), name="fraud"))


def test_unknown_fields_and_unknown_rule_fields_are_named(tmp_path: Path) -> None:
    document = reference()
    document["colour"] = "blue"
    document["decision"]["rules"][0]["when"][0]["field"] = "planet"
    with pytest.raises(ConfigurationError) as raised:
        load_manifest(write(tmp_path, document))
    message = str(raised.value)
    assert "card_fraud.yaml" in message
    assert "colour: Extra inputs are not permitted" in message


def test_every_problem_is_named_with_its_field_path(tmp_path: Path) -> None:
    document = reference()
    document["inputs"][0]["type"] = "text"
    document["latency_budget_ms"] = 0
    with pytest.raises(ConfigurationError) as raised:
        load_manifest(write(tmp_path, document))
    assert "inputs.0.type:" in str(raised.value)
    assert "latency_budget_ms:" in str(raised.value)


def test_a_document_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="must be a YAML mapping"):
        load_manifest(write(tmp_path, "- just\n- a list\n"))


def test_a_catalog_loads_every_manifest_of_a_folder(tmp_path: Path) -> None:
    write(tmp_path, reference())
    second = reference()
    second["name"] = "card_fraud_eu"
    write(tmp_path, second, name="card_fraud_eu")
    (tmp_path / "notes.txt").write_text("not a manifest")
    catalog = ManifestCatalog.from_directory(tmp_path)
    assert catalog.names() == ["card_fraud", "card_fraud_eu"]
    assert catalog.get("card_fraud_eu").name == "card_fraud_eu"


def test_a_catalog_refuses_a_misnamed_broken_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        ManifestCatalog.from_directory(tmp_path / "absent")
    with pytest.raises(ConfigurationError, match="holds no manifest"):
        ManifestCatalog.from_directory(tmp_path)
    write(tmp_path, reference(), name="fraud")
    with pytest.raises(ConfigurationError, match="differs from its file name"):
        ManifestCatalog.from_directory(tmp_path)
