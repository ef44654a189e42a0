"""The SMTP notifier against a real SMTP server (aiosmtpd on a free local port).

What a recipient gets (text and HTML alternatives, the stable Message-ID),
encryption (STARTTLS, TLS, certificates checked), credentials from the
environment, and every way a server can fail: refusing (4xx retried, 5xx
parked), timing out, being away and coming back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from delivery_support import HOST, Mailbox, MovableClock, make_certificate, password_checker, queue, row, server_context, silent_server, smtp_server, statuses

from clientflow.default_plugins.smtp import SMTPNotifier
from clientflow.errors import ConfigError
from clientflow.outbox import PermanentFailure, deliver, email_of, retry_failed
from clientflow.plugins import Registry
from clientflow.storage import Email, Storage


def smtp(port: int, **settings: object) -> SMTPNotifier:
    settings.setdefault("security", "none")
    settings.setdefault("timeout", 5)
    return SMTPNotifier(host=HOST, port=port, **settings)  # type: ignore[arg-type]


def mail(index: int = 0, **changes: object) -> Email:
    email = email_of(row(index))
    return Email(**{**email.__dict__, **changes})  # type: ignore[arg-type]


@pytest.fixture
def storage() -> Storage:
    return Registry.collect().storage("memory")  # type: ignore[no-any-return]


# what arrives --------------------------------------------------------------
def test_an_email_arrives_with_text_and_html_alternatives_and_its_message_id() -> None:
    with smtp_server() as (port, box):
        notifier = smtp(port)
        notifier.send(mail(7, to=("ana@example.com", "ben@example.com"), subject="Über ✓", text="Plain body", html="<p>Rich <b>body</b></p>"))
        notifier.close()
    [got] = box.received
    assert got.sender == "no-reply@platform.example"
    assert got.recipients == ["ana@example.com", "ben@example.com"]
    message = got.message
    assert message["Message-ID"] == "<run1-7@platform.example>"
    assert message["Subject"] == "Über ✓"
    assert message["To"] == "ana@example.com, ben@example.com"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message.get_body(("plain",)).get_content().strip() == "Plain body"  # type: ignore[union-attr]
    assert message.get_body(("html",)).get_content().strip() == "<p>Rich <b>body</b></p>"  # type: ignore[union-attr]


def test_text_only_email_is_a_single_part() -> None:
    with smtp_server() as (port, box):
        smtp(port).send(mail(html=None))
    assert box.received[0].message.get_content_type() == "text/plain"


def test_one_connection_serves_many_emails_and_is_renewed_when_the_server_drops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import clientflow.default_plugins.smtp

    monkeypatch.setattr(clientflow.default_plugins.smtp, "CHECK_AFTER_SECONDS", 0)  # check before every reuse, however recent
    port_box = None
    with smtp_server() as (port, box):
        notifier = smtp(port)
        for index in range(3):
            notifier.send(mail(index))
        assert box.ehlos == 1
        port_box = port
    with smtp_server(port=port_box) as (_, second):
        notifier.send(mail(3))  # the old connection is dead: a new one is made
        notifier.close()
    assert sorted(box.message_ids()) == [f"<run1-{i}@platform.example>" for i in range(3)]
    assert list(second.message_ids()) == ["<run1-3@platform.example>"]


@pytest.mark.parametrize(
    "bad",
    ["not an address", "eve@example.com\r\nBcc: mallory@example.com", "a@b", "<x@example.com>"],
    ids=["no-at", "header-injection", "no-domain-dot", "angle-brackets"],
)
def test_each_recipient_is_validated_before_anything_is_sent(bad: str) -> None:
    with smtp_server() as (port, box):
        with pytest.raises(PermanentFailure, match="not a valid email address"):
            smtp(port).send(mail(to=("fine@example.com", bad)))
    assert box.received == [] and box.ehlos == 0


# encryption and credentials -----------------------------------------------------
@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return make_certificate(tmp_path)


def test_starttls_with_credentials_from_the_environment(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    from clientflow.outbox import Outbox

    cert, key = certificate
    options = {"tls_context": server_context(cert, key), "require_starttls": True, "authenticator": password_checker("mailer", "s3cret"), "auth_required": True}
    with smtp_server(**options) as (port, box):
        (tmp_path / "clientflow.toml").write_text(
            f'notifiers = ["smtp"]\nstorage = {{backend = "memory"}}\n[notifier.smtp]\nhost = "{HOST}"\nport = {port}\nsecurity = "starttls"\ncafile = "cert.pem"\n',
            encoding="utf-8",
        )
        env = {"CLIENTFLOW_SMTP_USER": "mailer", "CLIENTFLOW_SMTP_PASSWORD": "s3cret"}
        box_ = Outbox.open(tmp_path, env=env)
        queue(box_.storage, 2)
        report = box_.deliver()
        box_.close()
    assert (report.sent, report.retried, report.failed) == (2, 0, 0), report.errors
    assert [r.login for r in box.received] == ["mailer", "mailer"]


def test_a_wrong_password_is_a_permanent_failure(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    options = {"tls_context": server_context(cert, key), "require_starttls": True, "authenticator": password_checker("mailer", "right")}
    with smtp_server(**options) as (port, box):
        with pytest.raises(PermanentFailure, match="535"):
            smtp(port, security="starttls", cafile=str(cert), user="mailer", password="wrong").send(mail())
    assert box.received == []


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with smtp_server(ssl_context=server_context(cert, key)) as (port, box):
        notifier = smtp(port, security="tls", cafile=str(cert))
        notifier.send(mail())
        notifier.close()
    assert list(box.message_ids()) == ["<run1-0@platform.example>"]


def test_an_untrusted_certificate_is_refused(certificate: tuple[Path, Path]) -> None:
    import ssl

    cert, key = certificate
    with smtp_server(ssl_context=server_context(cert, key)) as (port, box):
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            smtp(port, security="tls").send(mail())
    assert box.received == []


def test_starttls_is_required_when_asked_for() -> None:
    with smtp_server() as (port, box):
        with pytest.raises(PermanentFailure, match="does not offer STARTTLS"):
            smtp(port, security="starttls").send(mail())
    assert box.received == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"security": "ssl"}, "security 'ssl' is not one of starttls, tls, none"),
        ({"security": "none", "user": "u", "password": "p"}, "only sent over an encrypted connection"),
        ({"security": "tls", "user": "u"}, "both a user and a password"),
        ({"port": "smtp"}, "must be numbers"),
        ({"port": 70000}, "1-65535"),
        ({"hots": "x"}, "unknown smtp setting"),
    ],
    ids=["security", "clear-text-password", "user-without-password", "port-text", "port-range", "typo"],
)
def test_bad_settings_are_refused_with_the_reason(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SMTPNotifier(**settings)  # type: ignore[arg-type]


def test_the_default_port_follows_the_security() -> None:
    assert [SMTPNotifier(security=s).port for s in ("starttls", "tls", "none")] == [587, 465, 25]


# failures, retries and coming back ------------------------------------------------
def test_a_5xx_refusal_parks_the_message_as_failed_at_once(storage: Storage) -> None:
    clock = MovableClock()
    queue(storage, 1)
    with smtp_server(Mailbox(refuse_data="554 5.7.1 message rejected")) as (port, box):
        report = deliver(storage, {"smtp": smtp(port)}, clock)
        assert (report.sent, report.retried, report.failed) == (0, 0, 1)
        with storage.transaction() as tx:
            [failed] = tx.outbox(status="failed")
        assert failed["attempts"] == 1 and "554 5.7.1 message rejected" in failed["error"]
        box.refuse_data = None  # fixed; an operator retries
        assert retry_failed(storage, clock) == 1
        again = deliver(storage, {"smtp": smtp(port)}, clock)
    assert again.sent == 1
    assert box.message_ids() == {"<run1-0@platform.example>": 1}


def test_a_4xx_refusal_is_retried_with_backoff_and_delivered_once_when_accepted(storage: Storage) -> None:
    clock = MovableClock()
    queue(storage, 2)
    with smtp_server(Mailbox(refuse_data="451 4.3.0 try again later")) as (port, box):
        notifier = smtp(port)
        first = deliver(storage, {"smtp": notifier}, clock, backoff_seconds=60)
        assert (first.sent, first.retried) == (0, 2)
        with storage.transaction() as tx:
            waiting = tx.outbox(status="pending")
        assert {m["next_attempt"] for m in waiting} == {"2025-03-14T09:01:00+00:00"}
        assert all("451 4.3.0 try again later" in m["error"] for m in waiting)
        box.refuse_data = None
        clock.advance(59)
        assert deliver(storage, {"smtp": notifier}, clock).sent == 0  # not due yet
        clock.advance(1)
        assert deliver(storage, {"smtp": notifier}, clock, backoff_seconds=60).sent == 2
        assert deliver(storage, {"smtp": notifier}, clock).sent == 0  # nothing twice
        notifier.close()
    assert box.message_ids() == {"<run1-0@platform.example>": 1, "<run1-1@platform.example>": 1}
    assert set(statuses(storage).values()) == {"sent"}


def test_a_refused_recipient_among_others_is_reported_not_resent(storage: Storage) -> None:
    clock = MovableClock()
    with storage.transaction(write=True) as tx:
        tx.add_outbox([row(0, to=["ok@example.com", "gone@example.com"])])
    with smtp_server(Mailbox(refuse_rcpt={"gone@example.com": "550 5.1.1 no such user"})) as (port, box):
        report = deliver(storage, {"smtp": smtp(port)}, clock)
    assert report.failed == 1
    assert "accepted for ok@example.com; refused for gone@example.com: 550 5.1.1 no such user" in report.errors[0]
    assert [r.recipients for r in box.received] == [["ok@example.com"]]


def test_every_recipient_refused_temporarily_is_retried(storage: Storage) -> None:
    queue(storage, 1)
    with smtp_server(Mailbox(refuse_rcpt={"person0@example.com": "450 4.2.1 mailbox busy"})) as (port, box):
        report = deliver(storage, {"smtp": smtp(port)}, MovableClock())
    assert report.retried == 1 and box.received == []
    with storage.transaction() as tx:
        assert "450 4.2.1 mailbox busy" in tx.outbox(status="pending")[0]["error"]


def test_a_server_that_times_out_is_retried(storage: Storage) -> None:
    queue(storage, 1)
    with silent_server() as port:
        report = deliver(storage, {"smtp": smtp(port, timeout=0.3)}, MovableClock())
    assert (report.sent, report.retried, report.failed) == (0, 1, 0)
    with storage.transaction() as tx:
        [waiting] = tx.outbox(status="pending")
    assert "timed out" in waiting["error"] and waiting["attempts"] == 1


def test_a_server_that_is_away_then_comes_back_gets_each_email_once(storage: Storage) -> None:
    from delivery_support import free_port

    clock = MovableClock()
    queue(storage, 3)
    port = free_port()
    notifier = smtp(port)
    away = deliver(storage, {"smtp": notifier}, clock, backoff_seconds=30, max_attempts=3)
    assert away.retried == 3
    with storage.transaction() as tx:
        assert all("Connection refused" in m["error"] or "ConnectionRefused" in m["error"] for m in tx.outbox())
    clock.advance(30)
    with smtp_server(port=port) as (_, box):
        back = deliver(storage, {"smtp": notifier}, clock, backoff_seconds=30, max_attempts=3)
        notifier.close()
    assert (back.sent, back.retried, back.failed) == (3, 0, 0)
    assert sorted(box.message_ids().values()) == [1, 1, 1]
    with storage.transaction() as tx:
        assert [m["attempts"] for m in tx.outbox(status="sent")] == [2, 2, 2]


def test_a_server_away_for_good_ends_in_failed_with_the_reason(storage: Storage) -> None:
    from delivery_support import free_port

    clock = MovableClock()
    queue(storage, 1)
    notifier = smtp(free_port())
    outcomes = []
    for _ in range(3):
        report = deliver(storage, {"smtp": notifier}, clock, backoff_seconds=10, max_attempts=3)
        outcomes.append((report.retried, report.failed))
        clock.advance(40)
    assert outcomes == [(1, 0), (1, 0), (0, 1)]
    with storage.transaction() as tx:
        [failed] = tx.outbox(status="failed")
    assert failed["attempts"] == 3 and "refused" in failed["error"].lower()
