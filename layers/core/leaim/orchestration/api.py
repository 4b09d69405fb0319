"""The decision API, independent of the web framework: HTTP in, governed decision and audit out; and the replay of a
stored decision."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from contracts.decision.v1 import DecisionRequest
from contracts.replay.v1 import DecisionReplayRequest
from leaim.exceptions import NotFoundError
from leaim.governance.access.exceptions import (
    InvalidInputsError,
    InvalidRequestError,
    UnknownDecisionError,
    UnknownUseCaseError,
)
from leaim.governance.access.gate import GovernedHttp, HttpAnswer, field_errors
from leaim.governance.access.masking import masked_decision
from leaim.governance.access.policy import Permission, may_reach
from leaim.governance.audit.events import DECISION_ACTION
from leaim.orchestration.adverse import adverse_action_notice
from leaim.orchestration.exceptions import InputValidationError
from leaim.orchestration.replay import REPLAY_ACTION

if TYPE_CHECKING:
    from pydantic import BaseModel

    from contracts.audit.v1 import AuditEvent
    from leaim.governance.access.gate import HttpGate, Invocation
    from leaim.governance.audit.events import InvocationAudit
    from leaim.governance.ports import Principal
    from leaim.orchestration.decisions import DecisionService
    from leaim.orchestration.replay import DecisionReplayer


class DecisionApi(GovernedHttp):
    """`POST /v1/decisions/{use_case}` and `GET /v1/decisions/{decision_id}`, audited once each."""

    def __init__(
        self,
        *,
        service: DecisionService,
        gate: HttpGate,
    ) -> None:
        super().__init__(gate)
        self._service = service

    def create(self, use_case: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """Make one governed decision."""
        with (
            self._telemetry.attach(invocation.headers),
            self._telemetry.span("POST /v1/decisions/{use_case}", {"use_case": use_case}),
        ):
            audit = self._audit(invocation, DECISION_ACTION)
            audit.note(use_case=use_case)
            try:
                principal = self._authorize(invocation, audit, Permission.CREATE_DECISION)
                if not principal.may_use(use_case):
                    raise NotFoundError(f"unknown use case {use_case!r}")
                request = self._request(body, invocation)
                audit.note(request_id=request.request_id)
                result = self._service.decide(use_case, request, audit, remaining_ms=invocation.remaining_ms)
            except NotFoundError as error:
                return self._answer_error(audit, UnknownUseCaseError(str(error)))
            except InputValidationError as error:
                return self._answer_error(audit, InvalidInputsError("inputs do not match the use case", error.fields))
            except Exception as error:
                return self._answer_error(audit, error)
            headers = {"x-idempotent-replay": "true"} if result.replay else {}
            return HttpAnswer(200, result.response.model_dump(mode="json"), headers)

    def read(self, decision_id: str, invocation: Invocation) -> HttpAnswer:
        """Return a stored decision, its feature reasons masked where the caller's role is not granted the fields
        they are computed from."""
        with self._telemetry.attach(invocation.headers), self._telemetry.span("GET /v1/decisions/{decision_id}"):
            audit = self._audit(invocation, "decision.read")
            audit.note(decision_id=decision_id)
            try:
                principal = self._authorize(invocation, audit, Permission.READ_DECISION)
                found = self._service.get(decision_id)
                if found is None or not may_reach(
                    principal, Permission.READ_DECISION, use_case=found.response.use_case, made_by=found.made_by
                ):
                    # A decision the caller may not reach is answered as one that does not exist.
                    raise UnknownDecisionError(f"no decision with id {decision_id!r}")
                decision = masked_decision(found.response, self._service.manifest(found.response.use_case), principal)
                audit.note(use_case=decision.use_case, request_id=decision.request_id)
                audit.store("success", status_code=200)
            except Exception as error:
                return self._answer_error(audit, error)
            return HttpAnswer(200, decision.model_dump(mode="json"))

    def notice(self, decision_id: str, invocation: Invocation) -> HttpAnswer:
        """The adverse-action notice of a stored decision as it stands, with its principal reasons."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            found = self._service.get(decision_id)
            if found is None or not may_reach(
                principal, Permission.READ_DECISION, use_case=found.response.use_case, made_by=found.made_by
            ):
                # A decision the caller may not reach is answered as one that does not exist.
                raise UnknownDecisionError(f"no decision with id {decision_id!r}")
            manifest = self._service.manifest(found.response.use_case)
            audit.note(use_case=found.response.use_case, request_id=found.response.request_id)
            notice = adverse_action_notice(masked_decision(found.response, manifest, principal), manifest)
            return notice, {"outcome": notice.outcome, "reason_codes": [reason.code for reason in notice.reasons]}

        return self._serve(
            invocation,
            "decision.notice",
            Permission.READ_DECISION,
            {"decision_id": decision_id},
            work,
            subject={"decision_id": decision_id},
        )

    def _request(self, body: bytes, invocation: Invocation) -> DecisionRequest:
        payload = self._json(body, invocation)
        try:
            return DecisionRequest.model_validate(payload)
        except ValidationError as error:
            raise InvalidRequestError("request does not match decision.v1", field_errors(error)) from error


class DecisionReplayApi(GovernedHttp):
    """`POST /v1/decisions/{decision_id}/replay`, audited once as `decision.replay`, its worker call beside."""

    def __init__(self, *, replayer: DecisionReplayer, gate: HttpGate) -> None:
        super().__init__(gate)
        self._replayer = replayer

    def replay(self, decision_id: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """Recompute a stored decision under the policy and model it was made with, or those the body names, and
        say whether it comes out the same, or what differs and why."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            found = self._replayer.recorded(decision_id)
            if found is None or not may_reach(
                principal, Permission.REPLAY_DECISIONS, use_case=found.response.use_case, made_by=found.made_by
            ):
                # A decision the caller may not reach is answered as one that does not exist.
                raise UnknownDecisionError(f"no decision with id {decision_id!r}")
            audit.note(use_case=found.response.use_case, request_id=found.response.request_id)
            request = self._parse(DecisionReplayRequest, self._json(body or b"{}", invocation), "a replay request")
            calls: list[AuditEvent] = []
            try:
                report = self._replayer.replay(found, request, audit, calls, remaining_ms=invocation.remaining_ms)
            finally:
                # The worker call is audited even where the replay failed after it.
                if calls:
                    self._audit_log.append_many(calls)
            details = {
                "policy_version": None if report.replayed_with.policy is None else report.replayed_with.policy.version,
                "policy_digest": None if report.replayed_with.policy is None else report.replayed_with.policy.digest,
                "model_version": None if report.replayed_with.model is None else report.replayed_with.model.version,
                "same": report.same,
                "original_outcome": report.original.outcome,
                "replayed_outcome": report.replayed.outcome,
                "differences": [difference.field for difference in report.differences],
            }
            return report, details

        return self._serve(
            invocation,
            REPLAY_ACTION,
            Permission.REPLAY_DECISIONS,
            {"decision_id": decision_id},
            work,
            subject={"decision_id": decision_id},
        )
