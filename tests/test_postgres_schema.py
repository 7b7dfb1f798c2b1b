"""PostgreSQL's schema is ready for tenant sharding (docs/SCALING.md): every tenant table keeps
workspace_id in its primary key and in every unique key, and references between tenant tables
carry it, so a tenant-sharded PostgreSQL (Citus, distribution column workspace_id) could
distribute them without schema changes. The other tables are named here, each with why it
stays on the coordinator."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest
from conftest import PostgresServer

pytestmark = pytest.mark.postgresql_only

# Tables with a workspace_id column that are not distributed by it, and why.
NOT_TENANT = {
    "tokens": "found by the hash a bearer presents, before any workspace is known",
    "audit": "rows of sign-ins and operators' commands belong to no workspace",
    "oauth_grants": "found by id and by the access token they issued",
    "oauth_codes": "found by the hash of the code a client redeems",
}
# The workspaces table is distributed by its own id (the same value).
DISTRIBUTED_BY_ID = {"workspaces"}


@pytest.fixture
def url(postgres: PostgresServer) -> Iterator[str]:
    made = postgres.create()
    try:
        yield made
    finally:
        postgres.drop(made)


async def test_tenant_keys_lead_with_the_workspace(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        tenant = {
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.columns WHERE table_schema ="
                " 'public' AND column_name = 'workspace_id'"
            )
        } - set(NOT_TENANT)
        assert {"contacts", "companies", "deals", "activities", "memberships"} <= tenant
        # every unique index (primary keys included) of a tenant table names workspace_id
        rows = await conn.fetch(
            "SELECT t.relname AS table_name, i.relname AS index_name,"
            " pg_get_indexdef(i.oid) AS definition FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace"
            " WHERE n.nspname = 'public' AND x.indisunique"
        )
        unique = [r for r in rows if r["table_name"] in tenant]
        assert len(unique) >= 2 * 5  # a primary key and a unique id, at least, on each
        for r in unique:
            assert "(workspace_id" in r["definition"], r["definition"]
        # references from a tenant table to another carry the workspace
        refs = await conn.fetch(
            "SELECT conrelid::regclass::text AS source, confrelid::regclass::text AS target,"
            " pg_get_constraintdef(oid) AS definition FROM pg_constraint"
            " WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
        )
        between = [r for r in refs if r["source"] in tenant and r["target"] in tenant]
        assert len(between) >= 3  # contacts -> companies, deals -> contacts and companies
        for r in between:
            assert r["definition"].startswith("FOREIGN KEY (workspace_id, "), r["definition"]
        # what refers to workspaces from a tenant table refers to its id (the same value)
        for r in refs:
            if r["source"] in tenant and r["target"] in DISTRIBUTED_BY_ID:
                assert r["definition"].startswith("FOREIGN KEY (workspace_id)"), r["definition"]
    finally:
        await conn.close()
