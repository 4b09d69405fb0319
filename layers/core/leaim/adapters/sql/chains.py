"""One writer's hash chain on SQL: its id, and its head, advanced only once the transaction that linked to it commits.

Every writer (a function container, an audit writer) appends to a chain of its own, so no two contend for one
head. The head is kept in memory; a chain id given to continue a stored chain has its head read before the first
write. A failed transaction leaves the head as it was.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contracts.trail.v1 import ChainHead
from leaim.adapters.sql.rows import EVENTS

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Connection, Engine

T = TypeVar("T")


class WriterChain:
    """The hash chain one writer appends to, and the transactions that append to it, one at a time."""

    def __init__(self, engine: Engine, *, chain_id: str | None = None) -> None:
        self._engine = engine
        self.chain_id = chain_id or f"w-{uuid.uuid4().hex}"
        self._lock = threading.Lock()
        self._head: ChainHead | None = None
        # A fresh chain id has no stored links; a given one may, and its head is read before the first write.
        self._head_known = chain_id is None

    def commit(
        self,
        transaction: Callable[[Connection, ChainHead | None], tuple[T, ChainHead | None]],
        *,
        retry_conflicts: bool = False,
    ) -> T:
        """Run `transaction` in one database transaction, given this chain's head; the head it returns becomes the
        chain's once it commits.

        The unique (chain_id, chain_seq) index stops two writers that share a chain id: the head is then read from
        the store and the transaction run once more. With `retry_conflicts` it is run once more after any
        integrity error, for a transaction that reads what it skips, which a concurrent writer may have stored
        meanwhile. The second attempt's error is raised.
        """
        with self._lock:
            if not self._head_known:
                self._head = self._stored_head()
                self._head_known = True
            try:
                return self._run(transaction)
            except IntegrityError:
                stored = self._stored_head()
                if stored == self._head and not retry_conflicts:
                    raise
                self._head = stored
                return self._run(transaction)

    def _run(self, transaction: Callable[[Connection, ChainHead | None], tuple[T, ChainHead | None]]) -> T:
        with self._engine.begin() as connection:
            result, head = transaction(connection, self._head)
        self._head = head
        return result

    def _stored_head(self) -> ChainHead | None:
        statement = (
            select(EVENTS.c.chain_seq, EVENTS.c.event_hash)
            .where(EVENTS.c.chain_id == self.chain_id)
            .order_by(EVENTS.c.chain_seq.desc())
            .limit(1)
        )
        with self._engine.connect() as connection:
            row = connection.execute(statement).first()
        return None if row is None else ChainHead(seq=row.chain_seq, hash=row.event_hash)
