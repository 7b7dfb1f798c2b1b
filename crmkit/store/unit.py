"""A request's writes as one transaction: what idempotency keys and dry runs stand on.

Without a unit (nearly every request) a service's `db.write()` blocks are transactions of
their own, as always. Inside one (`async with unit.begin(db, ...)`, web/retries.py), the first
write block opens a real transaction and keeps it open; every later block in the request
joins it as a SAVEPOINT (an error inside one still undoes just that block, as its own
transaction would have), and reads go to it, so the handler sees its own writes. At the end
the endpoint commits the whole (with the stored reply of an idempotency key written in the
same transaction) or rolls it back (a dry run, a server error).

Reads before the first write go to the database as usual: they see what is committed, as a
transaction that has not started yet would.

The adapters consult `joined()` in their read methods and `active()` in `write()`; the
contextvar is per task, so concurrent requests never share a unit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmkit.store.base import Database, Tx

OnOpen = Callable[["Tx"], Awaitable[None]]


class Rollback(BaseException):
    """Thrown into the transaction to end it without committing. A BaseException: nothing
    in a handler's `except Exception` may swallow it."""


class Unit:
    def __init__(self, db: Database, *, dry_run: bool, on_open: OnOpen | None) -> None:
        self.db = db
        self.dry_run = dry_run
        self.on_open = on_open
        self.tx: Tx | None = None
        self.notes: list[str] = []  # what a dry run's reply should say it skipped
        # (action, target, detail) of every audit row written, in order: what a dry run did
        self.audit: list[tuple[str, str | None, str | None]] = []
        self._cm: AbstractAsyncContextManager[Tx] | None = None
        self._keys: set[str | None] = set()
        self._depth = 0

    @asynccontextmanager
    async def write(self, heavy: bool, key: str | None) -> AsyncIterator[Tx]:
        tx = self.tx
        if tx is None:
            cm = self.db.transaction(heavy=heavy, key=key)
            tx = await cm.__aenter__()
            self._cm, self.tx = cm, tx
            self._keys.add(key)
            if self.on_open is not None:
                await self.on_open(tx)
        elif key not in self._keys:
            await self.db.lock(tx, key)  # what the block's own transaction would have held
            self._keys.add(key)
        name = "unit_%d" % self._depth
        self._depth += 1
        audited = len(self.audit)
        await tx.execute("SAVEPOINT " + name)
        try:
            yield tx
        except BaseException:
            await tx.execute("ROLLBACK TO SAVEPOINT " + name)
            await tx.execute("RELEASE SAVEPOINT " + name)
            del self.audit[audited:]  # those rows are gone with the block
            raise
        else:
            await tx.execute("RELEASE SAVEPOINT " + name)
        finally:
            self._depth -= 1

    async def commit(self) -> None:
        cm, self._cm, self.tx = self._cm, None, None
        if cm is not None:
            await cm.__aexit__(None, None, None)

    async def rollback(self) -> None:
        cm, self._cm, self.tx = self._cm, None, None
        if cm is not None:
            stop = Rollback()
            await cm.__aexit__(Rollback, stop, None)


_current: ContextVar[Unit | None] = ContextVar("crmkit_unit", default=None)


def current() -> Unit | None:
    return _current.get()


def joined(db: Database) -> Tx | None:
    """The open transaction reads of `db` should go to, if the request runs in a unit that
    has one."""
    unit = _current.get()
    return None if unit is None or unit.db is not db else unit.tx


def audited(row: tuple[str, str | None, str | None]) -> None:
    """An audit row was written in this request (kept for a dry run's summary)."""
    unit = _current.get()
    if unit is not None:
        unit.audit.append(row)


def dry_run() -> bool:
    unit = _current.get()
    return unit is not None and unit.dry_run


@asynccontextmanager
async def begin(
    db: Database, *, dry_run: bool = False, on_open: OnOpen | None = None
) -> AsyncIterator[Unit]:
    """Run the block as one unit. It is rolled back unless the block calls `unit.commit()`
    (always, in a dry run) and on any exception."""
    unit = Unit(db, dry_run=dry_run, on_open=on_open)
    token = _current.set(unit)
    try:
        yield unit
    finally:
        _current.reset(token)
        await unit.rollback()  # a no-op after commit()


def write(db: Database, heavy: bool, key: str | None) -> AbstractAsyncContextManager[Tx]:
    """What an adapter's `write()` enters: the request's unit, or a transaction of its own."""
    unit = _current.get()
    if unit is None or unit.db is not db:
        return db.transaction(heavy=heavy, key=key)
    return unit.write(heavy, key)
