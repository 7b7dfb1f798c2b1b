"""Two-step deletes: the first call hands out a confirm token, the repeat with it deletes.

The token is signed and bound to (workspace, record, user) and expires after 10 minutes by the
app's clock, so it cannot be replayed on another record, by another user, or later.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadData

from crmkit import spec as S
from crmkit.accounts import audit
from crmkit.errors import ConfirmationRequired, InvalidConfirmation
from crmkit.principal import Principal
from crmkit.records import service
from crmkit.records.service import not_found, record_id
from crmkit.runtime import Runtime
from crmkit.store import records as store
from crmkit.store import unit

CONFIRM_SALT = "crmkit.delete-confirm"
CONFIRM_TTL = 600
HEAVY_LINKS = 200


def _token(rt: Runtime, who: Principal, handle: str) -> str:
    expires = rt.clock.now() + CONFIRM_TTL
    return rt.signer(CONFIRM_SALT).dumps([who.workspace_id, handle, who.user_id, expires])


def _check(rt: Runtime, who: Principal, handle: str, token: str, retry: str) -> None:
    bad = InvalidConfirmation(
        f"the confirm token is not valid for deleting {handle}",
        f"tokens last 10 minutes and fit one record and one user: call {retry} without"
        " confirm= for a fresh one",
    )
    if len(token) > 1000:
        raise bad
    try:
        data = rt.signer(CONFIRM_SALT).loads(token)
    except BadData:
        raise bad from None
    if not (isinstance(data, list) and len(data) == 4 and isinstance(data[3], int)):
        raise bad
    if data[:3] != [who.workspace_id, handle, who.user_id] or data[3] < rt.clock.now():
        raise bad


@dataclass(frozen=True)
class Deleted:
    handle: str
    activities: int  # removed with it
    unlinked: str  # the records that lost their link to it, as "2 deals, 1 contact"

    @property
    def said(self) -> str:
        """What went, for the reply: "3 activities removed; 2 deals unlinked"."""
        parts = [_count(self.activities, "activity", "activities") + " removed"]
        if self.unlinked:
            parts.append(f"{self.unlinked} unlinked")
        return "; ".join(parts)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


async def delete(
    rt: Runtime, who: Principal, rs: S.RecordSpec, raw_id: str, confirm: str | None
) -> Deleted:
    """Deletes the record; raises 428 with a token on the first call, saying what goes."""
    id_ = record_id(rs, raw_id)
    if id_ is None or not await store.exists(rt.db, rs, who.workspace_id, id_):
        raise await service.missing(rt.db, who, rs, raw_id)
    handle = rs.handle(id_)
    path = f"/{rs.plural}/{id_}"
    if confirm is None and not unit.dry_run():  # a dry run needs no confirmation
        token = _token(rt, who, handle)
        counts = await service.count_links(rt.db, who, rs, id_)
        links = _links_text(counts)
        lose = "loses its" if sum(counts.values()) == 1 else "lose their"
        activities = await store.count_activities(rt.db, who.workspace_id, id_)
        raise ConfirmationRequired(
            f"deleting {handle} needs confirmation: it cannot be undone, and "
            + _count(activities, "activity goes", "activities go")
            + " with it"
            + (f"; {links} {lose} link to it" if links else ""),
            "show the user what goes, confirm with them, then repeat: DELETE"
            f" {path}?confirm={token} (valid 10 minutes)",
            extra={
                "confirm": token,
                "activities": str(activities),
                "unlinks": links or "nothing",
            },
        )
    if confirm is not None:
        _check(rt, who, handle, confirm, f"DELETE {path}")
    # Unlinking costs ~0.1 ms a record (its search text is rewritten): with many, the write
    # runs on the writer thread so that the loop keeps serving reads meanwhile.
    pointing = sum((await service.count_links(rt.db, who, rs, id_)).values())
    async with rt.db.write(heavy=pointing > HEAVY_LINKS) as tx:
        if not await store.exists(tx, rs, who.workspace_id, id_):
            raise not_found(rs, raw_id)
        unlinked = _links_text(await service.unlink(rt, tx, who, rs, id_))
        removed = await store.delete(tx, rs, who.workspace_id, id_)
        detail = [f"activities removed: {removed}"] if removed else []
        detail += [f"unlinked: {unlinked}"] if unlinked else []
        await audit.record(
            tx,
            workspace_id=who.workspace_id,
            at=rt.clock.now(),
            action=f"{rs.kind}.delete",
            target=handle,
            detail="; ".join(detail) or None,
            actor=who,
        )
    return Deleted(handle, removed, unlinked)


def _links_text(counts: dict[str, int]) -> str:
    """Plural -> count as "2 contacts, 1 deal"."""
    return ", ".join(
        "%d %s" % (n, plural if n != 1 else S.BY_PLURAL[plural].kind)
        for plural, n in sorted(counts.items())
    )
