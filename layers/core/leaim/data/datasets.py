"""Dataset contracts: every version of every dataset, loaded once and checked against the use cases they feed.

A broken contract is a `ConfigurationError` at cold start: a version that is not additive over the one
before it, or a dataset that cannot supply the inputs and online features of its use case.
"""

from __future__ import annotations

import itertools
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from contracts.dataset.v1 import DatasetContract
from leaim.domain.manifests import load_yaml_contract, problem_lines
from leaim.domain.policies import accepted_versions
from leaim.exceptions import ConfigurationError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contracts.dataset.v1 import DatasetField
    from leaim.domain.manifests import ManifestCatalog
    from leaim.domain.policies import LivePolicies

# Which dataset field types can carry a value of a use case's input or online feature type.
_CARRIES = {
    "string": {"string", "category"},
    "category": {"category"},
    "number": {"number", "integer"},
    "integer": {"integer"},
    "boolean": {"boolean"},
}


def shipped_directory() -> Path:
    """The `datasets` folder shipped inside the `contracts` package."""
    return Path(str(resources.files("contracts") / "datasets"))


def _version_number(version: str) -> int:
    return int(version.removeprefix("v"))


def load_dataset_contract(path: Path) -> DatasetContract:
    """Read and validate one dataset contract; its file must be named `<dataset>.<version>.yaml`."""
    contract = load_yaml_contract(path, DatasetContract)
    expected = f"{contract.dataset}.{contract.version}"
    if path.name.removesuffix(".yaml") != expected:
        raise ConfigurationError(f"{path}: a contract of {expected} must be in the file {expected}.yaml")
    return contract


def additive_problems(earlier: DatasetContract, later: DatasetContract) -> list[str]:
    """Why `later` is not an additive change of `earlier`: a field removed or changed, a new field required."""
    problems = []
    before = {field.name: field for field in earlier.fields}
    after = {field.name: field for field in later.fields}
    where = f"{later.dataset} {later.version}"
    problems += [f"{where} removes field {name!r} of {earlier.version}" for name in before if name not in after]
    problems += [
        f"{where} changes field {name!r} of {earlier.version}"
        for name, field in before.items()
        if name in after and after[name] != field
    ]
    problems += [
        f"{where} adds field {name!r} as required" for name, f in after.items() if name not in before and f.required
    ]
    for key in ("record_id", "event_time", "use_case", "label"):
        if getattr(earlier, key) != getattr(later, key):
            problems.append(f"{where} changes {key} of {earlier.version}")
    return problems


def feed_problems(contract: DatasetContract, manifests: ManifestCatalog) -> list[str]:
    """Why `contract` cannot supply its use case: a missing or mistyped input or online feature, unminimized PII."""
    where = f"{contract.dataset} {contract.version}"
    try:
        manifest = manifests.get(contract.use_case)
    except NotFoundError:
        return [f"{where} feeds unknown use case {contract.use_case!r}"]
    fields = {field.name: field for field in contract.fields}
    problems = []
    for wanted in manifest.inputs:
        field = fields.get(wanted.name)
        if field is None:
            if wanted.required:
                problems.append(f"{where} has no field for input {wanted.name!r} of {manifest.name}")
            continue
        problems += _type_problems(where, field, wanted.type, wanted.allowed)
        if wanted.pii and not field.pii:
            problems.append(
                f"{where}: field {field.name!r} is PII in {manifest.name} but neither tokenized nor dropped"
            )
    for online in manifest.online_features:
        field = fields.get(online.name)
        if field is None:
            problems.append(f"{where} has no field for online feature {online.name!r} of {manifest.name}")
        else:
            problems += _type_problems(where, field, online.type, None)
    entity = fields.get(manifest.entity_key)
    if entity is not None and entity.pii == "drop":
        problems.append(f"{where} drops {manifest.entity_key!r}, the entity key of {manifest.name}")
    return problems


def _type_problems(where: str, field: DatasetField, wanted: str, allowed: list[str] | None) -> list[str]:
    if field.type not in _CARRIES.get(wanted, set()):
        return [f"{where}: field {field.name!r} is a {field.type}, but {wanted} is needed"]
    if allowed is not None and field.allowed is not None and not set(field.allowed) <= set(allowed):
        return [f"{where}: field {field.name!r} allows values its use case does not"]
    return []


class DatasetCatalog:
    """The dataset contracts a deployment accepts, by dataset and version.

    Built from files (`from_directory`), it accepts those. Built `live` on the policy registry, a registered
    dataset accepts its active version and those active before it (less the retired ones); a bootstrap file
    speaks only for a dataset the registry does not know yet.
    """

    def __init__(
        self, contracts: Mapping[str, Mapping[str, DatasetContract]], *, policies: LivePolicies | None = None
    ) -> None:
        """Hold `contracts` (the bootstrap files), keyed by dataset then version, and the registry's `policies`."""
        self._files = {name: dict(versions) for name, versions in contracts.items()}
        self._policies = policies
        self._parsed: dict[tuple[str, int], DatasetContract] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_directory(cls, manifests: ManifestCatalog, path: Path | None = None) -> DatasetCatalog:
        """Load every `*.yaml` of `path` (default: the folder shipped in `contracts`) and check them all."""
        return cls(contract_files(manifests, path))

    @classmethod
    def live(cls, policies: LivePolicies, manifests: ManifestCatalog, path: Path | None = None) -> DatasetCatalog:
        """The registry's accepted versions, with the files of `path` (or the shipped ones) for unregistered names."""
        return cls(contract_files(manifests, path), policies=policies)

    def files(self) -> dict[str, dict[str, DatasetContract]]:
        """The bootstrap contracts, by dataset then version."""
        return {name: dict(versions) for name, versions in self._files.items()}

    def names(self) -> list[str]:
        """Names of the datasets, sorted."""
        if self._policies is None:
            return sorted(self._files)
        heads = self._policies.heads("dataset")
        accepting = {name for name, head in heads.items() if accepted_versions(head)}
        return sorted(accepting | (set(self._files) - set(heads)))

    def versions(self, dataset: str) -> list[str]:
        """The versions of `dataset`, oldest first; `NotFoundError` for an unknown dataset."""
        return sorted(self._versions(dataset), key=_version_number)

    def get(self, dataset: str, version: str) -> DatasetContract | None:
        """One version of `dataset`, or None when that version does not exist."""
        return self._versions(dataset).get(version)

    def latest(self, dataset: str) -> DatasetContract:
        """The newest version of `dataset`: its fields are a superset of every older version's."""
        versions = self._versions(dataset)
        return versions[max(versions, key=_version_number)]

    def _versions(self, dataset: str) -> dict[str, DatasetContract]:
        if self._policies is not None:
            head = self._policies.heads("dataset").get(dataset)
            if head is not None:
                found = {f"v{number}": self._registered(dataset, number) for number in accepted_versions(head)}
                if found:
                    return found
                raise NotFoundError(f"dataset {dataset!r} accepts no contract version")
        try:
            return self._files[dataset]
        except KeyError:
            raise NotFoundError(f"unknown dataset {dataset!r}") from None

    def _registered(self, dataset: str, number: int) -> DatasetContract:
        with self._lock:
            found = self._parsed.get((dataset, number))
        if found is not None:
            return found
        assert self._policies is not None
        registered = self._policies.version("dataset", dataset, number)
        if registered is None:
            raise NotFoundError(f"dataset {dataset!r} has no registered version {number}")
        try:
            found = DatasetContract.model_validate(registered.document)
        except ValidationError as error:
            problems = "; ".join(problem_lines(error, registered.document))
            raise ConfigurationError(f"dataset {dataset} v{number} does not validate: {problems}") from error
        with self._lock:
            self._parsed[(dataset, number)] = found
        return found


def contract_files(manifests: ManifestCatalog, path: Path | None = None) -> dict[str, dict[str, DatasetContract]]:
    """Every `*.yaml` contract of `path` (default: the shipped folder), checked: additive and feeding its use case."""
    folder = path or shipped_directory()
    if not folder.is_dir():
        raise ConfigurationError(f"dataset contract folder {folder} does not exist")
    contracts: dict[str, dict[str, DatasetContract]] = {}
    for file in sorted(folder.glob("*.yaml")):
        contract = load_dataset_contract(file)
        contracts.setdefault(contract.dataset, {})[contract.version] = contract
    problems: list[str] = []
    for versions in contracts.values():
        ordered = sorted(versions.values(), key=lambda c: _version_number(c.version))
        for earlier, later in itertools.pairwise(ordered):
            problems += additive_problems(earlier, later)
        for contract in ordered:
            problems += feed_problems(contract, manifests)
    if problems:
        raise ConfigurationError("dataset contracts: " + "; ".join(problems))
    return contracts
