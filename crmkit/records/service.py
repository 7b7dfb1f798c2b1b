"""The generic record service: create or upsert, get, partial update, with audit rows.

Type-specific rules are small hooks here (the upsert key, the contact's `company` name, the
owner being a member); everything else follows crmkit/spec.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmkit import spec as S
from crmkit.accounts import audit, plans
from crmkit.clock import iso_text
from crmkit.errors import Conflict, InvalidField, NotFound, VersionConflict
from crmkit.ids import bare_id, new_id
from crmkit.principal import Principal
from crmkit.query import normalise_domain
from crmkit.records.values import clean
from crmkit.records.views import shown, value_of, view
from crmkit.runtime import Runtime
from crmkit.store import audit as audit_store
from crmkit.store import records as store
from crmkit.store.base import Conn, Database, Row, Tx


@dataclass
class Saved:
    data: dict[str, Any]
    result: str  # created, updated or unchanged (an upsert or PATCH that changed no field)

    @property
    def created(self) -> bool:
        return self.result == "created"


def not_found(rs: S.RecordSpec, raw_id: str) -> NotFound:
    """The one 404 for a record: missing and another workspace's look exactly the same."""
    if not raw_id.strip("/"):  # e.g. GET /contacts/ (no slash redirects: see app.py)
        return NotFound(
            f"no {rs.kind} id in the path",
            f"list them with GET /{rs.plural}, or put a handle after the slash:"
            f" GET /{rs.plural}/<id>",
        )
    shown_id = raw_id if len(raw_id) <= 80 else raw_id[:80] + "..."
    return NotFound(
        f"no {rs.kind} {shown_id} in this workspace",
        f"find it with GET /{rs.plural}?search=<name{' or email' if rs.kind == 'contact' else ''}>",
    )


async def missing(conn: Conn, who: Principal, rs: S.RecordSpec, raw_id: str) -> NotFound:
    """The 404 for a record not found: `deleted` (when, by whom) if this workspace's audit saw
    it deleted, so an agent does not go looking for it; else not_found."""
    id_ = record_id(rs, raw_id)
    if id_ is None:
        return not_found(rs, raw_id)
    handle = rs.handle(id_)
    gone = await audit_store.deletion(conn, who.workspace_id, handle, f"{rs.kind}.delete")
    if gone is None:
        return not_found(rs, raw_id)
    return NotFound(
        f"{handle} was deleted at {iso_text(int(gone[0]))} by {gone[1] or 'crmkit'};"
        " deletes are permanent",
        f"it cannot be restored; if it is still needed, create it again with POST /{rs.plural}"
        f" (GET /audit?target={handle} shows its history)",
        code="deleted",
    )


def record_id(rs: S.RecordSpec, raw: str) -> str | None:
    return bare_id(raw, rs.kind, rs.prefix)


async def get(rt: Runtime, who: Principal, rs: S.RecordSpec, raw_id: str) -> dict[str, Any]:
    id_ = record_id(rs, raw_id)
    row = None if id_ is None else await store.get(rt.db, rs, who.workspace_id, id_)
    if row is None:
        raise await missing(rt.db, who, rs, raw_id)
    return view(rs, row)


async def _check_refs(tx: Tx, who: Principal, rs: S.RecordSpec, values: dict[str, Any]) -> None:
    for f in rs.fields:
        if f.name not in values or values[f.name] is None:
            continue
        if f.type == S.REF:
            assert f.ref is not None
            target = S.SPECS[f.ref]
            if not await store.exists(tx, target, who.workspace_id, values[f.name]):
                raise InvalidField(
                    f"{f.name}: no {f.ref} {values[f.name]} in this workspace",
                    f"use a {f.ref} of this workspace; find one with GET /{target.plural}?search=",
                )
        elif f.type == S.MEMBER:
            if not await store.is_member(tx, who.workspace_id, values[f.name]):
                raise InvalidField(
                    f"{f.name}: {values[f.name]} is not a member of this workspace",
                    f"use a member's email (GET /workspaces/{who.workspace_id}/members),"
                    " or invite them first",
                )


async def _company_from_name(rt: Runtime, tx: Tx, who: Principal, name: str) -> str:
    """`"company": "Acme"` (or "acme.com") on a contact: the matching company, else a new one.
    A company's handle or id (as replies show `company`) names that company: sent back after
    a GET, it must link, not create a company called "company/co_..." (`_check_refs` then
    answers 400 if it is not one of this workspace's)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidField("company must be a name of 1-200 characters", '"company":"Acme"')
    kind, slash, _ = name.partition("/")
    if slash and kind in S.SPECS and kind != "company":
        raise InvalidField(
            f"company cannot be {name[:60]!r}: that is a {kind}",
            '"company" takes a company\'s handle or id (company/co_...), or a name to find'
            " or create",
        )
    as_id = bare_id(name, "company", S.COMPANY.prefix)
    # A bare id has the 12 letters crmkit gives ids; "co_working" is a name.
    if as_id is not None and (slash or len(as_id) == len(S.COMPANY.prefix) + 13):
        return as_id
    companies = S.COMPANY
    looks_like_domain = "." in name and " " not in name
    if looks_like_domain:
        row = await store.by_upsert_key(tx, companies, who.workspace_id, normalise_domain(name))
        if row is not None:
            return str(row[0])
    found = await store.company_by_name(tx, who.workspace_id, name)
    if found is not None:
        return found
    values = {"name": name}
    if looks_like_domain:
        try:
            values["domain"] = clean(companies, companies.must("domain"), name, 0)
        except InvalidField:
            pass  # "J.Crew" is a name with a dot, not a domain
    row = await _insert(rt, tx, who, companies, values)
    return str(row[0])


def _clean_all(rt: Runtime, rs: S.RecordSpec, sent: dict[str, Any]) -> dict[str, Any]:
    now = rt.clock.now()
    out = {}
    for name, value in sent.items():
        f = rs.field(name)
        if f is None:  # only `company` on contacts gets here
            continue
        out[name] = clean(rs, f, value, now)
    return out


async def save(
    rt: Runtime, who: Principal, rs: S.RecordSpec, sent: dict[str, Any], version: int | None
) -> Saved:
    """POST: create, or merge into the record with the same upsert key (contacts by email,
    companies by domain)."""
    values = _clean_all(rt, rs, sent)
    company_name = sent.get("company")
    if company_name is not None and values.get("company_id") is not None:
        raise InvalidField(
            "send either company or company_id, not both",
            'company_id names an existing company; "company":"Acme" finds or creates one by name',
        )
    async with rt.db.write() as tx:
        if isinstance(company_name, str):
            values["company_id"] = await _company_from_name(rt, tx, who, company_name)
        await _check_refs(tx, who, rs, values)
        existing: Row | None = None
        key = rs.upsert_key
        if key is not None and values.get(key) is not None:
            existing = await store.by_upsert_key(tx, rs, who.workspace_id, values[key])
        if existing is not None and key is not None:
            values.pop(key, None)  # the match is the same key: keep the stored spelling
            row = await _update(rt, tx, who, rs, existing, values, version)
            return Saved(view(rs, row), "unchanged" if row is existing else "updated")
        if version is not None:
            raise InvalidField(
                "version applies only to an update",
                "leave version out when creating; use it with PATCH /%s/{id}" % rs.plural,
            )
        if not any(values.get(n) is not None for n in rs.required_any):
            need = " or ".join(rs.required_any)
            raise InvalidField(
                f"a new {rs.kind} needs {need}",
                f'e.g. POST /{rs.plural} {{"{rs.required_any[0]}":"..."}}',
                allowed=[f.name for f in rs.writable],
                code="missing_field",
            )
        row = await _insert(rt, tx, who, rs, values)
    return Saved(view(rs, row), "created")


async def _insert(
    rt: Runtime, tx: Tx, who: Principal, rs: S.RecordSpec, values: dict[str, Any]
) -> Row:
    await plans.check_cap(rt, tx, who.workspace_id, rs.plural)
    now = rt.clock.now()
    full: dict[str, Any] = {}
    for f in rs.fields:
        if f.name in values:
            full[f.name] = values[f.name]
        elif f.default is not None:
            full[f.name] = f.default
    full.update(created_at=now, updated_at=now, created_by=who.email, version=1)
    id_ = new_id(rs.prefix)
    seq, row = await store.insert(tx, rs, id_, who.workspace_id, full)
    await store.index(
        tx, rs, seq, who.workspace_id, await _search_parts(tx, rs, row, who.workspace_id), False
    )
    await audit.record(
        tx,
        workspace_id=who.workspace_id,
        at=now,
        action=f"{rs.kind}.create",
        target=rs.handle(id_),
        actor=who,
    )
    return row


async def _search_parts(tx: Tx, rs: S.RecordSpec, row: Row, workspace_id: str) -> list[Any]:
    """The searchable values of a record; a contact also answers to its company's name."""
    parts = [value_of(rs, row, f.name) for f in rs.searchable]
    if rs.kind == "contact":
        company = value_of(rs, row, "company_id")
        parts.append(await store.company_name(tx, workspace_id, company))
    return parts


async def patch(
    rt: Runtime,
    who: Principal,
    rs: S.RecordSpec,
    raw_id: str,
    sent: dict[str, Any],
    version: int | None,
) -> Saved:
    id_ = record_id(rs, raw_id)
    values = _clean_all(rt, rs, sent)
    if rs.kind == "contact" and "company" in sent:
        if "company_id" in sent:
            raise InvalidField("send either company or company_id, not both", "pick one")
    async with rt.db.write() as tx:
        row = None if id_ is None else await store.get(tx, rs, who.workspace_id, id_)
        if row is None:
            raise await missing(tx, who, rs, raw_id)
        if rs.kind == "contact" and "company" in sent:
            name = sent["company"]
            values["company_id"] = (
                None if name is None else await _company_from_name(rt, tx, who, name)
            )
        await _check_refs(tx, who, rs, values)
        if rs.upsert_key and values.get(rs.upsert_key) is not None:
            other = await store.by_upsert_key(tx, rs, who.workspace_id, values[rs.upsert_key])
            if other is not None and other[0] != row[0]:
                raise Conflict(
                    f"another {rs.kind} already has {rs.upsert_key} {values[rs.upsert_key]}",
                    f"PATCH {rs.kind}/{other[0]} instead, or delete one of them",
                    code="duplicate",
                )
        updated = await _update(rt, tx, who, rs, row, values, version)
    return Saved(view(rs, updated), "unchanged" if updated is row else "updated")


async def _update(
    rt: Runtime,
    tx: Tx,
    who: Principal,
    rs: S.RecordSpec,
    row: Row,
    values: dict[str, Any],
    version: int | None,
) -> Row:
    current_version = value_of(rs, row, "version")
    if version is not None and version != current_version:
        raise VersionConflict(
            f"{rs.kind}/{row[0]} is at version {current_version}, not {version}",
            f"GET /{rs.plural}/{row[0]} for the latest fields and version, reapply your change,"
            " and send it again",
            extra={"current_version": str(current_version)},
        )
    # in spec order, so the audit diff reads the same way every time
    changes = {
        f.name: values[f.name]
        for f in rs.fields
        if f.name in values and value_of(rs, row, f.name) != values[f.name]
    }
    if not changes:
        return row
    now = rt.clock.now()
    seq, new_row = await store.update(tx, rs, who.workspace_id, row[0], changes, now)
    if any(n in changes for n in _indexed(rs)):
        parts = await _search_parts(tx, rs, new_row, who.workspace_id)
        await store.index(tx, rs, seq, who.workspace_id, parts, True)
    if rs.kind == "company" and "name" in changes:
        await _reindex_contacts(tx, who.workspace_id, row[0], changes["name"])
    diff = "; ".join(
        "%s: %s -> %s" % (n, shown(rs.must(n), value_of(rs, row, n)), shown(rs.must(n), v))
        for n, v in changes.items()
    )
    await audit.record(
        tx,
        workspace_id=who.workspace_id,
        at=now,
        action=f"{rs.kind}.update",
        target=rs.handle(row[0]),
        detail=diff,
        actor=who,
    )
    return new_row


async def _reindex_contacts(tx: Tx, workspace_id: str, company_id: str, name: str | None) -> None:
    """A renamed company: its contacts are found by the new name, no longer by the old."""
    for seq, *fields in await store.contacts_of_company(tx, workspace_id, company_id):
        await store.index(tx, S.CONTACT, int(seq), workspace_id, [*fields, name], True)


def _indexed(rs: S.RecordSpec) -> set[str]:
    names = {f.name for f in rs.searchable}
    if rs.kind == "contact":
        names.add("company_id")
    return names


def _references(rs: S.RecordSpec) -> list[tuple[S.RecordSpec, str]]:
    """(record type, field) of every reference to a record of `rs`."""
    return [
        (other, f.name)
        for other in S.SPECS.values()
        for f in other.fields
        if f.type == S.REF and f.ref == rs.kind
    ]


async def count_links(db: Database, who: Principal, rs: S.RecordSpec, id_: str) -> dict[str, int]:
    """How many records of each type point at this one (plural -> count, non-zero only)."""
    counts: dict[str, int] = {}
    for other, name in _references(rs):
        n = await store.count_pointing_at(db, other, name, who.workspace_id, id_)
        if n:
            counts[other.plural] = counts.get(other.plural, 0) + n
    return counts


async def unlink(rt: Runtime, tx: Tx, who: Principal, rs: S.RecordSpec, id_: str) -> dict[str, int]:
    """Before a delete: every record that points at this one drops the link as a PATCH to
    null would (a new version, updated_at, an audit diff, its search text), not silently
    through the foreign key's SET NULL, which left an If-Match on the old version valid.
    Set-based (one UPDATE per reference, the search rows and audit rows in bulk): this runs
    under the one write lock, and a company may have thousands of contacts.
    Returns how many of each type (plural -> count)."""
    now = rt.clock.now()
    counts: dict[str, int] = {}
    for other, name in _references(rs):
        # A contact's search text holds its company's name: without it from now on.
        docs = (
            [
                (int(seq), list(fields))
                for seq, *fields in await store.contacts_of_company(tx, who.workspace_id, id_)
            ]
            if other.kind == "contact" and name == "company_id"
            else []
        )
        unlinked = await store.clear_reference(tx, other, name, who.workspace_id, id_, now)
        if not unlinked:
            continue
        await store.reindex_many(tx, other, who.workspace_id, docs)
        detail = "%s: %s -> null" % (name, shown(other.must(name), id_))
        await audit.record_many(
            tx,
            workspace_id=who.workspace_id,
            at=now,
            action=f"{other.kind}.update",
            targets=[other.handle(i) for i in unlinked],
            detail=detail,
            actor=who,
        )
        counts[other.plural] = counts.get(other.plural, 0) + len(unlinked)
    return counts
