"""Email headers say exactly what was meant, whatever the text; addresses are whole, plain addresses.

* For any text in a subject, template name, run id or body (arbitrary Unicode,
  RFC 2047 encoded-word shapes such as `=?utf-8?q?Acme=0D=0AReply-To:...?=`,
  CR/LF, NUL, U+2028, lone surrogates, very long names), the message we write
  parses back — with `email.policy.default` here (Python 3.11.7, which has
  CVE-2024-6923) and on a fixed Python when one is installed — with exactly our
  headers, each once, each decoding to the text we meant; writing never fails.
* The same holds end to end: names, answers and template text committed
  through a flow come out of the outbox folder and an SMTP server that way.
* An address is accepted only when the whole text is one plain address: a
  trailing newline, any other line break or space, or `=?` is refused — by the
  check, in a data file (with its location) and as the project's sender.
"""

from __future__ import annotations

import email.header
import json
import re
import shutil
import string
import subprocess
import textwrap
from collections import Counter
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from conftest import figures
from delivery_support import smtp_server
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.default_plugins.mail import render
from clientflow.default_plugins.outbox_files import OutboxFolder
from clientflow.default_plugins.smtp import SMTPNotifier
from clientflow.errors import DefinitionError
from clientflow.mailaddress import valid_address
from clientflow.runtime.outcome import one_line
from clientflow.storage import Email

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
OURS = ["From", "To", "Subject", "Message-ID", "Date", "X-Clientflow-Template", "X-Clientflow-Run"]
BODY = {"MIME-Version", "Content-Type", "Content-Transfer-Encoding"}  # the body's own, fixed headers (a text-only body has all three)
LOCATED = re.compile(r"^(?P<path>[^\n]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")
FIXED_PYTHONS = [Path(p) for p in ("/root/.pyenv/versions/3.13.0/bin/python3", "/usr/bin/python3.13", "/usr/bin/python3.12")]
BREAKS = ["\r\n", "\n", "\r", "\x00", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\t", " ", "\r\n\t", "\n "]

TALLY: Counter[str] = Counter()


def _figures() -> str:
    return (
        f"mail headers: {TALLY['messages']} generated messages parsed back with exactly their headers "
        f"({TALLY['encoded-word']} with '=?' in a header's text, {TALLY['fixed']} also parsed on a fixed Python), "
        f"{TALLY['committed']} committed through a flow, 0 serialisation errors; "
        f"{TALLY['addresses']} addresses with a break, space or '=?' refused, {TALLY['located']} of them in files with a location"
    )


summary = figures(_figures)


# strategies ---------------------------------------------------------------------------------------
ENCODED_WORDS = st.builds(
    lambda charset, enc, text: f"=?{charset}?{enc}?{text}?=",
    st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "us-ascii", "x-unknown", ""]),
    st.sampled_from(["q", "Q", "b", "B", "x"]),
    st.sampled_from(
        [
            "Acme=0D=0AReply-To:_phish@attacker.example",
            "x=0ABcc:_evil@attacker.example",
            "=0D=0A=0D=0AForged body",
            "QWNtZQ0KQmNjOiBldmlsQGF0dGFja2VyLmV4YW1wbGU=",  # base64 of "Acme\r\nBcc: evil@attacker.example"
            "=00=E2=80=A8",
            "",
            "?",
        ]
    )
    | st.text(alphabet=string.ascii_letters + string.digits + "=_?:@.-/+", max_size=40),
)
PIECES = st.one_of(
    st.text(max_size=30),
    ENCODED_WORDS,
    st.sampled_from([*BREAKS, "Bcc: evil@attacker.example", "=?", "?=", "\ud800", "\udfff", "é", "日本語", "\u200b", "\ufeff", " " * 3]),
)
TEXT = st.lists(PIECES, max_size=12).map("".join) | st.text(min_size=200, max_size=1000)
LOCAL = st.from_regex(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,20}", fullmatch=True)
DOMAIN = st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){1,3}", fullmatch=True)
ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", LOCAL, DOMAIN).filter(valid_address)


def decoded_headers(raw: bytes) -> dict[str, list[str]]:
    """Every top-level header of `raw`, by name, as `email.policy.default` decodes it."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    out: dict[str, list[str]] = {}
    for name, value in message.items():
        out.setdefault(name, []).append(str(value))
    return out


def assert_our_headers(names: list[str]) -> None:
    assert names[: len(OURS)] == OURS and set(names[len(OURS) :]) <= BODY and "Content-Type" in names, f"headers {names}"


def expected_headers(mail: Email) -> dict[str, list[str]]:
    return {
        "From": [mail.sender],
        "To": [", ".join(mail.to)],
        "Subject": [one_line(mail.subject)],
        "Message-ID": [mail.message_id],
        "X-Clientflow-Template": [one_line(mail.template)],
        "X-Clientflow-Run": [one_line(mail.run)],
    }


def body_text(text: str) -> str:
    """What a reader gets back from a text part: lone surrogates replaced, every line ended by a newline."""
    text = re.sub("[\ud800-\udfff]", "\ufffd", text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def check_message(mail: Email, raw: bytes) -> None:
    head = raw[: raw.index(b"\n\n")]
    assert head.isascii(), "every header is 7-bit"
    for line in head.split(b"\n"):
        assert len(line) <= 998 and b"\r" not in line and b"\x00" not in line
        assert len(line) <= 78 or line.lstrip().startswith((b"To:", b"From:")) or b"@" in line, f"a long line: {line[:90]!r}"
    got = decoded_headers(raw)
    assert_our_headers(list(got))
    assert all(len(values) == 1 for values in got.values())
    want = expected_headers(mail)
    assert {name: got[name] for name in want} == want
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert tuple(a.addr_spec for a in message["To"].addresses) == mail.to
    legacy = email.message_from_bytes(raw)  # the compat32 reader, with the older decoder
    assert str(email.header.make_header(email.header.decode_header(legacy.get("Subject", "")))) == one_line(mail.subject)
    plain = message.get_body(("plain",))
    assert plain is not None
    content = plain.get_content()
    assert content.rstrip("\n") == body_text(mail.text).rstrip("\n")


EMAILS = st.builds(
    lambda subject, text, html, template, run, sender, to: Email(
        id="r-0",
        message_id="<r1-0@mail.example>",
        sender=sender,
        to=tuple(dict.fromkeys(to)),
        subject=subject,
        text=text,
        html=html,
        template=template,
        run=run,
    ),
    TEXT,
    TEXT,
    st.none() | TEXT,
    TEXT,
    TEXT,
    ADDRESS,
    st.lists(ADDRESS, min_size=1, max_size=6),
)


# the builder ---------------------------------------------------------------------------------------
def fixed_python() -> Path | None:
    """A Python with the CVE-2024-6923 fix (3.13.0+, 3.12.5+), if this machine has one."""
    for path in FIXED_PYTHONS:
        if path.exists():
            probe = subprocess.run(
                [str(path), "-c", "import sys; print(sys.version_info >= (3, 13) or (3, 12, 5) <= sys.version_info < (3, 13))"], capture_output=True, text=True
            )
            if probe.stdout.strip() == "True":
                return path
    found = shutil.which("python3.13")
    return Path(found) if found else None


PARSE_ELSEWHERE = """
import json, sys
from email.parser import BytesParser
from email.policy import default
out = []
for raw in json.load(sys.stdin):
    message = BytesParser(policy=default).parsebytes(raw.encode("latin-1"))
    out.append([[name, str(value)] for name, value in message.items()])
json.dump(out, sys.stdout)
"""


def test_any_text_in_any_header_parses_back_as_exactly_our_headers() -> None:
    made: list[tuple[Email, bytes]] = []

    @settings(max_examples=250, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(EMAILS)
    def check(mail: Email) -> None:
        raw = render(mail)  # never raises: rendering is total for checked addresses
        check_message(mail, raw)
        check_message(mail, render(mail, linesep="\r\n").replace(b"\r\n", b"\n"))
        made.append((mail, raw))

    check()
    TALLY["messages"] += len(made)
    TALLY["encoded-word"] += sum(1 for mail, _ in made if "=?" in mail.subject or "=?" in mail.template or "=?" in mail.run)
    python = fixed_python()
    if python is None:
        pytest.skip("no Python with the CVE-2024-6923 fix on this machine to parse the messages with")
    result = subprocess.run(
        [str(python), "-c", PARSE_ELSEWHERE], input=json.dumps([raw.decode("latin-1") for _, raw in made]), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for (mail, _), headers in zip(made, json.loads(result.stdout), strict=True):
        got: dict[str, list[str]] = {}
        for name, value in headers:
            got.setdefault(name, []).append(value)
        assert_our_headers(list(got))
        want = expected_headers(mail)
        assert {name: got[name] for name in want} == want
    TALLY["fixed"] += len(made)


def test_the_reported_name_is_kept_as_text_and_adds_no_header() -> None:
    name = "=?utf-8?q?Acme=0D=0AReply-To:_phish@attacker.example?="
    mail = Email("r-0", "<r1-0@mail.example>", "no-reply@mail.example", ("carla@acme.example",), f"{name} was deactivated", "Hello", None, "t", "r1")
    raw = render(mail)
    assert b"Reply-To" not in raw[: raw.index(b"\n\n")]
    check_message(mail, raw)
    TALLY["messages"] += 1
    TALLY["encoded-word"] += 1


def test_a_plain_ascii_subject_is_written_as_it_is() -> None:
    mail = Email("r-0", "<r1-0@mail.example>", "no-reply@mail.example", ("carla@acme.example",), "Acme Ltd was deactivated", "Hello", None, "t", "r1")
    assert b"\nSubject: Acme Ltd was deactivated\n" in render(mail)


# end to end: a flow commits, the outbox folder and SMTP deliver ------------------------------------------
PROJECT = {
    "flows/project.yaml": """
        product:
          name: Notes
          sender: notes@mail.example
        data_schema: schema/data.schema.json
        entities:
          member:
            collection: members
            keys: [id, email]
            label: name
        subject:
          entity: member
          match: [id, email]
        actor:
          entity: member
          match: [id, email]
    """,
    "flows/note.yaml": """
        id: note
        title: Send a note
        summary: Send a member a note.
        subject: member
        steps:
          - id: write
            kind: form
            title: Write to {{ member.name }}
            fields:
              - {name: note, type: text, required: true}
        outcome:
          effects:
            - {op: update, field: noted, to: "true"}
          emails:
            - template: note
              to: member.email
          reversible: false
          audit: "{{ actor.email }} wrote to {{ member.email }}"
    """,
    "templates/emails/note.txt": """
        Subject: {{ member.name }}: {{ answers.note }} {{ member.title }}
        Dear {{ member.name }},
        {{ answers.note }}
    """,
    "templates/emails/note.html": """
        <p>Dear {{ member.name }},</p><p>{{ answers.note }}</p>
    """,
    "schema/data.schema.json": """
        {
          "$schema": "https://json-schema.org/draft/2020-12/schema",
          "type": "object",
          "properties": {
            "members": {
              "type": "array",
              "items": {
                "type": "object",
                "required": ["id", "email"],
                "properties": {"id": {"type": "string"}, "email": {"type": "string", "format": "email"}}
              }
            }
          }
        }
    """,
}


def write_project(root: Path, files: dict[str, str] = PROJECT) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("notes"))


def members(name: str, title: str) -> dict[str, Any]:
    return {"members": [{"id": "m1", "email": "ana@mail.example", "name": "Ana"}, {"id": "m2", "email": "ben@mail.example", "name": name, "title": title}]}


NAMES = st.lists(PIECES, min_size=1, max_size=6).map("".join).filter(lambda s: s.strip() != "")


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(name=NAMES, title=TEXT, note=NAMES.filter(lambda s: len(s) <= 1000))
def test_names_and_answers_committed_through_a_flow_come_out_with_exactly_our_headers(
    notes: Path, tmp_path_factory: pytest.TempPathFactory, name: str, title: str, note: str
) -> None:
    work = tmp_path_factory.mktemp("run")
    data = work / "data.json"
    data.write_text(json.dumps(members(name, title)), encoding="utf-8")
    out = work / "outbox"
    engine = Engine.open(notes, data=data, now=NOW, notifiers={"outbox": OutboxFolder(out)})
    try:
        plan = engine.apply("note", "m1", "m2", {"note": note})
        assume(plan is not None and plan.status == "completed")  # an answer the form refuses (e.g. blank) sends nothing
        assert plan is not None
        report = engine.deliver()
        assert report.failed == 0 and report.retried == 0, report.errors
    finally:
        engine.close()
    [path] = out.glob("*.eml")
    got = decoded_headers(path.read_bytes())
    assert_our_headers(list(got))
    assert all(len(v) == 1 for v in got.values())
    [sent] = plan.emails
    assert got["Subject"] == [sent.subject] and got["To"] == ["ben@mail.example"] and got["From"] == ["notes@mail.example"]
    assert sent.subject == one_line(f"{name}: {note} {title}")
    TALLY["committed"] += 1
    TALLY["encoded-word"] += int("=?" in sent.subject)


def test_smtp_delivers_the_reported_name_with_exactly_our_headers() -> None:
    subjects = ["=?utf-8?q?Acme=0D=0AReply-To:_phish@attacker.example?= was deactivated", "=?utf-8?b?QWNtZQ0KQmNjOiBldmlsQGF0dGFja2VyLmV4YW1wbGU=?=", "Plain"]
    with smtp_server() as (port, box):
        notifier = SMTPNotifier(host="127.0.0.1", port=port, security="none", timeout=5)
        for index, subject in enumerate(subjects):
            notifier.send(
                Email(
                    f"r-{index}", f"<r1-{index}@mail.example>", "notes@mail.example", ("ben@mail.example",), subject, "Hello\n.\nBye", "<p>x</p>", "note", "r1"
                )
            )
        notifier.close()
    assert [m.recipients for m in box.received] == [["ben@mail.example"]] * 3
    for subject, got in zip(subjects, box.received, strict=True):
        assert_our_headers([k for k in got.message.keys() if k not in ("X-Peer", "X-MailFrom", "X-RcptTo")])
        assert str(got.message["Subject"]) == subject
        assert "Reply-To" not in got.message and "Bcc" not in got.message
        plain = got.message.get_body(("plain",))
        assert plain is not None and plain.get_content().replace("\r\n", "\n") == "Hello\n.\nBye\n"  # the line holding only "." survives SMTP
    TALLY["messages"] += len(subjects)


# addresses --------------------------------------------------------------------------------------------
@settings(max_examples=500, derandomize=True)
@given(address=ADDRESS, before=st.sampled_from(["", *BREAKS]), after=st.sampled_from([*BREAKS, "\n\n", "=?", ""]))
def test_an_address_is_one_whole_plain_address(address: str, before: str, after: str) -> None:
    text = before + address + after
    if before or after:
        assert not valid_address(text)
        TALLY["addresses"] += 1
    else:
        assert valid_address(text)


@settings(max_examples=500, derandomize=True)
@given(st.text(max_size=80) | st.builds(lambda a, b: a + "@" + b, st.text(max_size=20), st.text(max_size=20)))
def test_any_accepted_text_is_one_address_a_reader_sees_as_it_is(text: str) -> None:
    if not valid_address(text):
        return
    assert text.isascii() and text.isprintable() and " " not in text and "=?" not in text
    mail = Email("r-0", "<r1-0@mail.example>", text, (text,), "s", "t", None, "t", "r1")
    message = BytesParser(policy=policy.default).parsebytes(render(mail))
    assert [a.addr_spec for a in message["To"].addresses] == [text]
    assert [a.addr_spec for a in message["From"].addresses] == [text]


def test_encoded_word_shaped_addresses_are_refused() -> None:
    for address in ["=?utf-8?q?evil=40attacker.example=2C_x?=@a.example", "x=?@a.example", "a@b.example\n", "a@b.example\r\n", "\na@b.example"]:
        assert not valid_address(address), address
        TALLY["addresses"] += 1


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(address=ADDRESS, after=st.sampled_from([*BREAKS, "=?x"]), where=st.integers(0, 2))
def test_a_data_file_with_such_an_address_is_refused_with_its_location(
    notes: Path, tmp_path_factory: pytest.TempPathFactory, address: str, after: str, where: int
) -> None:
    data = members("Ben", "")
    data["members"].append({"id": "m3", "email": "cy@mail.example"})
    data["members"][where]["email"] = address + after
    path = tmp_path_factory.mktemp("data") / "people.json"
    text = json.dumps(data, indent=2)
    path.write_text(text, encoding="utf-8")
    engine = Engine.open(notes, db=path.with_suffix(".db"), notifiers={})
    try:
        with pytest.raises(DefinitionError) as caught:
            engine.load_data(path)
        assert engine.export() == {"members": []}
    finally:
        engine.close()
    [problem] = [LOCATED.match(str(p)) for p in caught.value.problems]
    assert problem is not None and problem["path"].endswith("people.json")
    line = text.splitlines()[int(problem["line"]) - 1]
    assert '"email"' in line and "is not a plain email address" in problem["message"]
    assert int(problem["line"]) == 1 + next(i for i, row in enumerate(text.splitlines()) if json.dumps(address + after) in row)
    TALLY["addresses"] += 1
    TALLY["located"] += 1


def test_a_yaml_data_file_with_an_address_ending_in_a_newline_is_refused_with_its_location(notes: Path, tmp_path: Path) -> None:
    path = tmp_path / "people.yaml"
    path.write_text('members:\n  - id: m1\n    email: "ana@mail.example\\n"\n', encoding="utf-8")
    engine = Engine.open(notes, db=tmp_path / "db.sqlite", notifiers={})
    with pytest.raises(DefinitionError) as caught:
        engine.load_data(path)
    engine.close()
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3:12: members[0].email: 'ana@mail.example\\n' is not a plain email address; write one plain address such as name@example.com: no display name, spaces, line breaks or '=?'"
    ]
    TALLY["addresses"] += 1
    TALLY["located"] += 1


@pytest.mark.parametrize("after", ["\n", "\r\n", " ", "\u2028", "=?"], ids=["lf", "crlf", "space", "u2028", "encoded-word"])
def test_a_project_whose_sender_is_not_one_address_is_refused_with_its_location(tmp_path: Path, after: str) -> None:
    root = write_project(tmp_path / "p")
    project = root / "flows" / "project.yaml"
    project.write_text(
        project.read_text(encoding="utf-8").replace("sender: notes@mail.example", f"sender: {json.dumps('notes@mail.example' + after)}"), encoding="utf-8"
    )
    with pytest.raises(DefinitionError) as caught:
        Engine.open(root, notifiers={})
    [problem] = [LOCATED.match(str(p)) for p in caught.value.problems]
    assert problem is not None and problem["path"].endswith("project.yaml") and (problem["line"], problem["col"]) == ("3", "11")
    assert "is not a plain email address" in problem["message"]
    TALLY["addresses"] += 1
    TALLY["located"] += 1
