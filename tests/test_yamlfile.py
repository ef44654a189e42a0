"""engine/language/yamlfile.py: YAML 1.2 values with positions, and every refusal located."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clientflow.errors import DataError, DefinitionError
from clientflow.language.yamlfile import MAX_BYTES, MAX_DEPTH, load_data_text, load_yaml, read_text

# the control flow of the broken-file corpus: valid, and written the way people write flows
VALID_FLOW = (Path(__file__).resolve().parent / "flows" / "valid" / "pause-client.yaml").read_text(encoding="utf-8")


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
        (
            "title: Note: this\n",
            "f.yaml:1:12: YAML syntax: the ': ' after 'Note' starts a second key on this line; put the text in quotes: title: \"Note: this\"",
        ),
        ("a: 'open\n", "f.yaml:2:1: YAML syntax: the file ends inside a quoted text or a [ ] or { }; close it"),
        (
            "a:\n  b: 1\n c: 2\n",
            "f.yaml:3:2: YAML syntax: c: is indented 1 space, which lines up with no key above it; indent it 2 spaces, like b: on line 2, or put it at the margin, like a: on line 1",
        ),
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # a comma inside { } ends a text without quotes: the cause, at the comma, and the text as it should be written
        (
            "options:\n  - {value: soon, label: Yes, within three months}\n",
            "f.yaml:2:29: options[0]: the ',' ends the text of label:, and 'within three months' was read as another key "
            '(inside { } a comma separates entries); put the text in quotes: label: "Yes, within three months"',
        ),
        (
            "options:\n  - {value: soon, label: Yes, within, or, later}\n",
            "f.yaml:2:29: options[0]: the ',' ends the text of label:, and 'within' was read as another key "
            '(inside { } a comma separates entries); put the text in quotes: label: "Yes, within, or, later"',
        ),
        # a value that begins with a text in quotes and goes on: the quoted text is the whole value (a condition, usually)
        (
            "rules:\n  admin:\n    if: 'administrator' == actor.role\n    message: >-\n      Only administrators.\n  other:\n    if: true\n",
            "f.yaml:3:25: YAML syntax: the text in quotes ends at column 23, so the rest of the line cannot be read; "
            "to write a value that begins with a quote, put all of it in quotes: if: \"'administrator' == actor.role\"",
        ),
        (
            'when: "yes" in answers.tags\n',
            "f.yaml:1:13: YAML syntax: the text in quotes ends at column 11, so the rest of the line cannot be read; "
            "to write a value that begins with a quote, put all of it in quotes: when: '\"yes\" in answers.tags'",
        ),
        (
            "when:\n  - 'x' in answers.tags\n  - true\n",
            "f.yaml:2:9: YAML syntax: the text in quotes ends at column 7, so the rest of the line cannot be read; "
            "to write a value that begins with a quote, put all of it in quotes: - \"'x' in answers.tags\"",
        ),
        # an apostrophe inside single quotes (or a " inside double quotes) ends the text: at that quote
        (
            "title: '{{ client.name }}'s practice will change'\n",
            "f.yaml:1:26: YAML syntax: this ' ends the text that the ' at column 8 opened, and the rest of the line cannot be read; "
            "to write an apostrophe in it, put the text in double quotes: title: \"{{ client.name }}'s practice will change\" (or write the apostrophe twice: '')",
        ),
        (
            "a: {title: 'it's', b: 'x'}\n",
            "f.yaml:1:15: YAML syntax: this ' ends the text that the ' at column 12 opened, and the rest of the line cannot be read; "
            "to write an apostrophe in it, put the text in double quotes: title: \"it's\" (or write the apostrophe twice: '')",
        ),
        (
            "title: 'say \"it's\" now'\n",
            "f.yaml:1:16: YAML syntax: this ' ends the text that the ' at column 8 opened, and the rest of the line cannot be read; "
            "to write an apostrophe in it, write each apostrophe twice: title: 'say \"it''s\" now'",
        ),
        (
            'title: "say "hi" now"\n',
            'f.yaml:1:13: YAML syntax: this " ends the text that the " at column 8 opened, and the rest of the line cannot be read; '
            'to write a " in it, put the text in single quotes: title: \'say "hi" now\'',
        ),
        # a ': ' inside a text without quotes: at the colon, with the text quoted (a comment stays out of it)
        (
            "body: Note: this cannot be undone  # a comment\n",
            "f.yaml:1:11: YAML syntax: the ': ' after 'Note' starts a second key on this line; put the text in quotes: body: \"Note: this cannot be undone\"",
        ),
        (
            "a: {title: Note: this, b: 1}\n",
            "f.yaml:1:16: YAML syntax: the ': ' after 'Note' starts a second key on this line; put the text in quotes: title: \"Note: this\"",
        ),
        (
            "body: This is a long text that\n  goes on: here\n",
            "f.yaml:2:10: YAML syntax: the text of body: goes on to this line, and the ': ' here starts a key; "
            "put the whole text in quotes, or write it as a block: body: | with the text on the lines below",
        ),
        # a key indented more than the one above it reads as more of its text
        (
            "a:\n  kind: survey\n    title: Why\n",
            "f.yaml:3:5: YAML syntax: title: is indented more than kind: on line 2, so it reads as more of the text of kind:; indent it 2 spaces, like kind:",
        ),
        # a key that lines up with nothing: said to be a key (not a list item), with the indentations that read
        (
            "s:\n  - id: a\n    kind: x\n   title: y\n",
            "f.yaml:4:4: YAML syntax: title: is indented 3 spaces, which lines up with no key above it; indent it 4 spaces, like kind: on line 3",
        ),
        (
            "s:\n  - id: a\n  kind: x\n",
            "f.yaml:3:3: YAML syntax: kind: is indented 2 spaces, which lines up with no key above it; "
            "indent it 4 spaces, like id: on line 2, or put it at the margin, like s: on line 1",
        ),
        (
            "a:\n  - x\n - y\n",
            "f.yaml:3:2: YAML syntax: the list item is indented 1 space, which lines up with no list item above it; indent it 2 spaces, like the list item on line 2",
        ),
        # lines moved to the margin: reported where they start, not where reading stopped
        (
            "outcome:\neffects:\n  - x\n  emails: y\n",
            "f.yaml:2:1: YAML syntax: effects: (lines 2-3) is at the margin, but emails: on line 4, which goes with it under outcome:, is indented 2 spaces; "
            "indent lines 2-3 by 2 more spaces",
        ),
        (
            "steps:\n- id: a\n  kind: x\n  - id: b\n",
            "f.yaml:2:1: YAML syntax: the list item (lines 2-3) is at the margin, but the list item on line 4, which goes with it under steps:, is indented 2 spaces; "
            "indent lines 2-3 by 2 more spaces",
        ),
        (
            "a:\n  b: |\nsome text\nmore\n  c: 1\n",
            "f.yaml:3:1: YAML syntax: the text of b: | must be indented more than b: on line 2; indent lines 3-4 by 4 more spaces",
        ),
        (
            "a:\n  b: |\n    some text\n   more\n  c: 1\n",
            "f.yaml:4:4: YAML syntax: this line is indented 3 spaces, less than the 4 spaces of the text of b: | above, so the text ends there; indent it by 1 more space",
        ),
    ],
)
def test_a_slip_is_reported_where_it_was_made_with_its_fix(text: str, message: str) -> None:
    assert problems(text) == [message]


def test_a_comma_in_braces_is_fine_in_quotes_and_after_a_number() -> None:
    assert value("a: {label: 'Yes, soon', b: \"No, never\"}\n") == {"a": {"label": "Yes, soon", "b": "No, never"}}
    assert value("a: {x: 1, y}\n") == {"a": {"x": 1, "y": None}}  # a number cannot have meant a comma: a key with no value, as YAML reads it


def test_a_suggested_fix_reads() -> None:
    """The quoting a message proposes, written in, loads (three of the cases above)."""
    assert value('title: "{{ client.name }}\'s practice will change"\n') == {"title": "{{ client.name }}'s practice will change"}
    assert value('body: "Note: this cannot be undone"\n') == {"body": "Note: this cannot be undone"}
    assert value('options:\n  - {value: soon, label: "Yes, within three months"}\n') == {"options": [{"value": "soon", "label": "Yes, within three months"}]}


# the lines of the control flow that a slip can go into: `key: text` with a text that needs no quotes
_TEXT_LINE = re.compile(r"^(?P<lead>\s*(?:- )?)(?P<key>[a-z_]+): (?P<text>[A-Za-z][\w ,.?(){}!]*)$")
_BRACES_LINE = re.compile(r"^(?P<head>.*\{(?P<key>[a-z_]+): (?P<text>[A-Za-z]\w*))(?P<tail>, .*\})$")
_ROWS = VALID_FLOW.split("\n")
_TEXT_ROWS = [i for i, row in enumerate(_ROWS) if _TEXT_LINE.match(row)]
_BRACES_ROWS = [i for i, row in enumerate(_ROWS) if _BRACES_LINE.match(row)]
# a key line right under a `key: text` line of the same indentation: one space more or less is a slip of its own
_SIBLING_ROWS = [
    i
    for i in _TEXT_ROWS
    if i > 0
    and not _ROWS[i].lstrip().startswith("-")
    and (above := _TEXT_LINE.match(_ROWS[i - 1])) is not None
    and len(above["lead"]) == len(_ROWS[i]) - len(_ROWS[i].lstrip())
]
_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8)


@st.composite
def _slips(draw: st.DrawFn) -> tuple[str, int, str]:
    """The control flow with one slip: (text, the line of the slip, what the message must propose)."""
    rows = list(_ROWS)
    kind = draw(st.sampled_from(["apostrophe", "colon", "comma", "indentation", "quoted start"]))
    word, other = draw(_WORD), draw(_WORD)
    if kind == "comma":
        at = draw(st.sampled_from(_BRACES_ROWS))
        found = _BRACES_LINE.match(rows[at])
        assert found is not None
        rows[at] = f"{found['head']}, {word} {other}{found['tail']}"
        return "\n".join(rows), at + 1, f'put the text in quotes: {found["key"]}: "{found["text"]}, {word} {other}"'
    if kind == "indentation":
        at = draw(st.sampled_from(_SIBLING_ROWS))
        indent = len(rows[at]) - len(rows[at].lstrip())
        shift = draw(st.sampled_from([1, -1] if indent else [1]))
        rows[at] = " " * (indent + shift) + rows[at].lstrip()
        return "\n".join(rows), at + 1, f"indent it {indent} spaces" if indent else "put it at the margin"
    at = draw(st.sampled_from(_TEXT_ROWS))
    found = _TEXT_LINE.match(rows[at])
    assert found is not None
    if kind == "quoted start":  # a condition that begins with a text in quotes: `if: 'administrator' == actor.role`
        rows[at] = f"{found['lead']}{found['key']}: '{word}' == {other}"
        return "\n".join(rows), at + 1, f"put all of it in quotes: {found['key']}: \"'{word}' == {other}\""
    if kind == "apostrophe":
        rows[at] = f"{found['lead']}{found['key']}: '{word}'s {found['text']}'"
        return "\n".join(rows), at + 1, f'put the text in double quotes: {found["key"]}: "{word}\'s {found["text"]}"'
    rows[at] = f"{found['lead']}{found['key']}: {word}: {found['text']}"
    return "\n".join(rows), at + 1, f'put the text in quotes: {found["key"]}: "{word}: {found["text"]}"'


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_slips())
def test_any_slip_put_into_a_valid_flow_is_one_error_at_its_line_with_its_fix(slip: tuple[str, int, str]) -> None:
    text, line, fix = slip
    assert value(VALID_FLOW) is not None  # the control loads
    found = problems(text)
    assert len(found) == 1, found
    assert found[0].startswith(f"f.yaml:{line}:"), found
    assert fix in found[0], found


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.integers(min_value=0, max_value=len(_ROWS) - 1),
    st.integers(min_value=-8, max_value=8),
    st.integers(min_value=0, max_value=40),
    st.sampled_from(["", "'", '"', ":", ": ", ",", "{", "}", "[", "]", "- ", "#", "|", ">", "&a ", "*a", "\t"]),
)
def test_any_edit_of_a_valid_flow_loads_or_gives_located_problems_never_a_crash(row: int, shift: int, col: int, inserted: str) -> None:
    """A line moved left or right, and a character put into it: YAML that reads, or located problems; nothing else."""
    rows = list(_ROWS)
    indent = len(rows[row]) - len(rows[row].lstrip())
    rows[row] = " " * max(0, indent + shift) + rows[row].lstrip()
    rows[row] = rows[row][:col] + inserted + rows[row][col:]
    try:
        load_yaml("\n".join(rows), "f.yaml")
    except DefinitionError as error:
        assert error.problems
        assert all(re.match(r"^f\.yaml:\d+:\d+: \S", str(problem)) for problem in error.problems), error.problems


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


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.text(max_size=12))
def test_a_plain_word_is_read_as_text_without_trying_every_pattern(text: str) -> None:
    """The loader skips the null, boolean and number patterns for a plain scalar whose first character none of them
    can start with (yamlfile._MAY_RESOLVE): for those, reading it by the patterns gives the text itself."""
    from clientflow.language.yamlfile import _MAY_RESOLVE, resolve_plain

    if text and text[0] not in _MAY_RESOLVE:
        assert resolve_plain(text) == text
    starts = {"~": "~", "n": "null", "N": "Null", "t": "true", "T": "TRUE", "f": "false", "F": "False", "+": "+1", "-": "-2", ".": ".5"}
    starts.update({digit: digit for digit in "0123456789"})
    assert set(starts) == set(_MAY_RESOLVE) and all(resolve_plain(word) != word for word in starts.values())  # each one is needed


def test_the_fast_path_places_every_value_as_the_general_path_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_Builder.feed` takes a block mapping's plain keys and untagged values and a block list's items in one pass;
    `_general` places every event: on hypothesis-made documents (plain, quoted, numeric, empty, long-number and merge
    keys, explicit and duplicate keys, anchors, tags, `|` blocks, { } and [ ] parts, nesting, broken lines), both give the same values,
    positions and problems."""
    from clientflow.language import yamlfile

    keys = st.sampled_from(["a", "name", "then", "1", "0x1F", "true", "null", "''", '"q"', "<<", "a", "b", "9" * 4_301, "é"])
    values = st.sampled_from(
        ["x", "no", "12", "-3.5", "true", "~", "", "'quoted'", '"dq"', "!!str 7", "!custom x", "&a v", "*a", "{a: 1, b}",
         "{p: Yes, within}", "[1, two]", "|\n  block\n  text", ">\n  folded", "9" * 4_301, "a: b", "[", "0o17", ".inf"]
    )  # fmt: skip

    @st.composite
    def document(draw: st.DrawFn) -> str:
        lines: list[str] = []
        for _ in range(draw(st.integers(1, 8))):
            indent = "  " * draw(st.integers(0, 2))
            if draw(st.booleans()):
                lines.append(f"{indent}- {draw(values)}")
            elif draw(st.integers(0, 4)) == 0:  # an explicit key: as long as it likes
                lines += [f"{indent}? {draw(keys)}", f"{indent}: {draw(values)}"]
            elif draw(st.booleans()):
                lines.append(f"{indent}{draw(keys)}:")
            else:
                lines.append(f"{indent}{draw(keys)}: {draw(values)}")
        return "\n".join(lines) + "\n"

    def read(text: str) -> Any:
        try:
            root, positions = load_yaml(text, "f.yaml")
        except DefinitionError as exc:
            return ("problems", [str(p) for p in exc.problems])
        return ("read", repr(root), positions.values, positions.keys, positions.blocks)

    @settings(max_examples=400, deadline=None, derandomize=True)
    @given(document())
    def check(text: str) -> None:
        fast = read(text)
        with monkeypatch.context() as patched:
            patched.setattr(yamlfile._Builder, "feed", yamlfile._Builder._general)
            general = read(text)
        assert fast == general, text

    check()
    assert read(VALID_FLOW)[0] == "read"


def test_pyyamls_pure_python_reader_pattern_is_compiled_when_first_used() -> None:
    """engine/language/pyyaml.py: importing PyYAML through it leaves `Reader.NON_PRINTABLE` uncompiled until used (the
    start-up cost), takes it out of `re`'s cache again, and the pure-Python loader refuses a control character as it
    does when PyYAML is imported directly."""
    import subprocess
    import sys

    script = (
        "import re\n"  # nothing of PyYAML imported before the engine's module
        "from clientflow.language import yamlfile\n"
        "from clientflow.language.pyyaml import NON_PRINTABLE, Deferred\n"
        "import yaml\n"
        "print(type(yaml.reader.Reader.NON_PRINTABLE).__name__, (str, NON_PRINTABLE, 0) in re._cache)\n"
        "try:\n    yaml.load('a: b\\x07', Loader=yaml.SafeLoader)\nexcept yaml.YAMLError as exc:\n    print(exc)\n"
    )
    plain = "import yaml\ntry:\n    yaml.load('a: b\\x07', Loader=yaml.SafeLoader)\nexcept yaml.YAMLError as exc:\n    print(exc)\n"
    deferred = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    direct = subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True, check=True).stdout.splitlines()
    assert deferred[0] == "Deferred False"
    assert deferred[1:] == direct and "unacceptable character #x0007" in direct[0]


def test_the_deferred_pattern_is_pyyamls_and_finds_what_it_finds() -> None:
    import yaml

    from clientflow.language.pyyaml import NON_PRINTABLE, Deferred

    assert yaml.reader.Reader.NON_PRINTABLE.pattern == NON_PRINTABLE  # else the cache is missed and PyYAML compiles its own
    compiled = re.compile(NON_PRINTABLE)
    deferred = Deferred(NON_PRINTABLE)

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(
        st.text(
            alphabet=st.sampled_from(["a", "\x07", "\t", "\n", "\r", "\x85", "\x9f", "\xa0", "\ud7ff", "\ud800", "\ue000", "\ufffe", "\ufeff", "𝄞", "\x7f"])
        )
    )
    def check(text: str) -> None:
        found, expected = deferred.search(text), compiled.search(text)
        assert (found and found.span()) == (expected and expected.span())

    check()
    assert deferred.flags == compiled.flags and deferred.pattern == compiled.pattern
