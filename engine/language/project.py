"""Loading a project: files -> located values -> schema -> model -> checks.

`read_project(root, compilers)` reads `flows/project.yaml`, `flows/rules.yaml`, every
other `flows/*.yaml` and `templates/emails/*`, and returns a `Project`, or raises one
`DefinitionError` holding every problem of every file at once. Each condition and text
is compiled as it is read, by the `compilers` it is given, against the names known at
that point (so an error is reported where it is written); the project carries them as
its `program`. `clientflow.load_project` (engine/conditions/program.py) gives it the
project's compilers.

`LOADER_KEYS` says which keys the loader reads of each kind of mapping. It is
written from the code below, not from the schema, and the code can read no
other key (`_Read` refuses), so a test can hold it against the schema's
`properties` and catch the two drifting apart.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping
from dataclasses import field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import CompileError, DefinitionError, Location, Problem, did_you_mean, keypath
from ..mailaddress import valid_address
from ..plain import mutable
from . import checks, schemas
from .code import Compilers, Expr, Text
from .fixes import OLD_OPS
from .model import (
    APPROVAL_NAMES,
    DEFAULT_BUTTONS,
    DEFAULT_MAX_LENGTH,
    Approval,
    Check,
    Delay,
    DynamicOptions,
    Effect,
    Email,
    EmailTemplate,
    Entity,
    Field,
    Flow,
    Option,
    Outcome,
    Project,
    Rule,
    Step,
)
from .words import DATA_FUNCTIONS, OUTSIDER_NAMES, Moment, subject_words
from .yamlfile import MAX_PROBLEMS, Positions, load_data_text, load_yaml, read_text

PROJECT_FILE = "project.yaml"
RULES_FILE = "rules.yaml"
BASE_NAMES = ("actor", "answers", "now", "product", "flow", "approval")
BUTTONS = ("next", "back", "cancel")
UNTRANSLATED_BUTTONS = "shown untranslated"  # in the warning of a project with locales whose default buttons are the engine's
FLOW_KEYS = ("id", "title", "due")  # what conditions and texts see as `flow` (engine/runtime/context.py)

Path_ = tuple[Hashable, ...]

# Every key the loader reads, by kind of mapping (see the module docstring).
LOADER_KEYS: dict[str, frozenset[str]] = {
    # flows/project.yaml
    "project": frozenset({"product", "data_schema", "locales", "buttons", "entities", "subject", "actor", "context", "reach"}),
    "product": frozenset({"name", "sender"}),
    "entity": frozenset({"collection", "nested", "keys", "label"}),
    "nested": frozenset({"in", "key"}),
    "subject": frozenset({"entity", "match"}),
    "actor": frozenset({"entity", "match", "within"}),
    "reach": frozenset({"name", "if", "message", "description"}),
    # flows/rules.yaml
    "rules": frozenset({"rules"}),
    "rule": frozenset({"if", "message", "description"}),
    # flows/<id>.yaml
    "flow": frozenset({"id", "title", "summary", "subject", "entry", "button", "started_by", "preconditions", "steps", "outcome"}),
    "rule_use": frozenset({"rule", "name", "if", "message", "description"}),
    "step": frozenset({"id", "kind", "title", "body", "when", "buttons", "fields", "approvers", "expires", "request", "decision"}),
    "approval_email": frozenset({"template", "to"}),
    "buttons": frozenset({"next", "back", "cancel"}),
    "project_buttons": frozenset({"next", "back", "cancel"}),  # flows/project.yaml: the labels of the buttons a step leaves out
    "field": frozenset({"name", "type", "label", "help", "required", "default", "max_length", "options", "confirm", "validate"}),
    "option": frozenset({"value", "label"}),
    "options_from": frozenset({"from", "value", "label", "match", "where"}),
    "check": frozenset({"if", "message"}),
    "outcome": frozenset({"effects", "emails", "banner", "reversible", "undo", "audit", "cancel"}),
    "effect": frozenset({"op", "entity", "id", "field", "to", "values", "with", "when", "after", "unless"}),
    "email": frozenset({"template", "to", "when", "when_empty", "after", "unless"}),
}

_READ: set[tuple[str, str]] = set()


def keys_read() -> frozenset[tuple[str, str]]:
    """The (kind, key) pairs the loader has looked up so far in this process."""
    return frozenset(_READ)


class _Read(Mapping[str, Any]):
    """A schema-valid mapping of one kind, whose keys are read only as LOADER_KEYS declares."""

    __slots__ = ("kind", "data")

    def __init__(self, kind: str, data: Mapping[str, Any]) -> None:
        self.kind, self.data = kind, data

    def __getitem__(self, key: str) -> Any:
        if key not in LOADER_KEYS[self.kind]:
            raise RuntimeError(f"the loader reads {key!r} of a {self.kind}; declare it in LOADER_KEYS[{self.kind!r}] and in the schema")
        _READ.add((self.kind, key))
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


@mutable
class Extensions:
    """What plugins add to the language: functions, filters and effects."""

    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    filters: dict[str, Callable[..., Any]] = field(default_factory=dict)
    effects: dict[str, Any] = field(default_factory=dict)


class _File:
    """One definition file being built: its positions and the problems found in it."""

    def __init__(self, display: str, positions: Positions, problems: list[Problem], text: str = "") -> None:
        self.display, self.positions, self.problems, self.text = display, positions, problems, text
        self.warnings: list[Problem] = []  # what still loads but should change (an old word)
        self.later: list[Problem] = []  # problems that do not stop the rest being built and checked (a field, a template name)

    def at(self, path: Path_, key: bool = False) -> Location:
        return self.positions.at(path, key=key)

    def warn(self, path: Path_, message: str) -> None:
        """A located warning: the file still loads (see `Project.warnings`)."""
        where = keypath(path)
        self.warnings.append(Problem(self.at(path), f"{where}: {message}" if where else message))

    def error(self, path: Path_, message: str, key: bool = False) -> None:
        """Report `keypath: message` at the value (or the key) of `path`."""
        where = keypath(path)
        self.problems.append(Problem(self.at(path, key), f"{where}: {message}" if where else message))

    def template_error(self, path: Path_, exc: CompileError) -> None:
        """Report a template's error at its own line (and column, when known) where the file shows it, else at the value."""
        where = keypath(path)
        message = str(exc)
        if exc.line > 1 and path not in self.positions.blocks:
            message += f" (line {exc.line} of the text)"
        location = self._code_at(path, exc.line, exc.col) if exc.line else self.at(path)
        self.problems.append(Problem(location, f"{where}: {message}" if where else message))

    def note(self, path: Path_, message: str) -> None:
        """A problem of one part that does not stop the rest of the file being built and checked."""
        where = keypath(path)
        self.later.append(Problem(self.at(path), f"{where}: {message}" if where else message))

    def code_error(self, path: Path_, line: int, col: int, message: str) -> None:
        """Report a problem at `line`:`col` of the code written at `path`: exactly there when the file shows it, else at the value."""
        where = keypath(path)
        self.later.append(Problem(self._code_at(path, line, col), f"{where}: {message}" if where else message))

    def _code_at(self, path: Path_, line: int, col: int) -> Location:
        """Where `line`:`col` (1-based; col 0: unknown) of the code written at `path` is in the file, when the file shows it."""
        location = self.at(path)
        lines = self.text.splitlines()
        start = lines[location.line - 1] if 0 < location.line <= len(lines) else ""
        if path in self.positions.blocks:  # a `|` block: the code's lines are the file's, below the key
            at = location.line + line
            # `col` counts in the text, whose lines keep what they are indented past the block's own indentation
            # (its first line's, as YAML reads it): that indentation, not this line's, is added
            first = next((r for r in lines[location.line : at] if r.strip()), "")
            indent = len(first) - len(first.lstrip(" "))
            location = Location(location.path, at, indent + max(col, 1))
        elif line == 1 and col > 0 and location.col <= len(start) and start[location.col - 1 : location.col] not in (">", "|"):
            quoted = start[location.col - 1 : location.col] in ("'", '"')
            location = Location(location.path, location.line, location.col + col - 1 + quoted)
        return location


def _in_template(builder: Builder, file: _File, flow: Flow) -> checks.ReportIn:
    """Report a problem of an email template's text where the template writes the name, saying which flow sends it and where."""

    def report(path: Path_, text: Text, name: str, message: str) -> None:
        location = text.location or Location(file.display)
        found = _written_at(builder.sources.get(location.path, ""), location.line, name)
        at = Location(location.path, *found) if found is not None else location
        file.later.append(Problem(at, f"sent by {flow.id} ({file.at(path)}, {keypath(path)}): {message}"))

    return report


def _written_at(source: str, first_line: int, name: str) -> tuple[int, int] | None:
    """The line and column of the first `answers.NAME` (or `answers['NAME']`) at or after `first_line` of `source`."""
    pattern = re.compile(rf"\banswers\s*(?:\.\s*{re.escape(name)}\b|\[\s*['\"]{re.escape(name)}['\"])")
    lines = source.splitlines()
    for number in range(max(first_line, 1), len(lines) + 1):
        match = pattern.search(lines[number - 1])
        if match is not None:
            return number, match.start() + 1
    return None


class Builder:
    """Builds the model's code, each piece compiled against the names its place may use."""

    def __init__(self, extensions: Extensions, compilers: Compilers) -> None:
        self.function_names = frozenset([*DATA_FUNCTIONS, *extensions.functions])
        self.collections: dict[str, str] = {}  # collection -> entity, once the project file is read
        self.sources: dict[str, str] = {}  # every file read, by its path in the project: what a run's version is rebuilt from
        self.templates: Collection[str] = ()  # the email templates that exist, and every file of templates/emails/
        self.template_files: Collection[str] = ()
        self.compilers = compilers
        self.effects = extensions.effects

    def fix(self, name: str, keys: Iterable[str]) -> None:
        """Declare the only keys `name` has (product, flow, now), so that a misspelled one fails at load."""
        self.compilers.fix(name, keys)

    def expression(
        self, file: _File, path: Path_, source: Any, names: frozenset[str], *, value: bool = False, items: Mapping[str, Expr] | None = None
    ) -> Expr | None:
        """A condition (or, with `value`, a value to store), compiled; report and return None when it cannot be."""
        if not isinstance(source, str):
            source = "none" if source is None else str(source).lower() if isinstance(source, bool) else str(source)
        code = Expr(source, file.at(path))
        try:
            uses = self.compilers.compile_expression(code, names | self.function_names, items)
            for line, col, message in uses.unknown:
                file.code_error(path, line, col, message)
            return code
        except CompileError as exc:
            message = str(exc)
            word = source.strip()
            if value and message.startswith("unknown name") and word.isidentifier() and "did you mean" not in message:
                message = f"unknown name {word!r}; to store the text {word!r}, put it in quotes inside the quotes: \"'{word}'\""
            file.error(path, message)
            return None

    def template(self, file: _File, path: Path_, source: Any, names: frozenset[str], items: Mapping[str, Expr] | None = None) -> Text | None:
        """A text, compiled; report and return None when it cannot be (or when there is none)."""
        if source is None:
            return None
        code = Text(str(source), file.at(path))
        try:
            uses = self.compilers.compile_template(code, names | self.function_names, items)
            for line, col, message in uses.unknown:
                file.code_error(path, line, col, message)
            return code
        except CompileError as exc:
            file.template_error(path, exc)
            return None


def read_project(root: str | Path, compilers: Compilers, extensions: Extensions | None = None) -> Project:
    """Read, validate and check the project under `root`, each condition and text compiled by `compilers`.

    The files under `root` are read as data only: nothing in the folder can change
    what code runs (generated code is compiled afresh in every process, never cached).
    `extensions` must be those `compilers` were made with (their functions and filters).
    """
    root = Path(root)
    extensions = extensions or Extensions()
    problems: list[Problem] = []
    builder = Builder(extensions, compilers)
    flows_dir = root / "flows"
    if not flows_dir.is_dir():
        raise DefinitionError(
            [
                Problem(
                    Location(str(root)),
                    "no flows/ folder here, so no project; make one with `clientflow new DIR`, or pass --project DIR to name an existing project folder",
                )
            ]
        )

    project_doc, project_file = _read(root, flows_dir / PROJECT_FILE, "project.schema.json", problems)
    rules_path = flows_dir / RULES_FILE
    rules_doc, rules_file = _read(root, rules_path, "rules.schema.json", problems) if rules_path.exists() else (None, None)
    rules_ok = not rules_path.exists() or rules_file is not None
    flow_docs = _flow_docs(root, flows_dir, problems)
    if project_doc is None or project_file is None:
        _email_templates(root, builder, None, problems)  # nothing compiles without the project file; still read the rest
        raise DefinitionError(_once(problems))

    project = _Read("project", project_doc)
    before = len(problems)
    entities = _entities(project["entities"], project_file)
    subject = _Read("subject", project["subject"])
    actor = _Read("actor", project["actor"])
    subject_entity, actor_entity = subject["entity"], actor["entity"]
    within = dict(actor.get("within", {}))
    for path, name in ((("subject", "entity"), subject_entity), (("actor", "entity"), actor_entity)):
        if name not in entities:
            project_file.error(path, f"unknown entity {name!r}" + _or_else(name, entities, "; declare it under entities:"))
    for holder in within:
        if holder not in entities:
            project_file.error(("actor", "within", holder), f"unknown entity {holder!r}{did_you_mean(holder, entities)}", key=True)
    if len(problems) != before:
        _email_templates(root, builder, None, problems)  # the names conditions see are not known: compile nothing else
        raise DefinitionError(_once(problems))
    before_schema = len(problems)
    data_schema = _data_schema(root, project.get("data_schema"), project_file)
    schema_read = len(problems) == before_schema  # the data schema exists and is a JSON Schema: its types can be used

    product_doc = _Read("product", project["product"])
    product = {key: product_doc[key] for key in ("name", "sender") if key in product_doc}
    if "sender" in product and not valid_address(str(product["sender"])):
        project_file.error(("product", "sender"), f"{product['sender']!r} is not a plain email address; write it like no-reply@example.com")
    builder.fix("product", product)
    locales = tuple(str(tag) for tag in project.get("locales", ()))
    builder.fix("flow", FLOW_KEYS)
    builder.fix("approval", APPROVAL_NAMES)
    builder.fix("now", Moment(datetime.now(UTC)))
    base = frozenset({*BASE_NAMES, subject_entity, *within.values()})
    builder.collections = {e.collection: e.name for e in entities.values() if e.collection}
    if data_schema is not None and schema_read:
        bound = {"actor": (actor_entity, False), subject_entity: (subject_entity, False), **{name: (holder, True) for holder, name in within.items()}}
        compilers.declare_data(schemas.schema(Path(data_schema).name, str((root / data_schema).parent)), entities, bound)
    context: dict[str, Expr] = {}
    names = base
    for name, source in project.get("context", {}).items():
        compiled = builder.expression(project_file, ("context", name), source, names)
        if compiled is not None:
            context[name] = compiled
            compilers.bind(name, compiled)
        names = names | {name}
    reach = tuple(
        rule
        for index, item in enumerate(project.get("reach", []))
        if (rule := _rule(builder, project_file, ("reach", index), _Read("reach", item), names, shared=True)) is not None
    )
    given_buttons = _Read("project_buttons", project.get("buttons", {}))
    buttons: dict[str, Text] = {}
    for name in ("next", "back", "cancel"):  # the labels of the buttons a step does not name itself
        if name in given_buttons and (label := builder.template(project_file, ("buttons", name), given_buttons[name], names)) is not None:
            buttons[name] = label
    missing = [name for name in BUTTONS if name not in given_buttons]
    if len(locales) > 1 and missing:  # the engine's labels are not in any catalog: every locale would read them in English
        labels = ", ".join(f"{name}: {DEFAULT_BUTTONS[name]}" for name in missing)
        several = len(missing) > 1
        fix = f"add {labels} to `buttons:`" if "buttons" in project else f"add `buttons: {{{labels}}}` to {PROJECT_FILE}"
        project_file.warn(
            ("buttons",) if "buttons" in project else ("locales",),
            f"the default {', '.join(missing)} button label{'s' if several else ''} of a screen that names none "
            f"{'are' if several else 'is'} the engine's English ({', '.join(DEFAULT_BUTTONS[n] for n in missing)}), "
            f"{UNTRANSLATED_BUTTONS} in every other locale; {fix} (in your words) so that `clientflow i18n` extracts them for translation",
        )
    words = subject_words(subject.get("match", ["id"]), entities[subject_entity].label)
    for index, item in enumerate(project.get("reach", [])):
        shown = (*OUTSIDER_NAMES, *within.values())
        problem = compilers.refusal_problem(str(_Read("reach", item)["message"]), subject_entity, words, shown)
        if problem is not None:
            project_file.error(("reach", index, "message"), problem)

    shared: dict[str, Rule] = {}
    broken: set[str] = set()
    if rules_file is not None and rules_doc is not None:
        for name, item in _Read("rules", rules_doc)["rules"].items():
            rule = _rule(builder, rules_file, ("rules", name), _Read("rule", item), names, shared=True, name=name)
            if rule is None:
                broken.add(name)
            else:
                shared[name] = rule
    known_rules = _KnownRules(shared, broken, report_unknown=rules_ok)

    emails, template_names = _email_templates(root, builder, names, problems)
    folder = root / "templates" / "emails"
    template_files = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    builder.templates, builder.template_files = template_names, template_files
    common_text = (project_file.display, _digest(root / "flows" / PROJECT_FILE), _digest(rules_path))
    flows: dict[str, Flow] = {}
    for doc, file in flow_docs:
        flow = _flow(builder, file, _Read("flow", doc), names, known_rules, entities, subject_entity, common_text)
        if flow is None:
            continue
        flows.setdefault(flow.id, flow)
        checks.check_flow(flow, compilers, file.error, template_names, builder.effects, entities, emails, template_files, _in_template(builder, file, flow))
    for doc, file in flow_docs:  # a flow may cancel only the scheduled work of a flow that exists
        for index, other in enumerate(doc.get("outcome", {}).get("cancel", []) if isinstance(doc.get("outcome"), dict) else []):
            if other not in flows:
                file.error(("outcome", "cancel", index), f"unknown flow {other!r}{did_you_mean(str(other), flows)}; cancel names flows of this project")

    files = [f for f in (project_file, rules_file, *(file for _, file in flow_docs)) if f is not None]
    problems.extend(p for f in files for p in f.later)
    # with problems, but every flow file read and built, every shared rule too: the files naming flows, steps, fields
    # and rules can still be checked against what was built, and their problems reported with these (DefinitionError.project)
    if problems and not (rules_ok and not broken and len(flows) == sum(1 for p in flows_dir.glob("*.yaml") if p.name not in (PROJECT_FILE, RULES_FILE))):
        raise DefinitionError(_once(problems))
    warnings = sorted(w for f in files for w in f.warnings)
    sources = {f.display: f.text for f in files} | builder.sources
    if data_schema is not None and schema_read:
        sources[data_schema] = (root / data_schema).read_text(encoding="utf-8")
    built = Project(
        root=str(root),
        product=product,
        entities=entities,
        subject_entity=subject_entity,
        subject_match=tuple(subject.get("match", ["id"])),
        actor_entity=actor_entity,
        actor_match=tuple(actor.get("match", ["id"])),
        actor_within=within,
        context=context,
        reach=reach,
        flows=flows,
        emails=emails,
        data_schema=data_schema,
        locales=locales,
        buttons=buttons,
        names=names,
        program=compilers,
        warnings=tuple(warnings),
        sources=sources,
    )
    if problems:
        raise DefinitionError(_once(problems), project=built)
    return built


def _once(problems: list[Problem]) -> list[Problem]:
    """Each location reported once (the first problem found there), and at most MAX_PROBLEMS per file."""
    seen: set[tuple[str, int, int]] = set()
    per_file: dict[str, int] = {}
    out = []
    for problem in problems:
        where = (problem.location.path, problem.location.line, problem.location.col)
        if where in seen:
            continue
        seen.add(where)
        count = per_file[where[0]] = per_file.get(where[0], 0) + 1
        if count <= MAX_PROBLEMS:
            out.append(problem)
        elif count == MAX_PROBLEMS + 1:
            out.append(Problem(problem.location, f"more than {MAX_PROBLEMS} problems in this file: the rest are not shown; fix these and validate again"))
    return out


def _or_else(given: str, choices: Mapping[str, Any] | set[str], hint: str) -> str:
    """The closest choice as a did-you-mean, or else `hint`."""
    suggestion = did_you_mean(given, choices)
    return suggestion if suggestion.startswith("; did you mean") else hint


def _display(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _read(root: Path, path: Path, schema_name: str, problems: list[Problem]) -> tuple[Any, _File | None]:
    """One definition file through YAML and its schema; (None, None) when either fails."""
    display = _display(root, path)
    if not path.exists():
        problems.append(Problem(Location(display), f"the file is missing; every project needs flows/{path.name} (see docs/flow-language.md)"))
        return None, None
    try:
        text = read_text(path, display)
        doc, positions = load_yaml(text, display)
    except DefinitionError as exc:
        problems.extend(exc.problems)
        return None, None
    if doc is None:
        required = ", ".join(schemas.schema(schema_name).get("required", []))
        problems.append(Problem(Location(display, 1, 1), f"the file is empty; write the keys {required} (see docs/flow-language.md)"))
        return None, None
    found = schemas.validate(doc, schema_name, positions)
    if found:
        problems.extend(found)
        doc = schemas.repaired_keys(doc, schema_name)  # a misspelled key is reported; the rest of the file is still checked
        if doc is None:
            return None, None
    return doc, _File(display, positions, problems, text)


def _flow_docs(root: Path, flows_dir: Path, problems: list[Problem]) -> list[tuple[dict[str, Any], _File]]:
    """Every flow file that is valid YAML and fits the schema, with its id checked against its name."""
    found: list[tuple[dict[str, Any], _File]] = []
    for path in sorted(flows_dir.glob("*.yaml")):
        if path.name in (PROJECT_FILE, RULES_FILE):
            continue
        doc, file = _read(root, path, "flow.schema.json", problems)
        if doc is None or file is None:
            continue
        flow_id = _Read("flow", doc)["id"]
        if flow_id != path.stem:
            file.error(("id",), f"the id {flow_id!r} differs from the file name; rename the file to {flow_id}.yaml, or make the id {path.stem!r}")
            continue
        found.append((doc, file))
    return found


def _entities(doc: Mapping[str, Any], file: _File) -> dict[str, Entity]:
    entities: dict[str, Entity] = {}
    for name, raw in doc.items():
        item = _Read("entity", raw)
        nested = _Read("nested", item.get("nested") or {})
        entities[name] = Entity(
            name=name,
            collection=item.get("collection"),
            nested_in=tuple(nested.get("in", ())),
            nested_key=nested.get("key"),
            keys=tuple(dict.fromkeys(["id", *item.get("keys", [])])),
            label=item.get("label", "id"),
        )
    for name, entity in entities.items():
        for index, holder in enumerate(entity.nested_in):
            if holder not in entities:
                file.error(("entities", name, "nested", "in", index), f"unknown entity {holder!r}" + _or_else(holder, entities, "; declare it under entities:"))
    return entities


def _fast_meta_valid(schema: Any) -> bool:
    """jsonschema-rs says in milliseconds whether a schema is valid; without it, ask the reference check."""
    try:
        import jsonschema_rs  # ~10 ms to import: only for a project that declares a data schema

        return bool(jsonschema_rs.meta.is_valid(schema))
    except Exception:  # noqa: BLE001 - not installed, or a value it cannot take: the reference check decides
        return False


def _data_schema(root: Path, given: str | None, file: _File) -> str | None:
    """The data schema named by the project file, checked to exist and to be a JSON Schema."""
    if given is None:
        return None
    path = root / given
    if not path.is_file():
        file.error(("data_schema",), f"there is no file {given!r} in the project; give its path from the project folder, or remove data_schema")
        return given
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        file.error(("data_schema",), f"{given!r} is not a readable JSON file ({exc}); fix the file it names")
        return given
    if not _fast_meta_valid(schema):  # the reference check explains what is wrong (and is slow to import)
        # the reference check (~45 ms) only to explain a data schema jsonschema-rs found invalid
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            file.error(("data_schema",), f"{given!r} is not a valid JSON Schema ({exc.message}); fix the file it names")
            return given
    unresolved = schemas.unresolved_references(schema, str(path.parent))
    if unresolved:  # refused here, where it is written: loading data would fail on it (and nothing is ever fetched)
        display = _display(root, path)
        _, positions = load_data_text(path.read_text(encoding="utf-8"), display if display.endswith(".json") else display + ".json")
        for where, ref in unresolved:
            file.problems.append(
                Problem(
                    Location(display, *_line_col(positions.at(where))),
                    f"{keypath(where)}: $ref {ref!r} points at nothing this project holds: refer to a part of this file (#/$defs/...) "
                    "or of a *.schema.json file beside it; nothing is fetched from the network",
                )
            )
    return given


def _line_col(location: Location) -> tuple[int, int]:
    return location.line, location.col


def _rule(
    builder: Builder,
    file: _File,
    path: Path_,
    item: _Read,
    names: frozenset[str],
    *,
    shared: bool = False,
    name: str | None = None,
) -> Rule | None:
    condition = builder.expression(file, (*path, "if"), item["if"], names)
    message = builder.template(file, (*path, "message"), item["message"], names)
    if condition is not None and "answers" in builder.compilers.uses(condition).names:
        file.error((*path, "if"), "uses answers, but rules are checked before anything is asked; check answers in a field's validate instead")
        return None
    if condition is None or message is None:
        return None
    return Rule(
        name=name if name is not None else item["name"],
        condition=condition,
        message=message,
        location=file.at(path),
        shared=shared,
        description=item.get("description", ""),
    )


@mutable
class _KnownRules:
    """The shared rules that compiled, and those that did not (already reported)."""

    shared: dict[str, Rule]
    broken: set[str]
    report_unknown: bool  # False when rules.yaml itself could not be read


def _email_templates(root: Path, builder: Builder, names: frozenset[str] | None, problems: list[Problem]) -> tuple[dict[str, EmailTemplate], set[str]]:
    """Compile every email (names None: only read them); returns the compiled ones and every name present."""
    folder = root / "templates" / "emails"
    emails: dict[str, EmailTemplate] = {}
    if not folder.is_dir():
        return emails, set()
    present = {path.stem for path in folder.glob("*.txt")}
    for path in sorted(folder.glob("*.txt")):
        display = _display(root, path)
        try:
            text = read_text(path, display)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        builder.sources[display] = text
        first, _, body = text.partition("\n")
        if not first.startswith("Subject:"):
            problems.append(Problem(Location(display, 1, 1), "the first line must be 'Subject: ...'; add the subject line, then a blank line, then the text"))
            continue
        body_line = 2
        if body.startswith("\n") or body.startswith("\r\n"):
            body, body_line = body.split("\n", 1)[1], 3
        html_path = path.with_suffix(".html")
        html_text: str | None = None
        if html_path.exists():
            try:
                html_text = read_text(html_path, _display(root, html_path))
                builder.sources[_display(root, html_path)] = html_text
            except DefinitionError as exc:
                problems.extend(exc.problems)
                continue
        if names is None:
            continue
        subject_text = first[len("Subject:") :]
        subject_col = len("Subject:") + len(subject_text) - len(subject_text.lstrip()) + 1
        subject = _email_part(builder, subject_text.strip(), names, display, 1, False, problems, subject_col)
        text_body = _email_part(builder, body, names, display, body_line, False, problems)
        html = _email_part(builder, html_text, names, _display(root, html_path), 1, True, problems) if html_text is not None else None
        if subject is not None and text_body is not None and (html_text is None or html is not None):
            emails[path.stem] = EmailTemplate(path.stem, subject, text_body, html, Location(display, 1, 1))
    for path in sorted(folder.glob("*.html")):
        if path.stem not in present:
            problems.append(
                Problem(
                    Location(_display(root, path), 1, 1),
                    f"an HTML email needs its text version; add {path.with_suffix('.txt').name} (Subject line, blank line, text)",
                )
            )
    return emails, present


def _email_part(
    builder: Builder, source: str, names: frozenset[str], display: str, first_line: int, html: bool, problems: list[Problem], first_col: int = 1
) -> Text | None:
    """Compile one part of an email file; an error is located at its line in the file."""
    code = Text(source, Location(display, first_line, 1), html)
    try:
        uses = builder.compilers.compile_template(code, names | builder.function_names)
        for line, col, message in uses.unknown:  # in the template file itself, at the line and column written
            problems.append(Problem(Location(display, first_line + line - 1, max(col, 1) + (first_col - 1 if line == 1 else 0)), message))
        return code
    except CompileError as exc:
        line = first_line + max(exc.line, 1) - 1
        col = max(exc.col, 1) + (first_col - 1 if exc.line <= 1 and exc.col else 0)
        problems.append(Problem(Location(display, line, col), str(exc)))
        return None


def _flow(
    builder: Builder,
    file: _File,
    doc: _Read,
    names: frozenset[str],
    rules: _KnownRules,
    entities: Mapping[str, Entity],
    default_subject: str,
    common: tuple[str, ...],
) -> Flow | None:
    subject = doc["subject"]
    if subject not in entities:
        file.error(("subject",), f"unknown entity {subject!r}; this project's flows act on {default_subject!r}")
        return None
    if subject != default_subject:
        file.error(("subject",), f"this project's flows act on {default_subject!r} (project.yaml subject.entity); a flow on {subject!r} needs its own project")
        return None
    started_by = _rule_uses(builder, file, doc.get("started_by", []), "started_by", names, rules)
    preconditions = _rule_uses(builder, file, doc.get("preconditions", []), "preconditions", names, rules)
    raw_steps = doc["steps"]
    steps = tuple(
        step for index, item in enumerate(raw_steps) if (step := _step(builder, file, ("steps", index), _Read("step", item), names, rules)) is not None
    )
    outcome = _outcome(builder, file, _Read("outcome", doc["outcome"]), names, subject)
    if outcome is None or len(steps) != len(raw_steps) or started_by is None or preconditions is None:
        return None
    version = hashlib.sha256("\0".join([file.text, *common]).encode()).hexdigest()[:16]
    return Flow(
        id=doc["id"],
        title=doc["title"],
        summary=doc["summary"],
        subject=subject,
        entry=tuple(doc.get("entry", ())),
        button=doc.get("button"),
        started_by=started_by,
        preconditions=preconditions,
        steps=steps,
        outcome=outcome,
        version=version,
        location=Location(file.display, 1, 1),
    )


def _rule_uses(builder: Builder, file: _File, items: list[Any], key: str | Path_, names: frozenset[str], rules: _KnownRules) -> tuple[Rule, ...] | None:
    """The rules a flow names or writes inline; None when one of them was at fault."""
    found: list[Rule] = []
    ok = True
    at: Path_ = (key,) if isinstance(key, str) else key
    for index, raw in enumerate(items):
        item = _Read("rule_use", raw)
        if "rule" in item:
            name = item["rule"]
            if name in rules.shared:
                found.append(rules.shared[name])
                continue
            ok = False
            if name not in rules.broken and rules.report_unknown:
                file.error(
                    (*at, index, "rule"),
                    f"unknown rule {name!r}" + _or_else(name, rules.shared, "; add it to flows/rules.yaml, or write it here with name, if and message"),
                )
            continue
        rule = _rule(builder, file, (*at, index), item, names)
        if rule is None:
            ok = False
        else:
            found.append(rule)
    return tuple(found) if ok else None


def _step(builder: Builder, file: _File, path: Path_, item: _Read, names: frozenset[str], rules: _KnownRules) -> Step | None:
    before = len(file.problems)
    approval = _approval(builder, file, path, item, names, rules)
    title = builder.template(file, (*path, "title"), item["title"], names)
    body = builder.template(file, (*path, "body"), item.get("body"), names)
    when = builder.expression(file, (*path, "when"), item["when"], names) if "when" in item else None
    buttons: dict[str, Text] = {}
    given = _Read("buttons", item.get("buttons", {}))
    for name in BUTTONS:
        if name in given and (compiled := builder.template(file, (*path, "buttons", name), given[name], names)) is not None:
            buttons[name] = compiled
    fields = [_field(builder, file, (*path, "fields", index), _Read("field", spec), names) for index, spec in enumerate(item.get("fields", []))]
    if len(file.problems) != before or title is None:
        return None
    return Step(
        id=item["id"],
        kind=item["kind"],
        title=title,
        body=body,
        when=when,
        buttons=buttons,
        fields=tuple(f for f in fields if f is not None),
        location=file.at(path),
        approval=approval,
    )


APPROVAL_KEYS = ("approvers", "expires", "request", "decision")


def _approval(builder: Builder, file: _File, path: Path_, item: _Read, names: frozenset[str], rules: _KnownRules) -> Approval | None:
    """An approval step's approvers, expiry and emails, checked; None for another kind (or when wrong: reported)."""
    if item["kind"] != "approval":
        for key in APPROVAL_KEYS:
            if key in item:
                file.error((*path, key), f"{key} belongs to a step of kind: approval; remove it, or make this step kind: approval")
        return None
    approvers = _rule_uses(builder, file, item["approvers"], (*path, "approvers"), names, rules)
    written = str(item["expires"]).strip()
    seconds = parse_duration(written)
    if seconds is None or seconds > MAX_DELAY_SECONDS:
        reason = "is longer than a hundred years" if seconds is not None else f"is not {DURATION_WORDS}"
        file.error((*path, "expires"), f"{written!r} {reason}")
    emails: dict[str, Email | None] = {}
    for key in ("request", "decision"):
        emails[key] = None
        if key not in item:
            continue
        spec = _Read("approval_email", item[key])
        if spec["template"] not in builder.templates:
            file.note((*path, key, "template"), checks.missing_template(spec["template"], builder.templates, builder.template_files))
        to = builder.expression(file, (*path, key, "to"), spec["to"], names)
        if to is not None:
            emails[key] = Email(spec["template"], to, None, file.at((*path, key)), "skip")
    if approvers is None or seconds is None or seconds > MAX_DELAY_SECONDS:
        return None
    return Approval(approvers, written, seconds, emails["request"], emails["decision"])


def _field(builder: Builder, file: _File, path: Path_, spec: _Read, names: frozenset[str]) -> Field | None:
    before = len(file.problems)
    options: tuple[Option, ...] | DynamicOptions | None = None
    raw = spec.get("options")
    if isinstance(raw, list):
        built = []
        for index, given in enumerate(raw):
            option = _Read("option", given)
            label = builder.template(file, (*path, "options", index, "label"), option["label"], names)
            if label is not None:
                built.append(Option(option["value"], label))
        options = tuple(built)
    elif isinstance(raw, dict):
        dynamic = _Read("options_from", raw)
        given = str(dynamic["from"]).strip()
        collections = builder.collections
        if given in collections and given not in names:  # `from: partners`: the collection, where a list is meant
            file.error(
                (*path, "options", "from"),
                f"{given!r} is a collection, not a name conditions see; to offer every {collections[given]}, write from: all('{collections[given]}') (and where: to leave some out)",
            )
            return None
        source = builder.expression(file, (*path, "options", "from"), dynamic["from"], names)
        ranges = {"item": source} if source is not None else None
        label = builder.template(file, (*path, "options", "label"), dynamic["label"], names | {"item"}, ranges)
        where = builder.expression(file, (*path, "options", "where"), dynamic["where"], names | {"item"}, items=ranges) if "where" in dynamic else None
        if source is not None and label is not None and ("where" not in dynamic or where is not None):
            match = tuple(dict.fromkeys([dynamic["value"], *dynamic.get("match", [])]))
            options = DynamicOptions(source, dynamic["value"], label, match, where)
    confirm = builder.expression(file, (*path, "confirm"), spec["confirm"], names) if "confirm" in spec else None
    field_checks = []
    for index, raw_check in enumerate(spec.get("validate", [])):
        item = _Read("check", raw_check)
        condition = builder.expression(file, (*path, "validate", index, "if"), item["if"], names | {"value"})
        message = builder.template(file, (*path, "validate", index, "message"), item["message"], names | {"value"})
        if condition is not None and message is not None:
            field_checks.append(Check(condition, message))
    label = builder.template(file, (*path, "label"), spec.get("label"), names)
    help_text = builder.template(file, (*path, "help"), spec.get("help"), names)
    if len(file.problems) != before:
        return None
    return Field(
        name=spec["name"],
        type=spec["type"],
        label=label,
        help=help_text,
        required=bool(spec.get("required", False)),
        default=spec.get("default"),
        max_length=int(spec.get("max_length", DEFAULT_MAX_LENGTH)),
        options=options,
        confirm=confirm,
        checks=tuple(field_checks),
        location=file.at(path),
    )


def _outcome(builder: Builder, file: _File, doc: _Read, names: frozenset[str], subject: str) -> Outcome | None:
    before = len(file.problems)
    effects: list[Effect] = []
    for index, raw in enumerate(doc.get("effects", [])):
        item = _Read("effect", raw)
        path: Path_ = ("outcome", "effects", index)

        def value(key: str, item: _Read = item, path: Path_ = path) -> Expr | None:
            return builder.expression(file, (*path, key), item[key], names, value=True) if key in item else None

        when = builder.expression(file, (*path, "when"), item["when"], names) if "when" in item else None
        after = _delay(builder, file, path, item, names)
        values = {k: e for k, v in item.get("values", {}).items() if (e := builder.expression(file, (*path, "values", k), v, names, value=True)) is not None}
        entity = item.get("entity", subject)
        to = value("to")
        op = str(item["op"])
        if op in OLD_OPS:
            file.warn((*path, "op"), f"{op!r} is the old word for {OLD_OPS[op]!r}, the word plans and scenarios use; `clientflow fix` rewrites it")
            op = OLD_OPS[op]
        if op == "update" and "field" in item:
            problem = builder.compilers.effect_problem(entity, str(item["field"]), to)
            if problem is not None:
                file.error((*path, "to") if "to" in item and "has no field" not in problem else (*path, "field"), problem)
        for key, code in values.items() if op == "create" else ():
            problem = builder.compilers.effect_problem(entity, key, code)
            if problem is not None:
                file.error((*path, "values", key), problem, key="has no field" in problem)
        args = {k: e for k, v in item.get("with", {}).items() if (e := builder.expression(file, (*path, "with", k), v, names, value=True)) is not None}
        effects.append(
            Effect(
                op=op,
                entity=item.get("entity", subject),
                id=value("id"),
                field=item.get("field"),
                to=to,
                values=values,
                args=args,
                when=when,
                location=file.at(path),
                after=after,
            )
        )
    emails = []
    for index, raw in enumerate(doc.get("emails", [])):
        email = _Read("email", raw)
        path = ("outcome", "emails", index)
        if email["template"] not in builder.templates:  # said whatever else fails in this flow
            file.note((*path, "template"), checks.missing_template(email["template"], builder.templates, builder.template_files))
        to = builder.expression(file, (*path, "to"), email["to"], names)
        when = builder.expression(file, (*path, "when"), email["when"], names) if "when" in email else None
        after = _delay(builder, file, path, email, names)
        if to is not None:
            emails.append(Email(email["template"], to, when, file.at(path), email.get("when_empty", "warn"), after))
    banner = builder.template(file, ("outcome", "banner"), doc.get("banner"), names)
    audit = builder.template(file, ("outcome", "audit"), doc["audit"], names)
    undo = builder.template(file, ("outcome", "undo"), doc.get("undo"), names)
    raw_reversible = doc["reversible"]
    reversible: bool | Expr | None = raw_reversible
    if not isinstance(raw_reversible, bool):  # a condition, like a rule's `if:`: evaluated when the plan is made
        reversible = builder.expression(file, ("outcome", "reversible"), raw_reversible, names)
        problem = None if reversible is None else builder.compilers.condition_problem(reversible)
        if problem is not None:
            file.error(("outcome", "reversible"), problem)
    if len(file.problems) != before or audit is None or reversible is None:
        return None
    return Outcome(tuple(effects), tuple(emails), banner, reversible, undo, audit, tuple(doc.get("cancel", ())))


DURATION_UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}
DURATION_WORDS = "a duration such as `14 days`, `2 hours`, `30 minutes` or `1 week`"
MAX_DELAY_SECONDS = 100 * 366 * 86400  # a hundred years: anything longer is a mistake


def parse_duration(text: str) -> int | None:
    """The seconds of a duration written `N unit` (minute, hour, day, week; singular for 1, plural otherwise); None if it is not one."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit():
        return None
    count, unit = int(parts[0]), parts[1]
    base = unit[:-1] if count != 1 and unit.endswith("s") else unit
    if base not in DURATION_UNITS or (count == 1) == unit.endswith("s") or count == 0:
        return None
    return count * DURATION_UNITS[base]


def _delay(builder: Builder, file: _File, path: Path_, item: _Read, names: frozenset[str]) -> Delay | None:
    """An effect's or email's `after` (and `unless`), checked; None when it has none (or when it is wrong: reported)."""
    unless = builder.expression(file, (*path, "unless"), item["unless"], names) if "unless" in item else None
    if "after" not in item:
        if "unless" in item:
            file.error(
                (*path, "unless"), "unless is checked when a delayed part is due; add after: (e.g. after: 14 days), or use when: for a condition checked now"
            )
        return None
    written = str(item["after"]).strip()
    if written[:1].isdigit() or written[:1] in "+-":  # reads as a duration: it must be one
        seconds = parse_duration(written)
        if seconds is None or seconds > MAX_DELAY_SECONDS:
            reason = "is longer than a hundred years" if seconds is not None else f"is not {DURATION_WORDS}"
            file.error((*path, "after"), f"{written!r} {reason}; or write an expression giving an ISO 8601 time")
            return None
        return Delay(written, seconds, None, unless)
    at = builder.expression(file, (*path, "after"), written, names)
    return Delay(written, None, at, unless) if at is not None else None
