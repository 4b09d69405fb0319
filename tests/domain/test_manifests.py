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
