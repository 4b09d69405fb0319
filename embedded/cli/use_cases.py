"""`leaim use-case draft` and `leaim use-case validate`: a new use case drafted from a CSV file, and checked offline.

`draft` reads a CSV file as `leaim ingest` reads it and writes a use-case manifest and a dataset contract for a
person to confirm and edit, in a folder shaped as `contracts/` is: `OUT/use_cases/NAME.yaml` and
`OUT/datasets/DATASET.v1.yaml`, where `OUT` is `drafts` in the current directory unless `--out` names another.
Drafts stay out of `contracts/`, whose files the stack registers as bootstrap policies: a draft becomes a policy
once a person has confirmed it and registered it. `validate` checks manifests and dataset contracts without a
stack, each problem on a line of its own led by its file and path, and a dataset contract against the use case it
feeds.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from embedded.cli.exceptions import ApiUsageError
from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    from rich.console import Console

    from contracts.dataset.v1 import DatasetContract
    from contracts.manifest.v1 import UseCaseManifest
    from embedded.cli.options import Commands

Kind = Literal["manifest", "dataset"]

DEFAULT_OUT = Path("drafts")
CONTRACT_KINDS: dict[str, Kind] = {"manifest.v1": "manifest", "dataset.v1": "dataset"}


def register(commands: Commands) -> None:
    """Add `use-case draft` and `use-case validate`."""
    group = commands.add_parser(
        "use-case", help="draft a use case from a CSV file, or validate manifests and dataset contracts offline"
    )
    actions = group.add_subparsers(dest="use_case_command", required=True)
    draft = actions.add_parser(
        "draft", help="draft a use-case manifest and a dataset contract from a CSV file, for a person to edit"
    )
    draft.add_argument("--from-csv", dest="csv", type=Path, required=True, metavar="FILE", help="a .csv with a header")
    draft.add_argument("--target", required=True, metavar="COLUMN", help="the label column: true/false or 0/1")
    draft.add_argument("--name", help="the use case's name (default: the file's name, e.g. loan_applications)")
    draft.add_argument("--dataset", help="the dataset's name (default: the file's name)")
    draft.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="folder to write use_cases/ and datasets/ in (default: drafts)"
    )
    draft.add_argument("--force", action="store_true", help="replace drafts that exist")
    draft.set_defaults(run=_draft)
    validate = actions.add_parser(
        "validate", help="check manifests and dataset contracts offline, naming each problem with its path"
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE", help="a manifest or dataset contract (.yaml)")
    validate.add_argument(
        "--use-cases",
        type=Path,
        help="folder of the manifests that dataset contracts feed, when not among the files (default: the shipped)",
    )
    validate.set_defaults(run=_validate)


def _print(console: Console, line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _file_name(stem: str) -> str:
    """A use case or dataset name from a file's name: lowercase, with _ for what a name cannot hold."""
    return re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")


def _read_csv(path: Path) -> tuple[list[str], list[Mapping[str, object]]]:
    """The header and the rows of a CSV file, each cell typed as `leaim ingest` types it."""
    from embedded.clients.records import EXTRA_CELLS, read_records

    if path.suffix.lower() != ".csv":
        raise ApiUsageError(f"{path}: expected a .csv file")
    with path.open(encoding="utf-8-sig", newline="") as text:
        header = next(csv.reader(text), None)
    if not header:
        raise ConfigurationError(f"{path}: the file is empty; a header row comes first")
    rows: list[Mapping[str, object]] = []
    for number, record in enumerate(read_records(path), start=2):
        if not isinstance(record, dict):
            raise ConfigurationError(f"{path}: line {number} is not a row")
        if EXTRA_CELLS in record:
            raise ConfigurationError(f"{path}: line {number} has more cells than the header")
        rows.append(record)
    return header, rows


def _draft(arguments: argparse.Namespace, console: Console) -> int:
    """Write both drafts and print what was guessed and what to confirm; refuses to replace drafts without --force."""
    from leaim.data.datasets import feed_problems
    from leaim.domain.manifests import ManifestCatalog
    from leaim.domain.onboarding import draft_use_case

    path: Path = arguments.csv
    header, rows = _read_csv(path)
    dataset = arguments.dataset or _file_name(path.stem)
    name = arguments.name or dataset
    try:
        draft = draft_use_case(header, rows, target=arguments.target, name=name, dataset=dataset, source=path.name)
    except ConfigurationError as error:
        raise ConfigurationError(f"{path}: {error}") from error
    catalog: dict[str, UseCaseManifest] = {draft.manifest.name: draft.manifest}
    problems = feed_problems(draft.dataset, ManifestCatalog(catalog))
    if problems:
        raise ConfigurationError(f"{path}: the drafted dataset cannot feed its use case: {'; '.join(problems)}")
    out: Path = arguments.out
    targets = {
        out / "use_cases" / f"{name}.yaml": draft.manifest_yaml,
        out / "datasets" / f"{dataset}.v1.yaml": draft.dataset_yaml,
    }
    existing = [target for target in targets if target.exists()]
    if existing and not arguments.force:
        raise ApiUsageError(f"{existing[0]} exists: give --force to replace it")
    for target, text in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        _print(console, f"Wrote {target}")
    _print(console, "Guessed:")
    for line in draft.guessed:
        _print(console, f"  {line}")
    _print(console, "Confirm, then edit what is not so:")
    for line in draft.to_confirm:
        _print(console, f"  {line}")
    _print(console, f"Check the edited files with: leaim use-case validate {' '.join(str(t) for t in targets)}")
    return 0


@dataclass
class _Checked:
    """One file's verdict: its contract when valid, else its problems; `unreadable` when it is no YAML mapping."""

    path: Path
    problems: list[str] = field(default_factory=list)
    kind: Kind | None = None
    declared_name: object = None
    manifest: UseCaseManifest | None = None
    dataset: DatasetContract | None = None
    unreadable: str | None = None
    note: str = ""


def _kind(document: dict[str, object]) -> tuple[Kind | None, str]:
    """Which contract a document is, by its `schema_version`, else by its shape; when neither, the problem."""
    version = document.get("schema_version")
    if version is not None:
        known = CONTRACT_KINDS.get(str(version))
        return known, "" if known else f"schema_version: {version!r} is neither of {', '.join(CONTRACT_KINDS)}"
    if "dataset" in document or "fields" in document:
        return "dataset", ""
    if "inputs" in document or "entity_key" in document:
        return "manifest", ""
    return None, (
        "(top level): neither a use-case manifest (inputs, features, ...) nor a dataset contract (dataset, fields)"
    )


def _check(path: Path) -> _Checked:
    from contracts.dataset.v1 import DatasetContract
    from contracts.manifest.v1 import UseCaseManifest
    from leaim.domain.manifests import contract_problems, read_yaml_document

    checked = _Checked(path)
    try:
        document = read_yaml_document(path)
    except ConfigurationError as error:
        # A YAML error spans lines (where it is, what it found): one line each file, as the problems are.
        checked.unreadable = " ".join(str(error).split())
        return checked
    kind, problem = _kind(document)
    checked.kind = kind
    checked.declared_name = document.get("name")
    if kind == "manifest":
        checked.problems = contract_problems(document, UseCaseManifest)
        if not checked.problems:
            checked.manifest = UseCaseManifest.model_validate(document)
            if checked.manifest.name != path.stem:
                checked.problems.append(
                    f"name: manifest name {checked.manifest.name!r} differs from its file name {path.stem!r}"
                )
    elif kind == "dataset":
        checked.problems = contract_problems(document, DatasetContract)
        if not checked.problems:
            checked.dataset = DatasetContract.model_validate(document)
            expected = f"{checked.dataset.dataset}.{checked.dataset.version}"
            if path.name.removesuffix(".yaml") != expected:
                checked.problems.append(f"dataset: a contract of {expected} must be in the file {expected}.yaml")
    else:
        checked.problems = [problem]
    return checked


def _check_feed(checked: _Checked, contract: DatasetContract, given: dict[str, _Checked], folder: Path) -> None:
    """Check a valid dataset `contract` against the use case it feeds: a manifest given, else one of `folder`."""
    from leaim.data.datasets import feed_problems
    from leaim.domain.manifests import ManifestCatalog, load_manifest
    from leaim.domain.onboarding import feed_problem_paths

    name = contract.use_case
    manifest = given[name].manifest if name in given else None
    if name in given and manifest is None:
        checked.note = f", feeding use case {name}: not checked, its manifest has problems"
        return
    if manifest is None:
        candidate = folder / f"{name}.yaml"
        if not candidate.is_file():
            checked.note = f", feeding use case {name}: not checked, no manifest of it among the files or in {folder}"
            return
        try:
            manifest = load_manifest(candidate)
        except ConfigurationError as error:
            checked.problems.append(f"use_case: the manifest of {name} does not load: {error}")
            return
    catalog: dict[str, UseCaseManifest] = {name: manifest}
    checked.problems += feed_problem_paths(feed_problems(contract, ManifestCatalog(catalog)), contract)
    checked.note = f", feeding use case {name}"


def _validate(arguments: argparse.Namespace, console: Console) -> int:
    """0 when every file is valid, 1 when any has a problem, 2 when any cannot be read as YAML."""
    from leaim.domain.manifests import shipped_directory

    folder: Path = arguments.use_cases or shipped_directory()
    results = [_check(path) for path in arguments.files]
    # A manifest given with problems still speaks for its use case: a dataset feeding it is not checked elsewhere.
    given: dict[str, _Checked] = {}
    for checked in results:
        if checked.kind == "manifest" and isinstance(checked.declared_name, str):
            given.setdefault(checked.declared_name, checked)
    for checked in results:
        if checked.dataset is not None and not checked.problems:
            _check_feed(checked, checked.dataset, given, folder)
    for checked in results:
        if checked.unreadable is not None:
            _print(console, checked.unreadable)
        elif checked.problems:
            for problem in checked.problems:
                _print(console, f"{checked.path}: {problem}")
        elif checked.manifest is not None:
            _print(console, f"{checked.path}: valid (use case {checked.manifest.name})")
        elif checked.dataset is not None:
            contract = checked.dataset
            _print(console, f"{checked.path}: valid (dataset {contract.dataset} {contract.version}{checked.note})")
    if any(checked.unreadable is not None for checked in results):
        return 2
    return 1 if any(checked.problems for checked in results) else 0
