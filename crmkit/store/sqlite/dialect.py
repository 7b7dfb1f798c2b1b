"""SQLite's side of the storage interface (store/base.py's Dialect)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmkit import spec as S
from crmkit.query import Filter, Plan
from crmkit.store.base import Conn, Database, Dialect, Row, Sql, Tx
from crmkit.store.sqlite import jsonsql, lists, search, words


class SqliteDialect(Dialect):
    name = "sqlite"

    def nocase_equals(self, column: str) -> str:
        return "%s = ? COLLATE NOCASE" % column

    def plain(self, column: str) -> str:
        return "+" + column

    def order(self, expr: str, descending: bool) -> str:
        return expr + (" DESC" if descending else " ASC")

    def distinct_from(self, expr: str) -> str:
        return "%s IS NOT ?" % expr

    def like(self, expr: str) -> str:
        return "%s LIKE ? ESCAPE '\\'" % expr

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
        await search.unindex(tx, rs, workspace_id, seqs)

    async def rebuild_search(
        self, tx: Tx, rs: S.RecordSpec, done: Callable[[int], None] | None = None
    ) -> None:
        await words.rebuild_type(tx.all, tx.execute, tx.executemany, rs, done)

    async def search(
        self, db: Database, rs: S.RecordSpec, workspace_id: str, plan: Plan, upto: int | None
    ) -> object:
        return await lists.search_plan(db, rs, workspace_id, plan, upto)

    async def page(
        self,
        db: Database,
        rs: S.RecordSpec,
        plan: Plan,
        workspace_id: str,
        after: tuple[Any, str] | None,
        found: object | None,
    ) -> tuple[list[Row], int, bool]:
        return await lists.page(self, db, rs, plan, workspace_id, after, found)

    async def tables(self, conn: Conn) -> dict[str, list[str]]:
        # (not the contentless FTS5 tables: they cannot be read, only their shadow tables)
        rows = await conn.all(
            "SELECT s.name, p.name FROM sqlite_master s, pragma_table_info(s.name) p"
            " WHERE s.type = 'table' AND s.name NOT LIKE 'sqlite_%'"
            " AND s.sql NOT LIKE ? ORDER BY s.name, p.cid",
            ("%content=''%",),
        )
        found: dict[str, list[str]] = {}
        for table, column in rows:
            found.setdefault(str(table), []).append(str(column))
        return found

    async def delete_workspace(self, tx: Tx, workspace_id: str) -> int:
        """Walks the schema rather than a fixed list so tables added by later migrations go
        too. Foreign-key checks are deferred to COMMIT (the pragma ends with the transaction),
        so the order of the deletes does not matter; virtual tables (FTS) are left to their
        triggers."""
        await tx.execute("PRAGMA defer_foreign_keys = ON")
        for rs in S.SPECS.values():  # their trigram rows first: those go only when told
            rows = await tx.all(
                "SELECT seq FROM %s WHERE workspace_id = ?" % rs.table, (workspace_id,)
            )
            await search.unindex(tx, rs, workspace_id, [int(r[0]) for r in rows])
        tables = await tx.all(
            "SELECT s.name FROM sqlite_master s WHERE s.type = 'table'"
            " AND s.name NOT LIKE 'sqlite_%' AND s.sql NOT LIKE 'CREATE VIRTUAL TABLE%'"
            " AND EXISTS (SELECT 1 FROM pragma_table_info(s.name) p"
            " WHERE p.name = 'workspace_id') ORDER BY s.name"
        )
        deleted = 0
        for (name,) in tables:
            quoted = '"' + str(name).replace('"', '""') + '"'
            n = await tx.execute(f"DELETE FROM {quoted} WHERE workspace_id = ?", (workspace_id,))
            # the search vocabulary, the facet index and the counts index the records: the
            # count says how many of the workspace's own rows went, as on PostgreSQL
            derived = name in ("search_terms", "record_counts") or str(name).endswith("_facets")
            deleted += 0 if derived else n
        deleted += await tx.execute("DELETE FROM workspaces WHERE id = ?", (workspace_id,))
        return deleted


DIALECT = SqliteDialect()
