"""The schema and the loader agree on every key (python-statemachine's parity test).

`engine.project.LOADER_KEYS` is written from the loader's code, and the loader
cannot read a key it does not list. The schemas in schema/ are what editors and
`clientflow validate` hold files against. If one gains a key the other does not
know, a file could pass validation and be ignored, or be refused for a key the
engine understands: these tests fail first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from clientflow.conditions.program import load_project
from clientflow.language.project import LOADER_KEYS, Extensions, _Read, keys_read
from clientflow.language.schemas import schema_dir
from clientflow.runtime.outcome import EffectSpec

SCHEMA = schema_dir()  # the language's schemas, as installed
VALID = Path(__file__).resolve().parent / "flows" / "valid"

# Where each kind of mapping the loader reads is described in the schemas: (file, JSON pointers).
# A kind written in two forms (a shared rule by name, or a rule written out) lists both.
SCHEMA_OF: dict[str, tuple[str, tuple[str, ...]]] = {
    "project": ("project.schema.json", ("",)),
    "product": ("project.schema.json", ("/properties/product",)),
    "entity": ("project.schema.json", ("/$defs/entity",)),
    "nested": ("project.schema.json", ("/$defs/entity/properties/nested",)),
    "subject": ("project.schema.json", ("/properties/subject",)),
    "actor": ("project.schema.json", ("/properties/actor",)),
    "reach": ("project.schema.json", ("/properties/reach/items",)),
    "project_buttons": ("project.schema.json", ("/properties/buttons",)),
    "rules": ("rules.schema.json", ("",)),
    "rule": ("flow.schema.json", ("/$defs/rule",)),
    "flow": ("flow.schema.json", ("",)),
    "rule_use": ("flow.schema.json", ("/$defs/ruleUse/oneOf/0", "/$defs/ruleUse/oneOf/1")),
    "step": ("flow.schema.json", ("/$defs/step",)),
    "buttons": ("flow.schema.json", ("/$defs/buttons",)),
    "field": ("flow.schema.json", ("/$defs/field",)),
    "option": ("flow.schema.json", ("/$defs/options/oneOf/0/items",)),
    "options_from": ("flow.schema.json", ("/$defs/options/oneOf/1",)),
    "check": ("flow.schema.json", ("/$defs/field/properties/validate/items",)),
    "outcome": ("flow.schema.json", ("/$defs/outcome",)),
    "effect": ("flow.schema.json", ("/$defs/effect",)),
    "email": ("flow.schema.json", ("/$defs/email",)),
    "approval_email": ("flow.schema.json", ("/$defs/approvalEmail",)),
}
DEFINITION_SCHEMAS = ("flow.schema.json", "rules.schema.json", "project.schema.json")


def load(name: str) -> dict[str, Any]:
    loaded = json.loads((SCHEMA / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def resolve(document: dict[str, Any], pointer: str) -> dict[str, Any]:
    node: Any = document
    for part in filter(None, pointer.split("/")):
        node = node[int(part)] if isinstance(node, list) else node[part.replace("~1", "/").replace("~0", "~")]
    assert isinstance(node, dict)
    return node


def schema_keys(kind: str) -> set[str]:
    name, pointers = SCHEMA_OF[kind]
    document = load(name)
    return {key for pointer in pointers for key in resolve(document, pointer)["properties"]}


def closed_objects(node: Any, pointer: str = "") -> list[str]:
    """Pointers to every object schema that lists its properties and allows no others."""
    found = []
    if isinstance(node, dict):
        if node.get("additionalProperties") is False and "properties" in node:
            found.append(pointer)
        for key, child in node.items():
            found += closed_objects(child, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += closed_objects(child, f"{pointer}/{index}")
    return found


def test_every_kind_the_loader_reads_has_its_place_in_the_schema() -> None:
    assert set(LOADER_KEYS) == set(SCHEMA_OF)


@pytest.mark.parametrize("kind", sorted(SCHEMA_OF))
def test_the_loader_reads_exactly_the_keys_the_schema_allows(kind: str) -> None:
    assert set(LOADER_KEYS[kind]) == schema_keys(kind)


@pytest.mark.parametrize("name", DEFINITION_SCHEMAS)
def test_every_closed_object_of_the_schemas_is_a_kind_the_loader_reads(name: str) -> None:
    """A new mapping in the schema needs its row in LOADER_KEYS (and so its code in the loader)."""
    mapped = {pointer for file, pointers in SCHEMA_OF.values() if file == name for pointer in pointers}
    assert set(closed_objects(load(name))) <= mapped


def test_the_loader_reads_every_key_it_declares(project_copy: Path) -> None:
    """LOADER_KEYS lists nothing the code never looks at: loading flows that use every key reads them all."""
    for flow in sorted(VALID.glob("*.yaml")):
        shutil.copy(flow, project_copy / "flows" / flow.name)
    load_project(project_copy, Extensions(effects={"note": EffectSpec("note", apply=lambda context: [])}))
    declared = {(kind, key) for kind, keys in LOADER_KEYS.items() for key in keys}
    assert keys_read() == declared


def test_reading_an_undeclared_key_is_a_loader_bug_not_a_silent_miss() -> None:
    step = _Read("step", {"id": "explain", "colour": "blue"})
    assert step["id"] == "explain"
    with pytest.raises(RuntimeError, match="LOADER_KEYS"):
        _ = step["colour"]
    with pytest.raises(RuntimeError, match="LOADER_KEYS"):
        _ = "colour" in step
