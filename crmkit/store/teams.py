"""SQL for workspaces, memberships, invites, plan usage counts and workspace deletion."""

from __future__ import annotations

from crmkit.store.base import Conn, Row, Tx

# Record tables the plan caps count. They arrive with the records migration; `usage_counts`
# tolerates their absence so whoami works on a database without them.
RECORD_TABLES = ("contacts", "companies", "deals")

# --- workspaces -------------------------------------------------------------------------------


async def workspaces_of(conn: Conn, user_id: str) -> list[Row]:
    """(id, name, plan, role, joined_at, created_at, member count) for each of the user's."""
    return await conn.all(
        "SELECT w.id, w.name, w.plan, m.role, m.joined_at, w.created_at,"
        " (SELECT COUNT(*) FROM memberships x WHERE x.workspace_id = w.id)"
        " FROM memberships m JOIN workspaces w ON w.id = m.workspace_id"
        " WHERE m.user_id = ? ORDER BY m.joined_at, w.id",
        (user_id,),
    )


async def workspace(conn: Conn, workspace_id: str) -> Row | None:
    """(id, name, plan, created_by, created_at) or None."""
    return await conn.one(
        "SELECT id, name, plan, created_by, created_at FROM workspaces WHERE id = ?",
        (workspace_id,),
    )


async def rename_workspace(tx: Tx, workspace_id: str, name: str) -> None:
    await tx.execute("UPDATE workspaces SET name = ? WHERE id = ?", (name, workspace_id))


async def set_plan(tx: Tx, workspace_id: str, plan: str) -> None:
    await tx.execute("UPDATE workspaces SET plan = ? WHERE id = ?", (plan, workspace_id))


async def owned_plans(conn: Conn, user_id: str) -> list[str]:
    """Plans of the workspaces the user created and still belongs to (one per workspace)."""
    rows = await conn.all(
        "SELECT w.plan FROM workspaces w JOIN memberships m"
        " ON m.workspace_id = w.id AND m.user_id = w.created_by WHERE w.created_by = ?",
        (user_id,),
    )
    return [str(r[0]) for r in rows]


async def delete_workspace(tx: Tx, workspace_id: str) -> int:
    """Delete the workspace and every row that belongs to it (every table with a
    workspace_id column, including tables later migrations add). Returns rows deleted."""
    return await tx.dialect.delete_workspace(tx, workspace_id)


# --- memberships ------------------------------------------------------------------------------


async def members(conn: Conn, workspace_id: str) -> list[Row]:
    """(user id, email, role, joined_at), oldest member first."""
    return await conn.all(
        "SELECT u.id, u.email, m.role, m.joined_at FROM memberships m"
        " JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ?"
        " ORDER BY m.joined_at, u.id",
        (workspace_id,),
    )


async def member(conn: Conn, workspace_id: str, user_id: str) -> Row | None:
    """(user id, email, role, joined_at) or None."""
    return await conn.one(
        "SELECT u.id, u.email, m.role, m.joined_at FROM memberships m"
        " JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ? AND m.user_id = ?",
        (workspace_id, user_id),
    )


async def member_by_email(conn: Conn, workspace_id: str, email: str) -> Row | None:
    return await conn.one(
        "SELECT u.id FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.workspace_id = ? AND u.email = ?",
        (workspace_id, email),
    )


async def count_admins(conn: Conn, workspace_id: str) -> int:
    row = await conn.one(
        "SELECT COUNT(*) FROM memberships WHERE workspace_id = ? AND role = 'admin'",
        (workspace_id,),
    )
    assert row is not None
    return int(row[0])


async def set_role(tx: Tx, workspace_id: str, user_id: str, role: str) -> None:
    await tx.execute(
        "UPDATE memberships SET role = ? WHERE workspace_id = ? AND user_id = ?",
        (role, workspace_id, user_id),
    )


async def join(tx: Tx, workspace_id: str, user_id: str, role: str, now: int) -> bool:
    """Add a membership unless there is one; True when added."""
    changed = await tx.execute(
        "INSERT INTO memberships (workspace_id, user_id, role, joined_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (workspace_id, user_id, role, now),
    )
    return changed == 1


async def remove_member(tx: Tx, workspace_id: str, user_id: str, now: int) -> int:
    """Drop the membership and revoke the user's tokens for that workspace.

    Auth already refuses a token whose user is no longer a member; revoking as well keeps old
    tokens dead if the person is invited back later. Returns the number of tokens revoked.
    """
    await tx.execute(
        "DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?", (workspace_id, user_id)
    )
    return await tx.execute(
        "UPDATE tokens SET revoked_at = ? WHERE workspace_id = ? AND user_id = ?"
        " AND revoked_at IS NULL",
        (now, workspace_id, user_id),
    )


# --- invites ----------------------------------------------------------------------------------

_INVITE_COLUMNS = (
    "i.id, i.workspace_id, i.email, i.role, u.email, i.created_at, i.updated_at"
    " FROM invites i LEFT JOIN users u ON u.id = i.invited_by"
)


async def invites(conn: Conn, workspace_id: str) -> list[Row]:
    """(id, workspace id, email, role, inviter email, created_at, updated_at), oldest first."""
    return await conn.all(
        f"SELECT {_INVITE_COLUMNS} WHERE i.workspace_id = ? ORDER BY i.created_at, i.id",
        (workspace_id,),
    )


async def invite(conn: Conn, workspace_id: str, invite_id: str) -> Row | None:
    return await conn.one(
        f"SELECT {_INVITE_COLUMNS} WHERE i.workspace_id = ? AND i.id = ?",
        (workspace_id, invite_id),
    )


async def invite_by_email(conn: Conn, workspace_id: str, email: str) -> Row | None:
    return await conn.one(
        f"SELECT {_INVITE_COLUMNS} WHERE i.workspace_id = ? AND i.email = ?",
        (workspace_id, email),
    )


async def insert_invite(
    tx: Tx, invite_id: str, workspace_id: str, email: str, role: str, by: str, now: int
) -> None:
    await tx.execute(
        "INSERT INTO invites (id, workspace_id, email, role, invited_by, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (invite_id, workspace_id, email, role, by, now, now),
    )


async def update_invite(tx: Tx, invite_id: str, role: str, by: str, now: int) -> None:
    await tx.execute(
        "UPDATE invites SET role = ?, invited_by = ?, updated_at = ? WHERE id = ?",
        (role, by, now, invite_id),
    )


async def delete_invite(tx: Tx, invite_id: str) -> None:
    await tx.execute("DELETE FROM invites WHERE id = ?", (invite_id,))


async def pending_for_email(tx: Tx, email: str) -> list[Row]:
    """(invite id, workspace id, workspace name, role), oldest first."""
    return await tx.all(
        "SELECT i.id, i.workspace_id, w.name, i.role FROM invites i"
        " JOIN workspaces w ON w.id = i.workspace_id WHERE i.email = ?"
        " ORDER BY i.created_at, i.id",
        (email,),
    )


# --- plan usage -------------------------------------------------------------------------------


async def count_records(tx: Tx, table: str, workspace_id: str, up_to: int) -> int:
    """Rows of `table` in the workspace, from the count its triggers keep (migration 0009); a
    count of `up_to` or more is checked against the rows themselves, counted no further than
    `up_to` (only a refusal pays for it), so a count that drifted up (a record replaced by
    other means counts twice) never refuses a create that fits; a recount below `up_to` is
    exact and replaces the kept count. `tx`: the write that may add the record."""
    if table not in RECORD_TABLES:
        raise ValueError(f"not a record table: {table}")
    row = await tx.one(
        "SELECT n FROM record_counts WHERE workspace_id = ? AND kind = ?", (workspace_id, table)
    )
    kept = int(row[0]) if row else 0
    if kept < up_to:
        return kept
    row = await tx.one(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE workspace_id = ? LIMIT ?) AS capped",
        (workspace_id, up_to),
    )
    assert row is not None
    counted = int(row[0])
    if counted < up_to:  # below the bound, the count is exact: the kept one drifted
        await tx.execute(
            "INSERT INTO record_counts (workspace_id, kind, n) VALUES (?, ?, ?)"
            " ON CONFLICT (workspace_id, kind) DO UPDATE SET n = excluded.n",
            (workspace_id, table, counted),
        )
    return counted


async def count_seats(conn: Conn, workspace_id: str) -> tuple[int, int]:
    """(members, pending invites)."""
    row = await conn.one(
        "SELECT (SELECT COUNT(*) FROM memberships WHERE workspace_id = ?),"
        " (SELECT COUNT(*) FROM invites WHERE workspace_id = ?)",
        (workspace_id, workspace_id),
    )
    assert row is not None
    return int(row[0]), int(row[1])


async def usage_counts(conn: Conn, workspace_id: str) -> dict[str, int]:
    """Each record table's rows in the workspace, as its triggers count them (migration 0009)."""
    rows = await conn.all(
        "SELECT kind, n FROM record_counts WHERE workspace_id = ?", (workspace_id,)
    )
    counts = dict.fromkeys(RECORD_TABLES, 0)
    counts.update((str(kind), int(n)) for kind, n in rows if kind in counts)
    return counts
