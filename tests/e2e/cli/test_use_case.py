"""`leaim use-case draft` and `validate` as a new user runs them: from the shipped CSV to drafts that validate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml

from embedded.cli import main
from embedded.loans import SHIPPED_FILE
from leaim.domain.manifests import load_manifest

if TYPE_CHECKING:
    from pathlib import Path


def leaim(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    """Run the command; its exit status, and what it printed on stdout and stderr."""
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(tmp_path / "state"), *argv])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def draft(capsys: pytest.CaptureFixture[str], tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    return leaim(
        capsys,
        tmp_path,
        "use-case",
        "draft",
        "--from-csv",
        str(SHIPPED_FILE),
        "--target",
        "defaulted",
        "--name",
        "loan_default",
        "--out",
        str(tmp_path / "contracts"),
        *extra,
    )


def test_a_use_case_drafted_from_the_shipped_csv_validates_and_a_broken_field_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = tmp_path / "contracts" / "use_cases" / "loan_default.yaml"
    dataset = tmp_path / "contracts" / "datasets" / "loan_applications.v1.yaml"

    status, out, _ = draft(capsys, tmp_path)

    assert status == 0
    assert f"Wrote {manifest}" in out
    assert f"Wrote {dataset}" in out
    assert "record id: application_id (text, unique in every row)" in out
    assert "applicant_name: personal data (a person's name), dropped before anything is stored" in out
    assert "age_band: protected attribute, kept for bias monitoring and never a model feature" in out
    assert load_manifest(manifest).name == "loan_default"

    status, out, _ = leaim(capsys, tmp_path, "use-case", "validate", str(manifest), str(dataset))
    assert status == 0
    assert out.splitlines() == [
        f"{manifest}: valid (use case loan_default)",
        f"{dataset}: valid (dataset loan_applications v1, feeding use case loan_default)",
    ]

    document = yaml.safe_load(manifest.read_text())
    position = next(index for index, item in enumerate(document["features"]) if item["source"] == "purpose")
    document["features"][position]["source"] = "purpse"
    document["decision"]["negative_outcome"] = "approve"
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))

    status, out, _ = leaim(capsys, tmp_path, "use-case", "validate", str(manifest), str(dataset))
    assert status == 1
    name = document["features"][position]["name"]
    assert out.splitlines() == [
        f"{manifest}: features.{position}.source: feature {name!r} reads unknown field 'purpse'",
        f"{manifest}: decision.negative_outcome: outcome 'approve' is not in decision.outcomes",
        f"{dataset}: valid (dataset loan_applications v1, feeding use case loan_default: not checked, its manifest "
        "has problems)",
    ]


def test_drafts_go_to_the_drafts_folder_by_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    status, out, _ = leaim(
        capsys, tmp_path, "use-case", "draft", "--from-csv", str(SHIPPED_FILE), "--target", "defaulted"
    )

    assert status == 0
    assert (tmp_path / "drafts" / "use_cases" / "loan_applications.yaml").is_file()
    assert (tmp_path / "drafts" / "datasets" / "loan_applications.v1.yaml").is_file()
    assert out.splitlines()[-1] == (
        "Check the edited files with: leaim use-case validate drafts/use_cases/loan_applications.yaml "
        "drafts/datasets/loan_applications.v1.yaml"
    )


def test_drafts_are_not_replaced_without_force(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert draft(capsys, tmp_path)[0] == 0
    manifest = tmp_path / "contracts" / "use_cases" / "loan_default.yaml"
    manifest.write_text("edited by a person\n")

    status, _, err = draft(capsys, tmp_path)
    assert status == 2
    assert err == f"leaim: {manifest} exists: give --force to replace it\n"
    assert manifest.read_text() == "edited by a person\n"

    assert draft(capsys, tmp_path, "--force")[0] == 0
    assert manifest.read_text().startswith("# Use case loan_default")


def test_a_csv_lacking_what_a_contract_needs_is_refused_and_nothing_is_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = SHIPPED_FILE.read_text().splitlines()
    without_time = tmp_path / "applications.csv"
    without_time.write_text("\n".join(",".join(line.split(",")[:1] + line.split(",")[2:]) for line in lines) + "\n")

    status, out, err = leaim(
        capsys, tmp_path, "use-case", "draft", "--from-csv", str(without_time), "--target", "defaulted"
    )

    assert status == 2
    assert out == ""
    assert err.startswith(f"leaim: {without_time}: no column of ISO 8601 times with a UTC offset")
    assert err.count("\n") == 1
    assert not (tmp_path / "drafts").exists()


def test_a_dataset_contract_is_checked_against_the_use_case_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert draft(capsys, tmp_path)[0] == 0
    folder = tmp_path / "contracts" / "use_cases"
    dataset = tmp_path / "contracts" / "datasets" / "loan_applications.v1.yaml"
    document = yaml.safe_load(dataset.read_text())
    position = next(index for index, item in enumerate(document["fields"]) if item["name"] == "applicant_name")
    document["fields"][position].pop("pii")
    dataset.write_text(yaml.safe_dump(document, sort_keys=False))

    status, out, _ = leaim(capsys, tmp_path, "use-case", "validate", str(dataset), "--use-cases", str(folder))

    assert status == 1
    assert out.splitlines() == [
        f"{dataset}: fields.{position}.pii: loan_applications v1: field 'applicant_name' is PII in loan_default but "
        "neither tokenized nor dropped"
    ]
    status, out, _ = leaim(capsys, tmp_path, "use-case", "validate", str(dataset))
    assert status == 0
    assert "not checked, no manifest of it among the files or in" in out


def test_a_file_that_cannot_be_read_exits_2_and_the_others_are_still_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    other = tmp_path / "other.yaml"
    other.write_text("colour: blue\n")

    status, out, _ = leaim(capsys, tmp_path, "use-case", "validate", str(broken), str(other))

    assert status == 2
    lines = out.splitlines()
    assert lines[0].startswith(f"{broken}: not valid YAML")
    assert lines[-1] == f"{other}: (top level): neither a use-case manifest (inputs, features, ...) nor a dataset " + (
        "contract (dataset, fields)"
    )
