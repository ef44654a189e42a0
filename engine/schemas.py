"""JSON Schema validation with located, fix-it messages.

The schemas in `schema/` are the single source of truth for the language;
this module loads them once and turns each validation error into a `Problem`
at the line and column of the value (or the key) at fault.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import Problem, did_you_mean
from .yamlfile import Positions

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
BASE_URI = "https://clientflow.dev/schema/"
_TYPES = {"string": "text", "object": "a mapping", "array": "a list", "integer": "a whole number", "number": "a number", "boolean": "true or false", "null": "null"}


@lru_cache(maxsize=None)
def schema(name: str, directory: str | None = None) -> dict[str, Any]:
    """The parsed schema file `name` (e.g. `flow.schema.json`)."""
    folder = Path(directory) if directory else SCHEMA_DIR
    return json.loads((folder / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def validator(name: str, directory: str | None = None) -> Any:
    """A Draft 2020-12 validator for one schema, resolving `$ref`s to its siblings."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    folder = Path(directory) if directory else SCHEMA_DIR
    resources = []
    for path in sorted(folder.glob("*.schema.json")):
        contents = schema(path.name, directory)
        resource = Resource.from_contents(contents)
        resources.append((contents.get("$id", BASE_URI + path.name), resource))
    registry = Registry().with_resources(resources)
    return Draft202012Validator(schema(name, directory), registry=registry)


def validate(instance: Any, name: str, positions: Positions, directory: str | None = None) -> list[Problem]:
    """Every problem of `instance` against schema `name`, located and explained."""
    problems = [
        _explain(leaf, positions) for error in validator(name, directory).iter_errors(instance) for leaf in _leaves(error)
    ]
    return sorted(set(problems))


def keypath(path: Iterable[Hashable]) -> str:
    """`steps[2].fields[0].name` for the path ("steps", 2, "fields", 0, "name")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _explain(error: Any, positions: Positions) -> Problem:
    path = tuple(error.absolute_path)
    where = keypath(path)
    prefix = f"{where}: " if where else ""
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extras = [k for k in error.instance if k not in allowed] if isinstance(error.instance, dict) else []
        key = extras[0] if extras else "?"
        if not allowed:
            return Problem(positions.at((*path, key), key=True), f"{prefix}unknown key {key!r}")
        return Problem(positions.at((*path, key), key=True), f"{prefix}unknown key {key!r}{did_you_mean(str(key), allowed)}")
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        described = error.schema.get("properties", {}).get(missing, {}).get("description", "")
        hint = f" ({described})" if described else ""
        return Problem(positions.at(path), f"{prefix}missing key {missing!r}{hint}")
    if kind == "type":
        expected = error.validator_value
        expected_list = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_TYPES.get(t, t) for t in expected_list)
        return Problem(positions.at(path), f"{prefix}must be {wanted}, not {_describe(error.instance)}")
    if kind == "enum":
        choices = [str(c) for c in error.validator_value]
        hint = did_you_mean(str(error.instance), choices)
        listing = ", ".join(repr(c) for c in error.validator_value)
        if not hint.startswith("; expected"):
            return Problem(positions.at(path), f"{prefix}{error.instance!r} is not allowed{hint} (one of {listing})")
        return Problem(positions.at(path), f"{prefix}{error.instance!r} is not allowed; use one of {listing}")
    if kind == "pattern":
        described = error.schema.get("description", f"it must match {error.validator_value}")
        return Problem(positions.at(path), f"{prefix}{error.instance!r} is not a valid name: {described}")
    if kind in ("minLength", "minItems", "minProperties"):
        return Problem(positions.at(path), f"{prefix}must not be empty")
    if kind == "maxLength":
        return Problem(positions.at(path), f"{prefix}is longer than {error.validator_value} characters")
    if kind == "propertyNames":
        return Problem(positions.at(path), f"{prefix}{error.message}")
    return Problem(positions.at(path), f"{prefix}{error.message}")


def _leaves(error: Any) -> Iterable[Any]:
    """For oneOf/anyOf, descend into the branch the author most likely meant."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        yield error
        return
    branches: dict[int, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    options: Sequence[Any] = error.validator_value
    keys = set(error.instance) if isinstance(error.instance, dict) else set()

    def score(index: int) -> tuple[int, int, int]:
        branch = options[index]
        named = set(branch.get("properties", {})) | set(branch.get("required", []))
        wrong_type = any(e.validator == "type" and not e.relative_path for e in branches[index])
        return (0 if wrong_type else 1, len(keys & named), -len(branches[index]))

    for sub in branches[max(branches, key=score)]:
        yield from _leaves(sub)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{value!r}"
