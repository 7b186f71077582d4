"""`python -m tests.console.serve serve …`: the real `chatserver serve`, with the console's
routes mounted if `chatserver.app` does not mount them yet (until the lead wires
`*console_routes.routes()` into `create_app`; then this adds nothing)."""

from __future__ import annotations

import sys

from starlette.applications import Starlette

import chatserver.app as app_module
from chatserver import console_routes
from chatserver.cli import main
from chatserver.settings import Settings

_create_app = app_module.create_app


def create_app(settings: Settings) -> Starlette:
    app = _create_app(settings)
    paths = {getattr(route, "path", None) for route in app.router.routes}
    if "/console" not in paths:
        app.router.routes.extend(console_routes.routes())
    return app


app_module.create_app = create_app

if __name__ == "__main__":
    sys.exit(main())
