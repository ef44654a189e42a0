"""JSON Schema validation with located, fix-it messages.

The schemas in `schema/` are the single source of truth for the language;
this module loads them once and turns each validation error into a `Problem`
at the line and column of the value (or the key) at fault.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from .. import resources
from ..errors import Problem, keypath
from ..mailaddress import HOW, SCHEMA_RULE, valid_address
from .yamlfile import Positions

BASE_URI = "https://clientflow.dev/schema/"
_YAML11_BOOLEANS = {"yes": "true", "y": "true", "on": "true", "no": "false", "n": "false", "off": "false"}
_TYPES = {
    "string": "text",
    "object": "a mapping",
    "array": "a list",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def schema_dir() -> Path:
    """The folder of the language's schemas, wherever the package is installed."""
    return resources.folder(resources.SCHEMAS)


def _absolute(directory: str | None) -> str | None:
    """A project's schema folder as an absolute path: the caches below key on it, and two projects
    opened in one process from their own current folders both say `schema`."""
    return os.path.abspath(directory) if directory else None


def schema(name: str, directory: str | None = None) -> dict[str, Any]:
    """The parsed schema file `name` (e.g. `flow.schema.json`), of the language or of a project's `directory`."""
    return _schema_at(name, _absolute(directory))


@cache
def _schema_at(name: str, directory: str | None) -> dict[str, Any]:
    folder = Path(directory) if directory else schema_dir()
    return json.loads((folder / name).read_text(encoding="utf-8"))


def validator(name: str, directory: str | None = None) -> Any:
    """A Draft 2020-12 validator for one schema, resolving `$ref`s to its siblings."""
    return _validator_at(name, _absolute(directory))


@cache
def _validator_at(name: str, directory: str | None) -> Any:
    # the reference validator (~45 ms with referencing) only to explain a document jsonschema-rs found invalid
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    folder = Path(directory) if directory else schema_dir()
    resources = []
    for path in sorted(folder.glob("*.schema.json")):
        contents = schema(path.name, directory)
        resource = Resource.from_contents(contents)
        resources.append((contents.get("$id", BASE_URI + path.name), resource))
    registry = Registry().with_resources(resources)
    return Draft202012Validator(schema(name, directory), registry=registry, format_checker=_format_checker())


def _email_format(value: Any) -> bool:
    return not isinstance(value, str) or valid_address(value)


def _format_checker() -> Any:
    """`format: email` asserted with the address rule recipients meet; every other format stays a note."""
    from jsonschema import FormatChecker  # with the reference validator, only to explain what jsonschema-rs refused

    checker = FormatChecker(formats=())
    checker.checks("email")(_email_format)
    return checker


_SUBSCHEMA = frozenset(
    {"not", "if", "then", "else", "items", "additionalItems", "contains", "additionalProperties", "propertyNames", "unevaluatedItems", "unevaluatedProperties"}
)
_SUBSCHEMAS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_NAMED_SUBSCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


def _fast_form(node: Any) -> Any:
    """A schema as the fast validator is given it: each `format: email` written as the same rule in patterns.

    jsonschema-rs calls back into Python for each address a custom format checks
    (most of its time on a data file); `SCHEMA_RULE` gives the same verdicts in
    its own regex engine. Only a place that holds a schema is rewritten: any other
    `format: email` (a value under a keyword not listed here) keeps the callback.
    """
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key, value in node.items():
        if key in _SUBSCHEMA:
            out[key] = _fast_form(value)
        elif key in _SUBSCHEMAS and isinstance(value, list):
            out[key] = [_fast_form(item) for item in value]
        elif key in _NAMED_SUBSCHEMAS and isinstance(value, dict):
            out[key] = {name: _fast_form(item) for name, item in value.items()}
    if out.get("format") == "email" and isinstance(out.get("allOf", []), list):
        del out["format"]
        out["allOf"] = [*out.get("allOf", []), *SCHEMA_RULE]
    return out


@cache
def _fast_validator(name: str, directory: str | None = None) -> Any:
    """jsonschema-rs, when installed: checks large data files in milliseconds."""
    try:
        import jsonschema_rs  # ~10 ms to import: not for a remembered `validate`, which loads this module and checks nothing
    except ImportError:  # pragma: no cover - it is a dependency; stay correct without it
        return None
    folder = Path(directory) if directory else schema_dir()

    def retrieve(uri: str) -> Any:
        return _fast_form(schema(uri.rsplit("/", 1)[-1], str(folder)))

    try:
        return jsonschema_rs.validator_for(_fast_form(schema(name, directory)), retriever=retrieve, formats={"email": _email_format}, validate_formats=True)
    except Exception:  # noqa: BLE001 - any trouble: use the reference validator only
        return None


def validate(instance: Any, name: str, positions: Positions, directory: str | None = None, *, checker: Any = None) -> list[Problem]:
    """Every problem of `instance` against schema `name`, located and explained.

    A fast validator answers "valid?" first; only an invalid document pays for
    the reference validator that explains each problem. `checker` replaces the
    reference validator, e.g. one built from a copy of the schema that a project
    extends with its own words.
    """
    directory = _absolute(directory)
    fast = _fast_validator(name, directory) if checker is None else None
    if _fast_says_valid(fast, instance):
        return []
    reference = checker if checker is not None else validator(name, directory)
    leaves = [leaf for error in reference.iter_errors(instance) for leaf in _leaves(error)]
    # A misspelled required key is one mistake: report the unknown key with its did-you-mean, not also the missing one.
    misspelled = {
        (tuple(leaf.absolute_path), suggestion)
        for leaf in leaves
        if leaf.validator == "additionalProperties"
        for key in _extras(leaf)
        if (suggestion := _closest(key, leaf.schema.get("properties", {}))) is not None
    }
    problems = [
        problem
        for leaf in leaves
        if not (leaf.validator == "required" and (tuple(leaf.absolute_path), _missing(leaf)) in misspelled)
        for problem in _explain(leaf, positions)
    ]
    return sorted(set(problems))


def _extras(error: Any) -> list[str]:
    allowed = error.schema.get("properties", {})
    return [str(k) for k in error.instance if k not in allowed] if isinstance(error.instance, dict) else []


def _closest(key: str, choices: Iterable[str]) -> str | None:
    import difflib  # only for a document the schema refuses

    close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _missing(error: Any) -> str:
    return error.message.split("'")[1] if "'" in error.message else str(error.message)


def _alternatives(error: Any) -> list[tuple[str, str]]:
    """For `oneOf: [{required: [a]}, {required: [b]}]`: each key with its description; else nothing."""
    parent = error.parent
    if parent is None or parent.validator not in ("oneOf", "anyOf"):
        return []
    branches = parent.validator_value
    if not all(set(branch) == {"required"} and len(branch["required"]) == 1 for branch in branches):
        return []
    properties = parent.schema.get("properties", {})
    return [(branch["required"][0], properties.get(branch["required"][0], {}).get("description", "")) for branch in branches]


def _lower(description: str) -> str:
    """`The flow's id.` -> `the flow's id`, to go inside a sentence."""
    return description[:1].lower() + description[1:].rstrip(".")


def _explain(error: Any, positions: Positions) -> list[Problem]:
    path = tuple(error.absolute_path)
    where = keypath(path)
    prefix = f"{where}: " if where else ""
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        problems = []
        for key in _extras(error):
            if not allowed:
                hint = "; remove it"
            elif (close := _closest(key, allowed)) is not None:
                hint = f"; did you mean {close!r}?"
            else:
                hint = "; remove it, or use one of " + ", ".join(allowed)
            problems.append(Problem(positions.at((*path, key), key=True), f"{prefix}unknown key {key!r}{hint}"))
        return problems
    if kind == "required":
        missing = _missing(error)
        alternatives = _alternatives(error)
        if alternatives:
            listing = " or ".join(f"{key} ({_lower(text)})" if text else key for key, text in alternatives)
            return [Problem(positions.at(path, key=True), f"{prefix}needs one of these keys; add {listing}")]
        described = error.schema.get("properties", {}).get(missing, {}).get("description", "")
        hint = f"add {missing}: {_lower(described)}" if described else "add it"
        return [Problem(positions.at(path, key=True), f"{prefix}missing key {missing!r}; {hint}")]
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        described = error.schema.get("description", f"a name matching {error.schema.get('pattern', '')}")
        return [Problem(positions.at((*path, error.instance), key=True), f"{prefix}{error.instance!r} is not a valid name; use {_lower(described)}")]
    return [Problem(positions.at(path), prefix + _message(error))]


def _message(error: Any) -> str:
    kind = error.validator
    value = error.instance
    if kind == "type":
        expected = error.validator_value
        expected_list = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_TYPES.get(str(t), str(t)) for t in expected_list)
        hint = ""
        if "boolean" in expected_list and isinstance(value, str) and value.lower() in _YAML11_BOOLEANS:
            hint = f"; write {_YAML11_BOOLEANS[value.lower()]} (YAML 1.2 reads {value} as text)"
        elif "string" in expected_list and isinstance(value, dict):
            hint = "; put the text in quotes when it starts with { or holds ': '"
        elif "string" in expected_list and isinstance(value, list):
            hint = "; write one text (for several lines, start it with >- on the key's line)"
        elif error.schema.get("description"):
            hint = f" ({_lower(error.schema['description'])})"
        return f"must be {wanted}, not {_describe(value)}{hint}"
    if kind == "enum":
        listing = ", ".join(repr(c) for c in error.validator_value)
        close = _closest(str(value), [str(c) for c in error.validator_value])
        if close is not None:
            return f"{value!r} is not allowed; did you mean {close!r}? (one of {listing})"
        return f"{value!r} is not allowed; use one of {listing}"
    if kind == "const":
        return f"must be {error.validator_value!r}, not {_describe(value)}"
    if kind == "pattern":
        described = error.schema.get("description", f"a name matching {error.validator_value}")
        return f"{value!r} is not a valid name; use {_lower(described)}"
    if kind == "format" and error.validator_value == "email":
        return f"{value!r} is not a plain email address; {HOW}"
    if kind in ("minLength", "minItems", "minProperties"):
        return "must not be empty"
    if kind == "maxLength":
        return f"is longer than {error.validator_value} characters; shorten it"
    if kind == "maxItems":
        return f"has more than {error.validator_value} items; remove some"
    if kind in ("minimum", "exclusiveMinimum"):
        return f"{value!r} is too small; use at least {error.validator_value}"
    if kind in ("maximum", "exclusiveMaximum"):
        return f"{value!r} is too large; use at most {error.validator_value}"
    return str(error.message)


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


def unresolved_references(contents: Any, directory: str) -> list[tuple[tuple[Any, ...], str]]:
    """Every `$ref` of a schema that does not resolve within it or the `*.schema.json` files of `directory`.

    Resolved the way `validator` resolves them, from the same registry, which
    has no way to retrieve anything: a `$ref` to `http://...` is unresolved,
    never fetched. Returns (key path of the `$ref`, its value) pairs.
    """
    if _all_local_and_found(contents, directory):
        return []  # every $ref is a pointer into the document itself, and each finds its target: what the registry would say
    # the registry (referencing: ~25 ms) only for a schema whose $refs leave the document or miss their target
    from referencing import Registry, Resource
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    folder = Path(directory)
    resources = []
    for file in sorted(folder.glob("*.schema.json")):
        try:
            sibling = schema(file.name, directory)
        except (OSError, ValueError):
            continue
        if isinstance(sibling, dict):
            resources.append((sibling.get("$id", BASE_URI + file.name), Resource.from_contents(sibling, default_specification=DRAFT202012)))
    registry = Registry().with_resources(resources)
    root = Resource.from_contents(contents, default_specification=DRAFT202012) if isinstance(contents, dict) else None
    if root is None:
        return []
    registry = registry.with_resource(root.id() or "", root)
    unresolved: list[tuple[tuple[Any, ...], str]] = []
    stack: list[tuple[Any, tuple[Any, ...], str]] = [(contents, (), root.id() or "")]
    while stack:
        node, path, base = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("$id"), str):
                base = urljoin(base, node["$id"])
            for key in ("$ref", "$dynamicRef"):
                ref = node.get(key)
                if isinstance(ref, str):
                    try:
                        registry.resolver(base_uri=base).lookup(ref)
                    except Unresolvable:
                        unresolved.append(((*path, key), ref))
            stack.extend((value, (*path, key), base) for key, value in node.items() if key not in ("const", "enum", "examples", "default"))
        elif isinstance(node, list):
            stack.extend((value, (*path, index), base) for index, value in enumerate(node))
    return sorted(unresolved, key=str)


_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_NOT_WALKED = ("const", "enum", "examples", "default")  # values, not schemas: `unresolved_references` does not look inside


def _all_local_and_found(contents: Any, directory: str) -> bool:
    """Whether every `$ref` of a schema is `#` or `#/a/json/pointer` that finds its target in the schema itself.

    The common case, answered without importing `referencing` (slow to import) and in the
    same words: only when nothing could make the registry read the schema otherwise (no
    `$id` but the root's, a plain one; no `$dynamicRef`; Draft 2020-12 for the schema and
    its sibling files; no %-escapes; each pointer step a key of a mapping or an index of a
    list). Anything else is False, and `unresolved_references` asks the registry.
    """
    if not isinstance(contents, dict) or contents.get("$schema", _DRAFT_2020_12) != _DRAFT_2020_12:
        return False
    own = contents.get("$id")
    if own is not None and not (isinstance(own, str) and "#" not in own and own == _joined(own, own)):
        return False
    for file in Path(directory).glob("*.schema.json"):  # loaded beside it by the registry: they must load the same way
        try:
            sibling = schema(file.name, directory)
        except (OSError, ValueError):
            continue
        if isinstance(sibling, dict) and sibling.get("$schema", _DRAFT_2020_12) != _DRAFT_2020_12:
            return False
    refs: list[Any] = []
    stack: list[tuple[Any, bool]] = [(contents, True)]  # (value, walked by unresolved_references)
    while stack:
        node, walked = stack.pop()
        if isinstance(node, dict):
            if (node is not contents and "$id" in node) or "$dynamicRef" in node:
                return False
            if walked:
                refs.append(node.get("$ref"))
            stack.extend((value, walked and key not in _NOT_WALKED) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, walked) for value in node)
    return all(_found(contents, ref) for ref in refs if isinstance(ref, str))


def _joined(base: str, ref: str) -> str:
    return urljoin(base, ref)


def _found(document: Any, ref: str) -> bool:
    """Whether `ref` is `#` or a JSON pointer `#/...` that reaches a value of `document`, step by step as the registry reads it."""
    if not ref.startswith("#") or "%" in ref:
        return False
    pointer = ref[1:]
    if not pointer:
        return True
    if not pointer.startswith("/"):
        return False  # a named anchor
    node = document
    for segment in pointer[1:].split("/"):
        if isinstance(node, dict):
            key = segment.replace("~1", "/").replace("~0", "~")
            if key not in node:
                return False
            node = node[key]
        elif isinstance(node, list) and segment.isdecimal() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            return False
    return True


def _record_wrapper(name: str, directory: str, collection: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A schema that is one record of `collection` (a reference into the data schema), and every document by URI."""
    document = schema(name, directory)
    uri = document.get("$id", BASE_URI + name)
    pointer = "/properties/" + collection.replace("~", "~0").replace("/", "~1") + "/items"
    documents = {schema(p.name, directory).get("$id", BASE_URI + p.name): schema(p.name, directory) for p in sorted(Path(directory).glob("*.schema.json"))}
    documents[uri] = document
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": f"{uri}#{pointer}"}, documents


@cache
def _record_fast(name: str, directory: str, collection: str) -> Any:
    """jsonschema-rs over one record of `collection` (None without it, or on any trouble)."""
    try:
        import jsonschema_rs  # ~10 ms to import: only for a commit that checks the records it changed

        wrapper, documents = _record_wrapper(name, directory, collection)
        fast = {uri: _fast_form(document) for uri, document in documents.items()}
        return jsonschema_rs.validator_for(wrapper, retriever=lambda u: fast[u.split("#")[0]], formats={"email": _email_format}, validate_formats=True)
    except Exception:  # noqa: BLE001 - not installed, or any trouble: the reference validator alone
        return None


@cache
def _record_reference(name: str, directory: str, collection: str) -> Any:
    """The reference validator of one record of `collection`: it explains what is wrong."""
    # the reference validator (~45 ms with referencing) only to explain a record jsonschema-rs found invalid
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    wrapper, documents = _record_wrapper(name, directory, collection)
    registry = Registry().with_resources([(uri, Resource.from_contents(d)) for uri, d in documents.items()])
    return Draft202012Validator(wrapper, registry=registry, format_checker=_format_checker())


def record_problems(record: Any, name: str, directory: str, collection: str) -> list[str]:
    """What the data schema refuses in one record of `collection`: each problem as `field: message` (none when it is valid)."""
    return record_check(name, os.path.abspath(directory), collection)(record)


@cache
def record_check(name: str, directory: str, collection: str) -> Callable[[Any], list[str]]:
    """`record_problems` for records of one collection, its schema and validators found once (`directory` absolute).

    A commit checks every record it changed with it: what is resolved here is the same
    for each record (the schema files are read once per folder, as `schema` reads them).
    """
    if collection not in schema(name, directory).get("properties", {}):
        return _no_problems
    fast = _record_fast(name, directory, collection)

    def problems(record: Any) -> list[str]:
        if _fast_says_valid(fast, record):
            return []
        where = Positions("")
        leaves = [leaf for error in _record_reference(name, directory, collection).iter_errors(record) for leaf in _leaves(error)]
        return sorted({problem.message for leaf in leaves for problem in _explain(leaf, where)})

    return problems


def _no_problems(record: Any) -> list[str]:
    return []


def _fast_says_valid(fast: Any, value: Any) -> bool:
    """Whether the fast validator (if there is one) finds `value` valid; otherwise the reference validator explains it."""
    if fast is None:
        return False
    try:
        return bool(fast.is_valid(value))
    except Exception:  # noqa: BLE001 - values it cannot take are judged by the reference validator
        return False


def repaired_keys(instance: Any, name: str) -> Any | None:
    """A copy of `instance` with each unknown key renamed to the one it most likely meant (or dropped), when
    that is all that is wrong; None when anything else is. Its problems are reported already: the copy lets
    the semantic checks go on, so that one misspelled key does not hide every other mistake of the file."""
    fixed = copy.deepcopy(instance)
    reference = validator(name)
    for _ in range(3):
        leaves = [leaf for error in reference.iter_errors(fixed) for leaf in _leaves(error)]
        if not leaves:
            return fixed
        extras = [leaf for leaf in leaves if leaf.validator == "additionalProperties"]
        misspelled = {(tuple(leaf.absolute_path), _closest(key, leaf.schema.get("properties", {}))) for leaf in extras for key in _extras(leaf)}
        if any(
            not (leaf.validator == "additionalProperties" or (leaf.validator == "required" and (tuple(leaf.absolute_path), _missing(leaf)) in misspelled))
            for leaf in leaves
        ):
            return None
        for leaf in extras:
            holder: Any = fixed
            for key in leaf.absolute_path:
                holder = holder[key]
            for key in _extras(leaf):
                close = _closest(key, leaf.schema.get("properties", {}))
                value = holder.pop(key)
                if close is not None and close not in holder:
                    holder[close] = value
    return None


# -- values that name a flow ----------------------------------------------------------------

FLOW_KEYWORD = "x-flow"  # on a string of the data schema: true (names a flow of the project) or a step kind the flow must have
Pattern = tuple[str | None, ...]  # keys from the document's top; None: every key of a mapping or item of a list


def flow_references(name: str, directory: str | None = None) -> tuple[tuple[Pattern, Any], ...]:
    """Where the data schema `name` says a string names a flow (`"x-flow"`), and what it says of that flow.

    JSON Schema cannot say "one of the project's flows" (the data schema is the project's, the flows
    change with it), so the annotation is read here and checked against the project by the data check.
    """
    return _flow_references_at(name, _absolute(directory))


@cache
def _flow_references_at(name: str, directory: str | None) -> tuple[tuple[Pattern, Any], ...]:
    root = schema(name, directory)
    found: list[tuple[Pattern, Any]] = []
    _annotated(root, (), root, frozenset(), found)
    return tuple(dict.fromkeys(found))


def _annotated(node: Any, path: Pattern, root: Any, refs: frozenset[str], found: list[tuple[Pattern, Any]]) -> None:
    if not isinstance(node, dict):
        return
    if FLOW_KEYWORD in node:
        found.append((path, node[FLOW_KEYWORD]))
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and ref not in refs:  # a local definition, once along each path
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
        _annotated(target, path, root, refs | {ref}, found)
    for key, sub in (node.get("properties") or {}).items():
        _annotated(sub, (*path, key), root, refs, found)
    for sub in [*(node.get("patternProperties") or {}).values(), node.get("additionalProperties"), node.get("items")]:
        _annotated(sub, (*path, None), root, refs, found)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key) or ():
            _annotated(sub, path, root, refs, found)


def values_at(value: Any, pattern: Pattern, path: tuple[Any, ...] = ()) -> Iterable[tuple[tuple[Any, ...], Any]]:
    """Each (path, value) of a document that `pattern` reaches."""
    if not pattern:
        yield path, value
        return
    step, rest = pattern[0], pattern[1:]
    if step is None:
        if isinstance(value, dict):
            for key, sub in value.items():
                yield from values_at(sub, rest, (*path, key))
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                yield from values_at(sub, rest, (*path, index))
    elif isinstance(value, dict) and step in value:
        yield from values_at(value[step], rest, (*path, step))
