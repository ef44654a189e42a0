"""Our own notifiers pass the conformance kit that plugin authors install (clientflow.testing)."""

from __future__ import annotations

import email
import email.policy
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_support import HOST, Mailbox, smtp_server

from clientflow.default_plugins.console import Console
from clientflow.default_plugins.outbox_files import OutboxFolder
from clientflow.default_plugins.smtp import SMTPNotifier
from clientflow.testing import NotifierContract, NotifierHarness, Received


def parsed(data: bytes) -> Received:
    message = email.message_from_bytes(data, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    to = tuple(address.addr_spec for address in message["To"].addresses)
    return Received(str(message["Message-ID"]), to, str(message["Subject"]), body.get_content())


class TestSMTP(NotifierContract):
    @pytest.fixture
    def notifier_harness(self) -> Iterator[NotifierHarness]:
        mailbox = Mailbox()
        with smtp_server(mailbox) as (port, box):
            answers = {"transient": "451 4.3.0 try again later", "permanent": "550 5.7.1 refused", None: None}

            def fail(kind: str | None) -> None:
                box.refuse_data = answers[kind]

            notifier = SMTPNotifier(host=HOST, port=port, security="none", timeout=5)
            yield NotifierHarness(notifier, lambda: [parsed(r.message.as_bytes()) for r in box.received], fail, ("transient", "permanent"))
            notifier.close()


class TestOutboxFolder(NotifierContract):
    @pytest.fixture
    def notifier_harness(self, tmp_path: Path) -> NotifierHarness:
        folder = tmp_path / "outbox"
        notifier = OutboxFolder(dir=folder)

        def fail(kind: str | None) -> None:  # the folder cannot be made (a file stands in its way): the next pass may find it
            if kind == "transient" and not folder.exists():
                folder.write_text("in the way\n")
            elif kind is None and folder.is_file():
                folder.unlink()

        def received() -> list[Received]:
            return [parsed(p.read_bytes()) for p in sorted(folder.glob("*.eml"))] if folder.is_dir() else []

        return NotifierHarness(notifier, received, fail, ("transient",))


class TestConsole(NotifierContract):
    @pytest.fixture
    def notifier_harness(self) -> NotifierHarness:
        stream = Breakable()
        return NotifierHarness(Console(stream=stream), stream.received, stream.fail, ("transient",))


class Breakable(io.StringIO):
    """A terminal that can be closed under the notifier (a broken pipe: the next run may have one)."""

    broken = False

    def fail(self, kind: str | None) -> None:
        self.broken = kind is not None

    def write(self, text: str) -> int:
        if self.broken:
            raise BrokenPipeError("the reader went away")
        return super().write(text)

    def received(self) -> list[Received]:
        found = []
        for chunk in self.getvalue().split("--- email ")[1:]:
            head, _, text = chunk.partition("\n\n")
            key, to, subject = head.split("\n")
            found.append(Received(key, tuple(to.removeprefix("To: ").split(", ")), subject.removeprefix("Subject: "), text.removesuffix("\n")))
        return found
