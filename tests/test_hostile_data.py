"""Hostile data and answers: no header injection, every address checked, HTML escaped, bad files and answers refused.

* Names holding CR/LF (and the other characters Python or mail readers break
  lines at) go through a real commit into .eml files, which are parsed back
  with the stdlib `email` package: no injected header, no extra recipient.
* Addresses that are not one plain address are refused before anything
  changes, in a dry-run and in a commit.
* HTML emails escape data; plain-text ones carry it as written.
* Oversized, deeply nested, alias-bomb and non-UTF-8 files are refused with a
  located error, whether they are a flow, a data file or an answers file.
* Answers of the wrong type, oversized text and look-alike Unicode in the
  typed confirmation are refused with the field at fault, and nothing changes;
  an NFC-equal confirmation passes.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import copy_project, invoke
from conftest import DEMO, PROJECT, figures

from clientflow import Engine
from clientflow.default_plugins.mail import build_message
from clientflow.default_plugins.outbox_files import OutboxFolder
from clientflow.errors import ClientflowError, DefinitionError
from clientflow.language.yamlfile import MAX_BYTES, MAX_DEPTH, MAX_YAML_DATA_BYTES
from clientflow.storage import Email

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
LOCATED = re.compile(r"^(?P<path>[^\n]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")
HEADERS = {"From", "To", "Subject", "Message-ID", "Date", "X-Clientflow-Template", "X-Clientflow-Run", "MIME-Version", "Content-Type"}
BREAKS = ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r\n\t", "\n "]

TALLY: Counter[str] = Counter()


def _figures() -> str:
    return (
        f"hostile data: {TALLY['injections']} header injections tried in {TALLY['emails']} emails (none reached a header), "
        f"{TALLY['addresses']} bad addresses refused, {TALLY['files']} bad files refused with a location, "
        f"{TALLY['answers']} bad answers refused with nothing changed"
    )


summary = figures(_figures)


def demo() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    return data


def write_data(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def client(data: dict[str, Any], id: str) -> dict[str, Any]:
    return next(c for c in data["clients"] if c["id"] == id)


def commit_and_read(tmp_path: Path, data: dict[str, Any], flow: str, actor: str, subject: str, answers: dict[str, Any]) -> list[EmailMessage]:
    """Commit the flow over `data` on SQLite, deliver to an outbox folder, and parse the .eml files back."""
    out = tmp_path / "outbox"
    engine = Engine.open(PROJECT, db=tmp_path / "db.sqlite", now=NOW, notifiers={"outbox": OutboxFolder(out)})
    engine.load_data(write_data(tmp_path, data))
    plan = engine.apply(flow, actor, subject, answers)
    assert plan is not None and plan.status == "completed", plan and plan.to_json()
    assert engine.deliver().failed == 0
    engine.close()
    messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(out.glob("*.eml"))]
    assert len(messages) == len(plan.emails) > 0
    return messages  # type: ignore[return-value]


def assert_clean_headers(message: EmailMessage, recipients: set[str]) -> None:
    assert set(message.keys()) - {"Content-Transfer-Encoding"} == HEADERS, f"unexpected headers: {set(message.keys()) ^ HEADERS}"
    assert [len(message.get_all(name) or []) for name in HEADERS] == [1] * len(HEADERS), "a header appears twice"
    assert {address for _, address in getaddresses(message.get_all("To") or [])} == recipients
    for name in HEADERS:
        value = str(message[name])
        assert not any(ch in value for ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), f"{name}: {value!r}"
    raw = message.as_bytes()
    assert not re.search(rb"(?im)^(bcc|cc|to|from|reply-to|x-injected)\s*:\s*\S*evil", raw[: raw.index(b"\n\n")])


# headers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("brk", BREAKS, ids=lambda b: "-".join(f"{ord(c):02x}" for c in b))
def test_line_breaks_in_names_never_reach_a_header(tmp_path: Path, brk: str) -> None:
    data = demo()
    acme = client(data, "c1")
    acme["name"] = f"Acme Ltd{brk}Bcc: evil@attacker.example{brk}X-Injected: evil"
    acme["users"][0]["name"] = f"Carla{brk}Cc: evil2@attacker.example"
    data["partners"][0]["name"] = f"Northwind{brk}Reply-To: evil3@attacker.example"
    messages = commit_and_read(tmp_path, data, "disconnect-client", "u1", "c1", {"owner": "cu1"})
    by_template = {str(m["X-Clientflow-Template"]): m for m in messages}
    assert_clean_headers(by_template["disconnect-practice"], {"alice@northwind.example"})
    assert_clean_headers(by_template["disconnect-client"], {"carla@acme.example"})
    for message in messages:
        assert "Bcc: evil@attacker.example" in str(message["Subject"]), "the name is kept, on one line, in the subject"
        assert [name for name in HEADERS - {"Subject"} if "evil" in str(message[name])] == []
    TALLY["injections"] += 3
    TALLY["emails"] += len(messages)


@pytest.mark.parametrize("brk", ["\r\n", "\n", "\u2028"], ids=["crlf", "lf", "u2028"])
def test_a_notifier_rechecks_every_header_it_builds(brk: str) -> None:
    """The last line of defence: whatever a queued row holds, the message built from it has one line per header."""
    queued = Email(
        id="r-0",
        message_id="<r-0@platform.example>",
        sender="no-reply@platform.example",
        to=("alice@northwind.example",),
        subject=f"Hello{brk}Bcc: evil@attacker.example",
        text="Hello",
        html=None,
        template=f"t{brk}Bcc: evil@attacker.example",
        run=f"r{brk}Bcc: evil@attacker.example",
    )
    message = build_message(queued)
    parsed = email.message_from_bytes(bytes(message), policy=email.policy.default)
    assert_clean_headers(parsed, {"alice@northwind.example"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="is not a Message-ID this engine makes"):  # made by the commit, so refused, not repaired
        build_message(Email(**{**queued.__dict__, "message_id": f"<r-0@platform.example>{brk}Bcc: evil@attacker.example"}))
    TALLY["injections"] += 4
    TALLY["emails"] += 1


BAD_ADDRESSES = [
    "carla@acme.example\r\nBcc: evil@attacker.example",
    "carla@acme.example\nevil@attacker.example",
    "carla@acme.example, evil@attacker.example",
    "carla@acme.example;evil@attacker.example",
    "Carla Diaz <carla@acme.example>",
    "<evil@attacker.example>",
    "carla@acme.example ",
    "carla@acme.example\x00",
    "carla@acmе.example",  # a Cyrillic е in the domain
    "carlа@acme.example",  # a Cyrillic а in the local part
    "carla@@acme.example",
    "carla@localhost",
    "carla@-acme.example",
    "carla@acme..example",
    "x" * 65 + "@acme.example",
    "carla@" + "a" * 250 + ".example",
    '"evil@attacker.example"@acme.example',
    "carla(comment)@acme.example",
]


@pytest.mark.parametrize("address", BAD_ADDRESSES, ids=range(len(BAD_ADDRESSES)))
@pytest.mark.parametrize("whose", ["recipient", "actor"])
def test_an_address_that_is_not_one_plain_address_is_refused_before_anything_changes(tmp_path: Path, address: str, whose: str) -> None:
    data = demo()
    if whose == "recipient":
        client(data, "c1")["users"][0]["email"] = address  # the chosen owner's address
    else:
        data["partners"][0]["users"][0]["email"] = address  # the practice administrator acting
    engine = Engine.open(PROJECT, data=write_data(tmp_path, data), now=NOW, notifiers={})
    before = engine.export()
    for attempt in (engine.simulate, engine.apply):
        with pytest.raises(ClientflowError, match="is not a valid email address"):
            attempt("disconnect-client", "u1", "c1", {"owner": "cu1"})
    assert engine.export() == before
    with engine.storage.transaction() as tx:
        assert tx.outbox() == []
    assert [e for e in engine.audit_log() if e["status"] == "completed"] == []
    TALLY["addresses"] += 1


def test_html_emails_escape_data_and_text_emails_keep_it(tmp_path: Path) -> None:
    data = demo()
    name = "<script>alert('x')</script> & \"Sons\" <b>Ltd</b>"
    client(data, "c1")["name"] = name
    messages = commit_and_read(tmp_path, data, "deactivate-client", "u1", "c1", {"notify_client": True})
    for message in messages:
        html = message.get_body(("html",))
        text = message.get_body(("plain",))
        assert html is not None and text is not None
        content = html.get_content()
        assert "<script>" not in content and "<b>Ltd</b>" not in content
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;Sons&#34; &lt;b&gt;Ltd&lt;/b&gt;" in content
        assert name in text.get_content()


# files ----------------------------------------------------------------------------------------------
def billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


BAD_FILES: dict[str, tuple[bytes, str]] = {
    "oversized": (b"", "the limit is {limit:,}"),  # made for each kind of file: definitions and data files have their own limits
    "deeply-nested": (b"id: x\nsteps: " + b"[" * (MAX_DEPTH + 50) + b"]" * (MAX_DEPTH + 50) + b"\n", f"nested more than {MAX_DEPTH} levels deep"),
    "deeply-nested-block": (
        b"id: x\n" + b"".join(b"  " * i + f"k{i}:\n".encode() for i in range(MAX_DEPTH + 10)) + b"  " * (MAX_DEPTH + 10) + b"v\n",
        f"nested more than {MAX_DEPTH} levels deep",
    ),
    "billion-laughs": (billion_laughs().encode(), "alias *a repeats the value anchored &a at line 1"),
    "non-utf8": (b"id: x\ntitle: Caf\xe9 \xff\n", "is not UTF-8 text"),
    "utf16": ("id: x\n".encode("utf-16"), "is not UTF-8 text"),
}


def bad_file(kind: str, limit: int = MAX_BYTES) -> tuple[bytes, str]:
    """The bytes of a hostile file and a piece of the message refusing it."""
    content, says = BAD_FILES[kind]
    if kind == "oversized":
        return b"# " + b"x" * limit + b"\n", says.format(limit=limit)
    return content, says


def located(problems: list[str], name: str, says: str) -> None:
    found = [m for m in (LOCATED.match(p) for p in problems) if m and m["path"].endswith(name) and int(m["line"]) >= 1 and int(m["col"]) >= 1]
    assert found, f"no problem located in {name}: {problems[:3]}"
    assert any(says in m["message"] for m in found), f"expected {says!r} in {problems[:3]}"


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_hostile_flow_file_is_refused_with_a_location(kind: str, tmp_path: Path) -> None:
    content, says = bad_file(kind)
    project = copy_project(tmp_path / "project")
    (project / "flows" / "hostile.yaml").write_bytes(content)
    with pytest.raises(DefinitionError) as caught:
        Engine.open(project, data=DEMO, notifiers={})
    located([str(p) for p in caught.value.problems], "flows/hostile.yaml", says)
    TALLY["files"] += 1


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_hostile_data_file_is_refused_with_a_location_and_nothing_loaded(kind: str, tmp_path: Path) -> None:
    content, says = bad_file(kind, MAX_YAML_DATA_BYTES)  # a data file written as YAML: JSON and JSON Lines are streamed at any size
    path = tmp_path / "data.yaml"
    path.write_bytes(content)
    engine = Engine.open(PROJECT, db=tmp_path / "db.sqlite", notifiers={})
    with pytest.raises(DefinitionError) as caught:
        engine.load_data(path)
    located([str(p) for p in caught.value.problems], "data.yaml", says)
    assert engine.export() == {"partners": [], "clients": []}
    engine.close()
    TALLY["files"] += 1


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_hostile_answers_file_is_refused_with_a_location(kind: str, tmp_path: Path) -> None:
    content, says = bad_file(kind)
    path = tmp_path / "answers.yaml"
    path.write_bytes(content)
    result = invoke("simulate", "deactivate-client", "--project", PROJECT, "--data", DEMO, "--actor", "u1", "--client", "c1", "--answers", path)
    assert result.exit_code == 1, result.output
    located([line.removeprefix("error: ") for line in result.stderr.splitlines()], "answers.yaml", says)
    TALLY["files"] += 1


# answers ----------------------------------------------------------------------------------------------
CAFE = "Café Zoë"  # NFC
BAD_ANSWERS = [
    ("disconnect-client", "c1", {"owner": ["cu1"]}, "owner"),
    ("disconnect-client", "c1", {"owner": {"id": "cu1"}}, "owner"),
    ("disconnect-client", "c1", {"owner": "cu999"}, "owner"),
    ("disconnect-client", "c1", {"owner": "cu7"}, "owner"),  # a user of another practice's client
    ("disconnect-client", "c1", {"owner": "u1"}, "owner"),  # a practice user
    ("disconnect-client", "c1", {"owner": "hugo@marine.example"}, "owner"),
    ("disconnect-client", "c1", {"owner": "cu1", "reason": "x" * 1001}, "reason"),
    ("disconnect-client", "c1", {"owner": "cu1", "reason": "x" * 1_000_000}, "reason"),
    ("disconnect-client", "c1", {"owner": "cu1", "reason": ["why"]}, "reason"),
    ("disconnect-client", "c1", {"owner": "cu1", "reason": True}, "reason"),
    ("disconnect-client", "c1", {"owner": "cu1", "reason": {"a": 1}}, "reason"),
    ("disconnect-client", "c1", {"owner": "cu1", "bogus": 1}, "bogus"),
    ("deactivate-client", "c1", {"notify_client": "maybe"}, "notify_client"),
    ("deactivate-client", "c1", {"notify_client": 2}, "notify_client"),
    ("deactivate-client", "c1", {"notify_client": [True]}, "notify_client"),
    ("deactivate-client", "c1", {"notify_client": None, "reason": "é" * 1001}, "reason"),
    ("delete-client", "c2", {"confirm_name": "empty shell co"}, "confirm_name"),
    ("delete-client", "c2", {"confirm_name": "Empty Shell Co "}, "confirm_name"),
    ("delete-client", "c2", {"confirm_name": " Empty Shell Co"}, "confirm_name"),
    ("delete-client", "c2", {"confirm_name": "Ｅｍｐｔｙ Ｓｈｅｌｌ Ｃｏ"}, "confirm_name"),  # full-width: equal only under NFKC
    ("delete-client", "c2", {"confirm_name": "Empty Shell Cо"}, "confirm_name"),  # a Cyrillic о
    ("delete-client", "c2", {"confirm_name": "Еmpty Shell Co"}, "confirm_name"),  # a Cyrillic Е
    ("delete-client", "c2", {"confirm_name": "Empty\u200bShell Co"}, "confirm_name"),  # a zero-width space
    ("delete-client", "c2", {"confirm_name": "Empty\u00a0Shell Co"}, "confirm_name"),  # a no-break space: NFKC-equal only
    ("delete-client", "c2", {"confirm_name": "Empty Shell Co\u0301"}, "confirm_name"),  # a combining accent
    ("delete-client", "c2", {"confirm_name": ["Empty Shell Co"]}, "confirm_name"),
    ("delete-client", "c2", {"confirm_name": True}, "confirm_name"),
    ("delete-client", "c2", {"confirm_name": "Empty Shell Co" * 40}, "confirm_name"),
    ("delete-client", "c8", {"confirm_name": "ＣＡＦＥ ＺＯＥ"}, "confirm_name"),
    ("delete-client", "c8", {"confirm_name": "Cafe\u0301 Zoe\u0308".upper()}, "confirm_name"),
    ("delete-client", "c8", {"confirm_name": "Cafe Zoe"}, "confirm_name"),
    ("delete-client", "c8", {"confirm_name": "Caf\ufb00 Zoë"}, "confirm_name"),  # a ligature
    ("invite-accountant", "c5", {"partner": "p1' or '1'=='1"}, "partner"),
    ("invite-accountant", "c5", {"partner": "p" * 201}, "partner"),
    ("invite-accountant", "c5", {"partner": ["p1"]}, "partner"),
]
ACTORS = {"invite-accountant": "cu5"}


@pytest.fixture
def answers_engine(tmp_path: Path) -> Iterator[Engine]:
    data = demo()
    data["clients"].append({"id": "c8", "name": CAFE, "partner": "p1", "billing": "partner", "subscription": "active", "owner": None, "users": []})
    engine = Engine.open(PROJECT, data=write_data(tmp_path, data), now=NOW, notifiers={})
    yield engine
    engine.close()


@pytest.mark.parametrize(("flow", "subject", "answers", "field"), BAD_ANSWERS, ids=[f"{i}-{c[0]}-{c[3]}" for i, c in enumerate(BAD_ANSWERS)])
def test_a_bad_answer_is_refused_with_its_field_and_nothing_changes(
    answers_engine: Engine, flow: str, subject: str, answers: dict[str, Any], field: str
) -> None:
    engine = answers_engine
    actor = ACTORS.get(flow, "u1")
    before = engine.export()
    dry = engine.simulate(flow, actor, subject, answers)
    assert dry.status == "invalid" and [e["field"] for e in dry.errors] == [field], dry.errors
    assert all(e["message"].strip() for e in dry.errors)
    real = engine.apply(flow, actor, subject, answers)
    assert real is not None and real.status == "invalid" and [e["field"] for e in real.errors] == [field]
    assert real.changes == [] and real.emails == []
    view = engine.start(flow, actor, subject, answers)
    assert view.status == "invalid" and [e["field"] for e in view.errors] == [field]
    assert engine.export() == before
    assert [e for e in engine.audit_log() if e["status"] == "completed"] == []
    with engine.storage.transaction() as tx:
        assert tx.outbox() == []
    TALLY["answers"] += 1


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        pytest.param(CAFE, unicodedata.normalize("NFD", CAFE), id="stored-nfc-typed-nfd"),
        pytest.param(unicodedata.normalize("NFD", CAFE), CAFE, id="stored-nfd-typed-nfc"),
        pytest.param(CAFE, CAFE, id="same"),
    ],
)
def test_a_confirmation_equal_after_nfc_passes(tmp_path: Path, stored: str, typed: str) -> None:
    data = demo()
    data["clients"].append({"id": "c8", "name": stored, "partner": "p1", "billing": "partner", "subscription": "active", "owner": None, "users": []})
    engine = Engine.open(PROJECT, data=write_data(tmp_path, data), now=NOW, notifiers={})
    assert stored != typed or stored == CAFE
    plan = engine.apply("delete-client", "u1", "c8", {"confirm_name": typed})
    assert plan is not None and plan.status == "completed", plan and plan.errors
    assert "c8" not in {c["id"] for c in engine.export()["clients"]}
