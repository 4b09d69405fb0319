"""Human review of decisions in the review band, and the explanation of any decision as stored.

Both are read with the fields the reader's role is not granted masked (`leaim.governance.access.masking`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from contracts.decision.v1 import Override
from contracts.governance.v1 import Explanation, Review, ReviewList
from leaim.exceptions import NotFoundError, ReviewClosedError
from leaim.governance.access.masking import masked_explanation, masked_review
from leaim.governance.access.policy import Permission, may_reach, use_case_scope
from leaim.governance.oversight.exceptions import InvalidOverrideError

if TYPE_CHECKING:
    from contracts.governance.v1 import ReviewOverride
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog
    from leaim.governance.oversight.ports import OversightStore, StoredDecision
    from leaim.governance.ports import Principal


def reachable(store: OversightStore, decision_id: str, principal: Principal, permission: Permission) -> StoredDecision:
    """The stored decision, if the principal may use `permission` on it; else NotFoundError, the same as for a
    decision that does not exist."""
    stored = store.decision(decision_id)
    if stored is None or not may_reach(
        principal, permission, use_case=stored.response.use_case, made_by=stored.made_by
    ):
        raise NotFoundError(f"no decision with id {decision_id!r}")
    return stored


def review_of(stored: StoredDecision) -> Review:
    """A stored decision in the review band as a review."""
    response = stored.response
    return Review(
        review_id=response.decision_id,
        decision_id=response.decision_id,
        use_case=response.use_case,
        status="pending" if stored.override is None else "resolved",
        decided_at=response.decided_at,
        outcome=response.outcome,
        score=response.score,
        model=response.model,
        reasons=response.reasons,
        inputs=dict(stored.inputs),
        override=stored.override,
    )


class ReviewService:
    """The review queue: decisions in the review band wait for a reviewer's final outcome."""

    def __init__(self, *, store: OversightStore, catalog: ManifestCatalog, clock: Clock) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock

    def pending(self, principal: Principal, use_case: str | None, *, after: str | None, limit: int) -> ReviewList:
        """Up to `limit` pending reviews (of one use case, or of every one in the principal's scope), oldest first,
        after the review id `after`, masked for the principal."""
        use_cases = use_case_scope(principal, use_case)
        if use_case is not None:
            self._catalog.get(use_case)
        page = self._store.pending_reviews(use_cases, after=after, limit=limit + 1)
        reviews = [self._masked(review_of(stored), principal) for stored in page[:limit]]
        return ReviewList(reviews=reviews, next_cursor=reviews[-1].review_id if len(page) > limit else None)

    def get(self, review_id: str, principal: Principal) -> Review:
        """One review, pending or resolved, masked for the principal; NotFoundError when the decision was never sent
        to review, or when the principal may not reach it (the same answer: it is not told that the review exists)."""
        stored = self._store.decision(review_id)
        if (
            stored is None
            or not stored.response.review_required
            or not may_reach(
                principal, Permission.REVIEW_DECISIONS, use_case=stored.response.use_case, made_by=stored.made_by
            )
        ):
            raise NotFoundError(f"no review with id {review_id!r}: no decision of that id waits for review")
        return self._masked(review_of(stored), principal)

    def prepare(
        self, review_id: str, request: ReviewOverride, *, reviewer: Principal, event_id: str
    ) -> tuple[Review, Override, bool]:
        """The review resolved by the reviewer's final outcome, under the audit event `event_id`; the override;
        and whether it is new.

        The same override again (outcome, justification, reviewer) gives the stored one and False (a retry);
        another override of a resolved review raises ReviewClosedError, an outcome the use case does not have
        InvalidOverrideError. A new override is stored by the audit log, in one transaction with its event.
        """
        review = self.get(review_id, reviewer)
        outcomes = self._catalog.get(review.use_case).decision.outcomes
        if request.outcome not in outcomes:
            raise InvalidOverrideError(f"outcome {request.outcome!r} is not one of {review.use_case}'s {outcomes}")
        stored = review.override
        if stored is None:
            override = Override(
                review_id=review_id,
                original_outcome=review.outcome,
                outcome=request.outcome,
                justification=request.justification,
                reviewer=reviewer.name,
                reviewed_at=datetime.fromtimestamp(self._clock.now(), UTC),
                event_id=event_id,
            )
            return review.model_copy(update={"status": "resolved", "override": override}), override, True
        if (stored.outcome, stored.justification, stored.reviewer) != (
            request.outcome,
            request.justification,
            reviewer.name,
        ):
            raise ReviewClosedError(
                f"review {review_id!r} was resolved as {stored.outcome!r} by {stored.reviewer!r} at "
                f"{stored.reviewed_at.isoformat()}: a decision is overridden once"
            )
        return review, stored, False

    def explanation(self, decision_id: str, principal: Principal) -> Explanation:
        """The reasons and contributions of a decision, as stored when it was made, masked for the principal;
        NotFoundError when there is no such decision or the principal may not reach it."""
        stored = reachable(self._store, decision_id, principal, Permission.READ_DECISION)
        response = stored.response
        manifest = self._catalog.get(response.use_case)
        threshold = manifest.decision.threshold if response.score is not None else None
        explanation = Explanation(
            decision_id=response.decision_id,
            use_case=response.use_case,
            outcome=response.outcome,
            final_outcome=stored.final_outcome,
            score=response.score,
            threshold=threshold,
            model=response.model,
            fallback=response.fallback,
            reasons=response.reasons,
            features=None if stored.features is None else dict(stored.features),
            decided_at=response.decided_at,
        )
        return masked_explanation(explanation, manifest, principal)

    def _masked(self, review: Review, principal: Principal) -> Review:
        return masked_review(review, self._catalog.get(review.use_case), principal)
