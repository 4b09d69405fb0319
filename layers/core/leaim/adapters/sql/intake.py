"""The audit writer's side of the SQL store: accepted bundles into one writer's hash chain, exactly once by event id.

A batch is one transaction. Its events are validated as `AuditEvent`s, given the column values `SqlAuditLog`
would have stored, linked after the writer's chain head and written in one go (PostgreSQL `COPY`, multi-row
inserts on SQLite); the decision, override and outcome rows go in with `INSERT .. ON CONFLICT DO NOTHING`. Every
event is taken to be new first, as nearly all are; when the events' primary key refuses one (a batch delivered
again), the transaction is run again after reading which ids are stored, and their events are skipped. The
chain head advances only once the transaction commits (`WriterChain`), and each transaction that chained
something records its lag in `audit_intake`.

Errors are sorted for the writer: the store refusing data (an integrity or data error on a live connection, or a
bundle whose events or row do not validate) is a `BundleRefusedError`, anything else a `StoreUnavailableError`.
"""

from __future__ import annotations

import math
import operator
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError
from pydantic_core import to_json
from sqlalchemy import String, any_, bindparam, column, func, insert, null, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError, StatementError

from contracts.audit.v1 import AuditEvent
from contracts.trail.v1 import ChainHead
from leaim.adapters.sql.chains import WriterChain
from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.adapters.sql.rows import DECISIONS, EVENTS, OUTCOMES, OVERRIDES
from leaim.adapters.sql.tables import AuditIntakeRow, UtcDateTime
from leaim.exceptions import AuditWriteError
from leaim.governance.audit.chain import LINK_FIELDS, link_events
from leaim.governance.audit.exceptions import BundleRefusedError
from leaim.governance.audit.intake import IntakeLag, IntakeReceipt
from leaim.governance.audit.records import event_values

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from sqlalchemy import Connection, Engine, Table
    from sqlalchemy.dialects.postgresql import Insert

    from leaim.governance.audit.accepted import AcceptedBundle

INTAKE = cast("Table", AuditIntakeRow.__table__)  # type: ignore[attr-defined]

_ROW_TABLES: dict[str, Table] = {"decision": DECISIONS, "override": OVERRIDES, "outcome": OUTCOMES}
# Ids per lookup of stored events on SQLite (PostgreSQL takes them all as one array).
_IDS_PER_LOOKUP = 900
_EVENT_COLUMNS = (*LINK_FIELDS, "event_hash")
_COPY_EVENTS = f"COPY {EVENTS.name} ({', '.join(_EVENT_COLUMNS)}) FROM STDIN"
_DETAILS = _EVENT_COLUMNS.index("details")
_EVENT_ROW = operator.itemgetter(*_EVENT_COLUMNS)
_TIME_COLUMNS = {
    table.name: [column.name for column in table.columns if isinstance(column.type, UtcDateTime)]
    for table in _ROW_TABLES.values()
}


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A bundle as columns: its events' values in order, its row's table and values."""

    bundle: AcceptedBundle
    events: list[dict[str, Any]]
    table: Table | None
    row: dict[str, Any] | None


class SqlAuditIntake:
    """`AuditIntake` on SQLite or PostgreSQL: one writer's chain, fed with accepted bundles.

    One instance per writer container (per stream shard in flight): its chain id is made here, or continues the
    stored chain `chain_id`.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], float], chain_id: str | None = None) -> None:
        self._engine = engine
        self._chain = WriterChain(engine, chain_id=chain_id)
        self._now = clock

    @property
    def chain_id(self) -> str:
        """The chain this writer links events into."""
        return self._chain.chain_id

    def store(self, bundles: Sequence[AcceptedBundle], own_event: AuditEvent | None = None) -> IntakeReceipt:
        """Chain the events of `bundles` not stored yet, and `own_event` last, with their rows, in one transaction.

        BundleRefusedError when a bundle does not validate (naming it) or the store refuses the batch as data;
        StoreUnavailableError when the store does not answer. Either way nothing is kept.
        """
        prepared = [_prepare(bundle) for bundle in bundles]
        own = None if own_event is None else event_values(own_event)
        # The first attempt takes every event to be new, as nearly all are: the events' primary key refuses one
        # stored already, and the attempt after that conflict reads which are stored and skips them.
        attempts = iter((False, True))

        def transaction(connection: Connection, head: ChainHead | None) -> tuple[IntakeReceipt, ChainHead | None]:
            return self._transaction(connection, head, prepared, own, look_up=next(attempts, True))

        what = f"{len(bundles)} accepted bundles" if len(bundles) != 1 else f"accepted bundle {bundles[0].pk!r}"
        try:
            return self._chain.commit(transaction, retry_conflicts=True)
        except (IntegrityError, DataError) as error:
            if error.connection_invalidated:
                raise StoreUnavailableError(f"{what} were not stored: {type(error).__name__}") from error
            reason = f"the audit store refused it: {_first_line(error.orig)}"
            raise BundleRefusedError(reason, pk=bundles[0].pk if len(bundles) == 1 else None) from error
        except DBAPIError as error:
            raise StoreUnavailableError(f"{what} were not stored: {type(error).__name__}") from error
        except StatementError as error:
            # A value the driver could not even bind (the database never saw it): data, not an outage.
            reason = f"its values could not be bound: {_first_line(error.orig)}"
            raise BundleRefusedError(reason, pk=bundles[0].pk if len(bundles) == 1 else None) from error
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"{what} were not stored: {type(error).__name__}") from error

    def _transaction(
        self,
        connection: Connection,
        head: ChainHead | None,
        prepared: list[_Prepared],
        own: dict[str, Any] | None,
        *,
        look_up: bool,
    ) -> tuple[IntakeReceipt, ChainHead | None]:
        """Skip what is stored (read first when `look_up`), chain the rest; the receipt and the head once it
        commits."""
        ids = [event["event_id"] for bundle in prepared for event in bundle.events]
        stored = _stored_ids(connection, ids) if look_up else set()
        new_events: list[dict[str, Any]] = []
        fresh: list[_Prepared] = []
        duplicates = 0
        for bundle in prepared:
            before = len(new_events)
            for event in bundle.events:
                if event["event_id"] in stored:
                    duplicates += 1
                else:
                    stored.add(event["event_id"])
                    new_events.append(event)
            if len(new_events) > before:
                fresh.append(bundle)
        chained = new_events if own is None else [*new_events, own]
        if not chained:
            return IntakeReceipt(bundles=0, events=0, duplicates=duplicates, lag_s=None), head
        linked = link_events(self.chain_id, head, chained)
        _insert_rows(connection, fresh)
        _insert_events(connection, linked)
        lag_s = None
        if fresh:
            committed_at = self._now()
            accepted = [bundle.bundle.accepted_at for bundle in fresh]
            lag_s = max(committed_at - min(accepted), 0.0)
            connection.execute(
                insert(INTAKE),
                {
                    "batch_id": uuid.uuid4().hex,
                    "chain_id": self.chain_id,
                    "committed_at": _instant(committed_at),
                    "bundles": len(fresh),
                    "events": len(new_events),
                    "duplicates": duplicates,
                    "oldest_accepted_at": _instant(min(accepted)),
                    "newest_accepted_at": _instant(max(accepted)),
                    "lag_s": lag_s,
                },
            )
        last = linked[-1]
        receipt = IntakeReceipt(bundles=len(fresh), events=len(new_events), duplicates=duplicates, lag_s=lag_s)
        return receipt, ChainHead(seq=last["chain_seq"], hash=last["event_hash"])


class SqlIntakeHistory:
    """`IntakeHistory` on SQLite or PostgreSQL: the writer's transactions and their lags, from `audit_intake`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def lag(self, since: datetime, until: datetime) -> IntakeLag:
        """The transactions committed in [since, until), their events, and their lags' nearest-rank percentiles."""
        window = (INTAKE.c.committed_at >= since, INTAKE.c.committed_at < until)
        totals = select(func.count(), func.coalesce(func.sum(INTAKE.c.events), 0), func.max(INTAKE.c.lag_s))
        try:
            with self._engine.connect() as connection:
                batches, events, worst = connection.execute(totals.where(*window)).one()
                ranked = [
                    connection.execute(
                        select(INTAKE.c.lag_s).where(*window).order_by(INTAKE.c.lag_s).offset(rank).limit(1)
                    ).scalar_one()
                    for rank in (_rank(0.50, batches), _rank(0.99, batches))
                    if batches
                ]
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"the audit writer's lag could not be read: {type(error).__name__}") from error
        p50, p99 = (float(value) for value in ranked) if ranked else (None, None)
        return IntakeLag(
            batches=int(batches),
            events=int(events),
            lag_p50_s=p50,
            lag_p99_s=p99,
            lag_max_s=None if worst is None else float(worst),
        )


def _rank(quantile: float, count: int) -> int:
    """The 0-based position of the nearest-rank `quantile` of `count` sorted values."""
    # Rounded first: 0.99 * 100 is 99.00000000000001 in floating point, whose ceiling would be one rank too high.
    return max(math.ceil(round(quantile * count, 6)) - 1, 0)


def _prepare(bundle: AcceptedBundle) -> _Prepared:
    """The bundle's events as column values and its row checked; BundleRefusedError naming it when they do not
    validate."""
    events = [_event_values(document, bundle.pk) for document in bundle.events]
    if bundle.kind == "events":
        return _Prepared(bundle, events, None, None)
    table = _ROW_TABLES[bundle.kind]
    return _Prepared(bundle, events, table, _checked_row(bundle, table))


def _event_values(document: Mapping[str, Any], pk: str) -> dict[str, Any]:
    what = f"event {document.get('event_id')!r} of bundle {pk!r}"
    try:
        return event_values(AuditEvent.model_validate(document))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BundleRefusedError(f"{what} is not an audit event: {where}: {first['msg']}", pk=pk) from error
    except AuditWriteError as error:
        raise BundleRefusedError(f"{what} cannot be stored: {error}", pk=pk) from error


def _checked_row(bundle: AcceptedBundle, table: Table) -> dict[str, Any]:
    """The row of a decision, override or outcome bundle, in its JSON form: every column given, times ISO 8601."""
    row = dict(bundle.row or {})
    names = set(table.columns.keys())
    unknown, missing = sorted(row.keys() - names), sorted(names - row.keys())
    if unknown or missing:
        problems = [f"unknown columns {unknown}"] * bool(unknown) + [f"no columns {missing}"] * bool(missing)
        raise BundleRefusedError(
            f"the {table.name} row of bundle {bundle.pk!r} has {' and '.join(problems)}", pk=bundle.pk
        )
    for name in _TIME_COLUMNS[table.name]:
        value = row[name]
        if value is not None and _parsed_time(value) is None:
            raise BundleRefusedError(
                f"{table.name}.{name} of bundle {bundle.pk!r} is not an ISO 8601 time: {value!r}", pk=bundle.pk
            )
    return row


def _parsed_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _stored_ids(connection: Connection, ids: list[str]) -> set[str]:
    """Those of `ids` whose events are stored already."""
    if not ids:
        return set()
    if connection.dialect.name == "postgresql":
        statement = select(EVENTS.c.event_id).where(
            EVENTS.c.event_id == any_(bindparam("ids", type_=postgresql.ARRAY(String)))
        )
        return set(connection.execute(statement, {"ids": ids}).scalars())
    found: set[str] = set()
    for start in range(0, len(ids), _IDS_PER_LOOKUP):
        chunk = ids[start : start + _IDS_PER_LOOKUP]
        found.update(connection.execute(select(EVENTS.c.event_id).where(EVENTS.c.event_id.in_(chunk))).scalars())
    return found


def _insert_rows(connection: Connection, bundles: list[_Prepared]) -> None:
    """The bundles' rows, table by table, each table's in one `INSERT .. ON CONFLICT DO NOTHING`: a decision that
    has its row already keeps it."""
    by_table: dict[str, list[dict[str, Any]]] = {}
    for bundle in bundles:
        if bundle.table is not None and bundle.row is not None:
            by_table.setdefault(bundle.table.name, []).append(bundle.row)
    postgres = connection.dialect.name == "postgresql"
    for table in _ROW_TABLES.values():
        rows = by_table.get(table.name)
        if not rows:
            continue
        if postgres:
            # The rows travel as one JSON array that the server turns into typed rows: their JSON form is what the
            # bundles carry, so nothing is converted here. NaN and infinity are sent as such, for the server to refuse.
            document = to_json(rows, inf_nan_mode="constants").decode()
            connection.execute(_RECORDSET_INSERTS[table.name], {"rows": document})
        else:
            values = [_sqlite_values(row, _TIME_COLUMNS[table.name]) for row in rows]
            connection.execute(sqlite.insert(table).on_conflict_do_nothing(index_elements=["decision_id"]), values)


def _recordset_insert(table: Table) -> Insert:
    """PostgreSQL's multi-row insert into `table` from a JSON array of rows, skipping decisions that have one."""
    incoming = (
        func.jsonb_to_recordset(sql_cast(bindparam("rows", type_=String), postgresql.JSONB))
        .table_valued(*(column(item.name, item.type) for item in table.columns))
        .render_derived(name="incoming", with_types=True)
    )
    names = [item.name for item in table.columns]
    return (
        postgresql.insert(table)
        .from_select(names, select(*(incoming.c[name] for name in names)))
        .on_conflict_do_nothing(index_elements=["decision_id"])
    )


_RECORDSET_INSERTS = {table.name: _recordset_insert(table) for table in _ROW_TABLES.values()}


# The JSON documents a decision row may lack (no model scored: no feature vector).
_JSON_COLUMNS = frozenset({"features"})


def _sqlite_values(row: dict[str, Any], times: list[str]) -> dict[str, Any]:
    """A row's column values: its times as datetimes, and no JSON document as SQL NULL, as SqlAuditLog has them.

    Only a JSON column needs the explicit NULL (it would store None as the document `null`); a plain column's
    None binds as NULL, and an explicit one would reach its type's bind processor.
    """
    values = {name: null() if value is None and name in _JSON_COLUMNS else value for name, value in row.items()}
    for name in times:
        if row[name] is not None:
            values[name] = datetime.fromisoformat(row[name])
    return values


def _insert_events(connection: Connection, linked: list[dict[str, Any]]) -> None:
    """The linked events: `COPY` on PostgreSQL, one multi-row insert at a time elsewhere."""
    if connection.dialect.name != "postgresql":
        connection.execute(insert(EVENTS), linked)
        return
    driver = connection.connection.driver_connection
    dbapi = connection.dialect.loaded_dbapi
    try:
        with driver.cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:  # type: ignore[union-attr]
            for row in _copy_rows(linked):
                copy.write_row(row)
    except dbapi.Error as error:
        # The driver's own error, as SQLAlchemy would have raised it: the writer sorts data from outages.
        invalidated = connection.dialect.is_disconnect(error, driver, None)
        raise DBAPIError.instance(_COPY_EVENTS, None, error, dbapi.Error, connection_invalidated=invalidated) from error


def _copy_rows(linked: list[dict[str, Any]]) -> Iterator[list[Any]]:
    for link in linked:
        row = list(_EVENT_ROW(link))
        row[_DETAILS] = to_json(row[_DETAILS]).decode()
        yield row


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
