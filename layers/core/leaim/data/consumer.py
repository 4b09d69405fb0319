"""The ingest queue and stream consumer: a batch of deliveries in, records stored or quarantined, failures out.

A batch is ingested per dataset with batched writes. A message that cannot be read, or names no known
dataset, is quarantined under `_unrouted`; a record that fails its contract under its dataset. Neither is a
failure of the batch: only a storage error fails the deliveries it touched, so that they are retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from contracts.ingest.v1 import IngestMessage, QuarantinedRecord
from leaim.data.ingestion import UNROUTED, Incoming, ingest_details, quarantine_id_of
from leaim.governance.access.gate import field_errors
from leaim.governance.audit.events import InvocationAudit

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from contracts.ingest.v1 import Source
    from leaim.data.ingestion import IngestionService
    from leaim.domain.clock import Clock
    from leaim.governance.ports import AuditLog, DeadLetterSink, Telemetry


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivered message or stream record."""

    identifier: str
    body: str
    origin: str
    attributes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class IngestedBatch:
    """What became of a batch: the deliveries to retry, in delivery order; the reason each quarantined delivery
    was refused, by identifier; and the unexpected errors that failed deliveries, each named by what it failed."""

    failed: list[str]
    quarantined: dict[str, str]
    errors: list[tuple[str, Exception]]


@dataclass(frozen=True, slots=True)
class _Routed:
    position: int
    dataset: str
    item: Incoming


class IngestionConsumer:
    """Ingests batches from the ingest queue (`sqs`) or the ingest stream (`kinesis`)."""

    def __init__(
        self,
        *,
        service: IngestionService,
        dead_letters: DeadLetterSink | None,
        audit_log: AuditLog,
        telemetry: Telemetry,
        clock: Clock,
        kind: Source,
        source: str,
    ) -> None:
        self._service = service
        self._dead_letters = dead_letters
        self._audit_log = audit_log
        self._telemetry = telemetry
        self._clock = clock
        self._kind = kind
        self._source = source

    def handle(self, deliveries: Sequence[Delivery], invocation_id: str) -> IngestedBatch:
        """Ingest a batch; returns the deliveries to retry and the quarantined ones with their reasons."""
        with self._telemetry.span(f"{self._kind}.ingest", {"deliveries": len(deliveries)}):
            audit = InvocationAudit(
                self._audit_log,
                self._clock,
                source=self._source,
                action="ingest.records",
                invocation_id=invocation_id,
                trace_id=self._telemetry.trace_id(),
            )
            unrouted: dict[int, QuarantinedRecord] = {}
            groups: dict[str, list[_Routed]] = {}
            for position, delivery in enumerate(deliveries):
                routed = self._route(position, delivery, audit.trace_id)
                if isinstance(routed, QuarantinedRecord):
                    unrouted[position] = routed
                else:
                    groups.setdefault(routed.dataset, []).append(routed)
            failed: set[int] = set()
            reports: dict[str, dict[str, Any]] = {}
            errors: list[tuple[str, Exception]] = []
            dead = {position: record.reason for position, record in unrouted.items()}
            for dataset, group in groups.items():
                try:
                    result = self._service.ingest(
                        dataset, [r.item for r in group], source=self._kind, trace_id=audit.trace_id
                    )
                except Exception as error:
                    failed.update(r.position for r in group)
                    errors.append((dataset, error))
                    continue
                reports[dataset] = ingest_details(result.report)
                dead.update({group[index].position: record.reason for index, record in result.quarantined.items()})
            try:
                self._service.keep_quarantined(list(unrouted.values()))
            except Exception as error:
                failed.update(unrouted)
                errors.append((UNROUTED, error))
            # Copies on the dead-letter queue before the audit event, which says whether they all went there.
            for position, reason in sorted(dead.items()):
                refused = self._dead_letter(deliveries[position], reason)
                if refused is not None:
                    failed.add(position)
                    errors.append((f"dead letter of {deliveries[position].identifier}", refused))
            details = {
                "deliveries": len(deliveries),
                "failed": len(failed),
                "unrouted": len(unrouted),
                "datasets": reports,
            }
            if errors:
                described = "; ".join(f"{what}: {type(error).__name__}: {error}" for what, error in errors)
                audit.store("error", error=described[:2000], details=details)
            else:
                audit.store("success", details=details)
            return IngestedBatch(
                failed=[deliveries[position].identifier for position in sorted(failed)],
                quarantined={deliveries[position].identifier: reason for position, reason in sorted(dead.items())},
                errors=errors,
            )

    def _dead_letter(self, delivery: Delivery, reason: str) -> Exception | None:
        """Copy a quarantined message to the dead-letter queue; the error when that failed (it is retried)."""
        if self._dead_letters is None:
            return None
        try:
            self._dead_letters.send(
                delivery.body, {"source_message_id": delivery.identifier, **delivery.attributes}, reason
            )
        except Exception as error:
            return error
        return None

    def _route(self, position: int, delivery: Delivery, trace_id: str) -> _Routed | QuarantinedRecord:
        origin = delivery.origin
        try:
            message = IngestMessage.model_validate(json.loads(delivery.body))
        except (ValueError, RecursionError) as error:
            if isinstance(error, ValidationError):
                fields = field_errors(error)
                reason = "message is not ingest.v1: " + ", ".join(f.field for f in fields)
            else:
                fields = []
                reason = f"message is not valid JSON: {error}"
            return self._unrouted(delivery, origin, reason, fields, trace_id)
        if message.dataset not in self._service.datasets.names():
            reason = f"unknown dataset {message.dataset!r}"
            return self._unrouted(delivery, origin, reason, [], trace_id)
        item = Incoming(payload=message.record, contract_version=message.contract_version, origin=origin)
        return _Routed(position, message.dataset, item)

    def _unrouted(
        self, delivery: Delivery, origin: str, reason: str, fields: list[Any], trace_id: str
    ) -> QuarantinedRecord:
        return QuarantinedRecord(
            quarantine_id=quarantine_id_of(UNROUTED, None, delivery.body),
            dataset=UNROUTED,
            source=self._kind,
            origin=origin,
            contract_version=None,
            reason=reason,
            fields=fields,
            payload=delivery.body,
            received_at=datetime.fromtimestamp(self._clock.now(), UTC),
            trace_id=trace_id,
        )
