"""Use-case manifests: YAML files validated by the manifest contract.

A broken manifest is a `ConfigurationError` raised while the catalog is built, at cold start, so a
deployment with a bad manifest fails before it serves a single request.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import yaml
from pydantic import ValidationError

from contracts.decision.v1 import PolicyRef
from contracts.manifest.v1 import UseCaseManifest
from leaim.domain.policies import policy_digest
from leaim.exceptions import ConfigurationError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import BaseModel

    from leaim.domain.policies import LivePolicies

    ContractT = TypeVar("ContractT", bound=BaseModel)

# A path into a manifest or contract: mapping keys and list positions.
Location = tuple[str | int, ...]


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
    document = read_yaml_document(path)
    try:
        return contract.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(problem_lines(error, document))
        raise ConfigurationError(f"{path}: {problems}") from error


def read_yaml_document(path: Path) -> dict[str, object]:
    """Read one YAML file holding a mapping; `ConfigurationError` naming the file if it is unreadable, not YAML or
    not a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"{path}: cannot read the file: {error}") from error
    try:
        document = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        raise ConfigurationError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise ConfigurationError(f"{path}: a contract must be a YAML mapping, not {type(document).__name__}")
    return document


def contract_problems(document: dict[str, object], contract: type[BaseModel]) -> list[str]:
    """Every reason `document` is not a valid `contract`, one a line led by its path; empty when it is valid."""
    try:
        contract.model_validate(document)
    except ValidationError as error:
        return problem_lines(error, document)
    return []


def problem_lines(error: ValidationError, document: object) -> list[str]:
    """Every problem of `error`, one a line, each led by the path of the value at fault in `document`."""
    return [_describe(problem.location, problem.message) for problem in located_problems(error, document)]


@dataclass(frozen=True, slots=True)
class LocatedProblem:
    """One problem of a document: the path of the value at fault, what is wrong, and pydantic's error type."""

    location: Location
    message: str
    type: str


def located_problems(error: ValidationError, document: object) -> list[LocatedProblem]:
    """Every problem of `error`, each with the path of the value at fault in `document`.

    A model's own check joins its problems with "; ": each becomes a problem of its own, with the path of the value
    it names where that can be told (`features.2.source`), else the path of the model it checks.
    """
    problems: list[LocatedProblem] = []
    for item in error.errors():
        location = tuple(item["loc"])
        if item["type"] != "value_error":
            problems.append(LocatedProblem(location, item["msg"], item["type"]))
            continue
        used: set[Location] = set()
        node = _node(document, location)
        for problem in _split(item["msg"].removeprefix("Value error, ")):
            problems.append(LocatedProblem(_locate(problem, document, node, location, used), problem, item["type"]))
    return problems


def _describe(location: Location, message: str) -> str:
    return f"{'.'.join(str(part) for part in location) or '(top level)'}: {message}"


# Parts of one problem that its own text joins with "; " (`param_problems`: "...; allowed [...]", "...; known: [...]").
_CONTINUATIONS = ("allowed ", "known: ")


def _split(message: str) -> list[str]:
    problems: list[str] = []
    for part in message.split("; "):
        if problems and part.startswith(_CONTINUATIONS):
            problems[-1] += f"; {part}"
        else:
            problems.append(part)
    return problems


def _node(document: object, location: Location) -> object:
    """The value at `location` in `document`, or None where there is none."""
    node = document
    for part in location:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _items(document: object, *location: str | int) -> list[tuple[int, dict[str, object]]]:
    """The mappings of the list at `location`, with their positions."""
    found = _node(document, location)
    if not isinstance(found, list):
        return []
    return [(index, item) for index, item in enumerate(found) if isinstance(item, dict)]


# What a model's check says, and the key of the model (at the check's location) that holds the value at fault.
_KEY_OF_PROBLEM = (
    (re.compile(r"category field .* needs 'allowed' values$"), "allowed"),
    (re.compile(r"field .*: minimum is above maximum$"), "minimum"),
    (re.compile(r"field .*: only string and category fields can be tokenized$"), "pii"),
    (re.compile(r"feature .*: (ratio|mismatch) needs 'other'$"), "other"),
    (re.compile(r"feature .*: indicator needs 'equals'$"), "equals"),
    (re.compile(r"review band: low must be below high$"), "low"),
    (re.compile(r"(?P<key>entity_key|record_id|event_time|label) "), None),
)


def _locate(problem: str, document: object, node: object, location: Location, used: set[Location]) -> Location:
    """The path of the value `problem` names, one not `used` by an earlier identical problem; else `location`."""
    for pattern, key in _KEY_OF_PROBLEM:
        match = pattern.match(problem)
        if match:
            return (*location, key or match.group("key"))
    if problem.startswith("feature ") and problem.endswith("in_range needs 'low' and 'high'"):
        missing = "high" if isinstance(node, dict) and node.get("low") is not None else "low"
        return (*location, missing)
    candidates = _candidates(problem, document)
    for candidate in candidates:
        if candidate not in used:
            used.add(candidate)
            return candidate
    return candidates[0] if candidates else location


def _candidates(problem: str, document: object) -> list[Location]:
    """Where in a whole manifest or contract the value that a reference problem names can be."""
    if match := re.fullmatch(r"(?P<kind>input|field) names must be unique", problem):
        key = "inputs" if match.group("kind") == "input" else "fields"
        seen: set[object] = set()
        repeats: list[Location] = []
        for index, item in _items(document, key):
            if item.get("name") in seen:
                repeats.append((key, index, "name"))
            seen.add(item.get("name"))
        return repeats
    if match := re.fullmatch(
        r"feature '(?P<feature>[^']*)' reads (?:unknown field|protected attribute) (?P<field>.+)", problem
    ):
        return [
            ("features", index, operand)
            for index, item in _items(document, "features")
            if item.get("name") == match.group("feature")
            for operand in ("source", "other")
            if repr(item.get(operand)) == match.group("field")
        ]
    if match := re.fullmatch(r"outcome (?P<outcome>.+) is not in decision\.outcomes", problem):
        named: list[Location] = [
            ("decision", "positive_outcome"),
            ("decision", "negative_outcome"),
            ("fallback", "outcome"),
        ]
        named += [("decision", "rules", index, "outcome") for index, _ in _items(document, "decision", "rules")]
        named.append(("decision", "review_band", "outcome"))
        return [path for path in named if repr(_node(document, path)) == match.group("outcome")]
    if match := re.fullmatch(r"rule '(?P<rule>[^']*)' tests unknown field (?P<field>.+)", problem):
        return [
            ("decision", "rules", index, "when", position, "field")
            for index, rule in _items(document, "decision", "rules")
            if rule.get("name") == match.group("rule")
            for position, condition in _items(rule, "when")
            if repr(condition.get("field")) == match.group("field")
        ]
    if match := re.match(r"(?:unsupported \w+ param '(?P<quoted>[^']*)'|param (?P<bare>\S+) must)", problem):
        return [("model", "params", match.group("quoted") or match.group("bare"))]
    if problem.startswith("unknown model family"):
        return [("model", "family")]
    return _adverse_action_candidates(problem, document)


def _adverse_action_candidates(problem: str, document: object) -> list[Location]:
    if match := re.fullmatch(r"adverse outcome (?P<outcome>.+) is not in decision\.outcomes", problem):
        found = _node(document, ("adverse_action", "outcomes"))
        outcomes = found if isinstance(found, list) else []
        return [("adverse_action", "outcomes", i) for i, name in enumerate(outcomes) if repr(name) == match["outcome"]]
    if problem.startswith("adverse_action has no statement for feature "):
        return [("adverse_action", "features")]
    if match := re.fullmatch(r"adverse_action states unknown (?P<kind>feature|rule) '(?P<name>[^']*)'", problem):
        return [("adverse_action", f"{match['kind']}s", match["name"])]
    return []


def shipped_directory() -> Path:
    """The `use_cases` folder shipped inside the `contracts` package."""
    return Path(str(resources.files("contracts") / "use_cases"))


@dataclass(frozen=True, slots=True)
class BoundManifest:
    """A manifest and the policy version it is: the registered number (None for an unregistered file) and digest."""

    manifest: UseCaseManifest
    version: int | None
    digest: str

    @property
    def ref(self) -> PolicyRef:
        """The reference a decision records."""
        return PolicyRef(version=self.version, digest=self.digest)


def _bound_file(manifest: UseCaseManifest) -> BoundManifest:
    return BoundManifest(manifest, None, policy_digest(manifest.model_dump(mode="json")))


class ManifestCatalog:
    """The use cases a deployment serves, looked up by name.

    Built from manifests (`from_directory`), it serves those files. Built `live` on the policy registry, it serves
    each use case's active registered version, and a bootstrap file only for a use case the registry does not know
    yet; a use case registered through the API is served without a deploy, once the heads are read again.
    """

    def __init__(self, manifests: Mapping[str, UseCaseManifest], *, policies: LivePolicies | None = None) -> None:
        """Hold `manifests` (the bootstrap files), keyed by use-case name, and the registry's `policies` if any."""
        self._files = {name: _bound_file(manifest) for name, manifest in manifests.items()}
        self._policies = policies
        self._parsed: dict[str, BoundManifest] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_directory(cls, path: Path | None = None) -> ManifestCatalog:
        """Load every `*.yaml` of `path`, or of the folder shipped in `contracts` when `path` is None."""
        return cls(manifest_files(path))

    @classmethod
    def live(cls, policies: LivePolicies, path: Path | None = None) -> ManifestCatalog:
        """The registry's active versions, with the files of `path` (or the shipped ones) for unregistered names."""
        return cls(manifest_files(path), policies=policies)

    @property
    def registered(self) -> bool:
        """Whether the catalog reads the policy registry."""
        return self._policies is not None

    def files(self) -> dict[str, UseCaseManifest]:
        """The bootstrap manifests, by name."""
        return {name: bound.manifest for name, bound in self._files.items()}

    def get(self, name: str) -> UseCaseManifest:
        """The manifest of `name`; `NotFoundError` when there is none."""
        return self.bound(name).manifest

    def bound(self, name: str) -> BoundManifest:
        """The active policy of `name`, with its version and digest; `NotFoundError` when there is none."""
        if self._policies is not None:
            head = self._policies.heads("use_case").get(name)
            if head is not None and head.active is not None:
                found = self.version(name, head.active)
                if found is not None:
                    return found
            if head is not None:
                # Registered, but retired or never activated: the file no longer speaks for it.
                raise NotFoundError(f"use case {name!r} has no active policy version")
        try:
            return self._files[name]
        except KeyError:
            raise NotFoundError(f"unknown use case {name!r}") from None

    def shadow(self, name: str) -> BoundManifest | None:
        """The version running in shadow for `name`, or None."""
        if self._policies is None:
            return None
        head = self._policies.heads("use_case").get(name)
        if head is None or head.shadow is None:
            return None
        return self.version(name, head.shadow)

    def version(self, name: str, version: int) -> BoundManifest | None:
        """A registered version of `name`, or None (always None without the registry)."""
        if self._policies is None:
            return None
        key = f"{name}#{version}"
        with self._lock:
            found = self._parsed.get(key)
        if found is not None:
            return found
        registered = self._policies.version("use_case", name, version)
        if registered is None:
            return None
        try:
            manifest = UseCaseManifest.model_validate(registered.document)
        except ValidationError as error:
            problems = "; ".join(problem_lines(error, registered.document))
            raise ConfigurationError(f"use case {name} version {version} does not validate: {problems}") from error
        found = BoundManifest(manifest, version, registered.digest)
        with self._lock:
            self._parsed[key] = found
        return found

    def by_digest(self, name: str, digest: str) -> BoundManifest | None:
        """The policy of `name` whose document has `digest`: a registered version, or the bootstrap file."""
        if self._policies is not None:
            head = self._policies.heads("use_case").get(name)
            if head is not None and digest in head.digests:
                return self.version(name, head.digests[digest])
        file = self._files.get(name)
        return file if file is not None and file.digest == digest else None

    def forget(self) -> None:
        """Read the registry's heads again on the next lookup (a SnapStart restore, say)."""
        if self._policies is not None:
            self._policies.forget()

    def names(self) -> list[str]:
        """Names of the use cases served: those with an active version, and unregistered files, sorted."""
        if self._policies is None:
            return sorted(self._files)
        heads = self._policies.heads("use_case")
        active = {name for name, head in heads.items() if head.active is not None}
        return sorted(active | (set(self._files) - set(heads)))


def manifest_files(path: Path | None = None) -> dict[str, UseCaseManifest]:
    """Every `*.yaml` manifest of `path`, or of the folder shipped in `contracts`, by name."""
    folder = path or shipped_directory()
    if not folder.is_dir():
        raise ConfigurationError(f"use case folder {folder} does not exist")
    manifests = {file.stem: load_manifest(file) for file in sorted(folder.glob("*.yaml"))}
    if not manifests:
        raise ConfigurationError(f"use case folder {folder} holds no manifest")
    return manifests
