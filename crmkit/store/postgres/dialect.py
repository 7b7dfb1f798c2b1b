"""PostgreSQL's side of the storage interface (store/base.py's Dialect)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmkit import spec as S
from crmkit.query import Filter, Plan
from crmkit.store import records
from crmkit.store.base import Conn, Database, Dialect, Row, Sql, Tx
from crmkit.store.postgres import jsonsql, search

# Deleted before the other tables of a workspace: they point at its records.
_FIRST = ("activities", "deals", "contacts", "companies")
# Not counted among a deleted workspace's rows: indexes of its records, not data.
DERIVED = ("search_terms", "record_counts")


class PostgresDialect(Dialect):
    name = "postgresql"

    def nocase_equals(self, column: str) -> str:
        return "lower(%s) = lower(?)" % column

    def plain(self, column: str) -> str:
        return column  # the planner has statistics: no hints

    def order(self, expr: str, descending: bool) -> str:
        return expr + (" DESC NULLS LAST" if descending else " ASC NULLS FIRST")

    def distinct_from(self, expr: str) -> str:
        return "%s IS DISTINCT FROM ?" % expr

    def like(self, expr: str) -> str:
        return "%s ILIKE ? ESCAPE '\\'" % expr

    def json_filter(self, f: Filter) -> Sql:
        return jsonsql.custom(f)

    def tags_filter(self, f: Filter) -> Sql:
        return jsonsql.tags(f)

    async def index(
        self, tx: Tx, rs: S.RecordSpec, seq: int, workspace_id: str, parts: list[Any], replace: bool
    ) -> None:
        await search.index(tx, rs, seq, workspace_id, parts, replace)

    async def reindex_many(
        self, tx: Tx, rs: S.RecordSpec, workspace_id: str, docs: list[tuple[int, list[Any]]]
    ) -> None:
        await search.reindex_many(tx, rs, workspace_id, docs)

    async def unindex(self, tx: Tx, rs: S.RecordSpec, workspace_id: str, seqs: list[int]) -> None:
        pass  # the search columns go with the row

    async def rebuild_search(
        self, tx: Tx, rs: S.RecordSpec, done: Callable[[int], None] | None = None
    ) -> None:
        pass  # search_grams is generated from search_fold, which a copy carries

    async def search(
        self, db: Database, rs: S.RecordSpec, workspace_id: str, plan: Plan, upto: int | None
    ) -> object:
        return await search.plan(db, rs, workspace_id, plan, upto)

    async def page(
        self,
        db: Database,
        rs: S.RecordSpec,
        plan: Plan,
        workspace_id: str,
        after: tuple[Any, str] | None,
        found: object | None,
    ) -> tuple[list[Row], int, bool]:
        if isinstance(found, search.PgSearch):
            return await search.page(self, db, rs, plan, workspace_id, after, found)
        return await records.plain_page(db, rs, plan, workspace_id, after)

    async def tables(self, conn: Conn) -> dict[str, list[str]]:
        rows = await conn.all(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN information_schema.tables t ON t.table_schema = c.table_schema"
            " AND t.table_name = c.table_name WHERE c.table_schema = current_schema()"
            " AND t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.ordinal_position"
        )
        found: dict[str, list[str]] = {}
        for table, column in rows:
            found.setdefault(str(table), []).append(str(column))
        return found

    async def delete_workspace(self, tx: Tx, workspace_id: str) -> int:
        """Every table with a workspace_id column (later migrations' too), records first so
        that no reference between them is cleared row by row on the way out."""
        rows = await tx.all(
            "SELECT table_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND column_name = 'workspace_id' ORDER BY table_name"
        )
        names = [str(r[0]) for r in rows]
        ordered = [t for t in _FIRST if t in names] + [t for t in names if t not in _FIRST]
        deleted = 0
        for name in ordered:
            quoted = '"' + name.replace('"', '""') + '"'
            n = await tx.execute(f"DELETE FROM {quoted} WHERE workspace_id = ?", (workspace_id,))
            deleted += 0 if name in DERIVED else n
        deleted += await tx.execute("DELETE FROM workspaces WHERE id = ?", (workspace_id,))
        return deleted


DIALECT = PostgresDialect()
