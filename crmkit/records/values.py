"""The per-type checks on record values (the web layer's pydantic model, strict with
extra="forbid", has already caught unknown fields and wrong JSON types); these check what a type
cannot say (an email has an @, a currency is three letters)
and turn values into what the database stores.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import orjson

from crmkit import spec as S
from crmkit.errors import InvalidField
from crmkit.ids import bare_id
from crmkit.query import MAX_EPOCH, normalise_domain, time_or_none

MAX_TAGS = 50
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_DOMAIN = re.compile(r"^(?=.{1,253}\Z)[a-z0-9-]+(\.[a-z0-9-]+)+\Z")
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
PREFIX = {"contact": "c", "company": "co", "deal": "d"}


def _bad(name: str, problem: str, hint: str) -> InvalidField:
    return InvalidField(f"{name} {problem}", hint)


def clean(rs: S.RecordSpec, f: S.Field, value: Any, now: int) -> Any:
    """One body value -> what is stored; None stays None (it clears the field)."""
    if value is None:
        return None
    name, t = f.name, f.type
    if isinstance(value, str):
        value = value.strip()
        if len(value) > f.max_len:
            raise _bad(name, f"is longer than {f.max_len} characters", "shorten it")
        if _CONTROL.search(value):
            raise _bad(name, "contains control characters", "send printable text")
        if not value and t != S.TEXT:
            return None
    if t == S.TEXT:
        return value or None
    if t == S.EMAIL or t == S.MEMBER:
        if not _EMAIL.match(value):
            raise _bad(
                name, f"is not an email address: {value[:80]!r}", f'e.g. "{name}":"jane@acme.com"'
            )
        return value.lower() if t == S.MEMBER else value
    if t == S.DOMAIN:
        domain = normalise_domain(value)
        if not _DOMAIN.match(domain):
            raise _bad(
                name, f"is not a domain: {value[:80]!r}", '"domain":"acme.com" (a URL works too)'
            )
        return domain
    if t == S.CURRENCY:
        code = value.upper()
        if not _CURRENCY.match(code):
            raise _bad(
                name, f"must be a 3-letter ISO 4217 code, got {value[:20]!r}", '"currency":"USD"'
            )
        return code
    if t == S.ENUM:
        if value not in f.choices:
            raise InvalidField(
                f"{name} cannot be {value[:40]!r}",
                f"use one of: {', '.join(f.choices)}",
                allowed=f.choices,
            )
        return value
    if t == S.DATE:
        if not _DATE.match(value) or not _real_day(value):
            raise _bad(
                name, f"must be a date YYYY-MM-DD, got {value[:40]!r}", f'"{name}":"2026-06-30"'
            )
        return value
    if t == S.DATETIME:
        return body_time(name, value, now)
    if t == S.MONEY:
        if value < 0:
            raise _bad(name, "must be >= 0 (integer cents)", f'"{name}":500000 is $5,000.00')
        return value
    if t == S.INT:
        return value
    if t == S.REF:
        assert f.ref is not None
        found = bare_id(value, f.ref, PREFIX[f.ref])
        if found is None:
            raise _bad(
                name,
                f"is not a {f.ref} id: {value[:60]!r}",
                f"use the handle of a {f.ref} in this workspace; find one with GET /{f.ref}s"
                if f.ref != "company"
                else "use the handle of a company in this workspace; find one with GET /companies",
            )
        return found
    if t == S.TAGS:
        return _tags(value)
    if t == S.JSON:
        raw = orjson.dumps(value)
        if len(raw) > f.max_len:
            raise _bad(name, f"is larger than {f.max_len} bytes as JSON", "keep custom data small")
        return raw.decode() if value else None
    raise AssertionError(t)


def body_time(name: str, value: str, now: int) -> int:
    """A time in a body: RFC 3339, a date (midnight UTC), `now` or `now+2d` (as queries take
    them, so `"follow_up_at":"now+3d"` works), with a body's error and example."""
    ts = time_or_none(value, now)
    if ts is None:
        raise _bad(
            name,
            f"must be a time, got {value[:40]!r}",
            f'use RFC 3339 ("{name}":"2026-06-10T09:00:00Z"), a date ("2026-06-10"), now,'
            " or now+2d / now-1h (units s m h d w)",
        )
    if not 0 <= ts <= MAX_EPOCH:
        raise _bad(name, "is out of range", "use a time between 1970 and 9999")
    return ts


def _real_day(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _tags(value: list[str]) -> str | None:
    seen: list[str] = []
    for tag in value:
        tag = tag.strip()
        if not tag or len(tag) > 64 or _CONTROL.search(tag):
            raise _bad(
                "tags", "must be non-empty strings of at most 64 characters", '"tags":["vip"]'
            )
        if tag not in seen:
            seen.append(tag)
    if len(seen) > MAX_TAGS:
        raise _bad("tags", f"has more than {MAX_TAGS} items", "keep tags few and short")
    return orjson.dumps(seen).decode() if seen else None
