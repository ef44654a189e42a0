"""The webhook notifier passes clientflow's notifier contract, and keeps its own promises."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
from clientflow.errors import ConfigError
from clientflow.outbox import PermanentFailure
from clientflow.storage import Email
from clientflow.testing import NotifierContract, NotifierHarness, Received
from conftest import Receiver
from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow_example_plugins.webhook import WebhookNotifier

EMAIL = Email(
    id="run-1-0",
    message_id="<run-1-0@example.com>",
    sender="flows@example.com",
    to=("ana@example.com",),
    subject="Your account has changed",
    text="Hello\n",
    html=None,
    template="changed",
    run="run-1",
)


class TestWebhookContract(NotifierContract):
    """Every promise of a notifier, unchanged: one fixture is all it needs."""

    @pytest.fixture
    def notifier_harness(self, receiver: Receiver) -> NotifierHarness:
        def received() -> list[Received]:
            return [
                Received(p.header("Idempotency-Key"), tuple(p.body["to"]), p.body["subject"], p.body["text"])
                for p in receiver.accepted
            ]

        return NotifierHarness(
            notifier=WebhookNotifier(url=receiver.url, timeout=5),
            received=received,
            fail=receiver.fail,
            failures=("transient", "permanent"),
        )


def test_the_whole_email_is_posted_as_json_with_the_token(receiver: Receiver) -> None:
    WebhookNotifier(url=receiver.url, token="t0ken").send(EMAIL)
    (posted,) = receiver.accepted
    assert posted.header("Authorization") == "Bearer t0ken"
    assert posted.header("Content-Type") == "application/json"
    assert posted.body == {
        "id": EMAIL.id,
        "message_id": EMAIL.message_id,
        "from": EMAIL.sender,
        "to": list(EMAIL.to),
        "subject": EMAIL.subject,
        "text": EMAIL.text,
        "html": EMAIL.html,
        "template": EMAIL.template,
        "run": EMAIL.run,
    }


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503])
def test_answers_that_mean_later_are_retried(receiver: Receiver, status: int) -> None:
    receiver.answer = status
    with pytest.raises(ConnectionError) as raised:
        WebhookNotifier(url=receiver.url).send(EMAIL)
    assert not isinstance(raised.value, PermanentFailure)
    assert str(status) in str(raised.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_answers_that_mean_never_are_permanent(receiver: Receiver, status: int) -> None:
    receiver.answer = status
    with pytest.raises(PermanentFailure, match=str(status)):
        WebhookNotifier(url=receiver.url).send(EMAIL)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(receiver: Receiver, status: int) -> None:
    receiver.answer = status
    with pytest.raises(PermanentFailure, match=str(status)):
        WebhookNotifier(url=receiver.url).send(EMAIL)
    assert receiver.seen == ["POST /hook"]  # nothing went to /elsewhere, as a GET or otherwise


def test_a_refused_connection_is_retried() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError) as raised:
        WebhookNotifier(url=f"http://127.0.0.1:{port}/hook", timeout=5).send(EMAIL)
    assert not isinstance(raised.value, PermanentFailure)


def test_a_url_that_is_not_http_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="http:// or https://"):
        WebhookNotifier(url="file:///etc/passwd")


KEYS = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda a, b: f"<{a}@example.com>\r\nX-Injected: {b}", st.text(max_size=10), st.text(max_size=10)
    ),
    st.from_regex(r"\A<[!-~]{1,30}@[a-z.]{1,20}>\Z"),
)


HEADERS = [
    "accept-encoding",
    "connection",
    "content-length",
    "content-type",
    "host",
    "idempotency-key",
    "user-agent",
]


@settings(max_examples=150, deadline=None)
@given(key=KEYS)
def test_the_key_is_one_header_or_nothing_is_sent(shared_receiver: Receiver, key: str) -> None:
    # Whatever a message id holds, it never adds or splits a header: it arrives as exactly one
    # Idempotency-Key, or the email is refused for good before anything is sent.
    shared_receiver.reset()
    try:
        WebhookNotifier(url=shared_receiver.url, timeout=5).send(replace(EMAIL, message_id=key))
    except PermanentFailure:
        assert shared_receiver.seen == []
        return
    (posted,) = shared_receiver.accepted
    assert sorted(name.lower() for name, _ in posted.headers) == HEADERS
    assert posted.header("Idempotency-Key") == key
    assert posted.body["message_id"] == key
