"""Manifest signatures: a signer verifies its own signatures and nothing else."""

from __future__ import annotations

import pytest

from leaim.exceptions import ConfigurationError
from leaim.lifecycle.signing import ManifestSigner, key_id
from tests.lifecycle.factories import model_manifest


def test_a_signed_manifest_verifies_and_survives_a_json_round_trip() -> None:
    signer = ManifestSigner.generate()
    signed = signer.sign(model_manifest())
    assert signed.key_id == key_id(signer.public_key) and len(signed.key_id) == 16
    again = type(signed).model_validate_json(signed.model_dump_json())
    assert signer.verifies(again)


def test_an_edited_manifest_or_another_key_does_not_verify() -> None:
    signer = ManifestSigner.generate()
    signed = signer.sign(model_manifest())
    edited = signed.model_copy(
        update={"manifest": signed.manifest.model_copy(update={"status": "approved", "threshold": 0.01})}
    )
    assert not signer.verifies(edited)
    other = ManifestSigner.generate()
    assert not other.verifies(signed)
    forged = other.sign(signed.manifest).model_copy(update={"key_id": signer.key_id})
    assert not signer.verifies(forged)


def test_the_key_round_trips_through_pem_and_other_keys_are_refused() -> None:
    signer = ManifestSigner.generate()
    again = ManifestSigner.from_pem(signer.pem())
    assert again.key_id == signer.key_id
    with pytest.raises(ConfigurationError, match="not a PEM private key"):
        ManifestSigner.from_pem(b"not a key")
