"""The word index: a second full-text index that answers the common search (every word five
ASCII letters or more, no filters, best matches first) without reading a record per match.

Why: the trigram index (store/sqlite/search.py) finds any substring, but a word of n letters is a
phrase of n - 2 trigrams, and FTS5 checks their positions for every match: counting the 1,001
newest matches of "jonathan" took 1.0 ms, and ranking them read 1,001 records (3.9 ms in all,
PERFORMANCE.md, tenth pass). Here every substring of five to 32 letters of a record's words is
a token of its own, so "contains nathan" is one token's list of rows, read newest first and
only as far as needed: the same count takes 0.2 ms, and 0.2 ms too for a word every record has
(a prefix query over suffixes merged the whole list first: 4.5 ms for "example" at 100k).
Ranking reads no record either: each tier is a query of its own (see `page_sql`), walked
newest first and stopped at the page's size.

One FTS5 column of tokens, without positions or columns (detail=none: only row lists), all
starting with the workspace's qualifier `Q` (so a token's rows are one workspace's: a search
never walks, then drops, another workspace's matches), then:
- `Q0<hash>`: the title, and the upsert key, as a whole, ASCII letters folded (as the
  trigram ranking's LIKE folds them): tier 0;
- `Q1<prefix>`: each prefix of the title's first run of letters: tier 1;
- `Q<sub>`: each substring of the record's own searchable text: tier 2;
- `Q2<sub>`: each substring of text found through a link (a contact's company name), and
  what only the trigram index's case folding makes findable: tier 3;
- `Q3<window>`, `Q4<window>`: the same for runs longer than 32 letters, by their 32-letter
  windows, found by a prefix query (see `LONG_RUNS`).
Beside it, `<type>_grams` holds `Q5<hex>` tokens: each trigram of the record's folded text
(search_fold), in hex. Every other search (filters, a sort, short or non-letter words) finds
its candidates by the trigrams of its words and checks each on its folded text
(store/sqlite/search.py). So no search walks another workspace's entries: its cost depends on
the caller's workspace alone. That table keeps no copy of its tokens (content=''): they
follow from search_fold and the workspace, and removing a row means giving them again.
Query words are letters only, so none is a prefix of a digit-led token's text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import aiosqlite

from crmkit import spec as S
from crmkit.store import searchtext

MIN = 5  # the shortest query word (and indexed substring) the word index answers
MAX = 32  # longer query words go to the trigram index (search.TERM_MAX)
# After the qualifier, what kind of token: a digit, so no query word (letters) can be one.
EXACT, FIRST, LINKED, LONG, LONG_LINKED, GRAM = "0", "1", "2", "3", "4", "5"
# The row of the typo vocabulary (search_terms) marking a workspace's records of a kind that
# have a run longer than 32 letters: only then does a search add the prefix queries their
# windows need (four alternatives a word instead of two: +0.1 ms a page). Read by the typo
# lookup a search makes anyway; like the vocabulary, it is never taken back.
LONG_RUNS = searchtext.LONG_RUNS
TIER = searchtext.TIER  # a ranked row's key: tier * TIER + its index row id (newest first)
_RUN = re.compile(r"[a-z]+")
_QUERY_WORD = re.compile(r"[a-z]{%d,%d}\Z" % (MIN, MAX))
_ASCII_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
# LIKE folds ASCII letters only: the tiers' tokens are cut from text folded so. The trigram
# index also folds these two to ASCII letters (long s, Kelvin sign): what only they make
# findable is indexed as linked text, a match of the last tier, as the trigram ranking has it.
Fold = Mapping[int, Any]  # a str.translate table
_LIKE_FOLD: Fold = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_FTS_FOLD: Fold = str.maketrans({**_LIKE_FOLD, 0x17F: "s", 0x212A: "k"})


def table(rs: S.RecordSpec) -> str:
    return rs.table + "_words"


def qualifier(workspace_id: str) -> str:
    """16 hex digits naming the workspace inside every token (tokens are letters and digits
    only; the workspace id's own form is not relied on). 64 bits: two workspaces sharing
    one (their counts would mix) is a one-in-10^7 chance among a million workspaces."""
    return hashlib.blake2b(workspace_id.encode(), digest_size=8).hexdigest()


def exact_token(q: str, value: str) -> str:
    """Equal for two values that `LIKE` finds equal (ASCII letters folded, nothing else)."""
    folded = value.encode("utf-8", "surrogatepass").translate(_ASCII_LOWER)
    return q + EXACT + hashlib.blake2b(folded, digest_size=8).hexdigest()


def runs(text: str, fold: Fold = _LIKE_FOLD) -> list[str]:
    """The text's runs of ASCII letters, folded as LIKE folds them (or, with `_FTS_FOLD`, as
    the trigram index does). A query word of letters occurs in a text exactly when it occurs
    inside one of these: a run ends at anything else."""
    return _RUN.findall(text.translate(fold))


def _substrings(values: Iterable[str], fold: Fold) -> tuple[set[str], set[str]]:
    """(every substring of 5-32 letters of each run up to 32 letters long, each 32-letter
    window of the longer runs and the shorter ends of them). A query word is one token of
    the first set, or the start of one of the second: a run of n letters gives n - 4 of
    these, where all of its substrings would be ~28 n (a 10,000-letter note, 280,000)."""
    short: set[str] = set()
    long_: set[str] = set()
    for v in values:
        for run in runs(v, fold):
            n = len(run)
            if n <= MAX:
                short.update(run[i:j] for i in range(n - MIN + 1) for j in range(i + MIN, n + 1))
            else:
                long_.update(run[i : i + MAX] for i in range(n - MIN + 1))
    return short, long_


def gram_token(q: str, gram: str) -> str:
    return q + GRAM + gram.encode("utf-8", "surrogatepass").hex()


def gram_table(rs: S.RecordSpec) -> str:
    return rs.table + "_grams"


def grams_row(workspace_id: str, folded: str | None) -> str:
    """The `_grams` row of a record whose folded text is `folded` (the exact text a 'delete'
    must give again: the tokens sorted)."""
    q = qualifier(workspace_id)
    return " ".join(sorted(gram_token(q, g) for g in searchtext.grams(folded or "")))


def grams_insert_sql(rs: S.RecordSpec) -> str:
    return "INSERT INTO %s (rowid, terms) VALUES (?, ?)" % gram_table(rs)


def grams_delete_sql(rs: S.RecordSpec) -> str:
    """Removes a row of the contentless `_grams` table: (rowid, the tokens it was given)."""
    t = gram_table(rs)
    return "INSERT INTO %s (%s, rowid, terms) VALUES ('delete', ?, ?)" % (t, t)


def row(rs: S.RecordSpec, workspace_id: str, parts: Sequence[Any]) -> tuple[str, bool]:
    """The tokens of a record whose searchable values, in spec order, are the start of
    `parts` (the rest: text found through a link); and whether it has a run longer than 32
    letters (see `LONG_RUNS`)."""
    q = qualifier(workspace_id)
    own = len(rs.searchable)
    texts = [str(p) if p else "" for p in parts]
    texts += [""] * (own - len(texts))  # values not given: empty
    title = texts[0]  # every type's title is its first searchable field (spec.py)
    tokens = [exact_token(q, title)] if title else []
    if rs.upsert_key:
        key = texts[[f.name for f in rs.searchable].index(rs.upsert_key)]
        if key:
            tokens.append(exact_token(q, key))
    folded = title.translate(_LIKE_FOLD)
    for first in runs(title)[:1]:
        if folded.startswith(first):  # LIKE 'word%': the title itself starts with it
            tokens += [q + FIRST + first[:n] for n in range(MIN, 1 + min(len(first), MAX))]
    short, long_ = _substrings(texts[:own], _LIKE_FOLD)
    # linked text, and what only the trigram index's folding finds: the last tier
    other_short, other_long = _substrings(texts, _FTS_FOLD)
    tokens += sorted(q + sub for sub in short)
    tokens += sorted(q + LONG + sub for sub in long_)
    tokens += sorted(q + LINKED + sub for sub in other_short - short)
    tokens += sorted(q + LONG_LINKED + sub for sub in other_long - long_)
    return " ".join(tokens), bool(other_long)


def insert_sql(rs: S.RecordSpec) -> str:
    return "INSERT INTO %s (rowid, terms) VALUES (?, ?)" % table(rs)


def delete_sql(rs: S.RecordSpec) -> str:
    return "DELETE FROM %s WHERE rowid = ?" % table(rs)


def source_sql(rs: S.RecordSpec) -> str:
    """Each record's seq, workspace and searchable fields (a contact's company name last)."""
    fields = ", ".join("r." + f.name for f in rs.searchable)
    if rs.kind != "contact":
        return "SELECT r.seq, r.workspace_id, %s FROM %s r" % (fields, rs.table)
    return (
        "SELECT r.seq, r.workspace_id, %s, co.name FROM %s r LEFT JOIN companies co"
        " ON co.id = r.company_id AND co.workspace_id = r.workspace_id" % (fields, rs.table)
    )


async def backfill(conn: aiosqlite.Connection) -> None:
    """Migration 0013: a row for every record already kept, from its stored fields (in
    batches: a million contacts are read once, never held at once)."""
    for rs in S.SPECS.values():
        cursor = await conn.execute(source_sql(rs) + " ORDER BY r.seq DESC")
        while batch := await cursor.fetchmany(20_000):
            rows = [
                (searchtext.key(int(r[0])), str(r[1]), row(rs, str(r[1]), r[2:])) for r in batch
            ]
            await conn.executemany(insert_sql(rs), [(k, terms) for k, _, (terms, _) in rows])
            await conn.executemany(
                searchtext.VOCABULARY_SQL,
                {(ws, rs.kind, *LONG_RUNS) for _, ws, (_, long_) in rows if long_},
            )
        await cursor.close()


async def rebuild(conn: aiosqlite.Connection) -> None:
    """Migration 0016: every record's search columns, word-index row and trigram row anew."""

    async def fetch(sql: str, params: Sequence[Any]) -> list[Any]:
        return list(await conn.execute_fetchall(sql, params))

    for rs in S.SPECS.values():
        await rebuild_type(fetch, conn.execute, conn.executemany, rs)


Run = Callable[..., Awaitable[Any]]
BATCH = 20_000


async def rebuild_type(
    fetch: Run,
    execute: Run,
    executemany: Run,
    rs: S.RecordSpec,
    done: Callable[[int], None] | None = None,
) -> None:
    """Every record of a type: its search columns, word-index row and trigram row, written
    anew from its stored fields (and, for a contact, its company's name), newest first so that
    FTS5 appends; a batch at a time, never all held at once. `fetch`, `execute`,
    `executemany` run statements; `done` hears how many records each batch did."""
    await execute("DELETE FROM %s" % table(rs))
    await execute("INSERT INTO %s (%s) VALUES ('delete-all')" % (gram_table(rs), gram_table(rs)))
    if done is not None:
        done(0)
    below = 1 << 62
    while batch := await fetch(
        source_sql(rs) + " WHERE r.seq < ? ORDER BY r.seq DESC LIMIT %d" % BATCH, (below,)
    ):
        tokens, grams, columns, marks = [], [], [], set()
        for seq, ws, *parts in batch:
            terms, long_ = row(rs, str(ws), parts)
            key = searchtext.key(int(seq))
            tokens.append((key, terms))
            body = searchtext.document(parts)
            folded = searchtext.fold(body)
            if folded:
                grams.append((key, grams_row(str(ws), folded)))
            columns.append((body or None, folded or None, int(seq)))
            if long_:
                marks.add((str(ws), rs.kind, *LONG_RUNS))
        await executemany(insert_sql(rs), tokens)
        await executemany(grams_insert_sql(rs), grams)
        await executemany(
            "UPDATE %s SET search_text = ?, search_fold = ? WHERE seq = ?" % rs.table, columns
        )
        await executemany(searchtext.VOCABULARY_SQL, list(marks))
        below = int(batch[-1][0])
        if done is not None:
            done(len(batch))


def eligible(words: list[str], typos: dict[str, list[str]]) -> bool:
    """Whether the word index answers these query words exactly as the trigram index would:
    each five to 32 ASCII letters, and so is each word one typo away that the search adds."""
    return bool(words) and all(
        _QUERY_WORD.match(w) and all(_QUERY_WORD.match(t) for t in typos.get(w, [])) for w in words
    )


class WordSearch:
    """A search the word index answers: its tier queries (FTS5 MATCH expressions) and the
    window's lower bound (`search.key(upto)`)."""

    def __init__(
        self,
        rs: S.RecordSpec,
        workspace_id: str,
        query: str,
        words: list[str],
        typos: dict[str, list[str]],
        low: int,
        long_runs: bool,
    ) -> None:
        q = qualifier(workspace_id)

        def found(word: str, kinds: tuple[tuple[str, str], ...]) -> list[str]:
            # a token, or the start of a long run's window (a prefix query: such runs are rare)
            return [q + kind + word + star for kind, star in kinds]

        own_kinds: tuple[tuple[str, str], ...] = (("", ""),)
        linked_kinds: tuple[tuple[str, str], ...] = ((LINKED, ""),)
        if long_runs:
            own_kinds += ((LONG, "*"),)
            linked_kinds += ((LONG_LINKED, "*"),)
        all_kinds = own_kinds + linked_kinds
        anywhere = " AND ".join(
            "(" + " OR ".join(t for v in [w, *typos.get(w, [])] for t in found(v, all_kinds)) + ")"
            for w in words
        )
        own = " AND ".join("(" + " OR ".join(found(w, own_kinds)) + ")" for w in words)
        exact = exact_token(q, query)  # folded as LIKE folds: ASCII only
        first = q + FIRST + words[0]
        self.rs = rs
        self.workspace_id = workspace_id
        self.low = low
        self.matches = anywhere
        # best first: the title or key is the search; the title starts with its first word;
        # every word is in the record's own text; the rest (a typo, a contact's company).
        # A title that starts with the only word has it: no need to ask for the word again.
        starts = first if len(words) == 1 else "(%s AND %s)" % (first, anywhere)
        self.tiers = [
            exact,
            "%s NOT %s" % (starts, exact),
            "(%s) NOT (%s OR %s)" % (own, first, exact),
            # (a title that starts with the first word is tier 1 whatever its other words
            # matched by: a typo, its company; a title equal to the search is tier 0 even
            # where only the trigram index's folding finds its words, as with a Kelvin sign)
            "(%s) NOT (%s OR %s OR %s)" % (anywhere, own, first, exact),
        ]


def _window(found: WordSearch, cap: int) -> tuple[str, list[Any]]:
    """The newest `cap` matches since the search's first page: how many, and the oldest's
    row id (the tiers look no further)."""
    sql = (
        "win AS MATERIALIZED (SELECT count(*) AS n, max(r) AS hi FROM (SELECT rowid AS r"
        " FROM %s WHERE %s MATCH ? AND rowid >= ? ORDER BY rowid LIMIT %d))"
        % (table(found.rs), table(found.rs), cap)
    )
    return sql, [found.matches, found.low]


def page_sql(
    found: WordSearch, columns: str, limit: int, after: int | None, cap: int
) -> tuple[str, list[Any]]:
    """The page, in the layout of a trigram search's page (lists.search_page_sql): the
    record's list `columns`, the window's size, the row's key (tier * TIER + row id), the
    count that passed (all of the window: no filters here).

    Each tier is walked newest first and stops once the page is full: a tier's LIMIT is what
    the tiers before it left (a subquery in LIMIT is evaluated once, before the walk)."""
    w, t = table(found.rs), found.rs.table
    window, params = _window(found, cap)
    tier_from, row_after = 0, None
    if after is not None:  # after = tier * TIER + row id, the row id in [-(TIER - 1), -1]
        tier_from = -(-after // TIER)
        row_after = after - tier_from * TIER
    parts = [window]
    taken: list[str] = []
    for tier, match in enumerate(found.tiers):
        name = "t%d" % tier
        if tier < tier_from:
            parts.append("%s AS (SELECT NULL AS r WHERE 0)" % name)
            taken.append(name)
            continue
        bound = ""
        if tier == tier_from and row_after is not None:
            bound = " AND rowid > ?"
        left = " - ".join(["%d" % (limit + 1), *("(SELECT count(*) FROM %s)" % n for n in taken)])
        # `left > 0` first: a condition on no column is tested once, before the walk, so a
        # tier the page has no room for is never looked up (a LIMIT of 0 still was).
        parts.append(
            "%s AS MATERIALIZED (SELECT rowid AS r FROM %s WHERE %s > 0 AND %s MATCH ?"
            " AND rowid >= ? AND rowid <= (SELECT hi FROM win)%s ORDER BY rowid LIMIT %s)"
            % (name, w, left, w, bound, left)
        )
        params += [match, found.low, *([row_after] if bound else [])]
        taken.append(name)
    ranked = " UNION ALL ".join(
        "SELECT %d AS tier, r FROM t%d" % (tier, tier) for tier in range(len(found.tiers))
    )
    sql = (
        "WITH %s, page AS (%s)"
        " SELECT %s, win.n, page.tier * %d + page.r AS k, win.n"
        " FROM page CROSS JOIN win JOIN %s ON %s.seq = -page.r AND %s.workspace_id = ?"
        " ORDER BY k LIMIT %d" % (", ".join(parts), ranked, columns, TIER, t, t, t, limit + 1)
    )
    return sql, [*params, found.workspace_id]


def count_sql(found: WordSearch, cap: int) -> tuple[str, list[Any]]:
    """(matches that passed, the window's size): both the window's count, capped."""
    window, params = _window(found, cap)
    return "WITH %s SELECT n, n FROM win" % window, params
