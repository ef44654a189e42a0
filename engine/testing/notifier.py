"""The notifier contract: what every notifier must do with the emails the outbox hands it.

A notifier's own tests subclass `NotifierContract` and provide a `notifier_harness`
fixture: the notifier, a way to read what reached the far side (an SMTP server, a
web hook, a folder) and, for each kind of failure the far side can produce, a way to
make the next send meet it:

    @pytest.fixture
    def notifier_harness(webhook_server):
        return NotifierHarness(
            notifier=Webhook(url=webhook_server.url),
            received=lambda: [Received(r.headers["Idempotency-Key"], tuple(r.json["to"]), r.json["subject"], r.json["text"])
                              for r in webhook_server.requests],
            fail=webhook_server.answer_next_with,  # "transient" -> 503, "permanent" -> 400
            failures=("transient", "permanent"),
        )

    class TestWebhook(NotifierContract):
        pass

The promises: each email arrives once per send with exactly the fields it was given
(whatever text a name or subject holds: nothing is added, split or decoded); the far
side sees a stable idempotency key, the email's `message_id`, so that the
at-least-once delivery of the outbox (a crash after sending sends again) can be
made exactly-once there; a failure that trying again may cure raises an ordinary
exception (the outbox retries with backoff); one that it cannot cure raises
`PermanentFailure` (the message is parked as failed at once); `close()`, if the
notifier has one, may be called more than once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from ..outbox import PermanentFailure
from ..runtime.outcome import one_line
from ..storage import Email, Notifier

FAILURES = ("transient", "permanent")


@dataclass(frozen=True)
class Received:
    """One email as the far side saw it."""

    key: str  # the idempotency key it carried (Message-ID for email, a header for a web hook)
    to: tuple[str, ...]
    subject: str
    text: str


@dataclass
class NotifierHarness:
    """How the contract reaches one notifier and the far side it sends to."""

    notifier: Notifier
    received: Callable[[], list[Received]]
    fail: Callable[[str | None], None] = field(default=lambda kind: None)  # the next send meets this failure (None: none)
    failures: tuple[str, ...] = ()  # which of FAILURES `fail` can produce


def email(n: int = 1, *, subject: str = "Your account has changed", to: tuple[str, ...] = ("ana@example.com",), text: str = "Hello,\nit is done.\n") -> Email:
    """An email as the outbox hands it to a notifier."""
    return Email(
        id=f"m{n}",
        message_id=f"<run-{n}.m{n}@clientflow.invalid>",
        sender="flows@example.com",
        to=to,
        subject=subject,
        text=text,
        html=f"<p>{text}</p>",
        template="contract",
        run=f"run-{n}",
    )


class NotifierContract:
    """Every promise of clientflow.storage.Notifier, one test each."""

    @pytest.fixture
    def harness(self, notifier_harness: NotifierHarness) -> NotifierHarness:
        for kind in notifier_harness.failures:
            assert kind in FAILURES, f"failures may name {FAILURES}, not {kind!r}"
        return notifier_harness

    def test_it_has_a_name(self, harness: NotifierHarness) -> None:
        assert isinstance(harness.notifier.name, str) and harness.notifier.name

    def test_an_email_arrives_once_with_exactly_its_fields_and_its_key(self, harness: NotifierHarness) -> None:
        sent = email(1, to=("ana@example.com", "bo@example.com"))
        harness.notifier.send(sent)
        assert harness.received() == [Received(sent.message_id, sent.to, sent.subject, sent.text)]

    def test_sending_again_after_a_crash_carries_the_same_key(self, harness: NotifierHarness) -> None:
        sent = email(2)
        harness.notifier.send(sent)
        harness.notifier.send(sent)  # the outbox's lease ran out before it recorded the first send
        keys = [r.key for r in harness.received()]
        assert keys in ([sent.message_id], [sent.message_id, sent.message_id])  # kept once, or twice under one key

    @pytest.mark.parametrize(
        "subject",
        [
            "=?utf-8?q?Acme=0D=0ABcc:_all@attacker.example?=",
            "Acme\r\nBcc: all@attacker.example",
            "Café Müller — 日本語 \u2028 line",
            "x" * 900,
            " leading and trailing ",
        ],
        ids=["encoded-word", "crlf", "unicode", "long", "spaces"],
    )
    def test_hostile_subjects_and_text_arrive_as_given(self, harness: NotifierHarness, subject: str) -> None:
        subject = one_line(subject)  # as the engine hands subjects to notifiers; what they say is not the transport's business
        sent = email(3, subject=subject, text=f"{subject}\n=?utf-8?b?SGk=?=\n.\nend\n")
        harness.notifier.send(sent)
        (got,) = harness.received()
        assert (got.subject, got.to) == (sent.subject, sent.to)
        assert got.text.replace("\r\n", "\n").rstrip("\n") == sent.text.rstrip("\n")

    def test_a_failure_that_may_pass_raises_an_error_the_outbox_retries(self, harness: NotifierHarness) -> None:
        if "transient" not in harness.failures:
            pytest.skip("the harness declares no transient failure of the far side")
        harness.fail("transient")
        with pytest.raises(Exception) as raised:  # noqa: B017 - any error but PermanentFailure is retried
            harness.notifier.send(email(4))
        assert not isinstance(raised.value, PermanentFailure)
        harness.fail(None)
        harness.notifier.send(email(4))  # the retry goes through
        assert [r.key for r in harness.received()][-1] == email(4).message_id

    def test_a_failure_that_cannot_pass_raises_permanent_failure(self, harness: NotifierHarness) -> None:
        if "permanent" not in harness.failures:
            pytest.skip("the harness declares no permanent failure of the far side")
        harness.fail("permanent")
        with pytest.raises(PermanentFailure):
            harness.notifier.send(email(5))

    def test_close_may_be_called_twice(self, harness: NotifierHarness) -> None:
        harness.notifier.send(email(6))
        close = getattr(harness.notifier, "close", None)
        if callable(close):
            close()
            close()
