"""A web hook to send to: a local HTTP server that keeps what it accepted and answers as told."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

ANSWERS = {None: 200, "transient": 503, "permanent": 400}


@dataclass(frozen=True)
class Posted:
    """One request the receiver accepted: its headers as they arrived, and its JSON body."""

    headers: list[tuple[str, str]]
    body: dict[str, Any]

    def header(self, name: str) -> str:
        (value,) = [v for k, v in self.headers if k.lower() == name.lower()]
        return value


class Receiver:
    """A web hook on 127.0.0.1. `answer` is the status it gives (a 3xx redirects to /elsewhere)."""

    def __init__(self) -> None:
        self.accepted: list[Posted] = []
        self.seen: list[str] = []  # "METHOD /path" of every request, accepted or not
        self.answer = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.seen.append(f"POST {self.path}")
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.answer < 300:
                    receiver.accepted.append(Posted(list(self.headers.items()), body))
                self.send_response(receiver.answer)
                if 300 <= receiver.answer < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                receiver.seen.append(f"GET {self.path}")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def fail(self, kind: str | None) -> None:
        """The next requests meet this failure (None: none), as NotifierHarness.fail asks."""
        self.answer = ANSWERS[kind]

    def reset(self) -> None:
        self.accepted.clear()
        self.seen.clear()
        self.answer = 200

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture(scope="module")
def shared_receiver() -> Iterator[Receiver]:
    """One receiver for many generated examples (reset it before each)."""
    hook = Receiver()
    yield hook
    hook.close()
