"""PostgreSQL's search: the same matches, window, tiers and order as SQLite's two indexes
(store/sqlite/search.py, words.py), from one trigram index.

Each record keeps, written in its own transaction: `search_text`, its indexed text
(searchtext.document); `search_fold`, that text folded (searchtext.fold), the same columns as
on SQLite; and, generated from them, `search_grams`: a hash of each trigram of the folded
text with its workspace (crmkit_grams, migration 0001), under a GIN index.
A query word of three letters or more (or one of its typo alternatives, searchtext.typo_terms)
matches as a substring of `search_fold`, folded the same way: the GIN index finds the rows
holding every one of its trigrams in this workspace (no other workspace's entries are ever
read), and the substring is checked on each. A shorter word matches as a substring of
`search_text` with ASCII letters folded (SQLite's lower(); this table's text is COLLATE "C").

A search ranks the workspace's SEARCH_CANDIDATES newest matches that existed at its first
page (`seq <= upto`): its candidate window. Filters are judged inside the window, as on SQLite.
The tiers (0 the title or key is the search, ASCII letters folded; 1 the title starts with the
first word; 2 every word is in the record's own fields; 3 the rest) come from ILIKE, which
folds ASCII letters only under COLLATE "C", as SQLite's LIKE does. A row's key is
`tier * TIER - seq`: lower is better, newest first within a tier, as SQLite's keys.
"""

from __future__ import annotations

from typing import Any

from crmkit import spec as S
from crmkit.query import Plan
from crmkit.store import searchtext as text
from crmkit.store import sql_query as Q
from crmkit.store.base import Database, Dialect, Row, Sql, Tx
from crmkit.store.sql_query import SEARCH_CANDIDATES, list_columns


def _update_sql(rs: S.RecordSpec) -> str:
    return (
        "UPDATE %s SET search_text = ?, search_fold = ? WHERE workspace_id = ? AND seq = ?"
        % rs.table
    )


async def index(
    tx: Tx, rs: S.RecordSpec, seq: int, workspace_id: str, parts: list[Any], replace: bool
) -> None:
    body = text.document(parts)
    await tx.execute(_update_sql(rs), (body or None, text.fold(body) or None, workspace_id, seq))
    await text.learn(tx, text.vocabulary(workspace_id, rs.kind, body))


async def reindex_many(
    tx: Tx, rs: S.RecordSpec, workspace_id: str, docs: list[tuple[int, list[Any]]]
) -> None:
    """The typo vocabulary is left as it is: it only grows."""
    rows = []
    for seq, parts in docs:
        body = text.document(parts)
        rows.append((body or None, text.fold(body) or None, workspace_id, seq))
    await tx.executemany(_update_sql(rs), rows)


class PgSearch:
    """A search: the match condition on a record's columns and its ranking."""

    def __init__(self, condition: str, params: list[Any], score: str, score_params: list[Any]):
        self.condition = condition
        self.params = params
        self.score = score
        self.score_params = score_params


def _contains(s: str) -> str:
    return "%" + text.escape_like(s) + "%"


async def plan(
    db: Database, rs: S.RecordSpec, workspace_id: str, query_plan: Plan, upto: int | None
) -> PgSearch:
    query = query_plan.search or ""
    typos, _ = await text.typo_terms(db, rs, workspace_id, text.words(query))
    qwords = text.query_words(query)
    conditions: list[str] = []
    params: list[Any] = []
    for w in qwords:
        if len(w) < 3:
            # As SQLite: beside longer words, a substring of the ASCII-folded text; alone,
            # the same through LIKE (which folds ASCII letters as lower() does).
            conditions.append("strpos(lower(search_text), ?) > 0")
            params.append(w)
            continue
        options = list(dict.fromkeys(text.fold(v) for v in [w, *typos.get(w, [])]))
        conditions.append(
            "(%s)" % " OR ".join(["search_grams @> crmkit_grams(?, ?)"] * len(options))
        )
        params.extend(p for o in options for p in (workspace_id, o))
        conditions.append("(%s)" % " OR ".join(["search_fold LIKE ? ESCAPE '\\'"] * len(options)))
        params.extend(_contains(o) for o in options)
    if upto is not None:
        conditions.append("seq <= ?")
        params.append(upto)
    score, score_params = text.score_sql(db.dialect, rs, query, qwords)
    return PgSearch(" AND ".join(conditions) or "TRUE", params, score, score_params)


PASSED = "(SELECT count(*) FROM cand WHERE ok)"
WINDOW_SIZE = "(SELECT count(*) FROM cand)"


def _window(
    d: Dialect,
    rs: S.RecordSpec,
    plan_: Plan,
    workspace_id: str,
    found: PgSearch,
    key: str,
    key_params: list[Any],
) -> Sql:
    """The candidate window: the workspace's newest SEARCH_CANDIDATES matches, each with its
    sort key and whether it passes the filters, computed once for the page and the count."""
    filters = [Q.filter_sql(d, f) for f in plan_.filters]
    ok = " AND ".join(sql for sql, _ in filters) or "TRUE"
    sql = (
        "WITH cand AS MATERIALIZED (SELECT seq, id, %s AS sort_key, coalesce(%s, FALSE) AS ok"
        " FROM %s WHERE workspace_id = ? AND %s ORDER BY seq DESC LIMIT %d)"
        % (key, ok, rs.table, found.condition, SEARCH_CANDIDATES)
    )
    filter_params = [p for _, values in filters for p in values]
    return sql, [*key_params, *filter_params, workspace_id, *found.params]


async def page(
    d: Dialect,
    db: Database,
    rs: S.RecordSpec,
    plan_: Plan,
    workspace_id: str,
    after: tuple[Any, str] | None,
    found: PgSearch,
) -> tuple[list[Row], int, bool]:
    """Ranked (or sorted) among the window's candidates that pass the filters; rows end with
    the window's size, the sort key and the count that passed (as SQLite's)."""
    if plan_.explicit_sort:
        key, desc, key_params = plan_.sort, plan_.descending, list[Any]()
    else:
        key, desc, key_params = found.score, False, found.score_params
    window, params = _window(d, rs, plan_, workspace_id, found, key, key_params)
    after_sql, after_params = "TRUE", list[Any]()
    if after is not None:
        after_sql, after_params = Q.after("sort_key", desc, after[0], after[1])
    t = rs.table
    sql = (
        "%s, page AS (SELECT seq, sort_key, id FROM cand WHERE ok AND %s ORDER BY %s, %s"
        " LIMIT %d) SELECT %s, %s, page.sort_key, %s FROM page JOIN %s"
        " ON %s.workspace_id = ? AND %s.seq = page.seq ORDER BY %s, %s"
        % (
            window,
            after_sql,
            d.order("sort_key", desc),
            d.order("id", desc),
            plan_.limit + 1,
            list_columns(rs, t),
            WINDOW_SIZE,
            PASSED,
            t,
            t,
            t,
            d.order("page.sort_key", desc),
            d.order("page.id", desc),
        )
    )
    rows = await db.many(sql, [*params, *after_params, workspace_id], width=0)
    if rows:
        first = rows[0]
        return rows, int(first[-1]), first[-3] >= SEARCH_CANDIDATES
    row = await db.one("%s SELECT %s, %s" % (window, PASSED, WINDOW_SIZE), params)
    assert row is not None
    return [], int(row[0]), row[1] >= SEARCH_CANDIDATES
