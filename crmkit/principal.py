"""Who is calling: the authenticated token, its user and the one workspace it acts in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    token_id: str
    token_name: str
    workspace_id: str
    workspace_name: str
    role: str
    plan: str
    token_created_at: int
    token_last_used_at: int
    grant_id: str | None = None  # set when an OAuth connector holds the token
    scopes: frozenset[str] = frozenset(("read", "write", "admin"))
    token_expires_at: int | None = None  # a hard expiry set when it was minted

    @property
    def via_connector(self) -> bool:
        return self.grant_id is not None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
