"""The lifecycle commands of `leaim` that need no stack: signing keys and their errors, parameter parsing."""

from __future__ import annotations

import argparse
import base64
from typing import TYPE_CHECKING

import pytest

from embedded.cli import main
from embedded.cli.models import _param
from leaim.lifecycle.signing import ManifestSigner

if TYPE_CHECKING:
    from pathlib import Path


def leaim(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_manifest_key_generates_a_key_and_prints_what_the_workers_trust(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "signing.pem"
    status, out, _ = leaim(capsys, "--state-dir", str(tmp_path / "state"), "manifest-key", str(key), "--generate")
    assert status == 0
    signer = ManifestSigner.from_pem(key.read_bytes())
    assert f"key id      {signer.key_id}" in out and signer.public_key_b64 in out
    assert len(base64.b64decode(signer.public_key_b64)) == 32
    assert key.stat().st_mode & 0o777 == 0o600
    status, _, err = leaim(capsys, "--state-dir", str(tmp_path / "state"), "manifest-key", str(key), "--generate")
    assert status == 2 and "File exists" in err and ManifestSigner.from_pem(key.read_bytes()).key_id == signer.key_id


def test_manifest_key_refuses_a_file_that_is_not_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    status, _, err = leaim(capsys, "--state-dir", str(tmp_path / "state"), "manifest-key", str(other))
    assert status == 2 and err.startswith("leaim: the manifest signing key is not a PEM private key")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n_estimators=200", ("n_estimators", 200)),
        ("C=0.5", ("C", 0.5)),
        ("C=1e-3", ("C", 0.001)),
        ("class_weight=balanced", ("class_weight", "balanced")),
        ("flag=true", ("flag", True)),
    ],
)
def test_params_are_read_with_their_types(text: str, expected: tuple[str, object]) -> None:
    assert _param(text) == expected


@pytest.mark.parametrize("text", ["C", "=1", ""])
def test_a_param_without_a_name_and_a_value_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="is not NAME=VALUE"):
        _param(text)


def test_stop_without_a_reason_is_refused_before_any_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = leaim(capsys, "--state-dir", str(tmp_path), "stop", "card_fraud")
    assert status == 2 and "leaim stop needs --reason" in err and "no local stack" not in err


def test_train_without_a_stack_says_how_to_get_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = leaim(capsys, "--state-dir", str(tmp_path), "train", "--snapshot", "s-1")
    assert status == 2 and "no local stack is running" in err
