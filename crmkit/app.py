"""create_app(settings) -> the ASGI app: routes, exception handlers, lifespan, the edge."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.types import Scope

from crmkit.clock import Clock
from crmkit.config import Settings
from crmkit.mail import Mailer
from crmkit.mcp import McpEndpoint
from crmkit.runtime import Runtime
from crmkit.store.connect import open_database
from crmkit.throttle import Quota
from crmkit.web import auth, errors, oauth, records, system, workspaces
from crmkit.web.cors import Cors
from crmkit.web.edge import Edge
from crmkit.web.openapi import documents
from crmkit.web.routing import SegmentRouter


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    return Runtime(
        settings=settings,
        db=open_database(settings.database),
        clock=clock or Clock(),
        mailer=Mailer(settings.smtp_url, settings.mail_from),
    )


class App(Edge):
    """The served app: the Edge around Starlette, holding the runtime for tests and the CLI."""

    def __init__(self, app: Starlette, runtime: Runtime, *, access_log: bool) -> None:
        super().__init__(app, access_log_enabled=access_log)
        self.starlette = app
        self.runtime = runtime

    def quota(self, scope: Scope) -> Quota | None:
        """A reply that counted nothing shows the caller's address's quota, as it stands."""
        rt = self.runtime
        client = scope.get("client")
        address = rt.throttle.address_key(client[0] if client else None)
        return rt.throttle.peek(rt, address, rt.settings.anon_requests_per_minute)


def create_app(settings: Settings, *, clock: Clock | None = None, access_log: bool = True) -> App:
    rt = build_runtime(settings, clock)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await rt.start()
        try:
            async with mcp.run():
                yield
        finally:
            await rt.stop()

    mcp = McpEndpoint(rt)
    # Starlette tries routes in order: the records' (most requests) go first.
    routes = [
        *records.routes,
        *system.routes,
        *auth.routes,
        *workspaces.routes,
        *oauth.routes,
        mcp.route(),
    ]
    app = Starlette(exception_handlers=errors.HANDLERS)
    app.router = SegmentRouter(routes, lifespan=lifespan)
    # No trailing-slash redirects: they echo the Host header into Location (an open redirect
    # for a spoofed Host), and agents should see one clear 404 with a hint instead.
    app.router.redirect_slashes = False
    app.state.runtime = rt
    # /openapi.json and the API catalog: generated from this final table, once (web/openapi.py)
    app.state.documents = documents(routes, settings)
    application = App(app, rt, access_log=access_log)
    application.app = Cors(app)  # CORS for discovery, register, token and /mcp
    mcp.target = application  # the tool calls this same app in-process
    return application


# Libraries whose INFO lines carry URLs, query strings and all (httpx: "HTTP Request: DELETE
# .../workspaces/w_...?code=654321"): a URL reaches the log only through the access log's
# masking (web/edge.py, masked_target), so these speak from WARNING up.
QUIET_LOGGERS = ("httpx", "httpcore")


def configure_logging() -> None:
    """What `crmkit serve` logs: INFO and up, one line each, to stderr."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


async def prepare_database(settings: Settings) -> None:
    """Migrate the database and make its secret key, once, before worker processes start."""
    rt = build_runtime(settings)
    await rt.start()
    await rt.stop()


def app_from_environment() -> App:
    """The app each worker of `crmkit serve --workers N` builds (uvicorn starts workers as
    fresh interpreters): settings from the CRMKIT_* variables, where the parent put its
    command-line options, and CRMKIT_ACCESS_LOG=0 for --no-access-log."""
    configure_logging()
    settings = Settings.from_env(os.environ)
    return create_app(settings, access_log=os.environ.get("CRMKIT_ACCESS_LOG", "1") != "0")
