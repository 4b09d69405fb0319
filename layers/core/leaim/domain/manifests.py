"""Use-case manifests: YAML files validated by the manifest contract.

A broken manifest is a `ConfigurationError` raised while the catalog is built, at cold start, so a
deployment with a bad manifest fails before it serves a single request.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import yaml
from pydantic import ValidationError

from contracts.manifest.v1 import UseCaseManifest
from leaim.exceptions import ConfigurationError, NotFoundError

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic_core import ErrorDetails

    ContractT = TypeVar("ContractT", bound=BaseModel)


# libyaml's safe loader where PyYAML was built with it (parsing the manifests at init is 10x faster), else PyYAML's.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_manifest(path: Path) -> UseCaseManifest:
    """Read and validate one manifest; its file stem must equal its `name`.

    Raises `ConfigurationError` naming the file and, for contract errors, every offending field path.
    """
    manifest = load_yaml_contract(path, UseCaseManifest)
    if manifest.name != path.stem:
        raise ConfigurationError(f"{path}: manifest name {manifest.name!r} differs from its file name {path.stem!r}")
    return manifest


def load_yaml_contract(path: Path, contract: type[ContractT]) -> ContractT:
    """Read one YAML file and validate it as `contract`.

    Raises `ConfigurationError` naming the file and, for contract errors, every offending field path.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"{path}: cannot read the manifest: {error}") from error
    try:
        document = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        raise ConfigurationError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise ConfigurationError(f"{path}: a contract must be a YAML mapping, not {type(document).__name__}")
    try:
        return contract.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(_describe(item) for item in error.errors())
        raise ConfigurationError(f"{path}: {problems}") from error


def _describe(item: ErrorDetails) -> str:
    location = ".".join(str(part) for part in item["loc"]) or "(manifest)"
    return f"{location}: {item['msg'].removeprefix('Value error, ')}"


def shipped_directory() -> Path:
    """The `use_cases` folder shipped inside the `contracts` package."""
    return Path(str(resources.files("contracts") / "use_cases"))


class ManifestCatalog:
    """The use cases a deployment serves, loaded once and looked up by name."""

    def __init__(self, manifests: dict[str, UseCaseManifest]) -> None:
        """Hold `manifests`, keyed by use-case name."""
        self._manifests = dict(manifests)

    @classmethod
    def from_directory(cls, path: Path | None = None) -> ManifestCatalog:
        """Load every `*.yaml` of `path`, or of the folder shipped in `contracts` when `path` is None."""
        folder = path or shipped_directory()
        if not folder.is_dir():
            raise ConfigurationError(f"use case folder {folder} does not exist")
        manifests = {file.stem: load_manifest(file) for file in sorted(folder.glob("*.yaml"))}
        if not manifests:
            raise ConfigurationError(f"use case folder {folder} holds no manifest")
        return cls(manifests)

    def get(self, name: str) -> UseCaseManifest:
        """The manifest of `name`; `NotFoundError` when there is none."""
        try:
            return self._manifests[name]
        except KeyError:
            raise NotFoundError(f"unknown use case {name!r}") from None

    def names(self) -> list[str]:
        """Names of the loaded use cases, sorted."""
        return sorted(self._manifests)
