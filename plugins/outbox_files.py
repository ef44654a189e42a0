"""The outbox notifier: each email as a standard .eml file in a folder.

Files are named after the Message-ID and written atomically, so sending the
same email twice leaves one file: delivery is idempotent.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from clientflow.hookspecs import RegisterNotifier, hookimpl
from clientflow.storage import Email

SETTINGS_SCHEMA = {
    "type": "object",
    "properties": {"dir": {"type": "string", "description": "the folder of the .eml files, relative to the project folder"}},
    "additionalProperties": False,
}


class OutboxFolder:
    """Writes `<message-id>.eml` files into `dir`."""

    name = "outbox"

    def __init__(self, dir: str | Path = ".clientflow/outbox", project_root: Path | None = None, **_settings: Any) -> None:
        folder = Path(dir)
        if not folder.is_absolute() and project_root is not None:
            folder = Path(project_root) / folder
        self.dir = folder

    def path_for(self, email: Email) -> Path:
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", email.message_id.strip("<>"))
        return self.dir / f"{stem}.eml"

    def send(self, email: Email) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self.path_for(email)
        if target.exists():
            return  # already delivered: a repeat after a crash changes nothing
        from .mail import render  # imported on first use: loading the plugin stays cheap

        data = render(email)
        temporary = target.with_suffix(f".tmp{os.getpid()}")
        temporary.write_bytes(data)
        os.replace(temporary, target)


class OutboxFilesPlugin:
    """Registers the `outbox` notifier (the default)."""

    @hookimpl
    def clientflow_register_notifiers(self, register: RegisterNotifier) -> None:
        register("outbox", OutboxFolder, settings=SETTINGS_SCHEMA)
