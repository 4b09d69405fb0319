"""Policy contract, version 1: registered, signed versions of use-case manifests and dataset contracts.

A use case's decision policy (its manifest: threshold, review band, rules, fallback, gates) and each dataset
contract are registered as numbered, immutable versions. A version is proposed by one principal, approved by
another, and then activated; the head of each policy says which version is active, which runs in shadow, which
were active before (what a rollback restores) and which are retired.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from contracts._base import Contract, Instant

PolicyKind = Literal["use_case", "dataset"]
PolicyState = Literal["proposed", "approved", "active", "shadow", "superseded", "retired"]


class PolicyChange(Contract):
    """One difference between a version and the version before it, at a dotted path of the document."""

    path: str = Field(description="Dotted path, list items by index: `decision.threshold`, `inputs.3.allowed`.")
    before: JsonValue = Field(description="The value before; null where the path is new.")
    after: JsonValue = Field(description="The value after; null where the path is gone.")


class PolicyVersion(Contract):
    """One registered version: the document, its digest and signature, who proposed and approved it, and its diff."""

    schema_version: Literal["policy.v1"] = "policy.v1"
    kind: PolicyKind
    subject: str = Field(description="The use case, or the dataset, the version belongs to.")
    version: int = Field(ge=1)
    digest: str = Field(description="sha256 of the document as canonical JSON (sorted keys, no spaces).")
    document: dict[str, JsonValue] = Field(description="The manifest or dataset contract, as validated.")
    key_id: str = Field(description="Id of the Ed25519 key that signed the digest.")
    signature: str = Field(description="Base64 Ed25519 signature of `policy.v1|kind|subject|version|digest`.")
    origin: str = Field(description="`api`, or `file:<name>` for a version seeded from a bootstrap file.")
    note: str = ""
    proposed_by: str
    proposed_at: Instant
    base_version: int | None = Field(default=None, description="The version `changes` are counted against.")
    changes: list[PolicyChange] = Field(default_factory=list)
    approved_by: str | None = None
    approved_at: Instant | None = None
    approval_note: str = ""
    state: PolicyState = Field(default="proposed", description="Where the version stands now (from the head).")


class PolicyHead(Contract):
    """Where a policy stands: its active and shadow versions, the active ones before, the retired ones."""

    kind: PolicyKind
    subject: str
    active: int | None = None
    shadow: int | None = None
    previous: list[int] = Field(default_factory=list, description="Versions active before, oldest first.")
    retired: list[int] = Field(default_factory=list)
    latest: int = Field(default=0, ge=0, description="The highest version registered.")
    digests: dict[str, int] = Field(default_factory=dict, description="Version of each registered digest.")
    revision: int = Field(default=0, ge=0, description="Counts the head's changes; a change names the one it read.")
    changed_by: str | None = None
    changed_at: Instant | None = None

    def state_of(self, version: int, approved: bool) -> PolicyState:
        """Where `version` stands under this head."""
        if version in self.retired:
            return "retired"
        if version == self.active:
            return "active"
        if version == self.shadow:
            return "shadow"
        if version in self.previous:
            return "superseded"
        return "approved" if approved else "proposed"


class PolicyList(Contract):
    """A policy's head and every version, newest first."""

    head: PolicyHead
    versions: list[PolicyVersion]


class PolicyProposal(Contract):
    """A new version to register: the whole manifest or dataset contract, and why it changes."""

    document: dict[str, JsonValue] = Field(description="A use-case manifest (manifest.v1) or dataset contract.")
    note: str = Field(default="", max_length=2000, description="Why this version is proposed.")


class PolicyTransition(Contract):
    """An approval, activation, shadowing, rollback or retirement, and why; optionally the head revision read."""

    reason: str = Field(default="", max_length=2000)
    expected_revision: int | None = Field(
        default=None, ge=0, description="Refuse (409) unless the head is still at this revision."
    )


class OutcomeShift(Contract):
    """How many decisions got `active` from the active policy and would have got `shadow` from the shadow one."""

    active: str
    shadow: str
    count: int


class PolicyShadowReport(Contract):
    """What a version in shadow would have decided on live traffic, against what the active version decided."""

    use_case: str
    shadow_version: int
    active_versions: list[int] = Field(description="The active versions that decided the compared traffic.")
    since: Instant
    until: Instant
    decisions: int = Field(description="Decisions made while the version ran in shadow.")
    changed: int = Field(description="Decisions whose outcome the shadow version would have changed.")
    change_rate: float | None
    shifts: list[OutcomeShift] = Field(description="Every (active, shadow) pair of outcomes, changed or not.")
