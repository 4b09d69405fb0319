"""What `leaim bom` reads besides the API: the lock file's packages and the worker images' pins."""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING

import pytest

from embedded.cli.evidence import LOCK_FILE, locked_packages, worker_images
from embedded.cli.exceptions import ApiUsageError
from gpu_workers import settings

if TYPE_CHECKING:
    from pathlib import Path


def locked_version(name: str) -> str:
    [package] = [p for p in tomllib.loads(LOCK_FILE.read_text())["package"] if p["name"] == name]
    return package["version"]


def test_the_lock_gives_the_platform_and_worker_packages_with_their_locked_versions_and_no_dev_tools() -> None:
    packages = {package.name: package.version for package in locked_packages(LOCK_FILE)}
    for name in ("boto3", "botocore", "pydantic", "pydantic-core", "onnxruntime", "scikit-learn", "modal", "psycopg"):
        assert packages[name] == locked_version(name), name
    # psycopg[binary] brings its binary build; the extras of a dependency are followed.
    assert "psycopg-binary" in packages
    assert not {"pytest", "ruff", "mypy", "moto", "locust", "leaim"} & set(packages)


def test_the_worker_images_are_described_by_their_pins() -> None:
    inference, training = worker_images()
    assert (inference.name, inference.python_version, inference.gpu) == ("leaim-inference", "3.11", settings.GPU)
    assert {p.name: p.version for p in inference.packages}["onnxruntime-gpu"] == settings.ONNXRUNTIME_VERSION
    assert {p.name: p.version for p in training.packages}["scikit-learn"] == settings.SCIKIT_LEARN_VERSION
    assert inference.packages[0].purl == f"pkg:pypi/numpy@{settings.NUMPY_VERSION}"


def test_an_unreadable_lock_file_is_refused_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "uv.lock"
    broken.write_text("version = [")
    with pytest.raises(ApiUsageError, match=f"the lock file {broken} cannot be read"):
        locked_packages(broken)
    broken.write_text('version = 1\n[[package]]\nname = "other"\nversion = "1.0"\n')
    with pytest.raises(ApiUsageError, match="does not lock leaim"):
        locked_packages(broken)
