"""SQLite's search index: FTS5 trigram rows (substrings) beside the word index
(store/sqlite/words.py) and the typo vocabulary (store/searchtext.py). Written in the
record's own write transaction.

Why this shape: a trigram index answers "contains acme" from the index, but cannot forgive a
typo; the vocabulary can. Ranking happens only inside a capped candidate set, so a common
term never sorts thousands of rows.
"""

from __future__ import annotations

from typing import Any

from crmkit import spec as S
from crmkit.store import searchtext as text
from crmkit.store.base import Tx
from crmkit.store.searchtext import key
from crmkit.store.sqlite import words as word_index


class SearchSql:
    """The search part of a list query: the full-text table, the condition on its rows (the
    match, short words, the window's upper bound) and how to rank each record found."""

    def __init__(
        self,
        table: str,
        condition: str,
        params: list[Any],
        score: str,
        score_params: list[Any],
    ) -> None:
        self.table = table
        self.condition = condition
        self.params = params
        self.score = score
        self.score_params = score_params


def insert_sql(rs: S.RecordSpec) -> str:
    """Adds a record's row to the index: (key(seq), document)."""
    return "INSERT INTO %s_fts (rowid, body) VALUES (?, ?)" % rs.table


async def index(
    tx: Tx, rs: S.RecordSpec, seq: int, workspace_id: str, parts: list[Any], replace: bool
) -> None:
    """A record's rows in both indexes and its words in the typo vocabulary."""
    if replace:
        await tx.execute("DELETE FROM %s_fts WHERE rowid = ?" % rs.table, (key(seq),))
        await tx.execute(word_index.delete_sql(rs), (key(seq),))
    terms, long_runs = word_index.row(rs, workspace_id, parts)
    await tx.execute(word_index.insert_sql(rs), (key(seq), terms))
    rows = [(workspace_id, rs.kind, *text.LONG_RUNS)] if long_runs else []
    body = text.document(parts)
    if body:
        await tx.execute(insert_sql(rs), (key(seq), body))
    await text.learn(tx, rows + text.vocabulary(workspace_id, rs.kind, body))


async def reindex_many(
    tx: Tx, rs: S.RecordSpec, workspace_id: str, docs: list[tuple[int, list[Any]]]
) -> None:
    """New rows in both indexes for many records, (seq, parts) each, a statement per table.
    The typo vocabulary is left as it is: it only grows."""
    keys = [(key(seq),) for seq, _ in docs]
    await tx.executemany("DELETE FROM %s_fts WHERE rowid = ?" % rs.table, keys)
    await tx.executemany(word_index.delete_sql(rs), keys)
    rows = [(key(seq), word_index.row(rs, workspace_id, parts)) for seq, parts in docs]
    await tx.executemany(word_index.insert_sql(rs), [(k, terms) for k, (terms, _) in rows])
    if any(long_runs for _, (_, long_runs) in rows):
        await tx.execute(text.VOCABULARY_SQL, (workspace_id, rs.kind, *text.LONG_RUNS))
    bodies = [(key(seq), text.document(parts)) for seq, parts in docs]
    await tx.executemany(insert_sql(rs), [(k, body) for k, body in bodies if body])


def _phrase(word: str) -> str:
    return '"%s"' % word.replace('"', '""')


def build(
    rs: S.RecordSpec,
    query: str,
    typos: dict[str, list[str]],
    upto: int | None = None,
) -> SearchSql:
    """Which index rows match (every word, as a substring or within one typo) and the rank of
    each record found. The workspace is checked on the record itself (lists._window)."""
    qwords = text.query_words(query)
    table = rs.table + "_fts"
    clauses = []
    short: list[str] = []
    for w in qwords:
        if len(w) < 3:  # below one trigram: checked on each candidate's text instead
            short.append(w)
            continue
        options = [_phrase(w), *(_phrase(t) for t in typos.get(w, []))]
        clauses.append("(" + " OR ".join(options) + ")" if len(options) > 1 else options[0])
    conditions: list[str] = []
    params: list[Any] = []
    if clauses:
        conditions.append("%s MATCH ?" % table)
        params.append("body : (" + " AND ".join(clauses) + ")")
        conditions.extend("instr(lower(%s.body), ?) > 0" % table for _ in short)
        params.extend(short)
    else:
        # Only words too short for a trigram: every one of them must be in the text.
        conditions.extend("%s.body LIKE ? ESCAPE '\\'" % table for _ in short)
        params.extend("%" + escape_like(w) + "%" for w in short)
    if upto is not None:
        # Rows added after a search's first page stay out of its later pages: the candidate
        # window is the newest matches as of then, so it cannot slide and skip rows.
        conditions.append("%s.rowid >= ?" % table)
        params.append(key(upto))
    score, score_params = _score(rs, query, qwords, table)
    return SearchSql(table, " AND ".join(conditions), params, score, score_params)


def escape_like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _score(rs: S.RecordSpec, q: str, qwords: list[str], table: str) -> tuple[str, list[Any]]:
    """A found row's place: its tier times `TIER` plus its index row id, so that lower is
    better and equally good rows come newest first. The tiers: 0 the title or key is the
    search; 1 the title starts with its first word; 2 every word is in the record's own
    fields; 3 the rest (a typo, a contact's company name). The word index ranks the same way
    (words.WordSearch).

    LIKE rather than comparing lower() copies: the same answer (both fold ASCII letters only),
    without a new string per field and row (a third of the ranking's cost over 1,001
    candidates). `q` is the search as sent: lower-casing it first would also change what LIKE
    never folds (a title "Gizmo Ⓐ Widgets" was then not equal to that very search)."""
    pattern = escape_like(q)
    exact = ["%s LIKE ? ESCAPE '\\'" % rs.title]
    params: list[Any] = [pattern]
    if rs.upsert_key:
        exact.append("%s LIKE ? ESCAPE '\\'" % rs.upsert_key)
        params.append(pattern)
    hay = " || ' ' || ".join("coalesce(%s, '')" % f.name for f in rs.searchable)
    every = " AND ".join("(%s) LIKE ? ESCAPE '\\'" % hay for _ in qwords)
    sql = (
        "CASE WHEN %s THEN 0 WHEN %s LIKE ? ESCAPE '\\' THEN 1 WHEN %s THEN 2 ELSE 3 END"
        " * %d + %s.rowid" % (" OR ".join(exact), rs.title, every, text.TIER, table)
    )
    first = escape_like(qwords[0]) + "%"
    return sql, [*params, first, *("%" + escape_like(w) + "%" for w in qwords)]
