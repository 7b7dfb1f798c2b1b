"""Text replies never show a control, format, line- or paragraph-separator character raw.

Every character of the Unicode categories Cc, Cf (bidi overrides and isolates, zero-width
characters included), Zl and Zp is written as an escape (`\\u202e`), the same way in record
lines, meta lines, error lines and their `key: value` lines; a value holding one is quoted, so
its line stays one line. JSON replies carry the true value.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import pytest
from foundation_util import JSON, parse_error_text

from crmkit.errors import CrmError
from crmkit.render import Message, error_body, meta_line, record_line, to_text
from crmkit.render.values import ESCAPED, escape, quote
from tests.records_util import records

CATEGORIES = ("Cc", "Cf", "Zl", "Zp")

# One or more characters of each category, those the finding named first.
SAMPLES = {
    "\u202e": "Cf",  # RIGHT-TO-LEFT OVERRIDE
    "\u009b": "Cc",  # CONTROL SEQUENCE INTRODUCER (C1): ESC [ in one character
    "\u0085": "Cc",  # NEXT LINE (C1), a line break to str.splitlines
    "\u0080": "Cc",
    "\t": "Cc",
    "\n": "Cc",
    "\r": "Cc",
    "\u200b": "Cf",  # ZERO WIDTH SPACE
    "\u200e": "Cf",  # LEFT-TO-RIGHT MARK
    "\u2066": "Cf",  # LEFT-TO-RIGHT ISOLATE
    "\u2067": "Cf",  # RIGHT-TO-LEFT ISOLATE
    "\u2068": "Cf",  # FIRST STRONG ISOLATE
    "\u2069": "Cf",  # POP DIRECTIONAL ISOLATE
    "\u00ad": "Cf",  # SOFT HYPHEN
    "\ufeff": "Cf",  # ZERO WIDTH NO-BREAK SPACE (BOM)
    "\U000e0041": "Cf",  # TAG LATIN CAPITAL LETTER A, past U+FFFF
    "\u2028": "Zl",  # LINE SEPARATOR
    "\u2029": "Zp",  # PARAGRAPH SEPARATOR
}
# What the API refuses in text fields and tags (C0 controls other than tab, LF and CR; DEL):
# these reach the renderer through custom values only (NUL not even there).
REFUSED_IN_TEXT = "\x01\x1b\x7f"


def expected_escape(ch: str) -> str:
    """The escape, worked out here rather than by the product: the short ones, else `\\u`
    and four hex digits, a UTF-16 surrogate pair past U+FFFF (as JSON writes them)."""
    short = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in short:
        return short[ch]
    units = ch.encode("utf-16-be")
    return "".join("\\u" + units[i : i + 2].hex() for i in range(0, len(units), 2))


def assert_nothing_raw(text: str) -> None:
    """No character of the four categories anywhere but the newline that ends each line."""
    raw = [ch for ch in text if ch != "\n" and unicodedata.category(ch) in CATEGORIES]
    assert raw == [], f"raw {raw!r} in {text!r}"


_PAIR = re.compile(r'(?:^|\s)([^\s=]+|"(?:[^"\\]|\\.)*")=("(?:[^"\\]|\\.)*"|[^\s"]*)')


def pairs(line: str, *keys: str) -> list[str]:
    """The values of `keys` in a record line, as shown (quoted or bare)."""
    found = {m.group(1): m.group(2) for m in _PAIR.finditer(line)}
    return [found[k] for k in keys]


def test_the_samples_are_of_the_categories_they_claim() -> None:
    for ch, category in SAMPLES.items():
        assert unicodedata.category(ch) == category, hex(ord(ch))
    assert {unicodedata.category(ch) for ch in SAMPLES} == set(CATEGORIES)


def test_the_escaped_set_is_every_character_of_the_four_categories() -> None:
    """Scans all of Unicode (the product scans the planes that hold any, to start faster):
    a newer Unicode that adds such a character elsewhere fails here."""
    every = {chr(n) for n in range(0x110000) if unicodedata.category(chr(n)) in CATEGORIES}
    assert set(ESCAPED) == every and len(ESCAPED) == len(every)


@pytest.mark.parametrize("ch", sorted(SAMPLES) + list("\x00" + REFUSED_IN_TEXT))
def test_one_escape_for_each_character_everywhere(ch: str) -> None:
    esc = expected_escape(ch)
    value = "a" + ch + "b"
    assert escape(value) == "a" + esc + "b"
    assert quote(value) == '"a' + esc + 'b"'
    # A value with one is quoted (never bare), and its escapes are JSON's: it decodes back.
    line = record_line({"handle": "contact/c_x", "name": value, "tags": [value, "t"]})
    name, tags = pairs(line, "name", "tags")
    assert name == '"a' + esc + 'b"' and json.loads(name) == value
    # A list that needs quoting is shown as its JSON, quoted: it decodes back twice.
    assert json.loads(json.loads(tags)) == [value, "t"]
    assert_nothing_raw(line)
    assert meta_line("note " + value) == "# note a" + esc + "b"
    err = CrmError("bad " + value, "hint " + value, extra={"key" + ch: "v" + ch})
    body = error_body(err, as_json=False)[0].decode()
    assert body == "error: bad_request: bad a%sb\nhint: hint a%sb\nkey%s: v%s\n" % (
        esc,
        esc,
        esc,
        esc,
    )
    assert json.loads(error_body(err, as_json=True)[0])["error"]["message"] == "bad " + value


def test_a_backslash_is_escaped_so_escaped_text_cannot_pass_for_an_escape() -> None:
    sent = "Eve\\u202e"  # the six characters, not the override
    assert escape(sent) == "Eve\\\\u202e"
    assert quote(sent) == '"Eve\\\\u202e"'
    assert escape("Eve\u202e") != escape(sent)


def test_printable_text_is_left_alone() -> None:
    for text in ("Jane Doe", "Chloé Ümit", "名前", "a=b", 'say "hi"', "\u00a0\u3000"):
        assert escape(text) == text
        assert meta_line(text) == "# " + text
    assert to_text(Message(["deleted contact/c_x"], {})) == "# deleted contact/c_x\n"


async def test_the_findings_request_in_text_and_json(api: Any) -> None:
    """`POST /contacts {"name":"Eve\\u202e","phone":"\\u009b31m"}`, then the list and the
    single GET as text: both characters escaped, their values quoted; JSON: the true value."""
    token = await api.sign_in("eve@acme.com")
    body = {"name": "Eve\u202e", "phone": "\u009b31m"}
    shown = 'name="Eve\\u202e" phone="\\u009b31m"'
    r = await api.post("/contacts", token, json=body)
    assert r.status_code == 201, r.text
    assert_nothing_raw(r.text)
    [created] = records(r)
    assert shown in created
    handle = created.split(" ", 1)[0]

    for path in ("/contacts", f"/contacts/{handle}", "/contacts?search=eve"):
        r = await api.get(path, token)
        assert r.status_code == 200, r.text
        assert_nothing_raw(r.text)
        [line] = records(r)
        assert line.startswith(handle + " ") and shown in line, line

    got = await api.json("GET", "/contacts", token)
    assert got.json()["data"][0]["name"] == "Eve\u202e"
    assert got.json()["data"][0]["phone"] == "\u009b31m"
    one = await api.json("GET", f"/contacts/{handle}", token)
    assert one.json()["data"]["name"] == "Eve\u202e"
    assert one.json()["data"]["phone"] == "\u009b31m"


async def test_every_category_in_names_custom_values_and_tags(api: Any) -> None:
    """Each sample in a contact's name, a tag, a custom key and a custom value (a custom
    value also takes the C0 controls that text fields refuse): text escapes every one, on
    list pages (the column renderer) and single GETs (the generic one) alike, each line stays
    one line even to str.splitlines, and each quoted value decodes back to the JSON value."""
    token = await api.sign_in("all@acme.com")
    made: dict[str, str] = {}
    for i, ch in enumerate(SAMPLES):
        body = {
            "name": f"n{i} a{ch}b",
            "tags": [f"t{ch}x", "plain"],
            "custom": {f"k{ch}": f"v{ch}{REFUSED_IN_TEXT}", "n": i},
        }
        r = await api.json("POST", "/contacts", token, json=body)
        assert r.status_code == 201, r.text
        made[ch] = r.json()["data"]["handle"]

    listing = await api.get("/contacts?limit=200", token)
    assert listing.status_code == 200
    assert_nothing_raw(listing.text)
    lines = records(listing)
    assert len(lines) == len(SAMPLES)
    assert len(listing.text.splitlines()) == len(SAMPLES) + 1  # `# total:` and one per record
    by_handle = {line.split(" ", 1)[0]: line for line in lines}
    data = {
        d["handle"]: d for d in (await api.json("GET", "/contacts?limit=200", token)).json()["data"]
    }
    for i, (ch, handle) in enumerate(made.items()):
        esc = expected_escape(ch)
        single = await api.get(f"/contacts/{handle}", token)
        assert_nothing_raw(single.text)
        [full] = records(single)
        controls = "".join(expected_escape(c) for c in REFUSED_IN_TEXT)
        for line in (by_handle[handle], full):
            name, tags, value = pairs(line, "name", "tags", f'custom."k{esc}"')
            assert name == f'"n{i} a{esc}b"' and json.loads(name) == f"n{i} a{ch}b"
            assert json.loads(json.loads(tags)) == [f"t{ch}x", "plain"]
            assert value == f'"v{esc}{controls}"'
            assert json.loads(value) == f"v{ch}{REFUSED_IN_TEXT}"
        assert data[handle]["name"] == f"n{i} a{ch}b"  # JSON: the true values
        assert data[handle]["tags"] == [f"t{ch}x", "plain"]
        assert data[handle]["custom"] == {f"k{ch}": f"v{ch}{REFUSED_IN_TEXT}", "n": i}


@pytest.mark.parametrize("ch", sorted(SAMPLES) + list(REFUSED_IN_TEXT))
async def test_every_category_in_error_messages(api: Any, ch: str) -> None:
    """Paths are echoed in error messages as they arrived (a record id, a route, a method
    not allowed on a path): escaped in text, as sent in JSON."""
    token = await api.sign_in("errors@acme.com")
    esc = expected_escape(ch)
    encoded = "".join("%%%02X" % b for b in ch.encode())
    # The route errors echo Starlette's request.url, which drops tab, CR and LF (as
    # urllib.parse.urlsplit does); the id comes from the path as it arrived.
    dropped = ch in "\t\r\n"
    for method, path, status, code, kept in [
        ("GET", f"/contacts/c_a{encoded}b", 404, "not_found", True),
        ("GET", f"/nowhere/a{encoded}b", 404, "not_found", not dropped),
        ("PUT", f"/contacts/c_a{encoded}b", 405, "method_not_allowed", not dropped),
    ]:
        r = await api.request(method, path, token)
        assert r.status_code == status, r.text
        assert_nothing_raw(r.text)
        error = parse_error_text(r.text)  # one error line, one hint line, key: value lines
        assert error["code"] == code
        assert ("a%sb" % (esc if kept else "")) in error["message"], r.text
        js = await api.request(method, path, token, headers=JSON)
        assert ("a%sb" % (ch if kept else "")) in js.json()["error"]["message"]
