"""Use-case manifests: YAML files validated by the manifest contract."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from contracts.manifest.v1 import UseCaseManifest
from leaim.exceptions import ConfigurationError, NotFoundError


def load_manifest(path: Path) -> UseCaseManifest:
    """Read and validate one manifest; every problem is reported with the file and field path."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigurationError(f"{path}: not valid YAML: {error}") from error
    try:
        manifest = UseCaseManifest.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(manifest)'}: {item['msg']}" for item in error.errors()
        )
        raise ConfigurationError(f"{path}: {problems}") from error
    if manifest.name != path.stem:
        raise ConfigurationError(f"{path}: manifest name {manifest.name!r} differs from its file name {path.stem!r}")
    return manifest


def shipped_directory() -> Path:
    """The `use_cases` folder shipped inside the `contracts` package."""
    return Path(str(resources.files("contracts") / "use_cases"))


class ManifestCatalog:
    """Every manifest of a folder, loaded once."""

    def __init__(self, manifests: dict[str, UseCaseManifest]) -> None:
        self._manifests = manifests

    @classmethod
    def from_directory(cls, path: Path | None = None) -> ManifestCatalog:
        """Load every `*.yaml` of `path`, or of the shipped folder when `path` is None."""
        folder = path or shipped_directory()
        if not folder.is_dir():
            raise ConfigurationError(f"use case folder {folder} does not exist")
        manifests = {file.stem: load_manifest(file) for file in sorted(folder.glob("*.yaml"))}
        if not manifests:
            raise ConfigurationError(f"use case folder {folder} holds no manifest")
        return cls(manifests)

    def get(self, name: str) -> UseCaseManifest:
        """The manifest of `name`; NotFoundError when there is none."""
        try:
            return self._manifests[name]
        except KeyError:
            raise NotFoundError(f"unknown use case {name!r}") from None

    def names(self) -> list[str]:
        """Names of the loaded use cases."""
        return sorted(self._manifests)
