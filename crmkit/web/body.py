"""Request bodies: JSON (whatever the Content-Type, so `curl -d` works) into pydantic models
with `extra="forbid"`; one function turns every failure into our 400."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request

from crmkit.errors import InvalidField, InvalidJSON

M = TypeVar("M", bound=BaseModel)

INT64_MAX = 2**63 - 1
# orjson accepts 1024 levels, more than Python's recursion limit leaves for our checks and
# pydantic (a 1000-deep body was a 500); no request of ours needs more than a few.
MAX_DEPTH = 32


class Body(BaseModel):
    """Base of every request body: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(
            f"the request body is not valid JSON ({exc})",
            'send a JSON object, e.g. -d \'{"name":"Jane"}\'',
        ) from None
    _check_values(data, "")
    return data


def _check_values(value: Any, path: str, depth: int = 0) -> None:
    """Refuse what SQLite or a careful reader cannot hold: NUL bytes, integers past int64, and
    nesting deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise InvalidField(
            f"the JSON body is nested more than {MAX_DEPTH} levels deep",
            "send a flatter JSON body",
        )
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidField(
                f"{path or 'body'} contains a NUL byte", "remove the \\u0000 character"
            )
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise InvalidField(f"{path or 'body'} is out of range", "integers must fit in 64 bits")
    elif isinstance(value, dict):
        for k, v in value.items():
            if "\x00" in k:
                raise InvalidField("a field name contains a NUL byte", "remove it")
            _check_values(v, f"{path}.{k}" if path else k, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_values(v, f"{path}[{i}]", depth + 1)


def validate(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise InvalidJSON(
            "the request body must be a JSON object",
            f"send an object with these fields: {', '.join(model.model_fields)}",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, model) from None


async def parse(request: Request, model: type[M]) -> M:
    return validate(model, await read_json(request))


def validation_error(exc: ValidationError, model: type[BaseModel]) -> InvalidField:
    allowed = list(model.model_fields)
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "body"
    kind = first["type"]
    if kind == "extra_forbidden":
        return InvalidField(
            f"unknown field {loc!r}",
            f"send only these fields: {', '.join(allowed)}",
            allowed=allowed,
            code="unknown_field",
        )
    if kind == "missing":
        return InvalidField(
            f"missing required field {loc!r}",
            f"include {loc!r} in the JSON body",
            allowed=allowed,
            code="missing_field",
        )
    return InvalidField(
        f"{loc}: {first['msg']}",
        f"fix the value of {loc!r} and send the request again",
        allowed=allowed,
    )
