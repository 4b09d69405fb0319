"""Instructions for use, generated from the policy and the champion: every section there, or reported as a gap."""

from __future__ import annotations

from leaim.domain.manifests import ManifestCatalog
from leaim.governance.evidence.instructions import instructions_for_use

CARD_FRAUD = ManifestCatalog.from_directory(None).get("card_fraud")
SECTIONS = [
    "## 1. Purpose and provider",
    "## 2. Declared accuracy",
    "## 3. Known limits",
    "## 4. Input specification",
    "## 5. Human oversight",
    "## 6. Logs",
]


def test_without_a_champion_the_accuracy_is_a_gap_and_every_other_section_comes_from_the_policy() -> None:
    document = instructions_for_use(CARD_FRAUD, policy_version=3, policy_digest="ab" * 32, champion=None)
    lines = document.markdown.splitlines()
    assert [line for line in lines if line.startswith("## ")] == [*SECTIONS, "## Gaps"]
    assert document.gaps == ("declared accuracy: the use case has no champion yet",)
    assert CARD_FRAUD.description in lines and "Owner: payments-risk." in lines
    assert "| card_id | string | yes | up to 64 characters | personal data, tokenized |" in lines
    assert "| cardholder_age_band | category | no | 18-25, 26-40, 41-65, 65+ | protected |" in lines
    assert any("Scores in [0.15, 0.4) are not decided automatically" in line for line in lines)
    assert "`leaim stop card_fraud --reason ...`" in document.markdown
    assert "Policy version 3" in lines[2]


def test_an_empty_purpose_or_owner_is_reported_never_filled() -> None:
    blank = CARD_FRAUD.model_copy(update={"description": " ", "owner": ""})
    document = instructions_for_use(blank, policy_version=None, policy_digest="ab" * 32, champion=None)
    assert document.gaps[:2] == (
        "purpose: the manifest's description is empty",
        "provider: the manifest's owner is empty",
    )
    assert "Owner:" not in document.markdown
    assert "from its bootstrap file" in document.markdown
