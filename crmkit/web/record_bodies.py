"""Request bodies for records, built once per type from crmkit/spec.py."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, create_model

from crmkit import spec as S
from crmkit.errors import InvalidField
from crmkit.web.body import Body, validate


def _python_type(f: S.Field) -> Any:
    if f.type in (S.INT, S.MONEY):
        return int | None
    if f.type == S.TAGS:
        return list[str] | None
    if f.type == S.JSON:
        return dict[str, Any] | None
    return str | None


@cache
def body_model(rs: S.RecordSpec) -> type[BaseModel]:
    """Every writable field (null allowed: null clears), plus `version` for optimistic
    concurrency and, on contacts, the `company` name convenience."""
    fields: dict[str, Any] = {f.name: (_python_type(f), None) for f in rs.writable}
    fields["version"] = (int | None, None)
    if rs.kind == "contact":
        fields["company"] = (str | None, None)
    model: type[BaseModel] = create_model(f"{rs.kind.title()}Body", __base__=Body, **fields)
    return model


def refuse_read_only(rs: S.RecordSpec, data: Any) -> None:
    if not isinstance(data, dict):
        return
    allowed = [f.name for f in rs.writable]
    for key in data:
        reason = S.READ_ONLY.get(key)
        f = rs.field(key)
        # `version` is read-only as a field, but a body may carry it as the expected version.
        if reason is None and f is not None and not f.writable and key != "version":
            reason = "set by crmkit"
        if (
            reason is None
            and key not in body_model(rs).model_fields  # a contact's `company` name is
            and (ref := rs.field(key + "_id")) is not None
        ):
            # Replies show a reference without `_id` (`company=company/co_...`): an agent
            # sending back what it read is told the name to write.
            raise InvalidField(
                f"{key!r} is how replies show {ref.name}; a body writes {ref.name}",
                f'send "{ref.name}":"{ref.ref}/..." (a handle or bare id), or null to clear it',
                allowed=allowed,
                code="unknown_field",
            )
        if reason is not None:
            raise InvalidField(
                f"{key!r} cannot be written: {reason}",
                f"leave {key!r} out; writable fields: {', '.join(allowed)}",
                allowed=allowed,
                code="read_only_field",
            )


def parse_body(rs: S.RecordSpec, data: Any) -> tuple[dict[str, Any], int | None]:
    """-> (the fields sent, null included, as {name: value}; the `version` if sent)."""
    refuse_read_only(rs, data)
    model = validate(body_model(rs), data)
    sent = {name: getattr(model, name) for name in model.model_fields_set}
    version = sent.pop("version", None)
    return sent, version
