"""SQLite's search: the word index and the trigram index (store/sqlite/words.py), whose
tokens all belong to one workspace, and each record's own search columns: `search_text` (its
indexed text, searchtext.document) and `search_fold` (that text folded, searchtext.fold).
Written in the record's own write transaction.

Two ways to find a search's candidate window (the workspace's 1,001 newest matches as of its
first page), both walking the caller's workspace alone:
- the word path (words.WordSearch): every word five to 32 ASCII letters, no filters, ranked;
- the trigram path (`build`): the trigram index's tokens find the rows holding every
  trigram of each word (or of one of its typo alternatives), newest first, and each is
  checked on its folded text; words shorter than three characters are checked on
  `lower(search_text)` (ASCII letters folded, as SQLite's LIKE folds them), and a search of
  only such words walks the workspace's records newest first.
Ranking happens only inside the window, so a common term never sorts thousands of rows.
"""

from __future__ import annotations

from typing import Any

from crmkit import spec as S
from crmkit.store import searchtext as text
from crmkit.store.base import Dialect, Tx
from crmkit.store.searchtext import key
from crmkit.store.sqlite import words as word_index


class SearchSql:
    """The trigram path of a list query: where its candidates come from (`source`: the word
    index joined to the records, or the records alone), the condition on them, their order
    (newest first), and how to rank each record found."""

    def __init__(
        self,
        source: str,
        condition: str,
        params: list[Any],
        order: str,
        score: str,
        score_params: list[Any],
    ) -> None:
        self.source = source
        self.condition = condition
        self.params = params
        self.order = order
        self.score = score
        self.score_params = score_params


def _columns_sql(rs: S.RecordSpec) -> str:
    return "UPDATE %s SET search_text = ?, search_fold = ? WHERE seq = ?" % rs.table


async def _forget_grams(tx: Tx, rs: S.RecordSpec, workspace_id: str, seqs: list[int]) -> None:
    """Remove the trigram rows of these records, by the folded text they were made from (the
    contentless table must be given its tokens again): before that text changes or goes."""
    if not seqs:
        return
    rows = []
    for start in range(0, len(seqs), 500):
        part = seqs[start : start + 500]
        rows += await tx.all(
            "SELECT seq, search_fold FROM %s WHERE seq IN (%s) AND search_fold IS NOT NULL"
            % (rs.table, ", ".join("?" * len(part))),
            part,
        )
    await tx.executemany(
        word_index.grams_delete_sql(rs),
        [(key(int(seq)), word_index.grams_row(workspace_id, str(fold))) for seq, fold in rows],
    )


async def _write(
    tx: Tx, rs: S.RecordSpec, workspace_id: str, docs: list[tuple[int, list[Any]]]
) -> bool:
    """The records' word rows, trigram rows and search columns (their old rows gone already);
    whether any has a run of letters longer than 32."""
    words, grams, columns = [], [], []
    long_runs = False
    for seq, parts in docs:
        terms, long_ = word_index.row(rs, workspace_id, parts)
        long_runs = long_runs or long_
        body = text.document(parts)
        folded = text.fold(body)
        words.append((key(seq), terms))
        if folded:
            grams.append((key(seq), word_index.grams_row(workspace_id, folded)))
        columns.append((body or None, folded or None, seq))
    await tx.executemany(word_index.insert_sql(rs), words)
    await tx.executemany(word_index.grams_insert_sql(rs), grams)
    await tx.executemany(_columns_sql(rs), columns)
    return long_runs


async def index(
    tx: Tx, rs: S.RecordSpec, seq: int, workspace_id: str, parts: list[Any], replace: bool
) -> None:
    """A record's word-index row, trigram row, search columns, and its words in the typo
    vocabulary."""
    if replace:
        await tx.execute(word_index.delete_sql(rs), (key(seq),))
        await _forget_grams(tx, rs, workspace_id, [seq])
    long_runs = await _write(tx, rs, workspace_id, [(seq, parts)])
    rows = [(workspace_id, rs.kind, *text.LONG_RUNS)] if long_runs else []
    await text.learn(tx, rows + text.vocabulary(workspace_id, rs.kind, text.document(parts)))


async def reindex_many(
    tx: Tx, rs: S.RecordSpec, workspace_id: str, docs: list[tuple[int, list[Any]]]
) -> None:
    """New search rows and columns for many records, (seq, parts) each, a statement per
    table. The typo vocabulary is left as it is: it only grows."""
    await tx.executemany(word_index.delete_sql(rs), [(key(seq),) for seq, _ in docs])
    await _forget_grams(tx, rs, workspace_id, [seq for seq, _ in docs])
    if await _write(tx, rs, workspace_id, docs):
        await tx.execute(text.VOCABULARY_SQL, (workspace_id, rs.kind, *text.LONG_RUNS))


async def unindex(tx: Tx, rs: S.RecordSpec, workspace_id: str, seqs: list[int]) -> None:
    """Before records are deleted: their trigram rows (their word rows go by trigger)."""
    await _forget_grams(tx, rs, workspace_id, seqs)


def _phrase(token: str) -> str:
    return '"%s"' % token


def build(
    d: Dialect,
    rs: S.RecordSpec,
    workspace_id: str,
    query: str,
    typos: dict[str, list[str]],
    upto: int | None = None,
) -> SearchSql:
    """Which records match (every word, as a substring or within one typo) and the rank of
    each record found. The workspace is checked on the record too (lists._window)."""
    qwords = text.query_words(query)
    t, w = rs.table, word_index.gram_table(rs)
    q = word_index.qualifier(workspace_id)
    clauses: list[str] = []
    checks: list[str] = []
    params: list[Any] = []
    for word in qwords:
        if len(word) < 3:  # below one trigram: checked on each candidate's text instead
            checks.append("instr(lower(%s.search_text), ?) > 0" % t)
            params.append(word)
            continue
        options = list(dict.fromkeys(text.fold(v) for v in [word, *typos.get(word, [])]))
        clauses.append(
            "("
            + " OR ".join(
                "("
                + " AND ".join(_phrase(word_index.gram_token(q, g)) for g in text.grams(o))
                + ")"
                for o in options
            )
            + ")"
        )
        checks.append("(%s)" % " OR ".join(["instr(%s.search_fold, ?) > 0" % t] * len(options)))
        params.extend(options)
    conditions: list[str] = []
    head: list[Any] = []
    if clauses:
        source = "%s CROSS JOIN %s ON %s.seq = -%s.rowid" % (w, t, t, w)
        conditions.append("%s MATCH ?" % w)
        head.append(" AND ".join(clauses))
        # `+`: the workspace checked on each record found, never walked by its own index
        conditions.append("+%s.workspace_id = ?" % t)
        head.append(workspace_id)
        order = "%s.rowid" % w
    else:
        # Only words too short for a trigram: the workspace's records, newest first.
        source, order = t, "%s.seq DESC" % t
        conditions.append("%s.workspace_id = ?" % t)
        head.append(workspace_id)
    if upto is not None:
        # Rows added after a search's first page stay out of its later pages: the candidate
        # window is the newest matches as of then, so it cannot slide and skip rows.
        if clauses:
            conditions.append("%s.rowid >= ?" % w)  # a range FTS5 walks within
            head.append(key(upto))
        else:
            conditions.append("%s.seq <= ?" % t)
            head.append(upto)
    score, score_params = text.score_sql(d, rs, query, qwords)
    return SearchSql(
        source, " AND ".join(conditions + checks) or "1", head + params, order, score, score_params
    )
