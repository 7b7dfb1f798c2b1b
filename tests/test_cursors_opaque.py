"""Cursors are encrypted, not just signed: a search cursor carried the server's newest row
number and an audit cursor the log's global sequence, telling any user how busy the whole
server is. Now their content is unreadable, and still tamper-proof and bound to the query."""

from __future__ import annotations

import base64

import orjson
from records_util import create


def readable(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


async def test_cursors_reveal_nothing_of_the_server(api):
    mine = await api.sign_in("ann@acme.com")
    other = await api.sign_in("zed@elsewhere.com")
    for i in range(30):  # another tenant's rows push every global counter up
        await create(api, other, "contacts", {"name": f"Sam Other {i}"})
    for i in range(3):
        await create(api, mine, "contacts", {"name": f"Sam Mine {i}", "email": f"s{i}@a.co"})
    newest = (await api.rt.db.one("SELECT max(seq) FROM contacts"))[0]
    audit_seq = (await api.rt.db.one("SELECT max(seq) FROM audit"))[0]
    assert newest >= 33 and audit_seq >= 33
    cursors = []
    for path in ("/contacts?search=sam&limit=1", "/audit?limit=1", "/contacts?limit=1"):
        r = await api.json("GET", path, mine)
        assert r.status_code == 200, r.text
        cursors.append(r.json()["next_cursor"])
    for cursor in cursors:
        raw = readable(cursor)
        for number in (newest, audit_seq):
            assert str(number).encode() not in raw
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            raise AssertionError("a cursor decoded as JSON")
        assert b"." not in cursor.encode()  # not the signed base64(JSON).signature form
    # still tamper-proof: one changed character is refused
    cursor = cursors[0]
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    r = await api.json("GET", f"/contacts?search=sam&limit=1&cursor={flipped}", mine)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    r = await api.json("GET", f"/contacts?search=sam&limit=1&cursor={cursor}", mine)
    assert r.status_code == 200 and len(r.json()["data"]) == 1


def test_a_cursor_is_the_same_for_the_same_position() -> None:
    from crmkit.signing import Cipher

    a, b = Cipher("k" * 40, "salt"), Cipher("k" * 40, "other salt")
    assert a.dumps([1, "x"]) == a.dumps([1, "x"]) != a.dumps([2, "x"])
    assert a.loads(a.dumps([1, "x"])) == [1, "x"]
    try:
        b.loads(a.dumps([1, "x"]))
    except Exception as exc:  # another salt's cursor: refused
        assert type(exc).__name__ == "BadData"
    else:
        raise AssertionError("a payload sealed under another salt opened")
