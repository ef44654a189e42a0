"""docs/flow-language.md explains the whole language, and its examples are valid.

The schemas are the single source of truth: every key they define must be
explained in the guide, and every filter and test a condition may use must be
listed. The guide's YAML examples must be valid YAML for the engine's reader,
and its whole-flow example must load clean in the shipped project.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, REPO

from clientflow import load_project
from clientflow.conditions.expressions import FILTERS, TESTS
from clientflow.language.schemas import schema_dir
from clientflow.language.yamlfile import load_yaml

GUIDE = REPO / "docs" / "flow-language.md"
SCHEMAS = ("flow.schema.json", "rules.schema.json", "project.schema.json", "data.schema.json")
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def property_names(node: Any) -> set[str]:
    """Every key any `properties` of a schema defines, however deep."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "properties" and isinstance(child, dict):
                found |= set(child)
            found |= property_names(child)
    elif isinstance(node, list):
        for child in node:
            found |= property_names(child)
    return found


def yaml_blocks() -> list[tuple[str, str]]:
    return [(match["info"].strip(), match["body"]) for match in FENCE.finditer(guide()) if match["info"].startswith("yaml")]


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_key_of_the_schema_is_explained_in_the_guide(name: str) -> None:
    # the language's schemas as installed; the data schema is a project's own (the fixture project's here)
    folder = PROJECT / "schema" if name == "data.schema.json" else schema_dir()
    schema = json.loads((folder / name).read_text(encoding="utf-8"))
    keys = property_names(schema)
    assert keys, name
    missing = sorted(key for key in keys if f"`{key}`" not in guide())
    assert missing == []


def test_every_filter_and_test_of_conditions_is_listed() -> None:
    text = guide()
    missing = sorted(name for name in [*FILTERS, *TESTS] if f"`{name}`" not in text)
    assert missing == []


def test_the_names_conditions_see_are_listed() -> None:
    project = load_project(PROJECT)
    names = sorted(project.names | {"lookup(entity, id)", "value", "item"} - {"lookup"})
    assert [name for name in names if f"| `{name}` |" not in guide()] == []


def test_the_editor_line_is_explained() -> None:
    assert "# yaml-language-server: $schema=../schema/flow.schema.json" in guide()


@pytest.mark.parametrize("number", range(len(yaml_blocks())))
def test_every_yaml_example_is_valid_yaml(number: int) -> None:
    _, body = yaml_blocks()[number]
    load_yaml(body, f"docs/flow-language.md example {number + 1}")


def test_the_whole_flow_example_loads_clean_in_the_fixture_project(project_copy: Path) -> None:
    [body] = [body for info, body in yaml_blocks() if info == "yaml whole-flow"]
    flow_id = load_yaml(body, "example")[0]["id"]
    (project_copy / "flows" / f"{flow_id}.yaml").write_text(body, encoding="utf-8")
    assert flow_id in load_project(project_copy).flows
