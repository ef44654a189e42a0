"""Database passwords never print: not in `clientflow config`, not in a connection error, whatever the DSN's form.

A PostgreSQL connection string comes as a URL (`postgresql://bob:PW@host/db`,
`...?password=PW`) or in libpq's keyword form (`host=db user=bob password=PW`,
`password = 'a b'`, backslash escapes). Hypothesis writes generated passwords
(any printable Unicode: spaces, quotes, backslashes, `=`, `@`, `&`, `*`) in
every form, sets them in the configuration file or CLIENTFLOW_DB, and checks
the password appears neither in `clientflow config` (text and JSON) nor in the
error a failed connection gives, while the rest of the DSN is still shown.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from conftest import DEMO, PROJECT, figures
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clientflow.cli import cli
from clientflow.config import MASK, load_config, mask_url
from clientflow.errors import ConfigError

pytest.importorskip("psycopg", reason="the postgres extra is part of the test extra: pip install -e '.[test]'")
from clientflow.default_plugins.postgres import PostgresStorage  # noqa: E402

TALLY: Counter[str] = Counter()
CLOSED = "127.0.0.1"  # with port 1: the connection is refused at once


summary = figures(
    lambda: (
        f"dsn secrets: {TALLY['passwords']} generated passwords in {TALLY['forms']} DSNs (5 forms), "
        f"shown {TALLY['shown']} times by `clientflow config` (file and CLIENTFLOW_DB, text and JSON) and in {TALLY['errors']} connection errors: the password appeared 0 times"
    )
)


@pytest.fixture(autouse=True)
def no_settings_from_the_shell(clean_environment: None) -> None:
    """Every test here sets the environment it means."""


def quoted(password: str) -> str:
    return "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"


def escaped(password: str) -> str:
    return "".join("\\" + ch if ch in "\\' \t\n\r\x0b\x0c" else ch for ch in password)


FORMS: dict[str, Callable[[str], str]] = {
    "keyword-quoted": lambda pw: f"host={CLOSED} port=1 user=bob password={quoted(pw)} dbname=flows",
    "keyword-spaced-first": lambda pw: f"password = {quoted(pw)} host={CLOSED} port=1 dbname=flows",
    "keyword-escaped-last": lambda pw: f"host={CLOSED} port=1 dbname=flows password={escaped(pw)}",
    "url-user-part": lambda pw: f"postgresql://bob:{quote(pw, safe='')}@{CLOSED}:1/flows",
    "url-query": lambda pw: f"postgresql://bob@{CLOSED}:1/flows?sslmode=disable&password={quote(pw, safe='')}",
}
PASSWORDS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=6, max_size=40)


def written(form: str, password: str) -> list[str]:
    """The password as the DSN holds it, and as the driver reads it: neither may be shown."""
    return sorted({password, quote(password, safe="")} if form.startswith("url") else {password})


def shown_config(root: Path, env: dict[str, str]) -> list[str]:
    outputs = []
    for fmt in ("text", "json"):
        result = CliRunner().invoke(cli, ["config", "--project", str(root), "--format", fmt], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    json.loads(outputs[1])
    return outputs


def connection_error(dsn: str) -> str:
    storage = PostgresStorage(url=dsn, connect_timeout=1)
    with pytest.raises(ConfigError) as caught, storage.transaction():
        pass
    storage.close()
    return str(caught.value)


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(password=PASSWORDS, form=st.sampled_from(sorted(FORMS)))
def test_a_password_in_any_dsn_form_never_prints(tmp_path_factory: pytest.TempPathFactory, password: str, form: str) -> None:
    dsn, baseline = FORMS[form](password), FORMS[form]("x")
    root, bare = tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("bare")

    def outputs(given: str) -> list[str]:
        (root / "clientflow.toml").write_text(f'storage = {{backend = "postgresql", url = {json.dumps(given, ensure_ascii=False)}}}\n', encoding="utf-8")
        return [*shown_config(root, {}), *shown_config(bare, {"CLIENTFLOW_DB": given}), connection_error(given), mask_url(given)]

    # A password that the output holds anyway (e.g. "source", a folder's name, part of the mask) proves nothing: skip it.
    assume(not any(secret in text for secret in written(form, password) for text in [baseline, MASK, *outputs(baseline)]))
    shown = outputs(dsn)
    assert load_config(root, {}).storage_settings["url"] == dsn  # the file holds it as written
    error = shown[-2]
    assert error.startswith("cannot connect to PostgreSQL at ")
    for text in shown:
        for secret in written(form, password):
            assert secret not in text, f"{form}: the password is shown in {text!r}"
        assert CLOSED in text, "the rest of the DSN is still shown"
    TALLY["passwords"] += 1
    TALLY["forms"] += 1
    TALLY["shown"] += 4
    TALLY["errors"] += 1


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("host=db.internal user=bob password=hunter2 dbname=flows", "host=db.internal user=bob password=******** dbname=flows"),
        ("host=db password='a b' user=bob", "host=db password=******** user=bob"),
        ("host=db password = 'it\\'s' user=bob", "host=db password = ******** user=bob"),
        ("host=db password=a\\ b user=bob", "host=db password=******** user=bob"),
        ("host=db password='unterminated user=bob", "host=db password=********"),
        ("host=db sslpassword=keypass password=hunter2", "host=db sslpassword=******** password=********"),
        ("host=db password=********hunter2", "host=db password=********"),
        ("host=db user=bob", "host=db user=bob"),
    ],
    ids=["plain", "quoted", "spaced-escaped-quote", "escaped-space", "unterminated", "ssl-password", "starts-like-the-mask", "no-password"],
)
def test_keyword_dsns_are_masked(dsn: str, masked: str) -> None:
    assert mask_url(dsn) == masked


def test_a_keyword_dsn_in_the_environment_chooses_postgresql_and_never_becomes_a_file(tmp_path: Path) -> None:
    """CLIENTFLOW_DB takes a path, a URL or a keyword DSN; the DSN is PostgreSQL's, never a SQLite file named after it."""
    dsn = f"host={CLOSED} port=1 user=bob password=hunter2"
    assert load_config(tmp_path, {"CLIENTFLOW_DB": dsn}).storage == "postgresql"
    [text, as_json] = shown_config(tmp_path, {"CLIENTFLOW_DB": dsn})
    assert "hunter2" not in text + as_json and json.loads(as_json)["storage"]["url"] == f"host={CLOSED} port=1 user=bob password={MASK}"
    for name in ("flows", "templates", "schema"):
        (tmp_path / name).symlink_to(PROJECT / name)
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in (["export"], ["init", "--data", str(DEMO)]):
        result = CliRunner().invoke(cli, [*command, "--project", str(tmp_path)], env={"CLIENTFLOW_DB": dsn})
        assert result.exit_code == 1 and "hunter2" not in result.output and "cannot connect to PostgreSQL" in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_password_is_masked_wherever_it_recurs(tmp_path: Path) -> None:
    """libpq repeats a bad option's value in its message; when that value is the password, it is masked, as in `config`."""
    error = connection_error(f"host={CLOSED} port=hunter2x password=hunter2x")
    assert "hunter2x" not in error and error.count(MASK) >= 2
    shown = shown_config(tmp_path, {"CLIENTFLOW_DB": f"host={CLOSED} port=hunter2x password=hunter2x"})
    assert not any("hunter2x" in text for text in shown) and f"port={MASK}" in shown[1]
