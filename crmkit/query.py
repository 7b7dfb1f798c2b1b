"""The ONLY parser of list queries: `field=[op:]value` params -> a typed, validated Plan.

Every value is checked and converted here (times to epoch seconds, ids to bare ids, numbers to
int, custom values to a CustomValue), so the SQL builder only ever binds values it can trust
the type of. Anything unknown or
malformed is an InvalidQuery (400) that lists what is allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from crmkit import spec as S
from crmkit.errors import InvalidQuery
from crmkit.ids import bare_id

RESERVED = ("search", "sort", "limit", "cursor", "format")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_FILTERS = 20
MAX_VALUE_LEN = 500
MAX_IN_ITEMS = 100
MAX_SEARCH_LEN = 200
MAX_CUSTOM_KEY = 64
_CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}\Z", re.ASCII)
_OP = re.compile(r"^([A-Za-z]{2,6}):", re.ASCII)
# A "+" left unescaped in a URL arrives as a space: take "now 2h" as "now+2h".
_RELATIVE = re.compile(r"^now(?:([+ -])(\d{1,6})([smhdw]))?\Z", re.ASCII)
_SPACE_OFFSET = re.compile(r" (\d\d:?\d\d)\Z", re.ASCII)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z", re.ASCII)
# A date, T (or a space), hours and minutes, optional seconds and fraction, then Z, an offset
# or nothing (UTC).
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?\Z",
    re.ASCII,
)
_INT = re.compile(r"^-?\d{1,19}\Z", re.ASCII)
# A custom value that spells a number: JSON's syntax (ASCII digits, an optional fraction and
# exponent), plus leading zeros, as 007 always was a number here. Not "1." or ".5": a reply
# never writes a number that way.
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
_BOOLEANS = {"true": True, "false": False}
_ONCE = frozenset({"search", "sort", "limit", "cursor"})  # the parameters that are no filter
_CURRENCY = re.compile(r"^[A-Za-z]{3}\Z", re.ASCII)
INT64 = 2**63 - 1
MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z


@dataclass(frozen=True)
class CustomValue:
    """A custom field's value in `custom.<key>=` or `in:`, and what it matches: the JSON string
    spelled exactly `text`, a JSON number equal to `number` (when `text` spells one), and the
    JSON boolean `boolean` (when `text` is true or false). Those are the values a reply writes
    as `text` (custom.f=1.5, custom.b=true): what a reply shows is what a filter finds. A
    number never matches true or false, which json_extract reads as 1 and 0 but a reply writes
    as words."""

    text: str
    number: int | float | None = None
    boolean: bool | None = None


Value = str | int | float | None | CustomValue | tuple[str | int | float | CustomValue, ...]


@dataclass(frozen=True)
class Filter:
    field: str  # a spec field name, or "custom"
    type: str
    op: str
    value: Value
    custom_key: str | None = None


@dataclass(frozen=True)
class Plan:
    kind: str
    filters: tuple[Filter, ...]
    search: str | None
    sort: str
    descending: bool
    limit: int
    cursor: str | None
    explicit_sort: bool
    fingerprint: str  # the raw filters + search + sort: what a cursor is bound to


def allowed_params(rs: S.RecordSpec) -> list[str]:
    names = [f.name for f in rs.filterable] + ["custom.<key>", *RESERVED]
    return names


def _bad(
    message: str, hint: str, allowed: Iterable[str] = (), code: str | None = None
) -> InvalidQuery:
    return InvalidQuery(message, hint, allowed=allowed, code=code)


def _field_for(rs: S.RecordSpec, name: str) -> S.Field | None:
    found = rs.field(name)
    if found is None:
        found = next((f for f in rs.fields if f.out == name), None)
    if found is None or not found.filterable:
        return None
    return found


def parse(rs: S.RecordSpec, params: Iterable[tuple[str, str]], now: int) -> Plan:
    """`params` are the query string's (key, value) pairs in order, repeats kept."""
    filters: list[Filter] = []
    raw_filters: list[tuple[str, str]] = []
    search: str | None = None
    sort_raw: str | None = None
    limit = DEFAULT_LIMIT
    cursor: str | None = None
    seen: set[str] = set()
    for key, value in params:
        if "\x00" in key or "\x00" in value:
            raise _bad("the query contains a NUL byte", "remove the %00 from the URL")
        if key == "format":
            continue
        if key in _ONCE:
            # Silently taking the last of two sorts or limits hides the mistake.
            if key in seen:
                raise _bad(
                    f"{key} is given more than once",
                    f"send {key}= once; only filters repeat (they are AND-ed)",
                )
            seen.add(key)
        if key == "search":
            search = _search(value)
        elif key == "sort":
            sort_raw = value
        elif key == "limit":
            limit = _limit(value)
        elif key == "cursor":
            cursor = value or None  # `cursor=` with nothing: the first page, as without it
        else:
            if len(filters) >= MAX_FILTERS:
                raise _bad(
                    f"too many filters (the limit is {MAX_FILTERS})",
                    "combine values with in:a,b or narrow the query with search=",
                )
            filters.extend(_filters(rs, key, value, now))
            raw_filters.append((key, value))
    sort, descending = _sort(rs, sort_raw)
    # A search ranked by relevance and one sorted by a column page on different keys (a
    # plain list's default sort is the same as asking for it).
    ranked = search is not None and sort_raw is None
    # A ranked page's key became tier * 2^40 + row (0013): the tier alone before. The label
    # makes a cursor issued before then a 400, not a page that repeats rows.
    rank_key = ranked and "tier, newest"
    fingerprint = repr((rs.kind, sorted(raw_filters), search, sort, descending, rank_key))
    return Plan(
        kind=rs.kind,
        filters=tuple(filters),
        search=search,
        sort=sort,
        descending=descending,
        limit=limit,
        cursor=cursor,
        explicit_sort=sort_raw is not None,
        fingerprint=fingerprint,
    )


def _search(value: str) -> str | None:
    if len(value) > MAX_SEARCH_LEN:
        raise _bad(
            f"search= is longer than {MAX_SEARCH_LEN} characters",
            "search for a name, email, domain or a few words",
        )
    value = " ".join(value.split())
    return value or None


def whole_number(name: str, value: str, low: int, high: int, hint: str) -> int:
    """A bounded count from a query string (limit=, days=), for every route that takes one.

    ASCII digits only: str.isdigit() also accepts "²", which int() then refuses."""
    if not (value.isascii() and value.isdigit()) or len(value) > 6 or not low <= int(value) <= high:
        raise _bad(f"{name} must be a whole number from {low} to {high}, got {value[:40]!r}", hint)
    return int(value)


def parse_limit(value: str | None, default: int = DEFAULT_LIMIT) -> int:
    if value is None:
        return default
    return whole_number(
        "limit",
        value,
        1,
        MAX_LIMIT,
        f"use limit=1..{MAX_LIMIT} and follow '# next:' cursors for more rows",
    )


def _limit(value: str) -> int:
    return parse_limit(value)


def _sort(rs: S.RecordSpec, raw: str | None) -> tuple[str, bool]:
    if raw is None:
        return S.DEFAULT_SORT, S.DEFAULT_DESCENDING
    descending = raw.startswith("-")
    name = raw[1:] if descending else raw
    found = rs.field(name) or next((f for f in rs.fields if f.out == name), None)
    allowed = [f.name for f in rs.sortable]
    if found is None or not found.sortable:
        raise _bad(
            f"cannot sort {rs.plural} by {raw[:60]!r}",
            "sort=<field> ascending or sort=-<field> descending, with one of the allowed fields",
            allowed,
        )
    return found.name, descending


def _filters(rs: S.RecordSpec, key: str, raw: str, now: int) -> list[Filter]:
    """One parameter's filters: `created_at=2026-11-24` (a date, equal) means that whole day,
    as a reader means it, so it becomes the day's range (midnight alone matches almost
    nothing); `ne:` a date is everything outside that day."""
    f = _filter(rs, key, raw, now)
    written = raw.partition(":")[2] if f.op in ("eq", "ne") and ":" in raw[:3] else raw
    if f.type == S.DATETIME and f.op in ("eq", "ne") and _is_date(written):
        assert isinstance(f.value, int)
        if f.op == "ne":  # every record eq leaves out: outside the day, or no time at all
            return [Filter(f.field, f.type, "ne", (f.value, f.value + 86_400))]
        next_day = Filter(f.field, f.type, "lt", f.value + 86_400)
        return [Filter(f.field, f.type, "gte", f.value), next_day]
    return [f]


def _filter(rs: S.RecordSpec, key: str, raw: str, now: int) -> Filter:
    if len(raw) > MAX_VALUE_LEN:
        raise _bad(
            f"the value of {key[:60]!r} is longer than {MAX_VALUE_LEN} characters",
            "filter on a shorter value, or use like: with part of it",
        )
    custom_key: str | None = None
    if key.startswith("custom."):
        custom_key = key[len("custom.") :]
        if not _CUSTOM_KEY.match(custom_key):
            raise _bad(
                f"bad custom field name {custom_key[:70]!r}",
                f"custom keys in filters are 1-{MAX_CUSTOM_KEY} letters, digits, _ or -",
            )
        field = S.Field("custom", S.JSON)
    else:
        found = _field_for(rs, key)
        if found is None:
            raise _bad(
                f"unknown filter {key[:60]!r} for {rs.plural}",
                "filter with field=[op:]value on one of the allowed names",
                allowed_params(rs),
                code="unknown_parameter",
            )
        field = found
    op, value = "eq", raw
    match = _OP.match(raw)
    if match and match.group(1).lower() not in S.ALL_OPS:
        if raw[match.end() :].startswith("//") or not match.group(1).islower():
            match = None  # a URL (https://...) or a capitalised word ("Re:") is a value
    if match:
        word = match.group(1).lower()  # LIKE: and In: are like: and in:
        if word not in S.ALL_OPS:
            raise _bad(
                f"unknown operator {match.group(1)!r} in {key[:60]}",
                f"write {key[:60]}=<op>:<value>; to match a value with a colon literally,"
                f" write {key[:60]}=eq:{raw[:40]}",
                S.ALL_OPS,
            )
        op, value = word, raw[match.end() :]
    ops = S.OPS_BY_TYPE[field.type]
    if op not in ops:
        raise _bad(
            f"operator {op!r} does not apply to {key[:60]!r} ({field.type})",
            f"use one of the allowed operators, e.g. {key[:60]}={ops[0]}:<value>",
            ops,
        )
    name = key if custom_key is not None else field.name
    return Filter(field.name, field.type, op, _value(field, name, op, value, now), custom_key)


def _value(field: S.Field, key: str, op: str, raw: str, now: int) -> Value:
    if raw == "" and op in ("eq", "ne") and field.type != S.JSON:
        # No field stores an empty string (bodies store null): `name=` would match nothing.
        raise _bad(
            f"{key}={'' if op == 'eq' else op + ':'} has no value",
            f"use {key}=is:null for records without one, {key}=not:null for those with one",
        )
    if op in ("is", "not"):
        if raw != "null":
            raise _bad(
                f"{key}={op}:{raw[:40]} is not understood",
                f"use {key}=is:null (empty) or {key}=not:null (set)",
                ("null",),
            )
        return None
    if op == "like":
        if not raw:
            raise _bad(f"{key}=like: needs some text", f"e.g. {key}=like:acme")
        return raw
    if field.type == S.TAGS:
        items = _items(key, raw)
        if any(len(i) > 64 for i in items):
            raise _bad(f"a tag in {key} is longer than 64 characters", "tags are short labels")
        return tuple(items)
    if field.type == S.JSON:
        if op == "in":
            return tuple(custom_value(item) for item in _items(key, raw))
        if op in ("eq", "ne"):
            return custom_value(raw)
        # A range compares numbers with numbers, and anything else as text with text.
        number = custom_number(raw)
        return raw if number is None else number
    if op == "in":
        return tuple(_one(field, key, item, now) for item in _items(key, raw))
    return _one(field, key, raw, now)


def custom_number(raw: str) -> int | float | None:
    """The number a custom value spells, if any: an int within SQLite's 64 bits, else a float
    (as SQLite reads a longer JSON integer); None for text, and for a number too large for a
    float, which no JSON value SQLite reads can equal."""
    if not _NUMBER.fullmatch(raw):
        return None
    if _INT.fullmatch(raw) and abs(int(raw)) <= INT64:
        return int(raw)
    number = float(raw)
    return number if math.isfinite(number) else None


def custom_value(raw: str) -> CustomValue:
    return CustomValue(raw, custom_number(raw), _BOOLEANS.get(raw))


def _items(key: str, raw: str) -> list[str]:
    items = [i for i in raw.split(",")]
    if len(items) > MAX_IN_ITEMS:
        raise _bad(
            f"{key} lists more than {MAX_IN_ITEMS} values",
            "split the query, or filter on another field",
        )
    if any(not i for i in items):
        raise _bad(f"{key} has an empty item in its list", "e.g. in:lead,qualified")
    return items


def _one(field: S.Field, key: str, raw: str, now: int) -> str | int | float:
    t = field.type
    if t in (S.INT, S.MONEY):
        if not _INT.match(raw) or abs(int(raw)) > INT64:
            raise _bad(f"{key} needs a whole number, got {raw[:40]!r}", f"e.g. {key}=gte:1000")
        return int(raw)
    if t == S.DATETIME:
        return parse_time(key, raw, now)
    if t == S.DATE:
        if not _is_date(raw):
            raise _bad(f"{key} needs a date YYYY-MM-DD, got {raw[:40]!r}", f"e.g. {key}=2026-06-30")
        return raw
    if t == S.ENUM:
        if raw not in field.choices:
            raise _bad(
                f"{key} cannot be {raw[:40]!r}",
                f"use one of: {', '.join(field.choices)}",
                field.choices,
            )
        return raw
    if t == S.CURRENCY:
        if not _CURRENCY.match(raw):
            raise _bad(f"{key} needs a 3-letter ISO 4217 code, got {raw[:40]!r}", "e.g. USD")
        return raw.upper()
    if t == S.REF:
        assert field.ref is not None
        prefix = {"company": "co", "contact": "c", "deal": "d"}[field.ref]
        found = bare_id(raw, field.ref, prefix)
        if found is None:
            raise _bad(
                f"{key} needs a {field.ref} id or handle, got {raw[:40]!r}",
                f"e.g. {key}={field.ref}/{prefix}_7k2m9q4x1z",
            )
        return found
    if t in (S.EMAIL, S.MEMBER):
        return raw.lower()
    if t == S.DOMAIN:
        return normalise_domain(raw)
    return raw


def _is_date(raw: str) -> bool:
    if not _DATE.match(raw):
        return False
    try:
        date.fromisoformat(raw)
    except ValueError:
        return False
    return True


def parse_time(key: str, raw: str, now: int) -> int:
    """RFC 3339, a date (midnight UTC), `now`, or `now-7d` / `now+2h` (units s m h d w)."""
    ts = time_or_none(raw, now)
    if ts is None:
        raise _bad(
            f"{key} needs a time, got {raw[:40]!r}",
            f"use RFC 3339 ({key}=gte:2026-01-31T09:00:00Z), a date (2026-01-31),"
            " now, now-7d or now+2h (units s m h d w)",
        )
    if not 0 <= ts <= MAX_EPOCH:
        raise _bad(f"{key} is out of range", "use a time between 1970 and 9999")
    return ts


def time_or_none(raw: str, now: int) -> int | None:
    """`parse_time`'s reading of `raw` (seconds, not yet checked against the range), or None
    when it is no time; bodies answer with errors of their own."""
    rel = _RELATIVE.match(raw)
    if rel:
        if rel.group(1) is None:
            return now
        delta = int(rel.group(2)) * _UNITS[rel.group(3)]
        return now - delta if rel.group(1) == "-" else now + delta
    if _is_date(raw):
        return int(datetime.fromisoformat(raw).replace(tzinfo=UTC).timestamp())
    raw = _SPACE_OFFSET.sub(r"+\1", raw)
    try:
        # RFC 3339's shape first: Python also reads 20261124, 2026-W48-2 and 2026-11-24T15,
        # which help does not offer (and 20261124 would mean midnight where a date means a day).
        if len(raw) > 40 or not _DATETIME.match(raw):
            raise ValueError(raw)
        parsed = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def normalise_domain(raw: str) -> str:
    """`https://www.Acme.com/about` -> `acme.com`: lower-case, no scheme, www., port or path."""
    value = raw.strip().lower()
    if "://" in value:
        value = value.split("://", 1)[1]
    for sep in ("/", "?", "#"):
        value = value.split(sep, 1)[0]
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    value = value.split(":", 1)[0].rstrip(".")
    if value.startswith("www."):
        value = value[4:]
    return value


def like_pattern(raw: str) -> str:
    """`like:` contains-match: `*` is the wildcard, `%` and `_` stay literal (escaped with \\)."""
    escaped = raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "%" + escaped.replace("*", "%") + "%"


def fixed_params(
    params: Iterable[tuple[str, str]], allowed: tuple[str, ...], route: str
) -> dict[str, str]:
    """The query of a route that takes a fixed few parameters (GET /audit, /activities,
    /reminders): each name at most once, `format` left to the renderer. An unknown name is a
    400 listing the allowed ones, as for record lists: a misspelt filter silently ignored
    would answer with rows it was meant to leave out."""
    found: dict[str, str] = {}
    for key, value in params:
        if "\x00" in key or "\x00" in value:
            raise _bad("the query contains a NUL byte", "remove the %00 from the URL")
        if key == "format":
            continue
        if key not in allowed:
            raise _bad(
                f"unknown parameter {key[:60]!r} for {route}",
                f"use only the allowed parameters, e.g. {route}?{allowed[0]}=...",
                (*allowed, "format"),
                code="unknown_parameter",
            )
        if key in found:
            raise _bad(f"{key} is given more than once", f"send {key}= once")
        found[key] = value
    return found
