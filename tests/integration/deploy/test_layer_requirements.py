"""The dependencies layer installs exactly what uv.lock pins for the functions, and nothing else."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.support.paths import REPOSITORY

REPO_ROOT = REPOSITORY
REQUIREMENTS = Path("layers/dependencies/requirements.txt")
EXPORT_COMMAND = [
    "uv",
    "export",
    "--frozen",
    "--no-default-groups",
    "--no-emit-project",
    "--no-hashes",
    "--output-file",
    str(REQUIREMENTS),
]
# GPU worker, embedded-default and development packages: none of them may reach the Lambda artifact.
# (numpy does: the drift monitor bins live features with it.)
NEVER_ON_LAMBDA = {"onnxruntime", "onnx", "scikit-learn", "moto", "pytest", "mypy", "cfn-lint"}


def _pinned_names(text: str) -> set[str]:
    return {
        re.split(r"[=\[ ;]", line, maxsplit=1)[0].lower() for line in text.splitlines() if re.match(r"^[A-Za-z]", line)
    }


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What the export command writes today, run on copies so the working tree is left alone."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is not installed: it is needed to export uv.lock"
    project = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy2(REPO_ROOT / name, project / name)
    (project / REQUIREMENTS.parent).mkdir(parents=True)
    result = subprocess.run([uv, *EXPORT_COMMAND[1:]], cwd=project, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return (project / REQUIREMENTS).read_text(encoding="utf-8")


def test_committed_requirements_match_uv_lock(exported: str) -> None:
    committed = (REPO_ROOT / REQUIREMENTS).read_text(encoding="utf-8")
    assert committed == exported, (
        f"{REQUIREMENTS} is out of date with uv.lock; regenerate it: {' '.join(EXPORT_COMMAND)}"
    )


def test_requirements_hold_the_runtime_dependencies_only(exported: str) -> None:
    pinned = {_normalise(name) for name in _pinned_names(exported)}
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_normalise(re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0]) for spec in project["dependencies"]}
    assert declared <= pinned
    assert not pinned & NEVER_ON_LAMBDA
    assert "==" in exported
    assert "--hash" not in exported
