"""Helpers for the foundation tests: parsing our text format, counting rows, subprocesses.

Kept out of conftest.py so other areas can branch without merge conflicts there.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from crmkit.app import App
from crmkit.store.base import Database

JSON = {"Accept": "application/json"}

# One `key=value` pair of a record line: bare, or double-quoted with backslash escapes.
_PAIR = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')


def unquote(value: str) -> str:
    if not value.startswith('"'):
        return value
    body = value[1:-1]
    out, i = [], 0
    escapes = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(escapes[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_line(line: str) -> dict[str, str]:
    """A record line -> {"handle": ..., key: value}; asserts nothing is left unparsed."""
    handle, _, rest = line.partition(" ")
    pairs = {"handle": handle}
    pos = 0
    for match in _PAIR.finditer(rest):
        assert rest[pos : match.start()].strip() == "", f"junk in {line!r}"
        pairs[match.group(1)] = unquote(match.group(2))
        pos = match.end()
    assert rest[pos:].strip() == "", f"junk at the end of {line!r}"
    return pairs


def records(text: str) -> list[dict[str, str]]:
    """Every non-meta line of a successful text reply, parsed."""
    lines = [ln for ln in text.splitlines() if ln]
    return [parse_line(ln) for ln in lines if not ln.startswith("# ")]


def as_text(value: Any) -> str:
    """How the text form prints one JSON scalar."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def assert_same_record(text_rec: dict[str, str], json_rec: dict[str, Any]) -> None:
    expected = {k: as_text(v) for k, v in json_rec.items() if v is not None}
    assert text_rec == expected


def parse_error_text(text: str) -> dict[str, str]:
    """`error: <code>: <message>` / `hint: <hint>` / further `key: value` lines."""
    lines = text.splitlines()
    assert len(lines) >= 2, text
    first = re.fullmatch(r"error: ([a-z][a-z0-9_]*): (.+)", lines[0])
    assert first, f"bad first error line: {lines[0]!r}"
    hint = re.fullmatch(r"hint: (.+)", lines[1])
    assert hint, f"bad hint line: {lines[1]!r}"
    out = {"code": first.group(1), "message": first.group(2), "hint": hint.group(1)}
    for line in lines[2:]:
        key, sep, value = line.partition(": ")
        assert sep and re.fullmatch(r"[a-z_]+", key), f"bad detail line: {line!r}"
        out[key] = value
    return out


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, str]:
    """The reply is our error format with this status and code (text or JSON); returns it."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("x-request-id"), "every response has X-Request-Id"
    if r.headers["content-type"].startswith("application/json"):
        err = r.json()["error"]
        assert set(err) >= {"code", "message", "hint"}
        assert all(isinstance(err[k], str) and err[k] for k in ("code", "message", "hint"))
        parsed = {k: str(v) for k, v in err.items()}
    else:
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        parsed = parse_error_text(r.text)
    assert parsed["code"] == code, parsed
    return parsed


async def count(db: Database, table: str, where: str = "TRUE", params: tuple[Any, ...] = ()) -> int:
    row = await db.one(f"SELECT COUNT(*) FROM {table} WHERE {where}", params)
    assert row is not None
    return int(row[0])


async def counts(app: App) -> dict[str, int]:
    """Rows per table: unhappy paths compare this before and after."""
    tables = ["users", "workspaces", "memberships", "tokens", "codes", "audit"]
    return {t: await count(app.runtime.db, t) for t in tables}


def crmkit_command() -> list[str]:
    """The installed `crmkit` console script next to this interpreter, else `python -m crmkit`."""
    script = Path(sys.executable).with_name("crmkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "crmkit"]


def clean_env(*args: str, **extra: str) -> dict[str, str]:
    """The current environment without any CRMKIT_* variable, plus `extra`. A command on a
    PostgreSQL database (a URL in `args` or CRMKIT_DATABASE) also gets the tests' secret key,
    as the tests' apps have it."""
    from conftest import TEST_SECRET

    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMKIT_")}
    # Rate limits out of the way of load in tests (as tests/conftest.py's settings), unless
    # a test sets its own.
    env["CRMKIT_ANON_REQUESTS_PER_MINUTE"] = "10000000"
    env["CRMKIT_PLANS"] = json.dumps(
        {p: {"requests_per_minute": 10_000_000} for p in ("free", "team", "unlimited")}
    )
    env.update(extra)
    if any(a.startswith("postgres") for a in [*args, env.get("CRMKIT_DATABASE", "")]):
        env.setdefault("CRMKIT_SECRET_KEY", TEST_SECRET)
    return env


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`crmkit <args>` to completion with a clean environment plus `env`, output captured."""
    return subprocess.run(
        [*crmkit_command(), *args],
        env=clean_env(*args, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


class Process:
    """A child process whose stderr lines are collected by a thread, so we can wait for one."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: str) -> None:
        self.proc = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        self._taken = 0  # lines taken off the queue so far
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            self._new.put(line)
        self._new.put(None)

    def wait_for(self, pattern: str, timeout: float = 30, count: int = 1) -> re.Match[str]:
        """Block until `count` stderr lines match (bounded by `timeout` per line); fail if the
        process ends first. Returns the last match."""
        regex = re.compile(pattern)
        seen = 0
        scanned = list(self.lines)
        for old in scanned:
            found = regex.search(old)
            if found:
                seen += 1
                if seen == count:
                    return found
        # Lines are appended before they are queued: the queue's next items, up to the ones
        # scanned above, were counted already.
        skip = len(scanned) - self._taken
        while True:
            try:
                line = self._new.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}: {self.output()}") from None
            if line is None:
                self._new.put(None)  # the end stays visible to the next wait
                raise AssertionError(f"process ended before {pattern!r}: {self.output()}")
            self._taken += 1
            if skip > 0:
                skip -= 1
                continue
            found = regex.search(line)
            if found:
                seen += 1
                if seen == count:
                    return found

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=15)
        self._thread.join(timeout=15)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code
