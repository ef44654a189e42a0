"""The HTTP side: a JSON API over `Engine`, and the flow preview page (`clientflow serve`).

    source   the engine a request uses (reopened on file changes in preview)
    auth     the `clientflow_resolve_actor` hook, then the actor's record
    routes   flows, availability, runs one screen per request, plans, commits
    models   the shapes /openapi.json documents
    errors   stable error codes and the engine's errors mapped onto them
    preview  the preview page, its assets, its reload signal
    app      create_app(): all of the above on one FastAPI instance

Only `clientflow serve` and the tests import this package (FastAPI is an extra).
"""

from .app import create_app
from .source import WebSettings

__all__ = ["WebSettings", "create_app"]
