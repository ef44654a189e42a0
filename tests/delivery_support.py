"""What the delivery tests share: a real SMTP server, queued messages and a clock to move.

The server is aiosmtpd in a thread on a free local port.

`Mailbox` is the server's handler: it keeps every message it accepted and can
refuse (a 4xx or 5xx reply to DATA or to chosen recipients) or hold a message
until the test lets it go. `smtp_server()` runs one; `silent_server()` is a
port that accepts connections and never answers (a server that times out).
`make_certificate()` writes a self-signed certificate for 127.0.0.1.
`queue()` puts messages in an outbox as a commit would; `MovableClock` is a
clock that a test moves on by hand (backoff without waiting).
"""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from clientflow.runtime.context import Clock
from clientflow.storage import Storage

HOST = "127.0.0.1"
START = datetime.datetime(2025, 3, 14, 9, 0, tzinfo=datetime.UTC)


class MovableClock(Clock):
    """A fixed clock that the test moves forward."""

    def __init__(self, start: datetime.datetime = START) -> None:
        super().__init__(start)

    def advance(self, seconds: float) -> None:
        assert self.fixed is not None
        self.fixed += datetime.timedelta(seconds=seconds)


def row(index: int, notifier: str = "smtp", *, run: str = "run1", to: list[str] | None = None, html: str | None = "<p>Hello</p>") -> dict[str, Any]:
    """One outbox message shaped as Engine commits queue them."""
    email_id = f"{run}-{index}"
    return {
        "id": f"{email_id}-{notifier}",
        "email_id": email_id,
        "message_id": f"<{email_id}@platform.example>",
        "notifier": notifier,
        "status": "pending",
        "attempts": 0,
        "next_attempt": None,
        "error": None,
        "run": run,
        "flow": "test-flow",
        "created": START.isoformat(),
        "email": {
            "from": "no-reply@platform.example",
            "to": to or [f"person{index}@example.com"],
            "subject": f"Message {index}",
            "text": f"Hello {index}",
            "html": html,
            "template": "test",
        },
    }


def queue(storage: Storage, count: int, notifier: str = "smtp", *, run: str = "run1", **options: Any) -> list[str]:
    """Queue `count` messages for `notifier`; return their Message-IDs."""
    rows = [row(i, notifier, run=run, **options) for i in range(count)]
    with storage.transaction(write=True) as tx:
        tx.add_outbox(rows)
    return [r["message_id"] for r in rows]


def statuses(storage: Storage) -> dict[str, str]:
    with storage.transaction() as tx:
        return {m["id"]: m["status"] for m in tx.outbox()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class Mailbox:
    """The handler: what arrived, and how to misbehave."""

    refuse_data: str | None = None  # e.g. "451 4.3.0 try again later"
    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None  # DATA waits for this before accepting
    received: list[Received] = field(default_factory=list)
    data_started: threading.Event = field(default_factory=threading.Event)
    ehlos: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.ehlos += 1
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_started.set()
        if self.hold is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 60)
        if self.refuse_data:
            return self.refuse_data
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, login))  # type: ignore[arg-type]
        return "250 2.0.0 accepted"

    def message_ids(self) -> Counter[str]:
        with self.lock:
            return Counter(str(r.message["Message-ID"]) for r in self.received)


def password_checker(user: str, password: str) -> Any:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (user, password)
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    return authenticate


@contextmanager
def smtp_server(mailbox: Mailbox | None = None, port: int | None = None, **options: Any) -> Iterator[tuple[int, Mailbox]]:
    """Run an SMTP server on 127.0.0.1 for the block; yields (port, mailbox)."""
    mailbox = mailbox or Mailbox()
    port = port or free_port()
    controller = Controller(mailbox, hostname=HOST, port=port, ready_timeout=20, **options)
    controller.start()
    try:
        yield port, mailbox
    finally:
        if mailbox.hold is not None:
            mailbox.hold.set()
        controller.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel does) and never says a word."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clientflow test server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
