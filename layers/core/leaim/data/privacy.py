"""Data minimization: PII fields are replaced by keyed tokens before anything is stored."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contracts.manifest.v1 import UseCaseManifest

MIN_KEY_BYTES = 16


def token(key: bytes, field: str, value: object) -> str:
    """`tok_` + the first 32 hex digits of HMAC-SHA256(key, "field:value").

    Deterministic, so equal values still join across records; keyed, so the clear text cannot be
    recovered or guessed by hashing candidates without the key.
    """
    digest = hmac.new(key, f"{field}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"tok_{digest[:32]}"


def minimize(manifest: UseCaseManifest, inputs: Mapping[str, object], key: bytes) -> dict[str, object]:
    """Inputs with every PII field tokenized; other fields and absent (null) values unchanged.

    A key shorter than 16 bytes is a `ConfigurationError`: it would make the tokens guessable.
    """
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(f"the PII token key must be at least {MIN_KEY_BYTES} bytes")
    pii = {field.name for field in manifest.inputs if field.pii}
    return {
        name: token(key, name, value) if name in pii and value is not None else value for name, value in inputs.items()
    }


def entity_id(manifest: UseCaseManifest, inputs: Mapping[str, object], key: bytes) -> str:
    """The key of an entity's online features: its token when the entity key is PII, else its value.

    Ingestion writes and the decision path reads under this key, so a card number never reaches the
    online store in clear.
    """
    field = next(field for field in manifest.inputs if field.name == manifest.entity_key)
    value = inputs[manifest.entity_key]
    return token(key, field.name, value) if field.pii else str(value)
