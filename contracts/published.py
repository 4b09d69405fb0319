"""Every published contract, and its JSON Schema snapshot committed under `contracts/schemas/`.

A published contract never changes shape: the test suite compares each model's JSON Schema with its
snapshot. An additive change (a new optional field) is made by writing the new snapshot on purpose:

    uv run python -m contracts.published --write
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from contracts.audit.v1 import AuditEvent
from contracts.dataset.v1 import DatasetContract
from contracts.decision.v1 import AdverseActionNotice, DecisionMessage, DecisionRequest, DecisionResponse
from contracts.error.v1 import ErrorResponse
from contracts.governance.v1 import (
    AlertList,
    BiasReport,
    CoverageReport,
    DriftReports,
    Explanation,
    LegalHold,
    LegalHoldList,
    LegalHoldRelease,
    LegalHoldRequest,
    OutcomeReport,
    QualityReport,
    RecordedOutcome,
    Review,
    ReviewList,
    ReviewOverride,
    UsageReport,
)
from contracts.inference.v1 import InferenceRequest, InferenceResult
from contracts.ingest.v1 import (
    IngestBatch,
    IngestMessage,
    IngestReport,
    QuarantinedRecord,
    QuarantinePage,
    ReplayReport,
    ReplayRequest,
    SnapshotList,
    SnapshotManifest,
    SnapshotRequest,
)
from contracts.manifest.v1 import UseCaseManifest
from contracts.model.v1 import (
    ArchivedDocument,
    ArchivedDocumentContent,
    ArchivedDocumentList,
    DocumentArchiveRequest,
    ModelList,
    ModelVersionView,
    PromotionDecision,
    ResumeRequest,
    RetrainingRequest,
    Rollback,
    SignedManifest,
    StopRequest,
    StopState,
    TrafficChange,
    TrafficPolicy,
    TrainingJob,
    TrainingJobRequest,
)
from contracts.policy.v1 import (
    PolicyHead,
    PolicyList,
    PolicyProposal,
    PolicyShadowReport,
    PolicyTransition,
    PolicyVersion,
)
from contracts.replay.v1 import DecisionReplay, DecisionReplayRequest
from contracts.trail.v1 import (
    AuditDigest,
    AuditPage,
    AuditRecord,
    ChainHead,
    ChainLink,
    SignedDigest,
    SignedPurge,
    VerifyProblem,
    VerifyReport,
)
from contracts.training import v1 as training_v1
from contracts.training import v2 as training_v2

if TYPE_CHECKING:
    from pydantic import BaseModel

SCHEMAS = Path(__file__).parent / "schemas"

PUBLISHED: dict[str, type[BaseModel]] = {
    "audit.v1.AuditEvent": AuditEvent,
    "dataset.v1.DatasetContract": DatasetContract,
    "decision.v1.AdverseActionNotice": AdverseActionNotice,
    "decision.v1.DecisionMessage": DecisionMessage,
    "decision.v1.DecisionRequest": DecisionRequest,
    "decision.v1.DecisionResponse": DecisionResponse,
    "error.v1.ErrorResponse": ErrorResponse,
    "governance.v1.AlertList": AlertList,
    "governance.v1.BiasReport": BiasReport,
    "governance.v1.CoverageReport": CoverageReport,
    "governance.v1.DriftReports": DriftReports,
    "governance.v1.Explanation": Explanation,
    "governance.v1.LegalHold": LegalHold,
    "governance.v1.LegalHoldList": LegalHoldList,
    "governance.v1.LegalHoldRelease": LegalHoldRelease,
    "governance.v1.LegalHoldRequest": LegalHoldRequest,
    "governance.v1.OutcomeReport": OutcomeReport,
    "governance.v1.QualityReport": QualityReport,
    "governance.v1.RecordedOutcome": RecordedOutcome,
    "governance.v1.Review": Review,
    "governance.v1.ReviewList": ReviewList,
    "governance.v1.ReviewOverride": ReviewOverride,
    "governance.v1.UsageReport": UsageReport,
    "inference.v1.InferenceRequest": InferenceRequest,
    "inference.v1.InferenceResult": InferenceResult,
    "ingest.v1.IngestBatch": IngestBatch,
    "ingest.v1.IngestMessage": IngestMessage,
    "ingest.v1.IngestReport": IngestReport,
    "ingest.v1.QuarantinePage": QuarantinePage,
    "ingest.v1.QuarantinedRecord": QuarantinedRecord,
    "ingest.v1.ReplayReport": ReplayReport,
    "ingest.v1.ReplayRequest": ReplayRequest,
    "ingest.v1.SnapshotList": SnapshotList,
    "ingest.v1.SnapshotManifest": SnapshotManifest,
    "ingest.v1.SnapshotRequest": SnapshotRequest,
    "manifest.v1.UseCaseManifest": UseCaseManifest,
    "model.v1.ArchivedDocument": ArchivedDocument,
    "model.v1.ArchivedDocumentContent": ArchivedDocumentContent,
    "model.v1.ArchivedDocumentList": ArchivedDocumentList,
    "model.v1.DocumentArchiveRequest": DocumentArchiveRequest,
    "model.v1.ModelList": ModelList,
    "model.v1.ModelVersionView": ModelVersionView,
    "model.v1.PromotionDecision": PromotionDecision,
    "model.v1.ResumeRequest": ResumeRequest,
    "model.v1.RetrainingRequest": RetrainingRequest,
    "model.v1.Rollback": Rollback,
    "model.v1.SignedManifest": SignedManifest,
    "model.v1.StopRequest": StopRequest,
    "model.v1.StopState": StopState,
    "model.v1.TrafficChange": TrafficChange,
    "model.v1.TrafficPolicy": TrafficPolicy,
    "model.v1.TrainingJob": TrainingJob,
    "model.v1.TrainingJobRequest": TrainingJobRequest,
    "policy.v1.PolicyHead": PolicyHead,
    "policy.v1.PolicyList": PolicyList,
    "policy.v1.PolicyProposal": PolicyProposal,
    "policy.v1.PolicyShadowReport": PolicyShadowReport,
    "policy.v1.PolicyTransition": PolicyTransition,
    "policy.v1.PolicyVersion": PolicyVersion,
    "replay.v1.DecisionReplay": DecisionReplay,
    "replay.v1.DecisionReplayRequest": DecisionReplayRequest,
    "trail.v1.AuditDigest": AuditDigest,
    "trail.v1.AuditPage": AuditPage,
    "trail.v1.AuditRecord": AuditRecord,
    "trail.v1.ChainHead": ChainHead,
    "trail.v1.ChainLink": ChainLink,
    "trail.v1.SignedDigest": SignedDigest,
    "trail.v1.SignedPurge": SignedPurge,
    "trail.v1.VerifyProblem": VerifyProblem,
    "trail.v1.VerifyReport": VerifyReport,
    "training.v1.TrainingRequest": training_v1.TrainingRequest,
    "training.v1.TrainingResult": training_v1.TrainingResult,
    "training.v2.TrainingRequest": training_v2.TrainingRequest,
    "training.v2.TrainingResult": training_v2.TrainingResult,
}


def schema_of(name: str) -> dict[str, object]:
    """The JSON Schema of a published contract, as validated input."""
    return PUBLISHED[name].model_json_schema(mode="validation")


def snapshot_path(name: str) -> Path:
    """Where the snapshot of `name` is committed."""
    return SCHEMAS / f"{name}.json"


def render(schema: dict[str, object]) -> str:
    """The snapshot text: stable key order, one trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Check the snapshots (default) or write them (`--write`)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the snapshots of every published contract")
    arguments = parser.parse_args()
    changed = []
    for name in PUBLISHED:
        text = render(schema_of(name))
        path = snapshot_path(name)
        if arguments.write:
            SCHEMAS.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif not path.exists() or path.read_text(encoding="utf-8") != text:
            changed.append(name)
    if changed:
        raise SystemExit(f"contracts differ from their snapshots: {', '.join(changed)}")


if __name__ == "__main__":
    main()
