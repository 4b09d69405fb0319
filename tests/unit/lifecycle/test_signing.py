"""Manifest signatures: what the lifecycle signs, the inference worker's own check accepts, and nothing else."""

from __future__ import annotations

import pytest

from gpu_workers.exceptions import ManifestVerificationError
from gpu_workers.inference.signatures import load_public_keys, verify_manifest
from leaim.exceptions import ConfigurationError
from leaim.lifecycle.signing import ManifestSigner, key_id
from tests.support.factories import model_manifest


def trusting(*signers: ManifestSigner):
    return load_public_keys([signer.public_key_b64 for signer in signers])


def test_a_signed_manifest_verifies_on_the_worker_after_a_json_round_trip() -> None:
    signer = ManifestSigner.generate()
    signed = signer.sign(model_manifest())
    assert signed.key_id == key_id(signer.public_key) and len(signed.key_id) == 16
    again = type(signed).model_validate_json(signed.model_dump_json())
    assert verify_manifest(again, trusting(signer)) == signed.manifest


def test_an_edited_manifest_or_another_key_does_not_verify() -> None:
    signer, other = ManifestSigner.generate(), ManifestSigner.generate()
    signed = signer.sign(model_manifest())
    edited = signed.model_copy(update={"manifest": signed.manifest.model_copy(update={"threshold": 0.01})})
    with pytest.raises(ManifestVerificationError, match="signature does not verify"):
        verify_manifest(edited, trusting(signer))
    with pytest.raises(ManifestVerificationError, match="untrusted key"):
        verify_manifest(signed, trusting(other))
    forged = other.sign(signed.manifest).model_copy(update={"key_id": signer.key_id})
    with pytest.raises(ManifestVerificationError, match="signature does not verify"):
        verify_manifest(forged, trusting(signer))


def test_the_key_round_trips_through_pem_and_other_keys_are_refused() -> None:
    signer = ManifestSigner.generate()
    again = ManifestSigner.from_pem(signer.pem())
    assert again.key_id == signer.key_id
    with pytest.raises(ConfigurationError, match="not a PEM private key"):
        ManifestSigner.from_pem(b"not a key")
