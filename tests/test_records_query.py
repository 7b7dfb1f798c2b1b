"""The query language on the list routes: operators per field type, ranges, relative times,
custom and tag filters, sorting with ties, limits, and 400s that list what is allowed."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from crmkit import query
from crmkit.spec import SPECS
from tests.records_util import bare, create, records

DAY = 86400


@pytest.fixture
async def token(api):
    return await api.sign_in("q@acme.com")


@pytest.fixture
async def deals(api, token, clock):
    """Five deals created a day apart (oldest first)."""
    specs = [
        {
            "title": "Alpha",
            "amount_cents": 100,
            "currency": "USD",
            "stage": "lead",
            "tags": ["vip", "eu"],
            "custom": {"tier": 1, "region": "north"},
            "close_date": "2026-01-10",
            "follow_up_at": "2026-09-01T00:00:00Z",
        },
        {
            "title": "Bravo",
            "amount_cents": 250,
            "currency": "EUR",
            "stage": "lead",
            "tags": ["eu"],
            "custom": {"tier": 2, "region": "south"},
            "close_date": "2026-02-10",
        },
        {
            "title": "Charlie 100%_off",
            "amount_cents": 500,
            "stage": "won",
            "status": "won",
            "tags": ["vip"],
            "custom": {"tier": "2"},
        },
        {"title": "Delta", "amount_cents": 500, "stage": "lost", "status": "lost"},
        {"title": "Echo", "stage": "lead"},
    ]
    out = []
    for body in specs:
        out.append(await create(api, token, "deals", body))
        clock.advance(DAY)
    return out


async def titles(api, token, query: str) -> list[str]:
    r = await api.json("GET", "/deals?" + query, token)
    assert r.status_code == 200, (query, r.text)
    return [d["title"] for d in r.json()["data"]]


CASES = [
    # text
    ("stage=lead&sort=title", ["Alpha", "Bravo", "Echo"]),
    ("stage=eq:won", ["Charlie 100%_off"]),
    ("stage=ne:lead&sort=title", ["Charlie 100%_off", "Delta"]),
    ("title=gt:Charlie&sort=title", ["Charlie 100%_off", "Delta", "Echo"]),
    ("title=gte:Delta&sort=title", ["Delta", "Echo"]),
    ("title=lt:Bravo&sort=title", ["Alpha"]),
    ("title=lte:Bravo&sort=title", ["Alpha", "Bravo"]),
    ("title=like:ALP", ["Alpha"]),
    ("title=like:a*h&sort=title", ["Alpha"]),
    ("title=like:100%25_&sort=title", ["Charlie 100%_off"]),
    ("title=like:%25", ["Charlie 100%_off"]),
    ("title=like:_&sort=title", ["Charlie 100%_off"]),
    ("stage=in:won,lost&sort=title", ["Charlie 100%_off", "Delta"]),
    ("stage=is:null", []),
    ("stage=not:null&sort=title", ["Alpha", "Bravo", "Charlie 100%_off", "Delta", "Echo"]),
    # money / int
    ("amount_cents=500&sort=title", ["Charlie 100%_off", "Delta"]),
    ("amount_cents=ne:500&sort=title", ["Alpha", "Bravo", "Echo"]),
    ("amount_cents=gt:100&sort=title", ["Bravo", "Charlie 100%_off", "Delta"]),
    ("amount_cents=gte:250&amount_cents=lt:500", ["Bravo"]),
    ("amount_cents=lte:250&sort=title", ["Alpha", "Bravo"]),
    ("amount_cents=in:100,250&sort=title", ["Alpha", "Bravo"]),
    ("amount_cents=is:null", ["Echo"]),
    ("amount_cents=not:null&amount_cents=lt:200", ["Alpha"]),
    ("activities=0&amount_cents=100", ["Alpha"]),
    # enum and currency
    ("status=open&sort=title", ["Alpha", "Bravo", "Echo"]),
    ("status=ne:open&sort=title", ["Charlie 100%_off", "Delta"]),
    ("status=in:won,lost&sort=-title", ["Delta", "Charlie 100%_off"]),
    ("currency=eur", ["Bravo"]),
    ("currency=in:EUR,GBP", ["Bravo"]),
    # date
    ("close_date=2026-01-10", ["Alpha"]),
    ("close_date=gt:2026-01-10", ["Bravo"]),
    ("close_date=gte:2026-01-10&close_date=lte:2026-02-10&sort=close_date", ["Alpha", "Bravo"]),
    ("close_date=lt:2026-02-01", ["Alpha"]),
    ("close_date=in:2026-02-10,2027-01-01", ["Bravo"]),
    ("close_date=is:null&sort=title", ["Charlie 100%_off", "Delta", "Echo"]),
    # datetime: absolute, date, relative (the clock is now 5 days after the first create)
    ("created_at=gte:now-2d&sort=title", ["Delta", "Echo"]),
    ("created_at=lt:now-4d", ["Alpha"]),
    ("created_at=gt:now-3d&created_at=lte:now-1d&sort=title", ["Delta", "Echo"]),
    (
        "created_at=gte:now-1w&created_at=lt:now+2h&sort=title",
        ["Alpha", "Bravo", "Charlie 100%_off", "Delta", "Echo"],
    ),
    ("created_at=gte:2026-09-22T14:13:20Z&created_at=lt:2026-09-23T14:13:20Z", ["Bravo"]),
    ("created_at=gte:2026-09-22T16:13:20%2B02:00&created_at=lt:2026-09-23", ["Bravo"]),
    ("follow_up_at=not:null", ["Alpha"]),
    # a date where a time is equal means that whole day (UTC)
    ("created_at=2026-09-22", ["Bravo"]),
    ("created_at=eq:2026-09-23", ["Charlie 100%_off"]),
    ("created_at=EQ:2026-09-23", ["Charlie 100%_off"]),
    ("created_at=ne:2026-09-22&sort=title", ["Alpha", "Charlie 100%_off", "Delta", "Echo"]),
    ("follow_up_at=ne:2026-09-01&sort=title", ["Bravo", "Charlie 100%_off", "Delta", "Echo"]),
    ("created_at=2026-09-20", []),
    ("follow_up_at=2026-09-01", ["Alpha"]),
    ("created_at=2026-09-22T14:13:20Z", ["Bravo"]),  # a time is still that second
    ("created_at=2026-09-22T14:13:21Z", []),
    # operators in any letter case; a capitalised word before a colon is a value
    ("title=LIKE:alp", ["Alpha"]),
    ("stage=IN:won,lost&sort=title", ["Charlie 100%_off", "Delta"]),
    ("title=Re:x", []),
    ("follow_up_at=lte:2026-09-01", ["Alpha"]),
    ("updated_at=ne:now", ["Alpha", "Bravo", "Charlie 100%_off", "Delta", "Echo"][::-1]),
    # tags: every listed tag; in: any; ne: none; is:null: untagged
    ("tags=eu", ["Bravo", "Alpha"]),
    ("tags=vip,eu", ["Alpha"]),
    ("tags=vip&tags=eu", ["Alpha"]),
    ("tags=in:vip,eu&sort=title", ["Alpha", "Bravo", "Charlie 100%_off"]),
    ("tags=ne:vip&sort=title", ["Bravo", "Delta", "Echo"]),
    ("tags=is:null&sort=title", ["Delta", "Echo"]),
    # custom fields: numbers match numbers and numeric strings
    ("custom.region=north", ["Alpha"]),
    ("custom.tier=2&sort=title", ["Bravo", "Charlie 100%_off"]),
    ("custom.tier=gte:2", ["Bravo"]),
    ("custom.tier=in:1,3", ["Alpha"]),
    ("custom.region=like:SOU", ["Bravo"]),
    ("custom.region=ne:north&sort=title", ["Bravo", "Charlie 100%_off", "Delta", "Echo"]),
    ("custom.tier=is:null&sort=title", ["Delta", "Echo"]),
    ("custom.nothing=x", []),
]


@pytest.mark.parametrize("query,expected", CASES)
async def test_filter(api, token, deals, query, expected):
    assert await titles(api, token, query) == expected


async def test_text_output_of_filtered_list(api, token, deals):
    r = await api.get("/deals?stage=lead&sort=-created_at&limit=2", token)
    lines = r.text.splitlines()
    assert lines[0] == "# total: 3"
    assert [ln.split()[1] for ln in lines[1:3]] == ["title=Echo", "title=Bravo"]
    assert lines[3].startswith("# next: ") and len(lines) == 4
    r = await api.get("/deals?stage=nothing", token)
    assert r.text == (
        "# total: 0\n# no deals match these filters\n"
        "# hint: drop a filter or try search=<part of a name>\n"
    )


async def test_sort_both_ways_with_ties_broken_by_id(api, token, deals):
    r = await api.json("GET", "/deals?sort=amount_cents", token)
    rows = r.json()["data"]
    amounts = [d["amount_cents"] for d in rows]
    assert amounts == [None, 100, 250, 500, 500]  # nulls sort first ascending
    tied = [d["handle"] for d in rows if d["amount_cents"] == 500]
    assert tied == sorted(tied)
    r = await api.json("GET", "/deals?sort=-amount_cents", token)
    rows = r.json()["data"]
    assert [d["amount_cents"] for d in rows] == [500, 500, 250, 100, None]
    assert [d["handle"] for d in rows[:2]] == sorted(tied, reverse=True)
    # paging one row at a time through ties and nulls gives the same order
    for sort in ("amount_cents", "-amount_cents", "close_date", "-close_date", "stage", "-title"):
        full = await api.json("GET", f"/deals?sort={sort}", token)
        expected = [d["handle"] for d in full.json()["data"]]
        seen, cursor = [], None
        while True:
            q = f"/deals?sort={sort}&limit=1" + (f"&cursor={cursor}" if cursor else "")
            page = (await api.json("GET", q, token)).json()
            seen += [d["handle"] for d in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == expected, sort


async def test_default_sort_is_newest_first(api, token, deals):
    assert await titles(api, token, "") == ["Echo", "Delta", "Charlie 100%_off", "Bravo", "Alpha"]
    assert (await titles(api, token, "sort=created_at"))[:1] == ["Alpha"]


@pytest.mark.parametrize(
    "limit,status",
    [("1", 200), ("200", 200), ("0", 400), ("201", 400), ("-1", 400), ("x", 400), ("1e2", 400)],
)
async def test_limit_bounds(api, token, deals, limit, status):
    r = await api.json("GET", f"/deals?limit={limit}", token)
    assert r.status_code == status
    if status == 400:
        assert "1 to 200" in r.json()["error"]["message"]
    else:
        assert len(r.json()["data"]) == min(int(limit), 5)


BAD = [
    ("colour=red", "unknown filter", "allowed"),
    ("stage=bogus:x", "unknown operator", "allowed"),
    ("amount_cents=like:5", "does not apply", "allowed"),
    ("amount_cents=abc", "whole number", None),
    ("amount_cents=99999999999999999999", "whole number", None),
    ("amount_cents=%D9%A3", "whole number", None),  # an Arabic-Indic 3 is no ASCII digit
    ("amount_cents=5%0A", "whole number", None),  # nor does a trailing newline pass
    ("created_at=gte:now-7d%0A", "needs a time", None),
    ("created_at=20260922", "needs a time", None),  # RFC 3339's shape only
    ("created_at=2026-W39-2", "needs a time", None),
    ("created_at=gte:2026-09-22T14", "needs a time", None),
    ("sort=title&sort=-title", "sort is given more than once", None),
    ("title=", "title= has no value", None),
    ("stage", "stage= has no value", None),
    ("stage=ne:", "stage=ne: has no value", None),
    ("tags=", "tags= has no value", None),
    ("stage=zz:1", "unknown operator", "allowed"),
    ("limit=1&limit=2", "limit is given more than once", None),
    ("search=a&search=b", "search is given more than once", None),
    ("cursor=a&cursor=b", "cursor is given more than once", None),
    ("status=maybe", "cannot be", "allowed"),
    ("created_at=gte:yesterday", "needs a time", None),
    ("created_at=gte:now-7y", "needs a time", None),
    ("created_at=gte:99999-01-01T00:00:00Z", "needs a time", None),
    ("close_date=2026-13-01", "needs a date", None),
    ("contact_id=company/co_aaaaaaaaaaaa", "needs a contact id", None),
    ("stage=is:empty", "not understood", "allowed"),
    ("stage=in:a,,b", "empty item", None),
    ("sort=-colour", "cannot sort", "allowed"),
    ("sort=tags", "cannot sort", "allowed"),
    ("custom.a.b=1", "bad custom field name", None),
    ("custom=1", "unknown filter", "allowed"),
    ("version=1", "unknown filter", "allowed"),
    ("stage=" + "x" * 501, "longer than 500", None),
    ("search=" + "x" * 201, "longer than 200", None),
    ("&".join(f"stage=ne:{i}" for i in range(21)), "too many filters", None),
    ("stage=in:" + ",".join(str(i) for i in range(101)), "more than 100", None),
]


@pytest.mark.parametrize("query,message,extra", BAD)
async def test_bad_queries_are_400_listing_what_is_allowed(api, token, query, message, extra):
    r = await api.json("GET", "/deals?" + query, token)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    code = "unknown_parameter" if message == "unknown filter" else "invalid_query"
    assert err["code"] == code and message in err["message"], err
    assert err["hint"]
    if extra:
        assert err[extra]
    r = await api.get("/deals?" + query, token)
    assert r.status_code == 400 and r.text.startswith(f"error: {code}: ")


async def test_unknown_filter_lists_the_fields(api, token):
    r = await api.get("/contacts?colour=red", token)
    allowed = next(ln for ln in r.text.splitlines() if ln.startswith("allowed: "))
    for name in ("email", "stage", "tags", "custom.<key>", "created_at", "search", "sort"):
        assert name in allowed


async def test_format_param_is_not_a_filter(api, token, deals):
    r = await api.get("/deals?format=json&stage=lead", token)
    assert r.json()["total"] == 3


async def test_contact_email_filter_is_case_insensitive(api, token):
    await create(api, token, "contacts", {"name": "J", "email": "Jane@Acme.com"})
    r = await api.get("/contacts?email=JANE@acme.com", token)
    assert len(records(r)) == 1
    r = await api.get("/contacts?email=like:ACME", token)
    assert len(records(r)) == 1
    r = await api.get("/companies?domain=https://www.X.com/", token)
    assert r.status_code == 200


async def test_ref_email_domain_and_member_operators(api, token):
    acme = await create(api, token, "companies", {"name": "Acme", "domain": "acme.com"})
    init = await create(api, token, "companies", {"name": "Initech", "domain": "initech.io"})
    await create(
        api,
        token,
        "contacts",
        {"name": "A", "email": "a@acme.com", "company_id": acme["handle"], "owner": "q@acme.com"},
    )
    await create(
        api, token, "contacts", {"name": "B", "email": "B@initech.io", "company_id": init["handle"]}
    )
    await create(api, token, "contacts", {"name": "C"})

    async def got(q: str) -> list[str]:
        r = await api.json("GET", f"/contacts?sort=name&{q}", token)
        assert r.status_code == 200, (q, r.text)
        return [d["name"] for d in r.json()["data"]]

    a, i = acme["handle"], init["handle"]
    assert await got(f"company_id={a}") == ["A"]
    assert await got(f"company={a.split('/')[1]}") == ["A"]  # the reply key works too
    assert await got(f"company_id=ne:{a}") == ["B", "C"]
    assert await got(f"company_id=in:{a},{i}") == ["A", "B"]
    assert await got("company_id=is:null") == ["C"]
    assert await got("company_id=not:null") == ["A", "B"]
    assert await got("email=b@INITECH.io") == ["B"]
    assert await got("email=ne:a@acme.com") == ["B", "C"]
    assert await got("email=in:A@acme.com,b@initech.io") == ["A", "B"]
    assert await got("email=gt:a@acme.com") == ["B"]
    assert await got("email=is:null") == ["C"]
    assert await got("owner=Q@acme.com") == ["A"]
    assert await got("owner=is:null") == ["B", "C"]
    assert await got("created_by=q@acme.com") == ["A", "B", "C"]
    r = await api.json(
        "GET", "/companies?sort=domain&domain=in:ACME.com,http://www.initech.io/x", token
    )
    assert [d["name"] for d in r.json()["data"]] == ["Acme", "Initech"]
    r = await api.json("GET", "/companies?domain=like:tech", token)
    assert [d["name"] for d in r.json()["data"]] == ["Initech"]
    r = await api.json("GET", "/companies?domain=gte:b", token)
    assert [d["name"] for d in r.json()["data"]] == ["Initech"]


@pytest.mark.parametrize(
    "path",
    [
        "/contacts?limit=%C2%B2",  # "²": str.isdigit() says yes, int() says no
        "/deals?limit=%D9%A3",  # Arabic-Indic three
        "/activities?limit=%C2%B2",
        "/audit?limit=%C2%B2",
        "/reminders?limit=%C2%B2",
        "/reminders?days=%C2%B2",
    ],
)
async def test_non_ascii_digits_are_a_400_not_a_500(api, path):
    token = await api.sign_in("digits@acme.com")
    r = await api.json("GET", path, token)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_query"


async def test_a_custom_pair_a_reply_shows_finds_its_record(api, token):
    """The reviewer's contact, with a value of each kind beside: every `custom.<key>=<value>`
    its line shows, sent back as a filter, finds it (and `ne:` leaves it out)."""
    custom = {"f": 1.5, "bool": True, "s": "true", "n": 5, "t": "5", "neg": -0.25, "no": False}
    custom |= {"big": 1e20, "one": 1.0, "zip": "02134", "word": "True", "zero": 0}
    mine = await create(api, token, "contacts", {"name": "Kinds", "custom": custom})
    await create(api, token, "contacts", {"name": "Other", "custom": {k: "x" for k in custom}})
    [line] = records(await api.get(f"/contacts/{bare(mine['handle'])}", token))
    pairs = [p.split("=", 1) for p in line.split() if p.startswith("custom.")]
    assert "custom.bool=true custom.s=true" in line and len(pairs) == len(custom)
    for key, value in pairs:
        for op, names in (("", ["Kinds"]), ("in:", ["Kinds"]), ("ne:", ["Other"])):
            r = await api.json("GET", f"/contacts?{key}={quote(op + value)}", token)
            assert [d["name"] for d in r.json()["data"]] == names, (key, op, value)
    for q, names in (
        ("custom.f=gte:1.5", ["Kinds"]),
        ("custom.f=gt:1.5", []),
        ("custom.f=in:1.5,2", ["Kinds"]),
        ("custom.bool=1", []),  # true is not the number 1 to a reader of custom.bool=true
        ("custom.no=0", []),
        ("custom.zero=false", []),
        ("custom.bool=gt:0", []),  # nor has it an order among numbers
        ("custom.t=gt:4", []),  # "5" is text: a range on a number compares numbers only
        ("custom.zip=2134", []),  # the string 02134 is not the number 2134
        ("custom.big=1e20", ["Kinds"]),
        ("custom.one=1", ["Kinds"]),
    ):
        r = await api.json("GET", f"/contacts?{q}", token)
        assert [d["name"] for d in r.json()["data"]] == names, q


@pytest.mark.parametrize(
    ("raw", "number", "boolean"),
    [
        ("5", 5, None),
        ("007", 7, None),
        ("-0", 0, None),
        ("-0.25", -0.25, None),
        ("1e3", 1000.0, None),
        ("1E-2", 0.01, None),
        ("9" * 25, float("9" * 25), None),  # past 64 bits: a float, as SQLite reads it
        ("true", None, True),
        ("false", None, False),
        # text only: not how JSON or a reply writes a number or a boolean
        ("1.", None, None),
        (".5", None, None),
        ("+5", None, None),
        ("1_000", None, None),
        ("\u0663", None, None),  # an Arabic-Indic digit: int() would take it
        ("5\n", None, None),  # so would it a trailing newline
        ("1e999", None, None),  # no float holds it
        ("inf", None, None),
        ("nan", None, None),
        ("TRUE", None, None),
    ],
)
def test_a_custom_value_is_its_text_and_what_else_it_spells(raw, number, boolean):
    contacts = SPECS["contact"]
    [f] = query.parse(contacts, [("custom.k", raw)], 0).filters
    assert f.value == query.CustomValue(raw, number, boolean)
    assert type(f.value.number) is type(number)  # 5, not 5.0: an int binds as an INTEGER
    [f] = query.parse(contacts, [("custom.k", "in:" + raw)], 0).filters
    assert f.value == (query.CustomValue(raw, number, boolean),)
    [f] = query.parse(contacts, [("custom.k", "gte:" + raw)], 0).filters
    assert f.value == (raw if number is None else number)  # ranges: a number, or text
