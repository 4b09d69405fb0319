from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from contracts import published
from contracts.decision.v1 import DecisionRequest
from contracts.inference.v1 import InferenceRequest
from contracts.published import PUBLISHED, render, schema_of, snapshot_path

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_contract_keeps_its_shape(name: str) -> None:
    path = snapshot_path(name)
    assert path.exists(), f"{name} has no snapshot: run `uv run python -m contracts.published --write`"
    committed = json.loads(path.read_text(encoding="utf-8"))
    assert schema_of(name) == committed, (
        f"{name} changed shape. A published contract is never edited: add a new major version, or for an "
        "additive optional field update the snapshot on purpose with `uv run python -m contracts.published --write`"
    )


def test_snapshots_are_rendered_canonically() -> None:
    for name in PUBLISHED:
        assert snapshot_path(name).read_text(encoding="utf-8") == render(schema_of(name))


def test_the_check_command_names_a_contract_whose_snapshot_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PUBLISHED:
        shutil.copy(snapshot_path(name), tmp_path / snapshot_path(name).name)
    edited = tmp_path / "decision.v1.DecisionRequest.json"
    schema = json.loads(edited.read_text(encoding="utf-8"))
    schema["properties"]["channel"] = {"type": "string"}
    edited.write_text(render(schema), encoding="utf-8")
    monkeypatch.setattr(published, "SCHEMAS", tmp_path)
    monkeypatch.setattr("sys.argv", ["published"])
    with pytest.raises(SystemExit, match=r"contracts differ from their snapshots: decision\.v1\.DecisionRequest$"):
        published.main()


def test_contracts_reject_unknown_fields_and_name_them() -> None:
    with pytest.raises(ValidationError) as raised:
        DecisionRequest.model_validate({"request_id": "r-1", "inputs": {}, "colour": "red"})
    assert raised.value.errors()[0]["loc"] == ("colour",)


def test_inference_request_rows_must_match_feature_names() -> None:
    with pytest.raises(ValidationError, match="row 1 has 1 values, expected 2"):
        InferenceRequest(
            request_id="r",
            model_name="m",
            model_version="v1",
            artifact_digest="a" * 64,
            feature_names=["x", "y"],
            rows=[[1.0, 2.0], [3.0]],
            deadline_unix_ms=1,
        )
