"""`clientflow init` streaming JSON and JSON Lines: what the whole-file loader loads, all or nothing, located problems.

A data file is read a record at a time (clientflow.language.datastream) and
written through the backend's bulk path in one transaction
(clientflow.runtime.loading); these tests hold it to the loader it replaces,
on SQLite and PostgreSQL, with bad records first, in the middle and last.
"""

from __future__ import annotations

import json
import re
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import yaml
from cli_support import DEMO, PROJECT, clean_env
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import clientflow.plugins
from clientflow import Engine, hookimpl
from clientflow.cli import cli
from clientflow.default_plugins.memory import MemoryStorage
from clientflow.errors import DataError
from clientflow.language import datastream
from clientflow.language.datastream import open_stream
from clientflow.language.yamlfile import MAX_YAML_DATA_BYTES
from clientflow.runtime.data import key_plan
from clientflow.runtime.loading import BATCH

DATA: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
LOCATED = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>.*)$")


def clients(count: int) -> list[dict[str, Any]]:
    """Records the fixture project's data schema accepts, every key unique."""
    return [
        {
            "id": f"g{n:05d}",
            "name": f"Generated {n} Ltd",
            "partner": "p1" if n % 3 else None,
            "billing": "partner" if n % 4 else "self_paying",
            "subscription": "active",
            "owner": None,
            "users": [
                {"id": f"g{n}u{j}", "name": f"User {j} of {n}", "email": f"user{j}@g{n}.example", "role": "standard", "status": "active"} for j in range(n % 3)
            ],
        }
        for n in range(count)
    ]


def as_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def as_lines(data: dict[str, Any]) -> str:
    return "".join(json.dumps({"collection": name, "record": record}, ensure_ascii=False) + "\n" for name, records in data.items() for record in records)


WRITERS = {"json": as_json, "jsonl": as_lines}


def run(*args: Any, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env={**clean_env(), **(env or {})}, catch_exceptions=False)


class Database:
    """Where `init` loads: a SQLite file or a PostgreSQL schema."""

    def __init__(self, db: str, env: dict[str, str]) -> None:
        self.db, self.env = db, env

    def init(self, data: Path, *more: str) -> Result:
        return run("init", "--project", PROJECT, "--data", data, "--db", self.db, *more, env=self.env)

    def export(self) -> dict[str, Any]:
        done = run("export", "--project", PROJECT, "--db", self.db, "--format", "json", env=self.env)
        assert done.exit_code == 0, done.output
        return dict(json.loads(done.stdout))

    def index(self, data: dict[str, Any]) -> dict[tuple[str, str, str], list[tuple[str, str]]]:
        """What the look-up index answers for every key of `data`."""
        engine = Engine.open(PROJECT, db=self.db, env=self.env, notifiers={})
        try:
            plan = key_plan(engine.project)
            with engine.storage.transaction() as tx:
                return {key: tx.lookup(*key) for name, records in data.items() for record in records for key in plan.keys(name, record)}
        finally:
            engine.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return Database(str(tmp_path / "db.sqlite"), {})
    return Database(request.getfixturevalue("postgres_url"), {"CLIENTFLOW_DB_SCHEMA": request.getfixturevalue("postgres_schema")})


def problems(result: Result) -> list[dict[str, str]]:
    found = [m.groupdict() for line in result.stderr.splitlines() if (m := LOCATED.match(line))]
    assert found, result.output
    return found


def where(text: str, needle: str) -> tuple[int, int]:
    """Line and column (1-based) of the first `needle` in `text`."""
    at = text.index(needle)
    return text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)


# the same result ----------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_streamed_file_loads_what_the_whole_file_loader_loads(database: Database, tmp_path: Path, fmt: str) -> None:
    data = {"partners": DATA["partners"], "clients": DATA["clients"] + clients(BATCH + 321)}
    path = tmp_path / f"data.{fmt}"
    path.write_text(WRITERS[fmt](data), encoding="utf-8")
    done = database.init(path)
    assert done.exit_code == 0, done.output
    assert (
        done.stdout
        == f"loaded {len(data['partners']) + len(data['clients'])} records from {path} into the {'sqlite' if database.env == {} else 'postgresql'} database at {database.db}"
        + (f", schema {database.env['CLIENTFLOW_DB_SCHEMA']}" if database.env else "")  # the schema named, where one database holds several
        + "\n"
    )
    before = Database(str(tmp_path / "before.sqlite"), {})
    with Engine.open(PROJECT, db=before.db, notifiers={}) as engine:  # the loader of a whole file, as the Python API has it
        engine.replace_data(DEMO)
        engine.load_data(write(tmp_path / "more.json", {"partners": [], "clients": data["clients"][len(DATA["clients"]) :]}))
    assert database.export() == before.export()
    assert database.index(data) == before.index(data)


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(as_json(data), encoding="utf-8")
    return path


def test_the_fixture_data_loads_the_same_from_yaml_json_and_json_lines(tmp_path: Path) -> None:
    exported = []
    for name, text in (("demo.yaml", DEMO.read_text(encoding="utf-8")), ("demo.json", as_json(DATA)), ("demo.jsonl", as_lines(DATA))):
        (tmp_path / name).write_text(text, encoding="utf-8")
        database = Database(str(tmp_path / f"{name}.db"), {})
        assert database.init(tmp_path / name).exit_code == 0
        exported.append(database.export())
    assert exported[0] == exported[1] == exported[2]
    assert exported[0] == {name: sorted(records, key=lambda r: r["id"]) for name, records in DATA.items()}


# all or nothing, located --------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@pytest.mark.parametrize("at", ["first", "middle", "last"])
def test_a_bad_record_anywhere_changes_nothing_and_is_located(database: Database, tmp_path: Path, fmt: str, at: str) -> None:
    assert database.init(DEMO).exit_code == 0
    before = database.export()
    records = clients(2 * BATCH + 7)
    index = {"first": 0, "middle": len(records) // 2, "last": len(records) - 1}[at]
    records[index]["billing"] = f"nobody-{index}"
    path = tmp_path / f"bad.{fmt}"
    text = WRITERS[fmt]({"partners": DATA["partners"], "clients": records})
    path.write_text(text, encoding="utf-8")
    done = database.init(path, "--force")
    assert done.exit_code == 1
    (found,) = problems(done)
    assert (int(found["line"]), int(found["col"])) == where(text, f'"nobody-{index}"')
    assert found["path"] == str(path) and found["message"].startswith(f"clients[{index}].billing: ")
    assert database.export() == before


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_bad_record_leaves_no_new_database_behind(tmp_path: Path, fmt: str) -> None:
    records = clients(BATCH + 1)
    del records[-1]["name"]
    path = tmp_path / f"bad.{fmt}"
    path.write_text(WRITERS[fmt]({"partners": [], "clients": records}), encoding="utf-8")
    database = Database(str(tmp_path / "new.sqlite"), {})
    done = database.init(path)
    assert done.exit_code == 1 and f"clients[{BATCH}]: missing key 'name'" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_keys_used_twice_anywhere_are_located_and_change_nothing(database: Database, tmp_path: Path, fmt: str) -> None:
    assert database.init(DEMO).exit_code == 0
    before = database.export()
    records = clients(BATCH + 50)
    email = records[4]["users"][0]["email"]
    records[-1]["users"].append({**records[4]["users"][0], "id": "another"})
    records.append({**records[9], "name": "Same id, other name"})  # a document twice (without users): the backend refuses it too
    path = tmp_path / f"dup.{fmt}"
    text = WRITERS[fmt]({"partners": DATA["partners"], "clients": records})
    path.write_text(text, encoding="utf-8")
    done = database.init(path, "--force")
    assert done.exit_code == 1
    found = {p["message"].split(":")[0]: p for p in problems(done)}
    last = len(records) - 2
    second_email = f"clients[{last}].users[{len(records[last]['users']) - 1}].email"
    assert sorted(found) == sorted([second_email, f"clients[{len(records) - 1}].id"])
    first_line = where(text, json.dumps(email))[0]
    assert f"another user already has email {email!r} (first at line {first_line})" in found[second_email]["message"]
    assert int(found[second_email]["line"]) == text.count("\n", 0, text.rindex(json.dumps(email))) + 1
    assert f"another client already has id {records[9]['id']!r}" in found[f"clients[{len(records) - 1}].id"]["message"]
    assert database.export() == before


def test_a_syntax_error_stops_the_load_at_its_place(database: Database, tmp_path: Path) -> None:
    assert database.init(DEMO).exit_code == 0
    before = database.export()
    text = as_json({"partners": DATA["partners"], "clients": clients(BATCH * 2)})
    cut = text.index('"g03000"')
    broken = text[:cut] + "'g03000'" + text[cut + 8 :]
    path = tmp_path / "broken.json"
    path.write_text(broken, encoding="utf-8")
    done = database.init(path, "--force")
    assert done.exit_code == 1
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(broken)
    (found,) = problems(done)
    assert (int(found["line"]), int(found["col"])) == (expected.value.lineno, expected.value.colno)
    assert database.export() == before


def test_one_record_over_its_bound_is_refused_at_its_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datastream, "MAX_RECORD_BYTES", 4000)
    monkeypatch.setattr(datastream, "CHUNK", 1000)
    records = clients(30)
    records[20]["name"] = "x" * 5000
    text = as_json({"partners": [], "clients": records})
    path = tmp_path / "big.json"
    path.write_text(text, encoding="utf-8")
    database = Database(str(tmp_path / "db.sqlite"), {})
    done = database.init(path)
    assert done.exit_code == 1
    (found,) = problems(done)
    line = where(text, f'"id": "{records[20]["id"]}"')[0] - 1  # the record's "{" is on the line before its first key
    assert int(found["line"]) == line and "4,000 bytes" in found["message"]
    assert not (tmp_path / "db.sqlite").exists()


# JSON Lines ---------------------------------------------------------------------------------
def test_json_lines_skip_blank_lines_and_a_collection_without_lines_is_empty(tmp_path: Path) -> None:
    records = clients(5)
    path = tmp_path / "only-clients.jsonl"
    path.write_text("\n" + as_lines({"clients": records}).replace("\n", "\n\n", 2), encoding="utf-8")
    database = Database(str(tmp_path / "db.sqlite"), {})
    done = database.init(path)
    assert done.exit_code == 0, done.output
    assert database.export() == {"partners": [], "clients": records}


def test_every_broken_line_of_a_json_lines_file_is_reported_at_once(tmp_path: Path) -> None:
    good = as_lines({"clients": clients(3)}).splitlines()
    lines = [good[0], '{"collection": "clients"}', good[1], "{not json", '{"collection": "clientz", "record": {}}', good[2], "[1, 2]"]
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = Database(str(tmp_path / "db.sqlite"), {}).init(path)
    assert done.exit_code == 1
    found = {int(p["line"]): p["message"] for p in problems(done)}
    assert sorted(found) == [2, 4, 5, 7]
    assert '{"collection": NAME, "record": {...}}' in found[2] and found[7] == found[2]
    assert found[4].startswith("JSON syntax: ")
    assert "unknown key 'clientz'; did you mean 'clients'?" in found[5]
    assert not (tmp_path / "db.sqlite").exists()


@pytest.mark.parametrize("name", ["cut.jsonl", "cut.json"])
def test_a_line_cut_inside_a_text_is_told_in_our_words_where_it_is(tmp_path: Path, name: str) -> None:
    # a record cut short inside a text, the next line after it: json says "Invalid control character at", cut mid-sentence
    good = as_lines({"clients": clients(3)}).splitlines()
    text = "\n".join([good[0], good[1][:30], good[2]]) + "\n" if name.endswith(".jsonl") else '{"clients": [{"id": "c1", "name": "Ac\nme"}]}'
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    done = Database(str(tmp_path / "db.sqlite"), {}).init(path)
    assert done.exit_code == 1
    (found,) = problems(done)
    assert int(found["line"]) == (2 if name.endswith(".jsonl") else 1)
    assert found["message"].startswith("JSON syntax: a control character (such as a line break) inside a text")
    assert not found["message"].endswith(" at")
    assert not (tmp_path / "db.sqlite").exists()


def test_export_as_json_lines_loads_again(tmp_path: Path) -> None:
    first = Database(str(tmp_path / "first.sqlite"), {})
    assert first.init(DEMO).exit_code == 0
    lines = run("export", "--project", PROJECT, "--db", first.db, "--format", "jsonl")
    assert lines.exit_code == 0, lines.output
    assert [json.loads(line)["collection"] for line in lines.stdout.splitlines()] == [name for name, records in DATA.items() for _ in records]
    (tmp_path / "again.jsonl").write_text(lines.stdout, encoding="utf-8")
    second = Database(str(tmp_path / "second.sqlite"), {})
    assert second.init(tmp_path / "again.jsonl").exit_code == 0
    assert second.export() == first.export()


# YAML: bounded before reading ---------------------------------------------------------------
def test_a_yaml_file_too_large_is_refused_by_its_size_before_reading(tmp_path: Path) -> None:
    database = Database(str(tmp_path / "db.sqlite"), {})
    assert database.init(DEMO).exit_code == 0
    before = database.export()
    path = tmp_path / "huge.yaml"
    size = MAX_YAML_DATA_BYTES + 1 + 50 * 1024 * 1024
    with path.open("wb") as sparse:  # takes no disk; read, it would not even be text
        sparse.truncate(size)
    tracemalloc.start()
    try:
        done = database.init(path, "--force")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert done.exit_code == 1
    (found,) = problems(done)
    assert found["message"].startswith(f"the file is {size:,} bytes; the limit is {MAX_YAML_DATA_BYTES:,} for a data file written as YAML")
    assert "JSON" in found["message"] and "JSON Lines (.jsonl)" in found["message"]
    assert peak < 20 * 1024 * 1024, f"{peak:,} bytes allocated: the file was read"
    assert database.export() == before


# a backend that empties only in a transaction of its own --------------------------------------
class KeepingStorage(MemoryStorage):
    """A third-party backend: kept (as far as the test goes), with `clear()` but no clear inside a transaction."""

    name = "keeping"
    persistent = True


class Keeping:
    """Registers one KeepingStorage for the whole test, as a server would be."""

    def __init__(self) -> None:
        self.store = KeepingStorage()

    @hookimpl
    def clientflow_register_storage(self, register: Any) -> None:
        register("keeping", lambda **settings: self.store)


@pytest.fixture
def keeping(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    pm = clientflow.plugins.load_plugins(pluggy.PluginManager("clientflow"))
    pm.register(Keeping(), name="keeping")
    monkeypatch.setattr(clientflow.plugins, "_pm", pm)
    project = tmp_path / "project"
    for part in ("flows", "templates", "schema", "data"):
        (project / part).mkdir(parents=True)
        for item in (PROJECT / part).rglob("*"):
            if item.is_file():
                target = project / part / item.relative_to(PROJECT / part)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(item.read_bytes())
    (project / "clientflow.toml").write_text('storage = {backend = "keeping"}\nnotifiers = []\n', encoding="utf-8")
    yield project


def test_force_on_a_backend_that_empties_apart_checks_the_whole_file_first(keeping: Path, tmp_path: Path) -> None:
    assert run("init", "--project", keeping, "--data", DEMO).exit_code == 0
    before = run("export", "--project", keeping, "--format", "json").stdout
    records = clients(BATCH + 10)
    records[-1]["subscription"] = "gone"
    bad = tmp_path / "bad.json"
    bad.write_text(as_json({"partners": [], "clients": records}), encoding="utf-8")
    done = run("init", "--project", keeping, "--data", bad, "--force")
    assert done.exit_code == 1 and f"clients[{BATCH + 9}].subscription" in done.stderr
    assert run("export", "--project", keeping, "--format", "json").stdout == before
    records[-1]["subscription"] = "active"
    bad.write_text(as_json({"partners": [], "clients": records}), encoding="utf-8")
    done = run("init", "--project", keeping, "--data", bad, "--force")
    assert done.exit_code == 0, done.output
    assert json.loads(run("export", "--project", keeping, "--format", "json").stdout) == {"partners": [], "clients": records}


# properties -----------------------------------------------------------------------------------
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False) | TEXT
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)
FILES = st.dictionaries(TEXT, st.lists(st.dictionaries(TEXT, VALUES, max_size=4), max_size=6) | SCALARS, max_size=4)
STYLES = st.sampled_from([{"indent": 2}, {"separators": (",", ":")}, {}, {"indent": "\t", "ensure_ascii": False}, {"ensure_ascii": False}])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=FILES, style=STYLES, chunk=st.integers(1, 64))
def test_the_reader_yields_what_the_json_module_reads_whatever_the_chunks(data: dict[str, Any], style: dict[str, Any], chunk: int) -> None:
    """Property: records in file order and every other top-level value, as json.loads reads them, for any chunk size."""
    text = json.dumps(data, **style)
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(datastream, "CHUNK", chunk)
        path = Path(folder) / "data.json"
        path.write_text(text, encoding="utf-8")
        reader = open_stream(path, str(path))
        records = list(reader.records())
        longest = max((len(json.dumps({k: v}, **style).encode()) for k, v in data.items()), default=0)  # a record's text may hold its list's key
        held = max((len(r.source.text) for r in records), default=0)
    assert [(r.name, r.position, r.value) for r in records] == [(n, i, v) for n, vs in data.items() if isinstance(vs, list) for i, v in enumerate(vs)]
    assert reader.shape == {n: [] if isinstance(v, list) else v for n, v in data.items()}
    assert held <= 4 * max(chunk, longest) + 8  # bounded: a chunk and the value being read (with its key), never the file


@settings(max_examples=150, deadline=None)
@given(data=FILES, style=STYLES, chunk=st.integers(1, 64), at=st.integers(0, 10**6), junk=st.sampled_from(["@", "}", ",", "]", "[", '"', "tru", "\x01", "\n,"]))
def test_a_syntax_error_is_located_where_the_json_module_locates_it(data: dict[str, Any], style: dict[str, Any], chunk: int, at: int, junk: str) -> None:
    """Property: junk put anywhere gives a problem at json.loads's line and column, or a file that reads the same (any chunk size)."""
    text = json.dumps(data, **style)
    at %= len(text) + 1
    broken = text[:at] + junk + text[at:]
    assume(broken.lstrip(" \t\n\r").startswith("{"))  # otherwise refused at its first character, with what a data file is
    try:
        expected = json.loads(broken)
    except json.JSONDecodeError as exc:
        place = (exc.lineno, exc.colno)
    except ValueError:
        assume(False)  # a duplicate key or so: located by another path
    else:
        place = None
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(datastream, "CHUNK", chunk)
        path = Path(folder) / "data.json"
        path.write_text(broken, encoding="utf-8")
        reader = open_stream(path, str(path))
        try:
            records = list(reader.records())
        except DataError as exc:
            (problem,) = exc.problems
            found = (problem.location.line, problem.location.col)
            if "duplicate key" in problem.message:  # reading stops at a name used twice, which the json module lets pass
                assert place is None or found < place
                return
            assert place is not None, f"refused a file the json module reads: {exc}"
            assert found == place
            return
    assert place is None, "read a file the json module refuses"
    assert [r.value for r in records] == [v for vs in expected.values() if isinstance(vs, list) for v in vs]


NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20)


@st.composite
def record_sets(draw: st.DrawFn) -> dict[str, Any]:
    """Practices and clients as the fixture schema has them, every key unique, names in any script."""
    count = draw(st.integers(0, 12))
    names = draw(st.lists(NAMES, min_size=count + 2, max_size=count + 2, unique=True))
    partners = [
        {"id": f"p{n}", "name": names[n], "users": [{"id": f"pu{n}", "name": names[n], "email": f"p{n}@x.example", "role": "administrator"}]} for n in range(2)
    ]
    records = []
    for n in range(count):
        users = draw(st.integers(0, 3))
        records.append(
            {
                "id": draw(st.sampled_from([f"c{n}", f"ç{n}", f"{n:03d}", f"c {n} ✓"])),
                "name": names[n + 2],
                "partner": draw(st.sampled_from(["p0", "p1", None])),
                "billing": draw(st.sampled_from(["partner", "self_paying"])),
                "subscription": draw(st.sampled_from(["active", "deactivated"])),
                "owner": draw(st.sampled_from([None, f"u{n}"])),
                "users": [
                    {
                        "id": f"c{n}u{j}",
                        "name": draw(NAMES),
                        "email": f"u{j}@c{n}.example",
                        "role": "standard",
                        "status": draw(st.sampled_from(["active", "invited"])),
                    }
                    for j in range(users)
                ],
            }
        )
    return {"partners": partners, "clients": records}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=record_sets(), fmt=st.sampled_from(["json", "jsonl"]))
def test_generated_records_round_trip_through_init_and_export(data: dict[str, Any], fmt: str) -> None:
    """Property: what init loads, export gives back (in id order), and it loads again the same."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data.{fmt}"
        path.write_text(WRITERS[fmt](data), encoding="utf-8")
        database = Database(str(Path(folder) / "db.sqlite"), {})
        done = database.init(path)
        assert done.exit_code == 0, done.output
        exported = database.export()
        assert exported == {name: sorted(records, key=lambda r: r["id"]) for name, records in data.items()}
        again = Path(folder) / f"again.{fmt}"
        again.write_text(WRITERS[fmt](exported), encoding="utf-8")
        assert database.init(again, "--force").exit_code == 0
        assert database.export() == exported
