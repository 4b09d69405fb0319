"""The Annex IV technical documentation: every item has its section, filled from the registry or reported as a gap."""

from __future__ import annotations

from datetime import UTC, datetime

from leaim.domain.manifests import ManifestCatalog
from leaim.governance.evidence.bom import Package, WorkerImage
from leaim.governance.evidence.technical import (
    ANNEX_IV,
    Change,
    PolicyEntry,
    TechnicalSources,
    technical_documentation,
)

CARD_FRAUD = ManifestCatalog.from_directory(None).get("card_fraud")
IMAGE = WorkerImage("leaim-inference", "3.11", "L4", (Package("onnxruntime-gpu", "1.32.0"),))


def sources(trained, **overrides) -> TechnicalSources:
    fields = {
        "use_case": CARD_FRAUD,
        "signed": trained.signed,
        "policy_version": 2,
        "policy_digest": "cd" * 32,
        "policies": [
            PolicyEntry(1, "superseded", "ab" * 32, "file:card_fraud.yaml", ""),
            PolicyEntry(2, "active", "cd" * 32, "fraud-ml", "threshold 0.4"),
        ],
        "changes": [
            Change(datetime(2026, 12, 1, 9, 0, tzinfo=UTC), "model.traffic.change", "fraud-ml", "set full"),
            Change(datetime(2026, 12, 1, 10, 0, tzinfo=UTC), "use_case.stop", "fraud-risk", "stop; bias alert"),
        ],
        "images": [IMAGE],
        "packages": 120,
    }
    return TechnicalSources(**{**fields, **overrides})


def test_every_annex_iv_item_has_its_section_and_the_reference_reports_its_two_gaps(trained) -> None:
    document = technical_documentation(sources(trained))
    headings = [line.removeprefix("## ") for line in document.markdown.splitlines() if line.startswith("## ")]
    assert headings == [*ANNEX_IV, "Gaps"]
    assert document.gaps == (
        "7. Harmonised standards applied: none declared (documentation.standards)",
        "8. EU declaration of conformity: not declared (documentation.declaration_of_conformity)",
    )
    manifest = trained.signed.manifest
    text = document.markdown
    assert manifest.artifact_digest in text and trained.signed.key_id in text
    assert manifest.lineage.snapshot_sha256 in text and manifest.lineage.code_version in text
    assert f"AUC {manifest.metrics.auc:.4f}" in text
    assert all(f"| {gate.gate} |" in text for gate in manifest.gates)
    assert "| 2 | active | `cdcdcdcdcdcd` | fraud-ml | threshold 0.4 |" in text
    assert "| 2026-12-01 10:00:00 | use_case.stop | fraud-risk | stop; bias alert |" in text
    assert "leaim-inference (Python 3.11, L4 GPU)" in text and "120 locked dependencies" in text
    assert CARD_FRAUD.documentation.risk_management.strip() in text


def test_what_the_manifest_leaves_empty_is_a_gap_never_filler(trained) -> None:
    bare = CARD_FRAUD.model_copy(
        update={
            "documentation": CARD_FRAUD.documentation.model_copy(
                update={
                    "foreseeable_risks": "",
                    "metric_rationale": "",
                    "risk_management": "",
                }
            )
        }
    )
    document = technical_documentation(sources(trained, use_case=bare, changes=[]))
    assert [gap.split(":")[0] for gap in document.gaps] == [
        ANNEX_IV[2],
        ANNEX_IV[3],
        ANNEX_IV[4],
        ANNEX_IV[6],
        ANNEX_IV[7],
    ]
    assert document.markdown.count("Not declared.") == 3 and "None recorded." in document.markdown
