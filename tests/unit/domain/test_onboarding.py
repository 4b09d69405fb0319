"""Drafting a use case from a file's rows: what is inferred and guessed, what is refused, and that the drafts hold."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from contracts.dataset.v1 import DatasetContract
from contracts.manifest.v1 import UseCaseManifest
from leaim.data.datasets import feed_problems
from leaim.domain.manifests import ManifestCatalog
from leaim.domain.onboarding import draft_use_case, feed_problem_paths, profile_columns
from leaim.exceptions import ConfigurationError


def orders(count: int = 60) -> list[dict[str, Any]]:
    """Rows of a small order file: ids, a time, numbers, a flag, a category, personal data, a protected attribute."""
    channels = ["web", "store", "phone"]
    return [
        {
            "order_id": f"ord-{number:04d}",
            "ordered_at": f"2026-03-{1 + number % 28:02d}T10:{number % 60:02d}:00Z",
            "customer_id": f"cus-{number % 20:03d}",
            "customer_name": f"Person {number}",
            "contact": f"person{number}@example.org",
            "phone_number": f"+49 30 {1000 + number}",
            "gender": ["f", "m", "x"][number % 3],
            "basket_value": round(5.0 * 1.25 ** (number % 25), 2),
            "items": 1 + number % 7,
            "discount": -2.5 + number % 5,
            "gift_wrap": number % 4 == 0,
            "channel": channels[0] if number % 2 else channels[1 + number % 4 // 2],
            "note": "" if number % 3 else f"note {number}",
            "returned": number % 5 == 0,
        }
        for number in range(count)
    ]


def draft(rows: list[dict[str, Any]], target: str = "returned", columns: list[str] | None = None) -> Any:
    header = columns or list(rows[0])
    return draft_use_case(header, rows, target=target, name="order_returns", dataset="orders", source="orders.csv")


def field_of(contract: DatasetContract, name: str) -> Any:
    return next(field for field in contract.fields if field.name == name)


def input_of(manifest: UseCaseManifest, name: str) -> Any:
    return next(field for field in manifest.inputs if field.name == name)


def test_each_column_gets_its_type_range_allowed_values_and_whether_it_is_required() -> None:
    profiles = {profile.name: profile for profile in profile_columns(list(orders()[0]), orders())}
    contract = draft(orders()).dataset

    assert {name: profile.type for name, profile in profiles.items()} == {
        "order_id": "string",
        "ordered_at": "timestamp",
        "customer_id": "string",
        "customer_name": "string",
        "contact": "string",
        "phone_number": "string",
        "gender": "category",
        "basket_value": "number",
        "items": "integer",
        "discount": "number",
        "gift_wrap": "boolean",
        "channel": "category",
        "note": "string",
        "returned": "boolean",
    }
    items, discount = field_of(contract, "items"), field_of(contract, "discount")
    assert (items.minimum, items.maximum) == (1, 7)
    assert (discount.minimum, discount.maximum) == (-2.5, 1.5)
    assert field_of(contract, "channel").allowed == ["phone", "store", "web"]
    assert field_of(contract, "note").required is False
    assert field_of(contract, "basket_value").required is True
    assert field_of(contract, "order_id").max_length == 16


def test_the_record_id_event_time_entity_key_and_label_are_found() -> None:
    result = draft(orders())
    contract, manifest = result.dataset, result.manifest

    assert (contract.record_id, contract.event_time, contract.label) == ("order_id", "ordered_at", "returned")
    assert manifest.entity_key == "customer_id"
    assert manifest.model.target == "returned"
    assert manifest.model.name == "order-returns"
    assert contract.use_case == manifest.name == "order_returns"
    inputs = [field.name for field in manifest.inputs]
    assert "ordered_at" not in inputs
    assert "returned" not in inputs
    assert "record id: order_id (text, unique in every row)" in result.guessed


def test_personal_data_is_guessed_by_name_and_values_and_minimized_in_the_contract() -> None:
    result = draft(orders())
    contract, manifest = result.dataset, result.manifest

    assert {field.name: field.pii for field in contract.fields if field.pii} == {
        "customer_id": "tokenize",
        "customer_name": "drop",
        "contact": "drop",
        "phone_number": "drop",
    }
    assert {field.name for field in manifest.inputs if field.pii} == {
        "customer_id",
        "customer_name",
        "contact",
        "phone_number",
    }
    assert "contact: personal data (an email address), dropped before anything is stored" in result.to_confirm
    assert "# confirm: personal data (a person's name), dropped before anything is stored" in result.dataset_yaml


def test_protected_attributes_are_guessed_by_name_and_left_to_confirm() -> None:
    rows = [{**row, "age_band": ["18-25", "26-40"][index % 2]} for index, row in enumerate(orders())]
    result = draft(rows)

    assert {field.name for field in result.manifest.inputs if field.protected} == {"gender", "age_band"}
    assert "gender: protected attribute, kept for bias monitoring and never a model feature" in result.to_confirm
    assert "# confirm: protected attribute, kept for bias monitoring and never a model feature" in result.manifest_yaml


def test_name_words_alone_do_not_make_personal_data_or_protected_attributes() -> None:
    rows = [
        {**row, "product_name": ["lamp", "chair"][index % 2], "mileage": index, "page_views": index % 9}
        for index, row in enumerate(orders())
    ]
    manifest = draft(rows).manifest

    assert not input_of(manifest, "product_name").pii
    assert input_of(manifest, "product_name").type == "category"
    assert not input_of(manifest, "mileage").protected
    assert not input_of(manifest, "page_views").protected


def test_a_file_without_a_protected_attribute_asks_for_one() -> None:
    rows = [{name: value for name, value in row.items() if name != "gender"} for row in orders()]

    assert any("no protected attribute was recognised" in line for line in draft(rows).to_confirm)


def test_features_use_only_supported_transforms_and_never_the_label_ids_pii_or_protected_attributes() -> None:
    manifest = draft(orders()).manifest
    features = {feature.name: feature for feature in manifest.features}

    assert {name: (f.transform, f.source, f.equals) for name, f in features.items()} == {
        "log_basket_value": ("log1p", "basket_value", None),
        "items": ("identity", "items", None),
        "discount": ("identity", "discount", None),
        "gift_wrap": ("indicator", "gift_wrap", True),
        # One indicator per value but the most common, web.
        "channel_phone": ("indicator", "channel", "phone"),
        "channel_store": ("indicator", "channel", "store"),
    }
    sources = {feature.source for feature in manifest.features}
    assert not sources & {"returned", "order_id", "customer_id", "customer_name", "contact", "gender", "ordered_at"}


def test_the_drafts_validate_as_written_and_the_dataset_feeds_the_use_case() -> None:
    result = draft(orders())

    assert UseCaseManifest.model_validate(yaml.safe_load(result.manifest_yaml)) == result.manifest
    assert DatasetContract.model_validate(yaml.safe_load(result.dataset_yaml)) == result.dataset
    assert feed_problems(result.dataset, ManifestCatalog({result.manifest.name: result.manifest})) == []
    assert result.manifest.gates.min_auc == 0.8
    assert result.manifest.gates.max_calibration_error == 0.05
    assert result.manifest.gates.min_disparate_impact == 0.8
    assert all(len(line) <= 120 for line in result.manifest_yaml.splitlines() if line.startswith("#"))


def test_a_label_of_zeros_and_ones_is_an_integer_field_that_may_arrive_later() -> None:
    rows = [{**row, "returned": int(row["returned"])} for row in orders()]
    label = field_of(draft(rows).dataset, "returned")

    assert (label.type, label.required, label.minimum, label.maximum) == ("integer", False, 0, 1)


@pytest.mark.parametrize(
    ("change", "target", "message"),
    [
        (lambda row: {k: v for k, v in row.items() if k != "ordered_at"}, "returned", "to be the event time"),
        (lambda row: {**row, "ordered_at": "2026-03-01T10:00:00"}, "returned", "ordered_at holds times without an"),
        (lambda row: {k: v for k, v in row.items() if k != "order_id"}, "returned", "to be the record id"),
        (lambda row: {**row, "order_id": int(row["order_id"][4:])}, "returned", "to be the record id"),
        (lambda row: row, "items", "target 'items' holds whole numbers other than 0 and 1"),
        (lambda row: row, "channel", "'channel' holds category values: a label must be true/false or the whole"),
        (lambda row: {**row, "returned": True}, "returned", "holds only one value"),
        (lambda row: row, "churned", "no column 'churned' to be the label"),
        (lambda row: {**row, "items": "many" if row["items"] == 3 else row["items"]}, "returned", "mixes integer"),
    ],
)
def test_a_file_lacking_what_a_contract_needs_is_refused_naming_it(change: Any, target: str, message: str) -> None:
    rows = [change(row) for row in orders()]
    columns = list(dict.fromkeys(name for row in rows for name in row))
    with pytest.raises(ConfigurationError, match=message):
        draft(rows, target=target, columns=columns)


def test_a_header_that_is_no_field_name_or_repeats_is_refused() -> None:
    rows = orders()
    with pytest.raises(ConfigurationError, match="column 'Basket Value' is not a field name"):
        draft(rows, columns=[*rows[0], "Basket Value"])
    with pytest.raises(ConfigurationError, match="column 'items' appears twice"):
        draft(rows, columns=[*rows[0], "items"])


def test_a_file_with_only_identifiers_has_no_feature_and_is_refused() -> None:
    rows = [{key: row[key] for key in ("order_id", "ordered_at", "customer_id", "returned")} for row in orders()]
    with pytest.raises(ConfigurationError, match="no column can be a model feature"):
        draft(rows)


def test_feed_problems_are_led_by_the_path_of_the_field_at_fault() -> None:
    result = draft(orders())
    manifest = result.manifest
    fields = [field.model_dump() for field in result.dataset.fields]
    fields[7]["type"] = "string"
    fields[2]["pii"] = None
    fields = [field for field in fields if field["name"] != "items"]
    contract = result.dataset.model_copy(update={"fields": [type(result.dataset.fields[0])(**f) for f in fields]})

    located = feed_problem_paths(feed_problems(contract, ManifestCatalog({manifest.name: manifest})), contract)

    assert located == [
        "fields.2.pii: orders v1: field 'customer_id' is PII in order_returns but neither tokenized nor dropped",
        "fields.7.type: orders v1: field 'basket_value' is a string, but number is needed",
        "fields: orders v1 has no field for input 'items' of order_returns",
    ]
