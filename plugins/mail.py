"""Building standard email messages from outbox emails (shared by the notifiers)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

from clientflow.outcome import one_line, valid_address
from clientflow.storage import Email


def build_message(email: Email, *, date: bool = True) -> EmailMessage:
    """A MIME message with text and, when present, HTML alternatives.

    Every header value is re-checked here: no CR/LF ever reaches a header, and
    every address must be a plain, valid address.
    """
    for address in (email.sender, *email.to):
        if not valid_address(address):
            raise ValueError(f"{address!r} is not a valid email address")
    message = EmailMessage()
    message["From"] = email.sender
    message["To"] = ", ".join(email.to)
    message["Subject"] = one_line(email.subject)
    message["Message-ID"] = one_line(email.message_id)
    if date:
        message["Date"] = formatdate(localtime=False)
    message["X-Clientflow-Template"] = one_line(email.template)
    message["X-Clientflow-Run"] = one_line(email.run)
    message.set_content(email.text)
    if email.html:
        message.add_alternative(email.html, subtype="html")
    return message
