"""Property tests for the one query parser and SQL builder: any input is a plan or a 400, the
SQL it makes runs, and values only ever travel as bound parameters."""

from __future__ import annotations

import sqlite3
from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmkit import query
from crmkit import spec as S
from crmkit.errors import CrmError, InvalidQuery
from crmkit.store.sql_query import page_sql
from crmkit.store.sqlite import search
from crmkit.store.sqlite.dialect import DIALECT
from crmkit.store.sqlite.lists import search_page_sql
from crmkit.store.sqlite.schema import _statements, migration_files
from tests.records_util import create, records

NOW = 1_790_000_000
MARK = "ZQX"  # in every generated value: it must never show up in the SQL text
SQLISH = [
    "'",
    '"',
    ";",
    "--",
    "/*",
    "*/",
    " OR 1=1",
    "DROP TABLE contacts",
    "%",
    "_",
    "*",
    ",",
    ":",
    "\\",
    "(",
    ")",
    "now-1d",
    "null",
    "in:",
    "like:",
    "$.",
    "[",
    "]",
]


def _db() -> sqlite3.Connection:
    """The real schema: every migration, in order."""
    conn = sqlite3.connect(":memory:")
    for _, _, sql in migration_files():
        for statement in _statements(sql):
            conn.execute(statement)
    return conn


DB = _db()
keys = st.sampled_from(
    [f.name for rs in S.SPECS.values() for f in rs.fields]
    + [
        "custom.tier",
        "custom.a-b",
        "company",
        "search",
        "sort",
        "limit",
        "cursor",
        "format",
        "custom.",
        "custom.x.y",
        "nonsense",
        "",
    ]
)
ops = st.sampled_from([*S.ALL_OPS, "bogus", ""])
texts = st.lists(st.one_of(st.sampled_from(SQLISH), st.text(max_size=8)), max_size=5).map("".join)


@st.composite
def pairs(draw: st.DrawFn) -> list[tuple[str, str]]:
    out = []
    for _ in range(draw(st.integers(0, 6))):
        key = draw(keys)
        op = draw(ops)
        value = draw(texts)
        if draw(st.booleans()):
            value = MARK + value
        out.append((key, f"{op}:{value}" if op else value))
    return out


def _check(rs: S.RecordSpec, params: list[tuple[str, str]]) -> None:
    try:
        plan = query.parse(rs, params, NOW)
    except InvalidQuery as exc:
        assert exc.status == 400 and exc.message and exc.hint
        return
    found = None
    if plan.search is not None:
        found = search.build(DIALECT, rs, "w_x", plan.search, {})
    for after in (None, (MARK + "'", "c_" + MARK), (None, MARK)):
        if found is None:
            sql, values = page_sql(DIALECT, rs, plan, "w_x", after, with_count=True)
        else:
            sql, values = search_page_sql(DIALECT, rs, plan, "w_x", after, found)
        assert MARK not in sql
        assert sql.count("?") == len(values)
        DB.execute(sql, values).fetchall()  # it runs: no syntax error, no wrong arity


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(list(S.SPECS)), params=pairs())
def test_structured_params_give_a_plan_or_a_400(kind: str, params: list[tuple[str, str]]) -> None:
    _check(S.SPECS[kind], params)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(list(S.SPECS)), raw=st.text(max_size=200))
def test_any_query_string_gives_a_plan_or_a_400(kind: str, raw: str) -> None:
    params = parse_qsl(raw, keep_blank_values=True)
    try:
        _check(S.SPECS[kind], params)
    except CrmError as exc:  # pragma: no cover - would be a failure below
        raise AssertionError(f"unexpected {exc!r}") from exc


@pytest.mark.parametrize(
    "value",
    [
        "' OR 1=1 --",
        "x'; DROP TABLE contacts; --",
        '") OR ("1"="1',
        "%",
        "_",
        "*",
        "Robert'); DELETE FROM contacts;--",
        "\\",
        "a%b_c",
    ],
)
async def test_sql_looking_values_match_only_literally(api, value):
    token = await api.sign_in("fuzz@acme.com")
    await create(api, token, "contacts", {"name": "plain"})
    await create(api, token, "contacts", {"name": value})
    for q in (f"name={quote('eq:' + value)}", f"name={quote('in:' + value.replace(',', ''))}"):
        r = await api.get(f"/contacts?{q}", token)
        assert r.status_code == 200, r.text
        assert len(records(r)) == 1, (q, r.text)
    r = await api.get(f"/contacts?name=like:{quote(value)}", token)
    if "*" not in value:
        assert len(records(r)) == 1, r.text
    r = await api.get(f"/contacts?search={quote(value)}", token)
    assert r.status_code == 200
    assert all("plain" not in line for line in records(r)) or value in ("*",)
    r = await api.get("/contacts", token)
    assert len(records(r)) == 2  # nothing dropped, nothing deleted
