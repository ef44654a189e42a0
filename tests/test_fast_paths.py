"""The fast paths of loading a data file say what the reference paths say.

* An email address: the patterns jsonschema-rs checks (`SCHEMA_RULE`) accept
  exactly the texts `valid_address` accepts.
* A data schema: the fast validator, given each `format: email` in those
  patterns, finds valid exactly what the reference validator finds valid,
  wherever the format is written; a `format: email` that is a value (`const`)
  or under a keyword that is not a schema is left as it is.
* A JSON record the reader's scanner refuses is reported where, and as, the
  located reading reports it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clientflow.errors import DataError
from clientflow.language import datastream, schemas
from clientflow.language.datastream import open_stream
from clientflow.mailaddress import SCHEMA_RULE, valid_address

ATOM_CHARS = "aZ09!#$%&'*+/=?^_`{|}~-"
LOCAL_CHARS = ATOM_CHARS + ".=?"
DOMAIN_CHARS = "az09-."
ODD = st.sampled_from(["", "@", ".", "=?", "=", "?", " ", "\n", "\r\n", "\t", "\x00", "é", "\u2028", "日本", "[1.2.3.4]", "<a@b.co>", "\\", '"'])
NEAR = st.builds(
    lambda before, local, domain, after: f"{before}{local}@{domain}{after}",
    ODD,
    st.text(alphabet=LOCAL_CHARS, max_size=70),
    st.text(alphabet=DOMAIN_CHARS, max_size=80) | st.lists(st.text(alphabet="az09-", min_size=1, max_size=64), min_size=1, max_size=5).map(".".join),
    ODD,
)
LONGEST = "a@" + ".".join(["b" * 63] * 3) + "." + "c" * 60  # 254 characters, the most an address may have
TEXTS = (
    NEAR
    | st.lists(st.text(alphabet=LOCAL_CHARS + "@" + DOMAIN_CHARS, max_size=8) | ODD, max_size=8).map("".join)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
)


@settings(max_examples=1500, derandomize=True)
@given(text=TEXTS)
@example(text="x" * 64 + "@a.example")
@example(text="x" * 65 + "@a.example")
@example(text=LONGEST)
@example(text=LONGEST + "c")
@example(text="a=b@c.example")
@example(text="a==?b@c.example")
@example(text="a?=b@c.example")
@example(text="a=@c.example")
@example(text="a.=.b@c.example")
@example(text="a@b.example\n")
def test_the_schema_rule_accepts_what_valid_address_accepts(text: str) -> None:
    rule = jsonschema_rs.validator_for({"allOf": list(SCHEMA_RULE)})
    assert rule.is_valid(text) == valid_address(text), text


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://clientflow.dev/schema/fast.schema.json",
    "$defs": {"email": {"type": "string", "format": "email", "maxLength": 320}},
    "type": "object",
    "properties": {
        "referenced": {"$ref": "#/$defs/email"},
        "items": {"type": "array", "items": {"format": "email"}},
        "beside": {"allOf": [{"minLength": 1}], "format": "email"},
        "either": {"anyOf": [{"format": "email"}, {"type": "integer"}]},
        "value": {"const": {"format": "email"}},
        "noted": {"x-note": {"format": "email"}, "type": "string"},
        "named": {"type": "object", "additionalProperties": {"format": "email"}, "propertyNames": {"maxLength": 8}},
    },
}
VALUES = TEXTS | st.integers(-3, 3) | st.none() | st.just({"format": "email"})
INSTANCES = st.fixed_dictionaries(
    {},
    optional={
        "referenced": VALUES,
        "items": st.lists(VALUES, max_size=3),
        "beside": VALUES,
        "either": VALUES,
        "value": VALUES,
        "noted": VALUES,
        "named": st.dictionaries(st.text(max_size=10), VALUES, max_size=3),
    },
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("schema")
    (path / "fast.schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    return str(path)


def test_the_fast_form_rewrites_schema_places_only(folder: str) -> None:
    fast = schemas._fast_form(schemas.schema("fast.schema.json", folder))
    properties = fast["properties"]
    assert "format" not in json.dumps(fast["$defs"]) and "format" not in json.dumps(properties["items"]) and "format" not in json.dumps(properties["either"])
    assert properties["beside"]["allOf"] == [{"minLength": 1}, *SCHEMA_RULE]
    assert properties["value"] == {"const": {"format": "email"}}
    assert properties["noted"]["x-note"] == {"format": "email"}
    assert schemas.schema("fast.schema.json", folder) == SCHEMA  # the cached schema itself is not changed


@settings(max_examples=600, derandomize=True, deadline=None)
@given(instance=INSTANCES)
def test_the_fast_validator_finds_valid_what_the_reference_finds_valid(folder: str, instance: dict[str, Any]) -> None:
    fast = schemas._fast_validator("fast.schema.json", schemas._absolute(folder))
    reference = schemas.validator("fast.schema.json", folder)
    assert fast is not None
    assert fast.is_valid(instance) == (not list(reference.iter_errors(instance))), instance


# the reader's fast path: a record decoded by the scanner itself ------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        '{"clients": [{"id": "a"}, , {"id": "b"}]}',  # no value where a record starts: the scanner's StopIteration
        '{"clients": [{"id": "a"}, x]}',
        '{"clients": [{"id": "a"}, {"id": "b" "c"}]}',  # the scanner's own syntax error
        '{"clients": [{"id": "a"}, {"id": 1' + "0" * 5000 + "}]}",  # too many digits for int()
        '{"clients": [{"id": "a"}, {"id": "b", "id": "c"}]}',  # a duplicate key
        '{"clients": [{"id": "a"},\n  {"id": "b"}\n  {"id": "c"}]}',
    ],
)
def test_a_record_the_scanner_refuses_is_located_as_the_reference_reading_locates_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "data.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as fast:
        list(open_stream(path, "data.json").records())
    with pytest.MonkeyPatch.context() as patch:  # every record through the located reading (`_Buffer.decode`)
        patch.setattr(datastream, "_DECODER", _NoScan(datastream._DECODER))
        with pytest.raises(DataError) as reference:
            list(open_stream(path, "data.json").records())
    assert [str(p) for p in fast.value.problems] == [str(p) for p in reference.value.problems]


class _NoScan:
    """The reader's decoder without its scanner: each record goes through `raw_decode` (the located reading)."""

    def __init__(self, decoder: Any) -> None:
        self.raw_decode = decoder.raw_decode

    def scan_once(self, text: str, pos: int) -> Any:
        raise StopIteration(pos)
