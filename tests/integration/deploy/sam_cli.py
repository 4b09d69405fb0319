"""The aws-sam-cli that CI pins, and the Python the template's functions run on, for the deployment tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cfnlint.decode import decode

from tests.support.paths import REPOSITORY

TEMPLATE = REPOSITORY / "template.yaml"


def sam_cli_version() -> str:
    """The aws-sam-cli version CI installs, read from .ci/run so that both use the same one."""
    match = re.search(r"^SAM_CLI_VERSION=([0-9][0-9.]*)$", (REPOSITORY / ".ci/run").read_text(), re.MULTILINE)
    assert match, ".ci/run does not pin SAM_CLI_VERSION"
    return match.group(1)


def uv_executable() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is not installed"
    return uv


def sam_command() -> list[str]:
    """`sam` from PATH, else the pinned aws-sam-cli run as an isolated uv tool (installed on first use)."""
    sam = shutil.which("sam")
    if sam:
        return [sam]
    return [uv_executable(), "tool", "run", "--from", f"aws-sam-cli=={sam_cli_version()}", "sam"]


def sam_python_command() -> list[str]:
    """The Python of the pinned aws-sam-cli tool, which has aws-sam-translator."""
    return [uv_executable(), "tool", "run", "--from", f"aws-sam-cli=={sam_cli_version()}", "python"]


def function_runtime() -> str:
    """The runtime every function runs on (`Globals.Function.Runtime`), such as python3.12."""
    template, problems = decode(str(TEMPLATE))
    assert not problems, [str(problem) for problem in problems]
    return str(template["Globals"]["Function"]["Runtime"])


def runtime_python_bin(runtime: str) -> Path:
    """The folder of a python3.N with pip for the functions' runtime: pyenv's install of that version.

    sam's python3.N builder runs the first python3.N on PATH (and its pip), so the build puts this folder first;
    the built functions are run with the same interpreter, since their wheels are built for it. pyenv's own
    `python3.N` shim does not run a version other than the selected one, hence the version's real folder.
    """
    version = runtime.removeprefix("python")
    pyenv = shutil.which("pyenv")
    prefix = (
        subprocess.run([pyenv, "prefix", version], capture_output=True, text=True, check=False).stdout.strip()
        if pyenv
        else ""
    )
    folder = Path(prefix) / "bin"
    if not (prefix and (folder / f"python{version}").is_file()):
        pytest.fail(
            f"sam build needs python{version} with pip (the functions' runtime): pyenv install {version}", pytrace=False
        )
    return folder
