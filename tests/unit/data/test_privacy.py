from __future__ import annotations

import hashlib
import hmac

import pytest

from leaim.data.privacy import minimize
from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import ConfigurationError

MANIFEST = ManifestCatalog.from_directory(None).get("card_fraud")
KEY = b"k" * 32
INPUTS = {
    "transaction_id": "t-1",
    "card_id": "c-4111",
    "amount": 99.0,
    "merchant_category": "digital_goods",
    "country": "US",
    "hour_of_day": 3,
    "card_present": False,
    "cardholder_name": "Ana Costa",
}


def test_pii_fields_become_keyed_hmac_tokens() -> None:
    expected = "tok_" + hmac.new(KEY, b"card_id:c-4111", hashlib.sha256).hexdigest()[:32]
    assert minimize(MANIFEST, INPUTS, KEY)["card_id"] == expected


def test_tokens_are_deterministic_and_depend_on_the_key() -> None:
    first, again = minimize(MANIFEST, INPUTS, KEY), minimize(MANIFEST, INPUTS, KEY)
    other = minimize(MANIFEST, INPUTS, b"o" * 32)
    assert first == again
    assert first["card_id"] != other["card_id"]
    assert first["cardholder_name"] != other["cardholder_name"]


def test_no_clear_text_of_pii_remains() -> None:
    stored = minimize(MANIFEST, INPUTS, KEY)
    text = repr(stored)
    assert "c-4111" not in text and "Ana" not in text and "Costa" not in text
    assert all(str(stored[name]).startswith("tok_") for name in ("card_id", "cardholder_name"))


def test_other_fields_and_absent_pii_are_unchanged() -> None:
    stored = minimize(MANIFEST, {**INPUTS, "cardholder_name": None}, KEY)
    assert stored["cardholder_name"] is None
    assert {k: v for k, v in stored.items() if k not in ("card_id", "cardholder_name")} == {
        k: v for k, v in INPUTS.items() if k not in ("card_id", "cardholder_name")
    }


def test_the_same_value_in_another_field_gets_another_token() -> None:
    stored = minimize(MANIFEST, {**INPUTS, "cardholder_name": "c-4111"}, KEY)
    assert stored["card_id"] != stored["cardholder_name"]


def test_a_short_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="16 bytes"):
        minimize(MANIFEST, INPUTS, b"short")
