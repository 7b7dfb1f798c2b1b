"""The manual fits one tool call (issue 21, points 7 and 16).

GET /help was 39,074 bytes: past a common 30,000-character tool-output limit, an agent lost
part of it, and the MCP instructions told every connected assistant to read all of it first.
Now GET /help is the whole manual in brief, under 24,000 characters, opening with its topics;
GET /help/<topic> holds the detail; GET / orients a caller that knows only the base URL; the
MCP instructions and tool description point to /help for the overview and /help/<topic> for
detail.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import mcp_util
from conftest import Api, LiveServer
from foundation_util import JSON, assert_error
from mcp_util import mcp_session, text_of

from crmkit import errors
from crmkit.manual import topics
from crmkit.mcp_tool import INSTRUCTIONS, MANUAL

port = mcp_util.port
env = mcp_util.env
server = mcp_util.server

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "crmkit" / "help"
# Under a common 30,000-character tool-output limit, with room for what the manual will gain.
LIMIT = 24_000


def flat(text: str) -> str:
    return " ".join(text.split())


def headings(text: str) -> list[str]:
    """Section titles: a line underlined with dashes."""
    lines = text.splitlines()
    return [
        line for line, under in zip(lines, lines[1:], strict=False) if re.fullmatch(r"-{4,}", under)
    ]


def listed_topics(text: str) -> list[str]:
    """The names in /help's TOPICS section, in its order."""
    block = text[text.index("TOPICS (GET /help/<topic>)") :].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines()[2:]]


async def test_help_fits_one_tool_call_and_opens_with_the_topics(api: Api) -> None:
    r = await api.get("/help")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert len(r.text) < LIMIT and len(r.content) < LIMIT, (len(r.text), len(r.content))
    # The first section is the list of topics, right after a short introduction.
    assert headings(r.text)[0] == "TOPICS (GET /help/<topic>)"
    assert r.text.index("TOPICS (GET /help/<topic>)") < 800
    # It lists every page there is, and only those.
    listed = listed_topics(r.text)
    assert sorted(listed) == sorted(p.stem for p in PAGES.glob("*.txt")) == list(topics())
    assert len(listed) >= 10
    # Still a whole manual: sign-in, conventions, errors, queries, safe writes, scopes, limits.
    for section in (
        "THE BASICS",
        "READING A TEXT REPLY",
        "ERRORS",
        "SIGNING IN",
        "WHO AM I, TOKENS AND SCOPES",
        "RECORDS: CONTACTS, COMPANIES, DEALS",
        "QUERY (GET /contacts, /companies, /deals)",
        "ACTIVITIES, REMINDERS, AUDIT",
        "WORKSPACES & TEAMS",
        "SAFE WRITES",
        "LIMITS",
        "ENDPOINTS (index)",
    ):
        assert section in headings(r.text), section
    text = flat(r.text)
    for fact in (
        "POST $CRM/auth/request",
        "Idempotency-Key",
        "?dry_run=true",
        "403 insufficient_scope",
        "429 rate_limited with Retry-After",
        "field=[op:]value",
        '# next: <cursor>" while rows remain',
        "428 confirmation_required",
    ):
        assert fact in text, fact


async def test_every_topic_is_a_plain_text_page(api: Api) -> None:
    listed = listed_topics((await api.get("/help")).text)
    for topic in listed:
        r = await api.get(f"/help/{topic}")
        assert r.status_code == 200, (topic, r.text)
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        assert r.headers["cache-control"] == "public, max-age=300"
        assert r.text == (PAGES / f"{topic}.txt").read_text(encoding="utf-8")
        assert r.text.startswith("crmkit help: "), topic
        assert f"GET /help/{topic}." in r.text  # a page says where it lives
        assert len(r.text) < LIMIT, topic  # each fits one tool call too
        # ?format=json applies to errors only: the page stays text.
        assert (await api.get(f"/help/{topic}", headers=JSON)).text == r.text
    # Every page another page or the manual sends the reader to exists.
    everything = (ROOT / "help.txt").read_text() + "".join(p.read_text() for p in PAGES.iterdir())
    for named in set(re.findall(r"GET /help/([a-z-]+)", everything)):
        assert named in listed, named


async def test_an_unknown_topic_is_a_404_listing_the_topics(api: Api) -> None:
    for headers in ({}, JSON):
        r = await api.get("/help/pricing", headers=headers)
        err = assert_error(r, 404, "not_found")
        assert "pricing" in err["message"]
        assert "GET /help/<topic>" in err["hint"]
        for topic in topics():
            assert topic in err["hint"], topic
    # A near miss names the page meant.
    err = assert_error(await api.get("/help/record"), 404, "not_found")
    assert err["hint"].startswith("did you mean GET /help/records?")
    err = assert_error(await api.get("/help/Safe_Writes"), 404, "not_found")
    assert err["hint"].startswith("did you mean GET /help/safe-writes?")
    # Only a listed page is ever read: no way out of the folder.
    for path in ("/help/..%2F..%2Fpyproject.toml", "/help/%2e%2e", "/help/records.txt"):
        r = await api.get(path)
        assert r.status_code == 404, (path, r.text)
        assert "[project]" not in r.text


async def test_the_root_orients_a_newcomer(api: Api) -> None:
    r = await api.get("/")
    assert r.status_code == 200, r.text  # was 404 no route GET /
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert len(r.text) < 1500  # an orientation, not a second manual
    for pointer in ("/help", "/help/<topic>", "/llms.txt", "/openapi.json", "POST /mcp"):
        assert pointer in r.text, pointer
    assert "POST /auth/request" in r.text and "POST /auth/verify" in r.text
    assert "Authorization: Bearer <token>" in r.text
    # Each pointer leads somewhere.
    for path in ("/help", "/llms.txt", "/openapi.json"):
        assert (await api.get(path)).status_code == 200, path


# Facts today's pages hold that the old help.txt stated: moved, never dropped.
MOVED = {
    "signin": [
        "up to 3 live at once",
        "5 code requests for one email and 30 in all per 15 minutes, 20 for one email a day,"
        " 100 wrong codes an hour",
        "Nobody else's requests count against yours.",
    ],
    "tokens": [
        'WWW-Authenticate: Bearer error="insufficient_scope", scope="write"',
        "a minted token never outlives the token that minted it",
        "`crmkit token --scope read`",
    ],
    "records": [
        "https://www.Acme.com/about counts as acme.com",
        "custom (any JSON object up to 16 KiB, stored as you send it)",
        "lose that link as if PATCHed to null",
    ],
    "queries": [
        "a value that starts with one and a colon is written after eq: (title=eq:Not: now)",
        'custom.seats=gte:10 skips "12" and true',
        "sort by created_at (the default) for a walk that edits cannot disturb",
        "Speed: these fields have an index:",
    ],
    "search": [
        "search=14155550100 finds +1 (415) 555-0100",
        "Only the 1,001 newest matches are ranked",
        "one typo allowed in words of 5+ letters (not in emails)",
    ],
    "activities": [
        "a follow-up moved later while you page comes back on a later page",
        "or contact.* for all of a kind",
    ],
    "teams": [
        "exactly like one that does not exist (the switch route answers 403 not_a_member",
        "a person left with no workspace gets a fresh one at next sign-in",
        "a code for promoting Bob does not promote Cat or delete anything",
    ],
    "safe-writes": [
        "even a server that crashed just after writing gives the retry the original answer",
        "409 idempotency_in_progress with Retry-After: 1",
        "A dry run with an Idempotency-Key neither looks the key up nor keeps a reply.",
    ],
    "limits": [
        "free 300, team 1200, unlimited 6000",
        "a person may own as many as the best plan among the workspaces they created allows",
        "`crmkit plan WORKSPACE_ID PLAN`",
    ],
    "mcp": [
        "Presenting a retired refresh token revokes the whole connection.",
        "GET /mcp and DELETE /mcp answer 405",
        "421 misdirected_request",
    ],
    "errors": [
        "letters, digits, . _ : -, up to 64 characters",
        "413 payload_too_large",
    ],
}


def test_every_page_holds_its_detail() -> None:
    assert set(MOVED) == set(topics())
    for topic, facts in MOVED.items():
        page = flat((PAGES / f"{topic}.txt").read_text(encoding="utf-8"))
        for fact in facts:
            assert flat(fact) in page, (topic, fact)


def error_codes() -> set[str]:
    """Every error code crmkit itself answers with: each CrmError class's own, and each
    code= given where one is raised. OAuth's RFC codes (OAuthError) are GET /help/mcp's."""
    found: set[str] = set()
    pending = [errors.CrmError]
    while pending:
        cls = pending.pop()
        pending += [c for c in cls.__subclasses__() if not issubclass(c, errors.OAuthError)]
        found.add(cls.code)
    # The classes that only name a family (a 403 is always raised with its own code).
    found -= {"bad_request", "forbidden", "conflict", "unprocessable", "unavailable"}
    for path in (ROOT / "crmkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func
            name = getattr(callee, "id", None) or getattr(callee, "attr", "")
            for kw in node.keywords:
                if kw.arg == "code" and isinstance(kw.value, ast.Constant) and name != "OAuthError":
                    found.add(str(kw.value.value))
    return found


def test_the_errors_page_names_every_code() -> None:
    page = (PAGES / "errors.txt").read_text(encoding="utf-8")
    codes = error_codes()
    assert {"not_found", "duplicate", "last_admin", "email_refused"} <= codes
    missing = sorted(c for c in codes if not re.search(rf"\b{c}\b", page))
    assert not missing, f"GET /help/errors does not name: {missing}"


def test_llms_txt_links_every_topic() -> None:
    text = (ROOT / "llms.txt").read_text(encoding="utf-8")
    for topic in topics():
        assert f"(/help/{topic})" in text, topic


def test_the_pages_are_installed_with_the_package() -> None:
    """pip install . (and so the Docker image) carries every page: package data."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["crmkit"]
    packaged = {p for pattern in patterns for p in (ROOT / "crmkit").glob(pattern)}
    pages = set(PAGES.glob("*.txt"))
    assert pages and pages <= packaged
    assert "COPY crmkit ./crmkit" in (ROOT / "Dockerfile").read_text()


def test_the_mcp_tool_points_to_the_topics() -> None:
    assert len(MANUAL) < 4000
    assert "GET /help/<topic>" in MANUAL
    assert "Start with GET /help" not in MANUAL
    assert "Before anything else" not in INSTRUCTIONS
    for topic in topics():
        assert topic in INSTRUCTIONS, topic


async def test_an_mcp_assistant_reads_the_overview_then_one_topic(
    server: tuple[Api, LiveServer],
) -> None:
    api, srv = server
    token = await api.sign_in("jane@acme.com")
    async with mcp_session(srv.url, token) as session:
        init = session.initialize_result
        assert init is not None and init.instructions is not None
        assert "GET /help is the overview" in init.instructions
        assert "GET /help/<topic>" in init.instructions
        overview = await session.call_tool("request", {"method": "GET", "path": "/help"})
        assert not overview.is_error and len(text_of(overview)) < LIMIT
        page = await session.call_tool("request", {"method": "GET", "path": "/help/queries"})
        assert not page.is_error
        assert text_of(page) == (PAGES / "queries.txt").read_text(encoding="utf-8")
        wrong = await session.call_tool("request", {"method": "GET", "path": "/help/query"})
        assert wrong.is_error and "did you mean GET /help/queries?" in text_of(wrong)
