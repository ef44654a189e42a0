"""The SMTP notifier: real mail through a relay, with STARTTLS or TLS.

Each email becomes a standard MIME message (plugins/mail.py: text and HTML
alternatives, every address checked, headers written so that they parse back
as exactly what was meant, the outbox's stable Message-ID kept), sent as those
bytes. Credentials come from the configuration, which takes them
from CLIENTFLOW_SMTP_USER and CLIENTFLOW_SMTP_PASSWORD. One connection is kept
open between emails and checked (NOOP) before reuse once it sat idle. A 4xx reply, a timeout or a
refused connection raises an ordinary error, so the outbox tries again later;
a 5xx reply raises PermanentFailure, so the message is parked as failed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import smtplib
    import ssl

from clientflow.errors import ConfigError
from clientflow.hookspecs import RegisterNotifier, hookimpl
from clientflow.storage import Email

SECURITY = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
CHECK_AFTER_SECONDS = 1.0  # a connection idle longer than this is checked (NOOP) before reuse
SETTINGS = ("host", "port", "security", "timeout", "user", "password", "cafile", "local_hostname")
SETTINGS_SCHEMA = {
    "type": "object",
    "properties": {
        "host": {"type": "string"},
        "port": {"type": ["integer", "string"]},
        "security": {"enum": list(SECURITY), "description": "starttls (port 587), tls (465) or none (25)"},
        "timeout": {"type": ["number", "string"]},
        "user": {"type": "string"},
        "password": {"type": "string", "secret": True},
        "cafile": {"type": "string"},
        "local_hostname": {"type": "string"},
    },
    "additionalProperties": False,
}


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(message.split())}"


class SMTPNotifier:
    """Sends each email through one SMTP server.

    Settings: `host`, `port` (default by security: 587, 465 or 25), `security`
    (`starttls`, `tls` or `none`), `timeout` (seconds per network operation),
    `user` and `password` (sent only over TLS), `cafile` (a CA bundle to trust
    instead of the system's), `local_hostname` (the name given in EHLO).
    """

    name = "smtp"

    def __init__(
        self,
        host: str = "localhost",
        port: int | str | None = None,
        security: str = "starttls",
        timeout: float | str = 30,
        user: str | None = None,
        password: str | None = None,
        cafile: str | None = None,
        local_hostname: str | None = None,
        project_root: Path | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise ConfigError(f"unknown smtp setting(s) {', '.join(sorted(unknown))}; known: {', '.join(SETTINGS)}")
        if security not in SECURITY:
            raise ConfigError(f"smtp security {security!r} is not one of {', '.join(SECURITY)}")
        try:
            self.port = DEFAULT_PORTS[security] if port in (None, "") else int(port)  # type: ignore[arg-type]
            self.timeout = float(timeout)
        except ValueError as exc:
            raise ConfigError(f"smtp port and timeout must be numbers (port {port!r}, timeout {timeout!r})") from exc
        if not 0 < self.port < 65536 or self.timeout <= 0:
            raise ConfigError(f"smtp port must be 1-65535 and timeout positive (port {self.port}, timeout {self.timeout})")
        if user and security == "none":
            raise ConfigError("smtp credentials are only sent over an encrypted connection: set security to starttls or tls")
        if bool(user) != bool(password):
            raise ConfigError("smtp needs both a user and a password (CLIENTFLOW_SMTP_USER, CLIENTFLOW_SMTP_PASSWORD), or neither")
        self.host = host
        self.security = security
        self.user = user
        self.password = password
        if cafile and project_root is not None and not Path(cafile).is_absolute():
            cafile = str(Path(project_root) / cafile)
        self.cafile = cafile
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None
        self._used = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SMTPNotifier({self.host}:{self.port}, {self.security})"

    # connection ---------------------------------------------------------
    def _context(self) -> ssl.SSLContext:
        import ssl  # ~7 ms: only for a server reached over TLS, not with the plugin

        return ssl.create_default_context(cafile=self.cafile)

    def _connect(self) -> smtplib.SMTP:
        import smtplib  # ~15 ms: only once mail is sent, not with the plugin

        from clientflow.outbox import PermanentFailure  # the outbox (~3 ms past the plugin manager) only once mail is sent

        conn: smtplib.SMTP
        if self.security == "tls":
            conn = smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout, context=self._context())
        else:
            conn = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)
        try:
            conn.ehlo()
            if self.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise PermanentFailure(f"{self.host}:{self.port} does not offer STARTTLS; set security to tls or none")
                conn.starttls(context=self._context())
                conn.ehlo()
            if self.user and self.password:
                conn.login(self.user, self.password)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connection(self) -> smtplib.SMTP:
        import smtplib  # ~15 ms: only once mail is sent, not with the plugin

        if self._conn is not None and time.monotonic() - self._used > CHECK_AFTER_SECONDS:
            try:
                alive = self._conn.noop()[0] == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if not alive:
                self._drop()
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        """Say goodbye to the server, if connected."""
        import smtplib  # ~15 ms: only once mail is sent, not with the plugin

        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.quit()
                except (smtplib.SMTPException, OSError):
                    pass
                self._drop()

    # sending ------------------------------------------------------------
    def send(self, email: Email) -> None:
        """Deliver `email` to every recipient, or raise (PermanentFailure for 5xx replies)."""
        import smtplib  # imported on first use: loading the plugin stays cheap

        from clientflow.outbox import PermanentFailure  # the outbox (~3 ms past the plugin manager) only once mail is sent

        from .mail import render  # the mail renderer (~20 ms with its templates) only once mail is sent

        try:
            message = render(email, linesep="\r\n")
        except ValueError as exc:
            raise PermanentFailure(str(exc)) from exc
        with self._lock:
            try:
                refused = self._connection().sendmail(email.sender, list(email.to), message)
                self._used = time.monotonic()
            except smtplib.SMTPRecipientsRefused as exc:
                self._drop()
                replies = {to: _reply(code, text) for to, (code, text) in exc.recipients.items()}
                detail = f"{self.host} refused every recipient: " + "; ".join(f"{to}: {r}" for to, r in replies.items())
                if all(_permanent(code) for code, _ in exc.recipients.values()):
                    raise PermanentFailure(detail) from exc
                raise smtplib.SMTPException(detail) from exc
            except smtplib.SMTPResponseException as exc:
                self._drop()
                detail = f"{self.host} answered {_reply(exc.smtp_code, exc.smtp_error)}"
                if _permanent(exc.smtp_code):
                    raise PermanentFailure(detail) from exc
                raise smtplib.SMTPException(detail) from exc
            except BaseException:
                self._drop()
                raise
        if refused:
            # Some recipients have it, others were refused: trying again would
            # send it twice to the first, so report it as failed with who missed it.
            missed = "; ".join(f"{to}: {_reply(code, text)}" for to, (code, text) in refused.items())
            raise PermanentFailure(f"accepted for {', '.join(t for t in email.to if t not in refused)}; refused for {missed}")


class SMTPPlugin:
    """Registers the `smtp` notifier."""

    @hookimpl
    def clientflow_register_notifiers(self, register: RegisterNotifier) -> None:
        register("smtp", SMTPNotifier, settings=SETTINGS_SCHEMA)
