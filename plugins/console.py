"""The console notifier: prints each email to standard error, for trying flows out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from clientflow.hookspecs import RegisterNotifier, hookimpl
from clientflow.storage import Email


class Console:
    name = "console"

    def __init__(self, project_root: Path | None = None, stream: TextIO | None = None, **_settings: Any) -> None:
        self.stream = stream

    def send(self, email: Email) -> None:
        out = self.stream or sys.stderr
        out.write(f"--- email {email.message_id}\nTo: {', '.join(email.to)}\nSubject: {email.subject}\n\n{email.text}\n")


class ConsolePlugin:
    @hookimpl
    def clientflow_register_notifiers(self, register: RegisterNotifier) -> None:
        register("console", Console)
