"""Data and schema files a careless operator might hand over (issue 13, findings 6 and 9).

* A whole number too long to read (Python refuses more than 4,300 digits) is
  refused where it is written, in JSON and in YAML, never as `unexpected ValueError`.
* A data file over its bound is refused by its size before any of it is read
  (a 300 MB file costs no memory); a YAML data file has a smaller bound than
  JSON (YAML takes many times the time and memory), and the refusal says to
  write large data as JSON.
* A data schema whose `$ref` points outside the project (`http://...`) or at
  nothing is refused when the project loads, at the `$ref`, and nothing is
  fetched from the network.
"""

from __future__ import annotations

import json
import re
import socket
import textwrap
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientflow import Engine
from clientflow.conditions.program import load_project
from clientflow.errors import DataError, DefinitionError
from clientflow.language.yamlfile import MAX_DATA_BYTES, MAX_NUMBER_DIGITS, MAX_YAML_DATA_BYTES, load_data_text, read_data_text

LOCATED = re.compile(r"^(?P<path>[^\n]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")
PROJECT = {
    "flows/project.yaml": """\
        product: {name: Shop, sender: no-reply@shop.example}
        data_schema: schema/data.schema.json
        entities:
          team: {collection: teams, keys: [id, name], label: name}
          member: {nested: {in: [team], key: members}, keys: [id, email], label: email}
        subject: {entity: team, match: [id, name]}
        actor: {entity: member, match: [id, email]}
        """,
    "flows/close-team.yaml": """\
        id: close-team
        title: Close team
        summary: Close a team.
        subject: team
        preconditions:
          - name: open
            if: team.status == 'open'
            message: "{{ team.name }} is not open."
        steps:
          - {id: explain, kind: info, title: "Close {{ team.name }}", body: The team closes.}
        outcome:
          effects:
            - {op: update, field: status, to: "'closed'"}
          banner: Closed.
          reversible: true
          audit: closed {{ team.id }}
        """,
}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["teams"],
    "properties": {"teams": {"type": "array", "items": {"$ref": "#/$defs/team"}}},
    "$defs": {"team": {"type": "object", "required": ["id", "name"], "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}},
}


def write(root: Path, schema: dict[str, Any] = SCHEMA) -> Path:
    for name, text in PROJECT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "schema").mkdir(exist_ok=True)
    (root / "schema" / "data.schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    return root


def data(size: Any = 3) -> dict[str, Any]:
    return {"teams": [{"id": "t1", "name": "Alpha", "status": "open", "size": size, "members": [{"id": "m1", "email": "m1@alpha.example"}]}]}


def problems(exc: DefinitionError) -> list[re.Match[str]]:
    found = [LOCATED.match(str(p)) for p in exc.problems]
    assert all(found), f"every problem is located path:line:col: {[str(p) for p in exc.problems]}"
    return [m for m in found if m]


# whole numbers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_number_of_5000_digits_is_refused_where_it_is_written(tmp_path: Path, suffix: str) -> None:
    root = write(tmp_path / "p")
    text = json.dumps(data(7), indent=2).replace(": 7,", ": " + "7" * 5000 + ",")
    path = root / f"data{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as raised:
        Engine.open(root, data=path, notifiers={})
    (found,) = problems(raised.value)
    line = next(n for n, text_line in enumerate(text.splitlines(), 1) if "7" * 5000 in text_line)
    assert int(found["line"]) == line and "5,000 digits" in found["message"] and "in quotes" in found["message"]


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(digits=st.integers(1, MAX_NUMBER_DIGITS + 50), sign=st.sampled_from(["", "-"]), at=st.integers(0, 3), json_file=st.booleans())
def test_any_whole_number_loads_or_is_refused_at_its_line(digits: int, sign: str, at: int, json_file: bool) -> None:
    """Property: a number of at most MAX_NUMBER_DIGITS digits loads as that number; a longer one is located."""
    number = sign + "9" * digits
    rows = [f'{{"id": "t{i}", "n": {number if i == at else i}}}' for i in range(4)]
    text = '{"teams": [\n' + ",\n".join(rows) + "\n]}\n"
    display = "d.json" if json_file else "d.yaml"
    if digits <= MAX_NUMBER_DIGITS:
        value, _ = load_data_text(text, display)
        assert value["teams"][at]["n"] == int(number)
        return
    with pytest.raises(DataError) as raised:
        load_data_text(text, display)
    (found,) = problems(raised.value)
    assert int(found["line"]) == at + 2 and f"{digits:,} digits" in found["message"]


# sizes ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["data.json", "data.yaml"])
def test_a_data_file_over_its_bound_is_refused_without_reading_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with path.open("wb") as sparse:  # 300 MB that take no disk
        sparse.truncate(300 * 1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as raised:
            read_data_text(path, name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, f"{peak:,} bytes allocated: the file was read"
    (found,) = problems(raised.value)
    assert found["message"].startswith(f"the file is {300 * 1024 * 1024:,} bytes; the limit is {MAX_DATA_BYTES:,}")
    assert ("write large data as JSON" in found["message"]) is name.endswith(".yaml")


def test_a_yaml_data_file_over_its_bound_says_to_write_json_which_loads(tmp_path: Path) -> None:
    root = write(tmp_path / "p")
    teams = [{"id": f"t{i}", "name": f"Team {i}", "status": "open", "members": []} for i in range(MAX_YAML_DATA_BYTES // 40)]
    as_yaml = root / "data.yaml"
    as_yaml.write_text("teams:\n" + "".join(f"  - {{id: {t['id']}, name: {t['name']}, status: open, members: []}}\n" for t in teams), encoding="utf-8")
    assert MAX_YAML_DATA_BYTES < as_yaml.stat().st_size < MAX_DATA_BYTES
    with pytest.raises(DataError) as raised:
        Engine.open(root, data=as_yaml, notifiers={})
    (found,) = problems(raised.value)
    assert f"the limit is {MAX_YAML_DATA_BYTES:,} for a data file written as YAML" in found["message"] and "write large data as JSON" in found["message"]
    as_json = root / "data.json"
    as_json.write_text(json.dumps({"teams": teams}), encoding="utf-8")
    engine = Engine.open(root, data=as_json, notifiers={})
    assert len(engine.export()["teams"]) == len(teams)
    engine.close()


# data schemas -----------------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    tried: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        tried.append(address)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return tried


REFS = [
    ("http://schemas.example/team.json", False),
    ("https://schemas.example/team.json#/x", False),
    ("#/$defs/missing", False),
    ("other.schema.json", False),
    ("#/$defs/team", True),
]


@pytest.mark.parametrize(("ref", "resolves"), REFS, ids=[r for r, _ in REFS])
def test_a_schema_ref_is_resolved_at_load_or_refused_at_its_place(tmp_path: Path, no_network: list[Any], ref: str, resolves: bool) -> None:
    schema = json.loads(json.dumps(SCHEMA))
    schema["properties"]["teams"]["items"]["$ref"] = ref
    root = write(tmp_path / "p", schema)
    if resolves:
        load_project(root)
    else:
        with pytest.raises(DefinitionError) as raised:
            load_project(root)
        (found,) = problems(raised.value)
        text = (root / "schema" / "data.schema.json").read_text(encoding="utf-8").splitlines()
        assert found["path"] == "schema/data.schema.json" and ref in text[int(found["line"]) - 1]
        assert f"$ref {ref!r}" in found["message"] and "nothing is fetched from the network" in found["message"]
    assert no_network == []


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    refs=st.lists(
        st.one_of(
            st.sampled_from(["#/$defs/team", "#/$defs/nothing", "#", "#/properties", "data.schema.json#/$defs/team"]),
            st.builds(
                lambda scheme, host, path: f"{scheme}://{host}/{path}",
                st.sampled_from(["http", "https", "ftp", "file"]),
                st.sampled_from(["a.example", "127.0.0.1", "localhost"]),
                st.text("abc/.#", max_size=8),
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_schema_refs_either_load_or_each_bad_one_is_located(tmp_path_factory: pytest.TempPathFactory, no_network: list[Any], refs: list[str]) -> None:
    """Property: a data schema loads, and its data then validates, only when every $ref resolves; no $ref reaches the network."""
    schema = json.loads(json.dumps(SCHEMA))
    schema["$id"] = "https://clientflow.dev/schema/data.schema.json"
    schema["properties"].update({f"extra{i}": {"$ref": ref} for i, ref in enumerate(refs)})
    root = write(tmp_path_factory.mktemp("p"), schema)
    (root / "data.json").write_text(json.dumps(data()), encoding="utf-8")
    try:
        load_project(root)
    except DefinitionError as exc:
        located = problems(exc)
        assert located and all(m["path"] == "schema/data.schema.json" and "$ref" in m["message"] for m in located)
    else:
        engine = Engine.open(root, data=root / "data.json", notifiers={})  # the data is checked against the schema
        engine.close()
    assert no_network == []


# the quick check of a schema's $refs (language/schemas.py, _all_local_and_found) ------------------------
POINTERS = ["#", "#/", "#/$defs/team", "#/$defs/nothing", "#/$defs/team/properties/id", "#/properties/teams/items", "#/allOf/0",
            "#/allOf/1", "#/allOf/01", "#/$defs/a~1b", "#/$defs/a~0b", "#/%24defs/team", "#team", "#/$defs/team/type/0",
            "data.schema.json#/$defs/team", "other.schema.json", "http://a.example/x.json"]  # fmt: skip
SCHEMAS = st.recursive(
    st.one_of(st.builds(lambda ref: {"$ref": ref}, st.sampled_from(POINTERS)), st.just({"type": "string"}), st.just(True)),
    lambda inner: st.one_of(
        st.builds(lambda named: {"properties": named}, st.dictionaries(st.sampled_from(["a", "a/b", "a~b", "$id", "$ref"]), inner, max_size=2)),
        st.builds(lambda item: {"items": item}, inner),
        st.builds(lambda branches: {"allOf": branches}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(
            lambda node, ref: {"type": "object", "default": {"$ref": ref}, "enum": [{"$ref": ref}], "properties": {"x": node}}, inner, st.sampled_from(POINTERS)
        ),
        st.builds(lambda node: {"$id": "nested.schema.json", "properties": {"x": node}}, inner),
        st.builds(lambda node: {"$dynamicRef": "#/$defs/team", "properties": {"x": node}}, inner),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(extra=SCHEMAS, own_id=st.sampled_from([None, "https://clientflow.dev/schema/data.schema.json", "data.schema.json", "x#y"]))
def test_the_quick_reference_check_says_resolved_only_when_the_registry_does(extra: Any, own_id: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`clientflow validate` checks a valid data schema's $refs without importing `referencing` when every one is a
    pointer into the schema itself that finds its target; whenever it says so, the registry resolves every one too."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    from clientflow.language import schemas

    folder = tmp_path_factory.mktemp("schema")
    schema = json.loads(json.dumps(SCHEMA))
    schema["$defs"].update({"a/b": {}, "a~b": {}, "extra": extra})
    schema["allOf"] = [{"type": "object"}]
    if own_id is not None:
        schema["$id"] = own_id
    try:
        Draft202012Validator.check_schema(schema)  # as validate does first: the $refs of a schema that is not one are not looked at
    except SchemaError:
        return
    (folder / "data.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    if schemas._all_local_and_found(schema, str(folder)):
        quick, schemas._all_local_and_found = schemas._all_local_and_found, lambda *a: False  # type: ignore[assignment]
        try:
            assert schemas.unresolved_references(schema, str(folder)) == []
        finally:
            schemas._all_local_and_found = quick  # type: ignore[assignment]


def test_the_shipped_kind_of_data_schema_takes_the_quick_reference_check(tmp_path: Path) -> None:
    from clientflow.language import schemas

    root = write(tmp_path / "p", SCHEMA)
    assert schemas._all_local_and_found(json.loads((root / "schema" / "data.schema.json").read_text(encoding="utf-8")), str(root / "schema"))
