"""engine/language/yamlfile.py: YAML 1.2 values with positions, and every refusal located."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from clientflow.errors import DataError, DefinitionError
from clientflow.language.yamlfile import MAX_BYTES, MAX_DEPTH, load_data_text, load_yaml, read_text


def value(text: str) -> Any:
    return load_yaml(text, "f.yaml")[0]


def problems(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as raised:
        load_yaml(text, "f.yaml")
    return [str(p) for p in raised.value.problems]


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("no", "no"),
        ("No", "No"),
        ("off", "off"),
        ("on", "on"),
        ("yes", "yes"),
        ("y", "y"),
        ("n", "n"),
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("12", 12),
        ("-3", -3),
        ("+7", 7),
        ("007", 7),
        ("0o17", 15),
        ("0x1F", 31),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("-.5", -0.5),
        ("1_000", "1_000"),
        ("0b101", "0b101"),
        ("12:30", "12:30"),
        ("2025-03-14", "2025-03-14"),
        ('"true"', "true"),
        ("'12'", "12"),
        ("'no'", "no"),
        ("!!str 12", "12"),
        ("|\n  on\n", "on\n"),
    ],
)
def test_scalars_follow_yaml_1_2_and_everything_else_stays_text(written: str, read: Any) -> None:
    loaded = value(f"key: {written}\n")["key"]
    assert loaded == read
    assert type(loaded) is type(read)


def test_infinity_and_not_a_number() -> None:
    loaded = value("a: .inf\nb: -.Inf\nc: .nan\n")
    assert loaded["a"] == math.inf
    assert loaded["b"] == -math.inf
    assert math.isnan(loaded["c"])


def test_keys_are_always_text() -> None:
    assert value("1: one\ntrue: yes\nnull: none\n") == {"1": "one", "true": "yes", "null": "none"}


def test_every_value_and_key_has_its_line_and_column() -> None:
    loaded, positions = load_yaml("title: Pause\nsteps:\n  - id: explain\n    kind: info\n  - {id: ask, kind: form}\n", "f.yaml")
    assert loaded["steps"][1]["kind"] == "form"
    assert str(positions.at(("title",))) == "f.yaml:1:8"
    assert str(positions.at(("title",), key=True)) == "f.yaml:1:1"
    assert str(positions.at(("steps", 0, "kind"))) == "f.yaml:4:11"
    assert str(positions.at(("steps", 1, "kind"))) == "f.yaml:5:21"
    assert str(positions.at(("steps", 1))) == "f.yaml:5:5"
    # a key that is not there falls back to the nearest value that is
    assert str(positions.at(("steps", 0, "fields", 3))) == "f.yaml:3:5"


def test_literal_blocks_are_marked_so_their_lines_can_be_located() -> None:
    _, positions = load_yaml("a: |\n  one\nb: >-\n  two\n", "f.yaml")
    assert ("a",) in positions.blocks
    assert ("b",) not in positions.blocks


def test_duplicate_keys_are_refused_where_the_second_one_is() -> None:
    assert problems("title: A\nsteps:\n  - id: x\n    id: y\ntitle: B\n") == [
        "f.yaml:4:5: steps[0]: duplicate key 'id' (first at line 3); keep one",
        "f.yaml:5:1: duplicate key 'title' (first at line 1); keep one",
    ]


def test_an_anchor_is_refused() -> None:
    assert problems("a: &shared {x: 1}\n") == [
        "f.yaml:1:4: anchor &shared is not allowed; remove it (anchors and aliases are refused so that every value reads on its own)"
    ]


def test_an_alias_is_refused_once_and_names_the_anchor() -> None:
    assert problems("a: &shared 1\nb: *shared\nc: [*shared]\n") == [
        "f.yaml:2:4: alias *shared repeats the value anchored &shared at line 1; write that value out here in full and remove &shared",
        "f.yaml:3:5: alias *shared repeats the value anchored &shared at line 1; write that value out here in full and remove &shared",
    ]


def test_an_alias_to_nothing_is_refused() -> None:
    assert problems("b: *nowhere\n") == ["f.yaml:1:4: alias *nowhere is not allowed, and nothing is anchored &nowhere; write the value out in full"]


def test_a_merge_key_is_refused_even_without_an_alias() -> None:
    assert problems("a:\n  <<: {x: 1}\n  y: 2\n") == ["f.yaml:2:3: a: merge keys (<<) are not allowed; write each key out in full"]


def test_a_quoted_merge_key_is_an_ordinary_key() -> None:
    assert value("'<<': 1\n") == {"<<": 1}


def test_nesting_is_bounded_without_exhausting_any_stack() -> None:
    assert value("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is not None
    assert problems("a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH) == [f"f.yaml:1:{3 + MAX_DEPTH}: nested more than {MAX_DEPTH} levels deep; flatten it"]
    # libyaml's composer crashes the interpreter near 30,000 levels and its parser slows with depth:
    # reading stops at the first level too deep
    deep = "a: " + "[" * 200_000 + "]" * 200_000
    assert problems(deep) == [f"f.yaml:1:{3 + MAX_DEPTH}: nested more than {MAX_DEPTH} levels deep; flatten it"]


def test_a_file_over_the_size_bound_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(DefinitionError) as raised:
        read_text(big, "big.yaml")
    assert [str(p) for p in raised.value.problems] == [
        f"big.yaml:1:1: the file is {MAX_BYTES + 1:,} bytes; the limit is {MAX_BYTES:,}: split it into smaller files"
    ]


def test_a_file_at_the_size_bound_is_read(tmp_path: Path) -> None:
    exact = tmp_path / "exact.yaml"
    exact.write_bytes(b"#" * MAX_BYTES)
    assert len(read_text(exact, "exact.yaml")) == MAX_BYTES


def test_bytes_that_are_not_utf8_are_located(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("id: x\ntitle: Caf\u00e9\n".encode("latin-1"))
    with pytest.raises(DefinitionError) as raised:
        read_text(latin, "latin.yaml")
    assert [str(p) for p in raised.value.problems] == ["latin.yaml:2:11: the byte 0xe9 is not UTF-8 text; save the file as UTF-8"]


def test_read_text_raises_the_error_class_it_is_given(tmp_path: Path) -> None:
    with pytest.raises(DataError):
        read_text(tmp_path / "missing.yaml", "missing.yaml", DataError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:\n\tb: 1\n", "f.yaml:2:1: YAML syntax: a tab character; indent with spaces, not tabs"),
        ("title: Note: this\n", "f.yaml:1:12: YAML syntax: a ':' where no key can start; put text holding ': ' in quotes, or check the indentation"),
        ("a: 'open\n", "f.yaml:2:1: YAML syntax: the file ends inside a quoted text or a [ ] or { }; close it"),
        ("a:\n  b: 1\n c: 2\n", "f.yaml:3:2: YAML syntax: the indentation of this line does not fit the lines above; line it up with its siblings"),
        ('a: "\\q"\n', "f.yaml:1:5: YAML syntax: an unknown \\ escape inside double quotes; use single quotes, or write \\\\"),
        ("a: b\x07c\n", "f.yaml:1:5: the control character U+0007 cannot be in a YAML file; remove it"),
        ("a: !python/object x\n", "f.yaml:1:4: the tag !python/object is not allowed; remove it"),
        ("a: 1\n---\nb: 2\n", "f.yaml:2:1: a second document ('---'); keep one document per file"),
        ("? [a, b]\n: 1\n", "f.yaml:1:3: a key must be a plain value, not a list or mapping"),
        ("title: {{ client.name }}\n", 'f.yaml:1:8: title: a text that starts with {{ must be in quotes, or YAML reads a mapping; write "{{ ... }} ..."'),
        (
            "title: {{ client.name }} paused\n",
            'f.yaml:1:8: title: a text that starts with {{ must be in quotes, or YAML reads a mapping; write "{{ ... }} ..."',
        ),
    ],
)
def test_syntax_and_refusals_are_located_and_say_what_to_do(text: str, message: str) -> None:
    assert problems(text) == [message]


def test_several_problems_of_one_file_come_together() -> None:
    assert len(problems("a: &x 1\nb: *x\nb: 2\nc: !odd 3\n")) == 3


def test_an_empty_document_is_none() -> None:
    assert value("") is None
    assert value("# only a comment\n") is None


def test_the_error_class_can_be_chosen() -> None:
    with pytest.raises(DataError):
        load_yaml("a: 1\na: 2\n", "f.yaml", DataError)


def test_json_data_is_located_like_yaml() -> None:
    loaded, positions = load_data_text('{\n  "clients": [\n    {"id": "c1", "name": "Acme"}\n  ]\n}\n', "d.json")
    assert loaded == {"clients": [{"id": "c1", "name": "Acme"}]}
    assert str(positions.at(("clients", 0, "name"))) == "d.json:3:26"


def test_json_syntax_is_located() -> None:
    with pytest.raises(DataError) as raised:
        load_data_text('{\n  "a": 1,\n}\n', "d.json")
    assert [str(p) for p in raised.value.problems] == ["d.json:3:1: JSON syntax: Expecting property name enclosed in double quotes"]


def test_json_duplicate_keys_are_refused_not_silently_overwritten() -> None:
    with pytest.raises(DataError) as raised:
        load_data_text('{"a": 1,\n "a": 2}\n', "d.json")
    assert [str(p) for p in raised.value.problems] == ["d.json:2:2: duplicate key 'a' (first at line 1); keep one"]


def test_json_that_yaml_cannot_place_still_loads_its_values() -> None:
    loaded, positions = load_data_text('{"a"\n: 1}', "d.json")  # a colon on its own line: YAML refuses it
    assert loaded == {"a": 1}
    assert str(positions.at(("a",))) == "d.json:1:1"


def test_json_nesting_is_bounded_like_yaml() -> None:
    with pytest.raises(DataError) as raised:
        load_data_text("[" * 100_000 + "]" * 100_000, "d.json")
    assert [str(p) for p in raised.value.problems] == [f"d.json:1:{MAX_DEPTH + 1}: nested more than {MAX_DEPTH} levels deep; flatten it"]


def test_yaml_data_files_raise_data_errors() -> None:
    with pytest.raises(DataError):
        load_data_text("a: 1\na: 2\n", "d.yaml")
