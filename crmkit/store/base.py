"""The storage interface: what services and the shared SQL modules see of a database,
whichever backend runs (store/sqlite/, store/postgres/).

- `Database`: reads (`one`, `all`, `many`) and one logical write at a time per key
  (`write()` yields a `Tx`); `open`, `close`, `ping`.
- `Dialect`: what differs between the backends, as SQL fragments the shared modules splice in
  and the few operations each backend writes its own way (list pages, the search index,
  deleting a workspace). Everything else is written once, in the shared modules beside this
  one, with `?` placeholders (the PostgreSQL adapter numbers them).

SQL that runs on both sticks to what both accept: `ON CONFLICT ... DO NOTHING` (never `INSERT
OR IGNORE`), `TRUE` (never a bare `1` as a condition), an alias on every subquery in FROM,
`CASE` instead of two-argument `min`/`max`, row values for keyset conditions.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from crmkit import spec as S
    from crmkit.query import Filter, Plan

Row = Sequence[Any]  # a tuple (SQLite, PostgreSQL) or a list (a packed SQLite page)
Params = Sequence[Any]
Sql = tuple[str, list[Any]]


@runtime_checkable
class Tx(Protocol):
    """A write transaction; reads inside it see its own writes."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    async def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def insert_rows(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        """Many rows into one table at once (PostgreSQL: COPY)."""
        ...


class Snapshot(Protocol):
    """Reads that all see the database as it was at one moment (a read-only transaction)."""

    async def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    def stream(self, sql: str, params: Params = (), size: int = 5000) -> AsyncIterator[list[Row]]:
        """The rows of one statement, `size` at a time, never all in memory at once."""
        ...


class Database(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    @property
    def url(self) -> str:
        """As configured, its password (if any) hidden: for logs and errors."""
        ...

    async def open(self) -> None:
        """Connect and apply pending migrations."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise unless the database answers a query (readiness)."""
        ...

    async def scrub(self) -> None:
        """Leave no copy of deleted or overwritten data in the database's files that the
        database itself can clean up (SQLite: a TRUNCATE checkpoint)."""
        ...

    async def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def many(
        self, sql: str, params: Params = (), *, width: int, numbers: Iterable[int] = ()
    ) -> list[Row]:
        """The rows of a read that returns many (a list page): `width` columns, of which
        `numbers` may hold numbers (SQLite packs such pages; see its adapter)."""
        ...

    def snapshot(self) -> AbstractAsyncContextManager[Snapshot]:
        """A read-only transaction of its own, for reads that must agree with each other
        (copies, exports)."""
        ...

    def transaction(
        self, *, heavy: bool = False, key: str | None = None
    ) -> AbstractAsyncContextManager[Tx]:
        """A write transaction of its own, whatever unit the request runs in (`write()`
        without a unit)."""
        ...

    async def lock(self, tx: Tx, key: str | None) -> None:
        """Inside `tx`, also take the write lock of `key` (a unit's later write blocks)."""
        ...

    def write(
        self, *, heavy: bool = False, key: str | None = None
    ) -> AbstractAsyncContextManager[Tx]:
        """One logical write, committed at the end of the block, rolled back on any exception.
        Writes with the same `key` (a workspace id; None: one key for everything else) run one
        at a time, whatever process runs them, so a check and the write it guards (a cap, a
        version, an upsert's match) see no other write in between. `heavy`: it may touch many
        rows (SQLite runs it off the event loop). Inside a request's unit (store/unit.py) the
        block joins the unit's transaction instead."""
        ...


Conn = Database | Tx


class Dialect(abc.ABC):
    """What differs between the backends: fragments of SQL and whole operations."""

    name: str

    # --- fragments ---------------------------------------------------------------------------

    @abc.abstractmethod
    def nocase_equals(self, column: str) -> str:
        """`column` equals one parameter, ASCII letters folded (SQLite's NOCASE)."""

    @abc.abstractmethod
    def plain(self, column: str) -> str:
        """`column` as a value the planner should not find by an index (SQLite: `+column`)."""

    @abc.abstractmethod
    def order(self, expr: str, descending: bool) -> str:
        """An ORDER BY term; NULLs sort lowest on both backends, as SQLite has it."""

    @abc.abstractmethod
    def distinct_from(self, expr: str) -> str:
        """`expr` differs from one parameter, NULLs compared as values (SQL's IS DISTINCT)."""

    @abc.abstractmethod
    def like(self, expr: str) -> str:
        """`expr` matches one LIKE pattern (escape: backslash), ASCII letters folded."""

    @abc.abstractmethod
    def json_filter(self, f: Filter) -> Sql:
        """A `custom.<key>=` filter on the record's stored JSON."""

    @abc.abstractmethod
    def tags_filter(self, f: Filter) -> Sql:
        """A `tags=` filter on the record's stored JSON list."""

    # --- operations --------------------------------------------------------------------------

    @abc.abstractmethod
    async def index(
        self, tx: Tx, rs: S.RecordSpec, seq: int, workspace_id: str, parts: list[Any], replace: bool
    ) -> None:
        """A record's search rows (and its words in the typo vocabulary). `parts`: its
        searchable values in spec order, then text found through a link."""

    @abc.abstractmethod
    async def reindex_many(
        self, tx: Tx, rs: S.RecordSpec, workspace_id: str, docs: list[tuple[int, list[Any]]]
    ) -> None:
        """New search rows for many records, (seq, parts) each."""

    @abc.abstractmethod
    async def unindex(self, tx: Tx, rs: S.RecordSpec, workspace_id: str, seqs: list[int]) -> None:
        """Before these records are deleted: search rows that will not go by themselves."""

    @abc.abstractmethod
    async def rebuild_search(
        self, tx: Tx, rs: S.RecordSpec, done: Callable[[int], None] | None = None
    ) -> None:
        """Every record's search rows written anew from its stored fields (after a bulk load);
        `done` hears how many records each batch did."""

    @abc.abstractmethod
    async def search(
        self, db: Database, rs: S.RecordSpec, workspace_id: str, plan: Plan, upto: int | None
    ) -> object:
        """How to find `plan.search` (handed back to `page`)."""

    @abc.abstractmethod
    async def page(
        self,
        db: Database,
        rs: S.RecordSpec,
        plan: Plan,
        workspace_id: str,
        after: tuple[Any, str] | None,
        found: object | None,
    ) -> tuple[list[Row], int, bool]:
        """A list page: up to limit + 1 rows in `sql_query.list_columns` order, each followed
        by its sort key and the capped total; the total; whether more may match than it says
        (a search whose candidate window is full)."""

    @abc.abstractmethod
    async def tables(self, conn: Conn) -> dict[str, list[str]]:
        """Every table of the schema (the backend's own index tables included), by name,
        with its columns in order."""

    @abc.abstractmethod
    async def delete_workspace(self, tx: Tx, workspace_id: str) -> int:
        """Delete the workspace and every row that belongs to it; returns rows deleted."""
