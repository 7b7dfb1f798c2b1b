"""Safe retries and dry runs for the authenticated writes: `Idempotency-Key` and `?dry_run=true`.

Both run the handler inside one unit (store/unit.py): all its writes are one transaction.

- With a key, the unit's transaction first claims the key (a row in `idempotency`), and the
  reply is written into that row just before the commit, so a crash between the commit and
  the reply still leaves the retry the original answer. A repeat of a finished request gets
  that reply again, byte for byte, with `Idempotent-Replayed: true`; the same key with
  another request is 422; a repeat while the first runs in this process is 409 with
  Retry-After: 1 (one in another process waits for the first to commit, then replays it).
  4xx replies are kept (retrying them changes nothing); 5xx are not (the write rolled back).
- A dry run rolls the unit back whatever happened, mails nothing (crmkit/mail.py), and says
  what would have happened from the audit rows the write produced (the unit keeps a copy of
  each), as `# dry run: would <verb>` and `# change:` lines.

What a request is, for a key: its method, path, query and body, and its If-Match and
X-Escalation-Code headers (a different version or step-up code is a different request).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import orjson
from starlette.responses import Response

from crmkit.errors import Conflict, CrmError, InvalidField, Unprocessable
from crmkit.principal import Principal
from crmkit.render import Message, Record, Result, error_response, respond, wants_json_lenient
from crmkit.runtime import Runtime
from crmkit.store import idempotency as store
from crmkit.store import unit
from crmkit.store.base import Tx

HEADER = "idempotency-key"
KEPT_SECONDS = 24 * 3600
MAX_KEY = 255
# The reply headers a replay repeats (the rest are per request: id, rate limits, length).
KEPT_HEADERS = frozenset(
    {"content-type", "etag", "location", "retry-after", "www-authenticate", "allow"}
)
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")

# Requests with a key running in this process: (workspace, user, key).
_running: set[tuple[str, str, str]] = set()


class _Claimed(unit.Rollback):
    """The key was claimed by a request that committed first: replay its reply instead."""


def dry_run_asked(value: str | None) -> bool:
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidField(
        f"dry_run must be true or false, not {value[:40]!r}",
        "send ?dry_run=true to see what a write would do without doing it",
        code="invalid_query",
    )


def key_of(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not 1 <= len(raw) <= MAX_KEY or not all(" " <= ch <= "~" for ch in raw):
        raise InvalidField(
            f"the Idempotency-Key header must be 1-{MAX_KEY} printable ASCII characters",
            "send a fresh random value per logical request, e.g. a UUID, and the same value"
            " when you retry that request",
            code="invalid_idempotency_key",
        )
    return raw


def fingerprint(method: str, path: str, query: str, body: bytes, headers: Any) -> bytes:
    digest = hashlib.sha256()
    for part in (
        method.encode(),
        path.encode(),
        query.encode("latin-1"),
        headers.get("if-match", "").encode("latin-1"),
        headers.get("x-escalation-code", "").encode("latin-1"),
    ):
        digest.update(b"%d:" % len(part) + part)
    digest.update(body)
    return digest.digest()


def replay(row: Any, fp: bytes, key: str) -> Response:
    stored_fp, status, headers, body = row
    if bytes(stored_fp) != fp:
        raise Unprocessable(
            f"the Idempotency-Key {key[:60]!r} was already used for a different request",
            "a key names one request (method, path, query, body): use a new key for a new"
            " request, and the same key only to retry the same one",
            code="idempotency_key_reused",
        )
    kept = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in orjson.loads(headers)]
    response = Response(bytes(body), status_code=int(status))
    response.raw_headers = [
        *(h for h in response.raw_headers if h[0] != b"content-type"),
        *kept,
        (b"idempotent-replayed", b"true"),
    ]
    return response


def in_progress(key: str) -> CrmError:
    return Conflict(
        f"a request with the Idempotency-Key {key[:60]!r} is still running",
        "wait for Retry-After and send it again: you will get its reply",
        code="idempotency_in_progress",
        headers={"Retry-After": "1"},
    )


async def run(
    rt: Runtime,
    who: Principal,
    request: Any,
    run_handler: Callable[[], Awaitable[Result | Response]],
    *,
    key: str | None,
    dry: bool,
) -> Response:
    """Run a write under a key, as a dry run, or both (a dry run looks up and keeps nothing)."""
    as_json = wants_json_lenient(
        request.scope["query_string"].decode("latin-1"), request.headers.get("accept", "")
    )
    if dry or key is None:
        return await _dry(rt, who, run_handler, as_json)
    body = await request.body()
    fp = fingerprint(
        request.method,
        request.scope["path"],
        request.scope["query_string"].decode("latin-1"),
        body,
        request.headers,
    )
    ident = (who.workspace_id, who.user_id, key)
    if ident in _running:
        raise in_progress(key)
    since = rt.clock.now() - KEPT_SECONDS
    _running.add(ident)
    try:
        found = await store.find(rt.db, *ident, since)
        if found is not None and found[1] is not None:
            return replay(found, fp, key)

        async def claim(tx: Tx) -> None:
            if not await store.reserve(tx, *ident, fp, rt.clock.now(), since):
                raise _Claimed()

        try:
            async with unit.begin(rt.db, on_open=claim) as work:
                response = await _respond(run_handler, as_json)
                if response.status_code >= 500:
                    return response  # rolled back, nothing kept: a retry runs it again
                if work.tx is None:  # it wrote nothing (refused early): keep the reply alone
                    async with rt.db.transaction(key=who.workspace_id) as tx:
                        if await store.reserve(tx, *ident, fp, rt.clock.now(), since):
                            await _keep(tx, ident, response)
                    return response
                await _keep(work.tx, ident, response)
                await work.commit()
                return response
        except _Claimed:
            found = await store.find(rt.db, *ident, since)
            if found is None or found[1] is None:
                raise in_progress(key) from None
            return replay(found, fp, key)
    finally:
        _running.discard(ident)


async def _respond(
    run_handler: Callable[[], Awaitable[Result | Response]], as_json: bool
) -> Response:
    """The handler's reply, a refusal (CrmError) rendered here rather than by the exception
    handlers, so that it can be kept."""
    try:
        result = await run_handler()
    except CrmError as exc:
        return error_response(exc, as_json=as_json)
    if isinstance(result, Response):
        return result
    return respond(result, as_json=as_json)


async def _keep(tx: Tx, ident: tuple[str, str, str], response: Response) -> None:
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in response.raw_headers
        if k.decode("latin-1").lower() in KEPT_HEADERS
    ]
    await store.complete(
        tx, *ident, response.status_code, orjson.dumps(headers).decode(), bytes(response.body)
    )


async def _dry(
    rt: Runtime,
    who: Principal,
    run_handler: Callable[[], Awaitable[Result | Response]],
    as_json: bool,
) -> Response:
    async with unit.begin(rt.db, dry_run=True) as work:
        result = await run_handler()  # a refusal propagates: the exception handlers answer
        rows = list(work.audit)
        notes = list(work.notes)
    # rolled back by now
    if isinstance(result, Response):
        return result
    response = respond(as_dry_run(result, rows, notes), as_json=as_json, status=200)
    # no entity tag: the version it shows was never written, and If-Match must not take it
    if "etag" in response.headers:
        del response.headers["etag"]
    return response


# What an audit action's last word says as a verb ("would revoke token/t_..."); others are
# named whole ("would member.role").
VERBS = ("create", "update", "delete", "revoke", "withdraw", "leave", "remove", "rename")


def as_dry_run(result: Result, rows: list[Any], notes: list[str]) -> Result:
    """The reply of a write that was rolled back: what it would have done, from the audit
    rows it wrote; the row about the reply's own record (or the record a message names)
    leads, the others follow as `# also:`."""
    data = result.data if isinstance(result, Record | Message) else {}
    named = {v for v in data.values() if isinstance(v, str)}
    main = next((r for r in rows if r[1] in named), rows[0] if rows else None)
    changes: list[str] = []
    if main is None:
        head = ["dry run: would change nothing"]
    else:
        action, target, detail = str(main[0]), main[1], main[2]
        verb = action.rsplit(".", 1)[-1]
        changes = str(detail).split("; ") if detail else []
        what = verb if verb in VERBS else action
        shown = "" if isinstance(result, Record) or not target else f" {target}"
        head = [f"dry run: would {what}{shown}"]
        if verb == "delete":
            head += [f"would go with it: {c}" for c in changes] or [
                "would go with it: nothing else (no activities, no links)"
            ]
        else:
            head += [f"change: {c}" if " -> " in c else f"detail: {c}" for c in changes]
    also = [f"also: {r[0]} {r[1] or ''}".rstrip() for r in rows if r is not main]
    head += [*also, *notes, "nothing was written"]
    extra = {"dry_run": True, "changes": changes}
    if "token" in data:  # a token minted in a dry run never existed
        data = {**data, "token": None}
    if isinstance(result, Record):
        return replace(
            result,
            data=data,
            meta=[*head, *result.meta[1:]],
            json_extra={**result.json_extra, **extra},
            status=200,
        )
    if isinstance(result, Message):
        # its lines tell what was done (and what follows from it): none of it was
        return replace(result, lines=head, data={**data, **extra})
    return result
