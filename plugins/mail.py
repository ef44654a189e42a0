"""Building standard email messages from outbox emails (shared by the notifiers).

The headers are written here, not by the `email` package: before CPython
3.11.10/3.12.5 (CVE-2024-6923) it decodes text shaped like an RFC 2047 encoded
word (`=?utf-8?q?...=0D=0A...?=`) while writing a header, so a name could add
headers of its own; on fixed versions the same text makes writing fail. Here
every header value is either plain printable ASCII holding no `=?` (which no
mail reader decodes), folded at its spaces, or the whole text as UTF-8 base64
encoded words (which every reader decodes back to exactly that text). From and
To hold plain addresses only, checked again here. The body (text and HTML
alternatives) is the `email` package's, under fixed headers.

Rendering is total: any text in a subject, body, template name or run id gives
a message (lone surrogates, which no email can carry, become U+FFFD), so a
committed run never loses an email to a serialisation error.
"""

from __future__ import annotations

import base64
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate

from clientflow.runtime.outcome import one_line, valid_address
from clientflow.storage import Email

LINE = 78  # characters per header line (RFC 5322 recommends 78, requires at most 998)
WORD_BYTES = 30  # UTF-8 bytes per encoded word: "=?utf-8?b?" + 40 base64 characters + "?=" = 52 characters
_PLAIN = re.compile(r"[\x21-\x7e]{1,60}(?: [\x21-\x7e]{1,60})*")  # printable ASCII words of at most 60 characters, single spaces
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,200}@[A-Za-z0-9.-]{1,253}>")
_SURROGATE = re.compile("[\ud800-\udfff]")


def encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 encoded words (UTF-8, base64) of at most WORD_BYTES bytes each, split between characters."""
    chunks: list[bytes] = []
    chunk = b""
    for ch in text:
        raw = ch.encode("utf-8")
        if len(chunk) + len(raw) > WORD_BYTES:
            chunks.append(chunk)
            chunk = b""
        chunk += raw
    if chunk or not chunks:
        chunks.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in chunks]


def header_value(name: str, text: str) -> str:
    """The folded value of an unstructured header (Subject, X-...) saying exactly `text` once unfolded and decoded.

    Line breaks and other control characters become spaces first (`one_line`).
    """
    text = one_line(text)
    if not text:
        return ""
    if _PLAIN.fullmatch(text) and "=?" not in text:
        parts = text.split(" ")
    else:
        parts = encoded_words(text)
    return _fold(name, parts, " ")


def _fold(name: str, parts: list[str], joiner: str) -> str:
    """Parts joined by `joiner`, a line break put before a part that would pass LINE (never inside one)."""
    lines = [parts[0]]
    used = len(name) + 2 + len(parts[0])
    for part in parts[1:]:
        if used + len(joiner) + len(part) > LINE:
            lines[-1] += joiner.rstrip()
            lines.append(part)
            used = 1 + len(part)
        else:
            lines[-1] += joiner + part
            used += len(joiner) + len(part)
    return "\n ".join(lines)


def _body_text(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def headers(email: Email, *, date: bool = True) -> list[tuple[str, str]]:
    """The message's own headers, in order, as (name, folded value); ValueError for an address or Message-ID that is not one.

    Addresses and the Message-ID are checked, not repaired: a commit queues only
    checked addresses and Message-IDs it made, so a failure here means the
    queued row was changed by something else.
    """
    for address in (email.sender, *email.to):
        if not valid_address(address):
            raise ValueError(f"{address!r} is not a valid email address")
    if not email.to:
        raise ValueError("the email has no recipient")
    if not _MESSAGE_ID.fullmatch(email.message_id) or "=?" in email.message_id:
        raise ValueError(f"{email.message_id!r} is not a Message-ID this engine makes")
    out = [
        ("From", email.sender),
        ("To", _fold("To", list(email.to), ", ")),
        ("Subject", header_value("Subject", email.subject)),
        ("Message-ID", email.message_id),
    ]
    if date:
        out.append(("Date", formatdate(localtime=False)))
    out.append(("X-Clientflow-Template", header_value("X-Clientflow-Template", email.template)))
    out.append(("X-Clientflow-Run", header_value("X-Clientflow-Run", email.run)))
    return out


def render(email: Email, *, date: bool = True, linesep: str = "\n") -> bytes:
    """The message as bytes, lines ended by `linesep` ("\\r\\n" for SMTP); ValueError as `headers` says."""
    head = "".join(f"{name}: {value}\n" if value else f"{name}:\n" for name, value in headers(email, date=date))
    body = EmailMessage(policy=policy.default)
    body.set_content(_body_text(email.text))
    if email.html:
        body.add_alternative(_body_text(email.html), subtype="html")
    return head.replace("\n", linesep).encode("ascii") + body.as_bytes(policy=policy.default.clone(linesep=linesep))


def build_message(email: Email, *, date: bool = True) -> EmailMessage:
    """The message `render` writes, parsed back (text and, when present, HTML alternatives).

    Every header value is re-checked here: no CR/LF ever reaches a header, no
    text a reader would decode as an encoded word is written as it is, and every
    address must be a plain, valid address.
    """
    message = BytesParser(policy=policy.default).parsebytes(render(email, date=date))
    assert isinstance(message, EmailMessage)
    return message
