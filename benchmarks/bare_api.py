"""The baseline of the load test: a bare FastAPI endpoint answering a fixed availability document, served as `clientflow serve` serves.

    python3 benchmarks/bare_api.py PORT WORKERS DOCUMENT.json

`GET /availability` answers the JSON in DOCUMENT.json (what the engine answered
for one client), from a plain `def` route as the API's routes are, on uvicorn
with the same settings `clientflow serve` passes (log level info, so one access
log line per request; with WORKERS > 1 the app is imported by each worker).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse

DOCUMENT_ENV = "BARE_API_DOCUMENT"


def create() -> FastAPI:
    document = json.loads(Path(os.environ[DOCUMENT_ENV]).read_text(encoding="utf-8"))
    app = FastAPI(title="bare")

    @app.get("/availability")
    def availability() -> JSONResponse:
        return JSONResponse(document)

    return app


def main() -> None:
    import uvicorn

    port, workers, document = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    os.environ[DOCUMENT_ENV] = str(Path(document).absolute())
    target = create() if workers == 1 else "bare_api:create"
    uvicorn.run(target, host="127.0.0.1", port=port, log_level="info", workers=workers, factory=workers > 1)


if __name__ == "__main__":
    main()
