"""What a search reads and writes, the same on both backends: a record's indexed text, the
words of a query, and the typo vocabulary (`search_terms`, one table on both).

The vocabulary: every word of >= 5 letters of a record's text, stored under itself and each
one-letter deletion (a "deletion neighbourhood"). Two words are within one edit when they
share a deletion or one is a deletion of the other, so a query word finds its near misses
with one indexed IN lookup instead of a scan. It only grows: a stale word costs one lookup
row, never a wrong match (the search still has to find the word in a live record).
"""

from __future__ import annotations

import re
from typing import Any

from crmkit import spec as S
from crmkit.store.base import Conn, Dialect, Sql, Tx

TYPO_MIN = 5  # words this long tolerate one typo
TERM_MAX = 32  # longer words are indexed for substrings only
MAX_WORDS = 8
MAX_TYPO_TERMS = 20  # per query word
_WORD = re.compile(r"\w+")
# Email addresses are mostly unique strings: substring search finds them, and leaving them out
# of the typo vocabulary keeps it (and each write) small.
EMAIL = re.compile(r"\S+@\S+")
# As SQLite's migration 0012 says it with GLOB: digits, spaces and + ( ) . - / only.
_PHONE = re.compile(r"[0-9 +().\-/]+\Z", re.ASCII)
_SEPARATOR = re.compile(r"[ ().\-/]")
# A row of the vocabulary that is no word: SQLite's word index marks with it the workspaces
# whose records of a kind have a run of letters longer than 32 (store/sqlite/words.py). No
# word is empty, and no word of five letters or more is within one edit of ''.
LONG_RUNS = ("", "")

VOCABULARY_SQL = (
    "INSERT INTO search_terms (workspace_id, kind, variant, term) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)


def key(seq: int) -> int:
    """A record's row in its type's search index: its seq negated, so that the index's own
    ascending order is newest first; ranked keys end with it (tier * TIER + key)."""
    return -seq


TIER = 1 << 40  # a ranked row's key: tier * TIER + key(seq) (lower is better, then newest)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def query_words(query: str) -> list[str]:
    """The words a search looks for (every one must match)."""
    return words(query)[:MAX_WORDS] or [query.lower()]


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


def document(values: list[Any]) -> str:
    """The indexed text of one record: its searchable values, one space apart, then the
    digits of each one written as a phone number with separators."""
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


def fold(value: str) -> str:
    """Text folded for substring matching, as SQLite's FTS5 trigram tokenizer folds it (what
    the search always matched by): ASCII letters to lower case, long s and Kelvin sign to s
    and k; other characters to their lower case where that is one character and not ASCII,
    else as they are. One character in, one out: a word keeps its length."""
    if value.isascii():
        return value.lower()
    out = []
    for c in value:
        if c < "\x80":
            out.append(c.lower())
        elif c == "\u017f":
            out.append("s")
        elif c == "\u212a":
            out.append("k")
        else:
            low = c.lower()
            out.append(low if len(low) == 1 and low >= "\x80" else c)
    return "".join(out)


def grams(folded: str) -> set[str]:
    """Every three-character window of folded text (its trigrams): text contains a word of
    three or more characters only if it holds every one of the word's."""
    return {folded[i : i + 3] for i in range(len(folded) - 2)}


def vocabulary(workspace_id: str, kind: str, body: str) -> list[tuple[str, str, str, str]]:
    """The vocabulary rows of a record's text (`document`)."""
    rows = []
    for word in set(words(EMAIL.sub(" ", body))):
        if TYPO_MIN <= len(word) <= TERM_MAX and not word.isdigit():
            rows.append((workspace_id, kind, word, word))
            rows.extend((workspace_id, kind, v, word) for v in deletions(word))
    return rows


async def learn(tx: Tx, rows: list[tuple[str, str, str, str]]) -> None:
    if rows:
        await tx.executemany(VOCABULARY_SQL, rows)


async def typo_terms(
    conn: Conn, rs: S.RecordSpec, workspace_id: str, query: list[str]
) -> tuple[dict[str, list[str]], bool]:
    """For each query word of >= 5 letters: the indexed words within one edit of it; and,
    from the same lookup, whether the vocabulary holds the LONG_RUNS mark here."""
    long_words = [w for w in query if TYPO_MIN <= len(w) <= TERM_MAX]
    if not long_words:
        return {}, False
    variants = set()
    for w in long_words:
        variants.add(w)
        variants.update(deletions(w))
    marks = ", ".join("?" * len(variants))
    rows = await conn.all(
        "SELECT term FROM (SELECT DISTINCT term FROM search_terms WHERE workspace_id = ?"
        " AND kind = ? AND variant IN (%s) LIMIT 500) AS near UNION ALL SELECT term"
        " FROM search_terms WHERE workspace_id = ? AND kind = ? AND variant = ? AND term = ?"
        % marks,
        [workspace_id, rs.kind, *sorted(variants), workspace_id, rs.kind, *LONG_RUNS],
    )
    found: dict[str, list[str]] = {}
    for w in long_words:
        near = [str(r[0]) for r in rows if r[0] != w and within_one_edit(w, str(r[0]))]
        found[w] = sorted(near)[:MAX_TYPO_TERMS]
    return found, any(r[0] == LONG_RUNS[1] for r in rows)


def escape_like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def score_sql(d: Dialect, rs: S.RecordSpec, q: str, qwords: list[str]) -> Sql:
    """A found record's place in a ranked search: its tier times TIER plus its key (-seq),
    so that lower is better and equally good records come newest first. The tiers: 0 the
    title or key is the search; 1 the title starts with its first word; 2 every word is in
    the record's own fields; 3 the rest (a typo, a contact's company name). SQLite's word path
    ranks the same way with tokens (store/sqlite/words.py).

    LIKE (ILIKE under COLLATE "C"), which folds ASCII letters only, rather than comparing
    lower() copies: the same answer without a new string per field and row. `q` is the search
    as sent: lower-casing it first would also change what LIKE never folds (a title "Gizmo Ⓐ
    Widgets" was then not equal to that very search)."""
    pattern = escape_like(q)
    exact = [d.like(rs.title)]
    params: list[object] = [pattern]
    if rs.upsert_key:
        exact.append(d.like(rs.upsert_key))
        params.append(pattern)
    hay = " || ' ' || ".join("coalesce(%s, '')" % f.name for f in rs.searchable)
    every = " AND ".join(d.like("(%s)" % hay) for _ in qwords)
    sql = "(CASE WHEN %s THEN 0 WHEN %s THEN 1 WHEN %s THEN 2 ELSE 3 END) * %d - %s.seq" % (
        " OR ".join(exact),
        d.like(rs.title),
        every,
        TIER,
        rs.table,
    )
    first = escape_like(qwords[0]) + "%"
    return sql, [*params, first, *("%" + escape_like(w) + "%" for w in qwords)]
