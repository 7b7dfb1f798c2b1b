"""Unauthenticated endpoints: an orientation at /, liveness, readiness, the manual and its
topic pages, llms.txt, /openapi.json and the API catalog (RFC 9727)."""

from __future__ import annotations

import difflib

from starlette.responses import PlainTextResponse, Response

from crmkit import __version__
from crmkit.errors import NotFound, ServiceUnavailable
from crmkit.manual import document, topic_page, topics
from crmkit.render import Message
from crmkit.web.endpoint import Call, Op
from crmkit.web.openapi import CATALOG_TYPE, Documents
from crmkit.web.routing import route

# GET /: what a caller that knows only the base URL needs to find everything else.
ORIENTATION = f"""\
crmkit {__version__}: a CRM with no screens, driven by AI agents over plain HTTP.

  GET  /help           the manual: start here (plain text, one read)
  GET  /help/<topic>   one topic in full detail; GET /help lists the topics
  GET  /llms.txt       a short index for language models
  GET  /openapi.json   the OpenAPI 3.1 contract
  POST /mcp            the MCP server, for ChatGPT, Claude and other MCP clients

Sign in: POST /auth/request {{"email"}}, then POST /auth/verify {{"email","code","token_name"}}
with the emailed 6-digit code; send the token as Authorization: Bearer <token>.
"""


async def healthz(call: Call) -> Message:
    return Message([f"ok version={__version__}"], {"status": "ok", "version": __version__})


async def readyz(call: Call) -> Message:
    try:
        await call.rt.db.ping()
    except Exception as exc:
        raise ServiceUnavailable(
            f"the database cannot be queried ({type(exc).__name__})",
            "check that CRMKIT_DATABASE points at a reachable, writable database (a SQLite file"
            " on a disk that is not full, or a PostgreSQL server); see the server log",
            code="not_ready",
        ) from None
    lines = [f"ready version={__version__}"]
    data: dict[str, object] = {"status": "ready", "version": __version__}
    if call.rt.settings.console_mail_exposed:
        warning = (
            "mail goes to the server's console log (no CRMKIT_SMTP_URL) while this server is"
            f" reached at {call.rt.settings.public_url}: whoever reads the log can sign in as"
            " anyone; set CRMKIT_SMTP_URL"
        )
        lines.append("warning: " + warning)
        data["warnings"] = [warning]
    return Message(lines, data)


# The manual is the same for everyone: caches may keep it for a while.
PUBLIC = {"Cache-Control": "public, max-age=300"}


async def orientation(call: Call) -> Response:
    return PlainTextResponse(ORIENTATION, headers=PUBLIC)


async def help_page(call: Call) -> Response:
    return PlainTextResponse(document("help.txt"), headers=PUBLIC)


async def help_topic(call: Call) -> Response:
    topic = call.request.path_params["topic"]
    if topic not in topics():
        close = difflib.get_close_matches(topic.lower(), topics(), n=1)
        guess = f"did you mean GET /help/{close[0]}? " if close else ""
        raise NotFound(
            f"no help topic {topic[:60]!r}",
            f"{guess}the topics are {', '.join(topics())}: GET /help/<topic>;"
            " GET /help is the whole manual in brief",
        )
    return PlainTextResponse(topic_page(topic), headers=PUBLIC)


async def llms_txt(call: Call) -> Response:
    return PlainTextResponse(document("llms.txt"), headers=PUBLIC)


def documents(call: Call) -> Documents:
    """Built once by create_app from the final route table (web/openapi.py)."""
    built: Documents = call.request.app.state.documents
    return built


async def openapi_json(call: Call) -> Response:
    return Response(documents(call).openapi, media_type="application/json", headers=PUBLIC)


# RFC 9727 2: a HEAD (and so a GET) of the catalog carries a Link to it with rel api-catalog.
CATALOG_LINK = '</.well-known/api-catalog>; rel="api-catalog"'


async def api_catalog(call: Call) -> Response:
    headers = {**PUBLIC, "Link": CATALOG_LINK}
    return Response(documents(call).catalog, headers=headers, media_type=CATALOG_TYPE)


routes = [
    route("/healthz", {"GET": Op(healthz, None, "Liveness")}),
    route("/readyz", {"GET": Op(readyz, None, "Readiness: the database answers")}),
    route("/", {"GET": Op(orientation, None, "What this server is and where to start")}),
    route("/help", {"GET": Op(help_page, None, "The manual")}),
    route("/help/{topic}", {"GET": Op(help_topic, None, "One topic of the manual in detail")}),
    route("/llms.txt", {"GET": Op(llms_txt, None, "A short guide for language models")}),
    route("/openapi.json", {"GET": Op(openapi_json, None, "This API as OpenAPI 3.1")}),
    route(
        "/.well-known/api-catalog",
        {"GET": Op(api_catalog, None, "The API catalog (RFC 9727): links to this API's docs")},
    ),
]
