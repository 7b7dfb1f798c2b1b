"""The search index: FTS5 trigram rows (substrings) plus a deletion-neighbourhood vocabulary
(one typo in words of >= 5 letters). Written in the record's own write transaction.

Why this shape: a trigram index answers "contains acme" from the index, but cannot forgive a
typo; a table of each word's one-letter deletions can (two words are within one edit when they
share a deletion or one is a deletion of the other), with an indexed IN lookup instead of a
scan. Ranking happens only inside a capped candidate set, so a common term never sorts
thousands of rows.
"""

from __future__ import annotations

import re
from typing import Any

from crmkit import spec as S
from crmkit.store import words as word_index
from crmkit.store.db import Database, Tx
from crmkit.store.sql_query import SearchSql

TYPO_MIN = 5  # words this long tolerate one typo
TERM_MAX = 32  # longer words are indexed for substrings only
MAX_WORDS = 8
MAX_TYPO_TERMS = 20  # per query word
_WORD = re.compile(r"\w+")
# Email addresses are mostly unique strings: substring search finds them, and leaving them out
# of the typo vocabulary keeps it (and each write) small.
_EMAIL = re.compile(r"\S+@\S+")
# As migration 0012's GLOB patterns say it: digits, spaces and + ( ) . - / only.
_PHONE = re.compile(r"[0-9 +().\-/]+\Z", re.ASCII)
_SEPARATOR = re.compile(r"[ ().\-/]")


def key(seq: int) -> int:
    """A record's row in its type's index: its seq negated, so that the index's own ascending
    order is newest first (migration 0007)."""
    return -seq


def insert_sql(rs: S.RecordSpec) -> str:
    """Adds a record's row to the index: (key(seq), document)."""
    return "INSERT INTO %s_fts (rowid, body) VALUES (?, ?)" % rs.table


VOCABULARY_SQL = (
    "INSERT OR IGNORE INTO search_terms (workspace_id, kind, variant, term) VALUES (?, ?, ?, ?)"
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def within_one_edit(a: str, b: str) -> bool:
    """Optimal string alignment distance <= 1 (an insertion, deletion, change or swap)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if la < lb else (b, a)
    return short in deletions(long_)


async def index(
    tx: Tx, rs: S.RecordSpec, seq: int, workspace_id: str, parts: list[Any], replace: bool
) -> None:
    """A record's rows in both indexes and its words in the typo vocabulary. `parts`: its
    searchable values in spec order, then text found through a link (a contact's company
    name)."""
    if replace:
        await tx.execute("DELETE FROM %s_fts WHERE rowid = ?" % rs.table, (key(seq),))
        await tx.execute(word_index.delete_sql(rs), (key(seq),))
    terms, long_runs = word_index.row(rs, workspace_id, parts)
    await tx.execute(word_index.insert_sql(rs), (key(seq), terms))
    rows = [(workspace_id, rs.kind, *word_index.LONG_RUNS)] if long_runs else []
    body = document(parts)
    if body:
        await tx.execute(insert_sql(rs), (key(seq), body))
    for word in set(words(_EMAIL.sub(" ", body))):
        if TYPO_MIN <= len(word) <= TERM_MAX and not word.isdigit():
            rows.append((workspace_id, rs.kind, word, word))
            rows.extend((workspace_id, rs.kind, v, word) for v in deletions(word))
    if rows:
        # The vocabulary only grows: a stale word costs one lookup row, never a wrong match
        # (the FTS query still has to find it in a live record).
        await tx.executemany(VOCABULARY_SQL, rows)


async def reindex_many(
    tx: Tx, rs: S.RecordSpec, workspace_id: str, docs: list[tuple[int, list[Any]]]
) -> None:
    """New rows in both indexes for many records, (seq, parts) each, a statement per table.
    The typo vocabulary is left as it is: it only grows (see `index`)."""
    keys = [(key(seq),) for seq, _ in docs]
    await tx.executemany("DELETE FROM %s_fts WHERE rowid = ?" % rs.table, keys)
    await tx.executemany(word_index.delete_sql(rs), keys)
    rows = [(key(seq), word_index.row(rs, workspace_id, parts)) for seq, parts in docs]
    await tx.executemany(word_index.insert_sql(rs), [(k, terms) for k, (terms, _) in rows])
    if any(long_runs for _, (_, long_runs) in rows):
        await tx.execute(VOCABULARY_SQL, (workspace_id, rs.kind, *word_index.LONG_RUNS))
    bodies = [(key(seq), document(parts)) for seq, parts in docs]
    await tx.executemany(insert_sql(rs), [(k, body) for k, body in bodies if body])


async def typo_terms(
    db: Database, rs: S.RecordSpec, workspace_id: str, query_words: list[str]
) -> tuple[dict[str, list[str]], bool]:
    """For each query word of >= 5 letters: the indexed words within one edit of it; and,
    from the same lookup, whether the word index holds long runs here (words.LONG_RUNS)."""
    long_words = [w for w in query_words if TYPO_MIN <= len(w) <= TERM_MAX]
    if not long_words:
        return {}, False
    variants = set()
    for w in long_words:
        variants.add(w)
        variants.update(deletions(w))
    marks = ", ".join("?" * len(variants))
    rows = await db.all(
        "SELECT term FROM (SELECT DISTINCT term FROM search_terms WHERE workspace_id = ?"
        " AND kind = ? AND variant IN (%s) LIMIT 500) UNION ALL SELECT term FROM search_terms"
        " WHERE workspace_id = ? AND kind = ? AND variant = ? AND term = ?" % marks,
        [workspace_id, rs.kind, *sorted(variants), workspace_id, rs.kind, *word_index.LONG_RUNS],
    )
    found: dict[str, list[str]] = {}
    for w in long_words:
        near = [str(r[0]) for r in rows if r[0] != w and within_one_edit(w, str(r[0]))]
        found[w] = sorted(near)[:MAX_TYPO_TERMS]
    return found, any(r[0] == word_index.LONG_RUNS[1] for r in rows)


def _phrase(word: str) -> str:
    return '"%s"' % word.replace('"', '""')


def build(
    rs: S.RecordSpec,
    query: str,
    typos: dict[str, list[str]],
    upto: int | None = None,
) -> SearchSql:
    """Which index rows match (every word, as a substring or within one typo) and the rank of
    each record found. The workspace is checked on the record itself (sql_query._window)."""
    qwords = words(query)[:MAX_WORDS] or [query.lower()]
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
        params.extend("%" + _escape_like(w) + "%" for w in short)
    if upto is not None:
        # Rows added after a search's first page stay out of its later pages: the candidate
        # window is the newest matches as of then, so it cannot slide and skip rows.
        conditions.append("%s.rowid >= ?" % table)
        params.append(key(upto))
    score, score_params = _score(rs, query, qwords, table)
    return SearchSql(table, " AND ".join(conditions), params, score, score_params)


def _escape_like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _score(rs: S.RecordSpec, q: str, qwords: list[str], table: str) -> tuple[str, list[Any]]:
    """A found row's place: its tier times `words.TIER` plus its index row id, so that lower
    is better and equally good rows come newest first. The tiers: 0 the title or key is the
    search; 1 the title starts with its first word; 2 every word is in the record's own
    fields; 3 the rest (a typo, a contact's company name). The word index ranks the same way
    (words.WordSearch).

    LIKE rather than comparing lower() copies: the same answer (both fold ASCII letters only),
    without a new string per field and row (a third of the ranking's cost over 1,001
    candidates). `q` is the search as sent: lower-casing it first would also change what LIKE
    never folds (a title "Gizmo Ⓐ Widgets" was then not equal to that very search)."""
    pattern = _escape_like(q)
    exact = ["%s LIKE ? ESCAPE '\\'" % rs.title]
    params: list[Any] = [pattern]
    if rs.upsert_key:
        exact.append("%s LIKE ? ESCAPE '\\'" % rs.upsert_key)
        params.append(pattern)
    hay = " || ' ' || ".join("coalesce(%s, '')" % f.name for f in rs.searchable)
    every = " AND ".join("(%s) LIKE ? ESCAPE '\\'" % hay for _ in qwords)
    sql = (
        "CASE WHEN %s THEN 0 WHEN %s LIKE ? ESCAPE '\\' THEN 1 WHEN %s THEN 2 ELSE 3 END"
        " * %d + %s.rowid" % (" OR ".join(exact), rs.title, every, word_index.TIER, table)
    )
    first = _escape_like(qwords[0]) + "%"
    return sql, [*params, first, *("%" + _escape_like(w) + "%" for w in qwords)]


def document(values: list[Any]) -> str:
    """The indexed text of one record: its searchable values, one space apart, then the
    digits of each one written as a phone number with separators (migration 0012)."""
    parts = [str(v) for v in values if v]
    return " ".join([*parts, *(d for d in map(phone_digits, parts) if d)])


def phone_digits(value: str) -> str | None:
    """ "+1 (415) 555-0100" -> "14155550100": indexed too, so that a number typed without
    separators (4155550100, or +14155550100 as E.164 writes it) finds the record. Only for
    text made of digits and phone separators, with a separator and at least 5 digits; a
    number without separators is found as it is."""
    if not _PHONE.match(value) or not _SEPARATOR.search(value):
        return None
    digits = "".join(c for c in value if c.isdigit())
    return digits if len(digits) >= 5 else None
