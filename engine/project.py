"""Loading a project: files -> located values -> schema -> model -> checks.

`load_project(root)` reads `flows/project.yaml`, `flows/rules.yaml`, every other
`flows/*.yaml` and `templates/emails/*`, and returns a compiled `Project`, or
raises one `DefinitionError` holding every problem of every file at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import checks, schemas
from .errors import DefinitionError, Location, Problem, did_you_mean
from .expressions import CompileError, Compiler, Expression
from .model import (
    DEFAULT_MAX_LENGTH,
    Check,
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
from .templates import Template, Texts
from .yamlfile import Positions, load_yaml, read_text

PROJECT_FILE = "project.yaml"
RULES_FILE = "rules.yaml"
BUILTIN_EFFECTS = ("set", "delete", "create")
BASE_NAMES = ("actor", "answers", "now", "product", "flow")


@dataclass
class Extensions:
    """What plugins add to the language: functions, filters and effects."""

    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    filters: dict[str, Callable[..., Any]] = field(default_factory=dict)
    effects: dict[str, Any] = field(default_factory=dict)


class _File:
    """One definition file being built: its positions and the problems found in it."""

    def __init__(self, display: str, positions: Positions, problems: list[Problem], text: str = "") -> None:
        self.display, self.positions, self.problems, self.text = display, positions, problems, text

    def at(self, path: tuple[Hashable, ...], key: bool = False) -> Location:
        return self.positions.at(path, key=key)

    def error(self, path: tuple[Hashable, ...], message: str, key: bool = False) -> None:
        where = schemas.keypath(path)
        self.problems.append(Problem(self.at(path, key), f"{where}: {message}" if where else message))


class Builder:
    """Compiles expressions and templates against the names each place may use."""

    def __init__(self, extensions: Extensions) -> None:
        function_names = ["lookup", *extensions.functions]
        self.function_names = frozenset(function_names)
        self.compiler = Compiler(function_names, extensions.filters)
        self.texts = Texts(filters=extensions.filters)
        self.effects = extensions.effects

    def expression(self, file: _File, path: tuple[Hashable, ...], source: Any, names: frozenset[str]) -> Expression | None:
        if not isinstance(source, str):
            source = "none" if source is None else str(source).lower() if isinstance(source, bool) else str(source)
        try:
            return self.compiler.compile(source, names | self.function_names)
        except CompileError as exc:
            file.error(path, str(exc))
            return None

    def template(self, file: _File, path: tuple[Hashable, ...], source: Any, names: frozenset[str], html: bool = False) -> Template | None:
        if source is None:
            return None
        try:
            return self.texts.compile(str(source), names | self.function_names, html=html)
        except CompileError as exc:
            file.error(path, str(exc))
            return None


def load_project(root: str | Path, extensions: Extensions | None = None) -> Project:
    """Load, validate and compile the project under `root`."""
    root = Path(root)
    extensions = extensions or Extensions()
    problems: list[Problem] = []
    builder = Builder(extensions)
    flows_dir = root / "flows"
    if not flows_dir.is_dir():
        raise DefinitionError([Problem(Location(str(root)), "no flows/ folder here; pass --project DIR to name the project folder")])

    project_doc, project_file = _read(root, flows_dir / PROJECT_FILE, "project.schema.json", problems)
    rules_path = flows_dir / RULES_FILE
    rules_doc, rules_file = _read(root, rules_path, "rules.schema.json", problems) if rules_path.exists() else ({"rules": {}}, None)
    if project_doc is None or project_file is None:
        raise DefinitionError(problems)

    entities = _entities(project_doc, project_file)
    product = dict(project_doc["product"])
    subject_entity = project_doc["subject"]["entity"]
    actor_entity = project_doc["actor"]["entity"]
    within = dict(project_doc["actor"].get("within", {}))
    for path, name in ((("subject", "entity"), subject_entity), (("actor", "entity"), actor_entity)):
        if name not in entities:
            project_file.error(path, f"unknown entity {name!r}{did_you_mean(name, entities)}")
    for holder in within:
        if holder not in entities:
            project_file.error(("actor", "within", holder), f"unknown entity {holder!r}{did_you_mean(holder, entities)}", key=True)

    base = frozenset({*BASE_NAMES, subject_entity, *within.values()})
    context: dict[str, Expression] = {}
    names = base
    for name, source in project_doc.get("context", {}).items():
        compiled = builder.expression(project_file, ("context", name), source, names)
        if compiled is not None:
            context[name] = compiled
        names = names | {name}
    reach = tuple(
        rule
        for index, item in enumerate(project_doc.get("reach", []))
        if (rule := _rule(builder, project_file, ("reach", index), item["name"], item, names, shared=True)) is not None
    )

    shared: dict[str, Rule] = {}
    if rules_file is not None and rules_doc is not None:
        for name, item in rules_doc["rules"].items():
            rule = _rule(builder, rules_file, ("rules", name), name, item, names, shared=True)
            if rule is not None:
                shared[name] = rule

    emails = _email_templates(root, builder, names, problems)
    common_text = (project_file.display, _digest(root / "flows" / PROJECT_FILE), _digest(rules_path))
    flows: dict[str, Flow] = {}
    for path in sorted(flows_dir.glob("*.yaml")):
        if path.name in (PROJECT_FILE, RULES_FILE):
            continue
        doc, file = _read(root, path, "flow.schema.json", problems)
        if doc is None or file is None:
            continue
        flow = _flow(builder, file, doc, names, shared, entities, subject_entity, common_text, path)
        if flow is None:
            continue
        if flow.id != path.stem:
            file.error(("id",), f"the id {flow.id!r} differs from the file name; rename the file to {flow.id}.yaml or the id to {path.stem!r}")
        if flow.id in flows:
            file.error(("id",), f"flow {flow.id!r} is defined twice")
        flows[flow.id] = flow
        checks.check_flow(flow, file.problems, emails, builder.effects, entities)

    if problems:
        raise DefinitionError(problems)
    return Project(
        root=str(root),
        product=product,
        entities=entities,
        subject_entity=subject_entity,
        subject_match=tuple(project_doc["subject"].get("match", ["id"])),
        actor_entity=actor_entity,
        actor_match=tuple(project_doc["actor"].get("match", ["id"])),
        actor_within=within,
        context=context,
        reach=reach,
        flows=flows,
        emails=emails,
        data_schema=project_doc.get("data_schema"),
        names=names,
    )


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
    display = _display(root, path)
    try:
        text = read_text(path, display)
        doc, positions = load_yaml(text, display)
    except DefinitionError as exc:
        problems.extend(exc.problems)
        return None, None
    if doc is None:
        doc = {}
    found = schemas.validate(doc, schema_name, positions)
    if found:
        problems.extend(found)
        return None, None
    return doc, _File(display, positions, problems, text)


def _entities(doc: Mapping[str, Any], file: _File) -> dict[str, Entity]:
    entities: dict[str, Entity] = {}
    for name, item in doc["entities"].items():
        nested = item.get("nested") or {}
        entities[name] = Entity(
            name=name,
            collection=item.get("collection"),
            nested_in=tuple(nested.get("in", ())),
            nested_key=nested.get("key"),
            keys=tuple(dict.fromkeys(["id", *item.get("keys", [])])),
            label=item.get("label", "id"),
        )
    for name, entity in entities.items():
        for holder in entity.nested_in:
            if holder not in entities:
                file.error(("entities", name, "nested", "in"), f"unknown entity {holder!r}{did_you_mean(holder, entities)}")
    return entities


def _rule(builder: Builder, file: _File, path: tuple[Hashable, ...], name: str, item: Mapping[str, Any], names: frozenset[str], shared: bool = False) -> Rule | None:
    condition = builder.expression(file, (*path, "if"), item["if"], names)
    message = builder.template(file, (*path, "message"), item["message"], names)
    if condition is None or message is None:
        return None
    return Rule(name=name, condition=condition, message=message, location=file.at(path), shared=shared)


def _email_templates(root: Path, builder: Builder, names: frozenset[str], problems: list[Problem]) -> dict[str, EmailTemplate]:
    folder = root / "templates" / "emails"
    emails: dict[str, EmailTemplate] = {}
    if not folder.is_dir():
        return emails
    for path in sorted(folder.glob("*.txt")):
        display = _display(root, path)
        try:
            text = read_text(path, display)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        file = _File(display, Positions(display), problems)
        first, _, body = text.partition("\n")
        if not first.startswith("Subject:"):
            problems.append(Problem(Location(display, 1, 1), "the first line must be 'Subject: ...', then a blank line, then the text"))
            continue
        if body.startswith("\n"):
            body = body[1:]
        subject = _located_template(builder, file, first[len("Subject:") :].strip(), names, display, 1, False)
        text_body = _located_template(builder, file, body, names, display, 3, False)
        html = None
        html_path = path.with_suffix(".html")
        if html_path.exists():
            html_display = _display(root, html_path)
            try:
                html_text = read_text(html_path, html_display)
            except DefinitionError as exc:
                problems.extend(exc.problems)
                continue
            html = _located_template(builder, _File(html_display, Positions(html_display), problems), html_text, names, html_display, 1, True)
        if subject is not None and text_body is not None:
            emails[path.stem] = EmailTemplate(path.stem, subject, text_body, html, Location(display, 1, 1))
    for path in sorted(folder.glob("*.html")):
        if not path.with_suffix(".txt").exists():
            problems.append(Problem(Location(_display(root, path), 1, 1), f"an HTML email needs its text version {path.with_suffix('.txt').name}"))
    return emails


def _located_template(builder: Builder, file: _File, source: str, names: frozenset[str], display: str, first_line: int, html: bool) -> Template | None:
    try:
        return builder.texts.compile(source, names | builder.function_names, html=html)
    except CompileError as exc:
        message = str(exc)
        line = first_line
        marker = "(line "
        if marker in message:
            try:
                line = first_line + int(message.split(marker, 1)[1].split(")", 1)[0]) - 1
            except ValueError:
                pass
        file.problems.append(Problem(Location(display, line, 1), message))
        return None


def _flow(
    builder: Builder,
    file: _File,
    doc: Mapping[str, Any],
    names: frozenset[str],
    shared: Mapping[str, Rule],
    entities: Mapping[str, Entity],
    default_subject: str,
    common: tuple[str, ...],
    path: Path,
) -> Flow | None:
    subject = doc["subject"]
    if subject not in entities:
        file.error(("subject",), f"unknown entity {subject!r}{did_you_mean(subject, entities)}")
    elif subject != default_subject:
        file.error(("subject",), f"this project's flows act on {default_subject!r} (project.yaml subject.entity); a flow on {subject!r} needs its own project")
    started_by = _rule_uses(builder, file, doc.get("started_by", []), "started_by", names, shared)
    preconditions = _rule_uses(builder, file, doc.get("preconditions", []), "preconditions", names, shared)
    steps = tuple(
        step
        for index, item in enumerate(doc["steps"])
        if (step := _step(builder, file, ("steps", index), item, names)) is not None
    )
    outcome = _outcome(builder, file, doc["outcome"], names, subject)
    if outcome is None or len(steps) != len(doc["steps"]):
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


def _rule_uses(builder: Builder, file: _File, items: list[Any], key: str, names: frozenset[str], shared: Mapping[str, Rule]) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for index, item in enumerate(items):
        if "rule" in item:
            name = item["rule"]
            if name not in shared:
                file.error((key, index, "rule"), f"unknown rule {name!r}{did_you_mean(name, shared)}; shared rules live in flows/rules.yaml")
                continue
            rules.append(shared[name])
        else:
            rule = _rule(builder, file, (key, index), item["name"], item, names)
            if rule is not None:
                rules.append(rule)
    return tuple(rules)


def _step(builder: Builder, file: _File, path: tuple[Hashable, ...], item: Mapping[str, Any], names: frozenset[str]) -> Step | None:
    ok = True
    title = builder.template(file, (*path, "title"), item["title"], names)
    body = builder.template(file, (*path, "body"), item.get("body"), names)
    when = builder.expression(file, (*path, "when"), item["when"], names) if "when" in item else None
    buttons: dict[str, Template] = {}
    for name, text in item.get("buttons", {}).items():
        compiled = builder.template(file, (*path, "buttons", name), text, names)
        if compiled is not None:
            buttons[name] = compiled
    fields: list[Field] = []
    for index, spec in enumerate(item.get("fields", [])):
        built = _field(builder, file, (*path, "fields", index), spec, names)
        if built is None:
            ok = False
        else:
            fields.append(built)
    if not ok or title is None or ("when" in item and when is None) or ("body" in item and body is None):
        return None
    return Step(
        id=item["id"],
        kind=item["kind"],
        title=title,
        body=body,
        when=when,
        buttons=buttons,
        fields=tuple(fields),
        location=file.at(path),
    )


def _field(builder: Builder, file: _File, path: tuple[Hashable, ...], spec: Mapping[str, Any], names: frozenset[str]) -> Field | None:
    problems_before = len(file.problems)
    options: tuple[Option, ...] | DynamicOptions | None = None
    raw = spec.get("options")
    if isinstance(raw, list):
        built = []
        for index, option in enumerate(raw):
            label = builder.template(file, (*path, "options", index, "label"), option["label"], names)
            if label is not None:
                built.append(Option(option["value"], label))
        options = tuple(built)
    elif isinstance(raw, dict):
        source = builder.expression(file, (*path, "options", "from"), raw["from"], names)
        label = builder.template(file, (*path, "options", "label"), raw["label"], names | {"item"})
        if source is not None and label is not None:
            options = DynamicOptions(source, raw["value"], label, tuple(dict.fromkeys([raw["value"], *raw.get("match", [])])))
    confirm = builder.expression(file, (*path, "confirm"), spec["confirm"], names) if "confirm" in spec else None
    field_checks = []
    for index, item in enumerate(spec.get("validate", [])):
        condition = builder.expression(file, (*path, "validate", index, "if"), item["if"], names | {"value"})
        message = builder.template(file, (*path, "validate", index, "message"), item["message"], names | {"value"})
        if condition is not None and message is not None:
            field_checks.append(Check(condition, message))
    if len(file.problems) != problems_before:
        return None
    return Field(
        name=spec["name"],
        type=spec["type"],
        label=builder.template(file, (*path, "label"), spec.get("label"), names),
        help=builder.template(file, (*path, "help"), spec.get("help"), names),
        required=bool(spec.get("required", False)),
        default=spec.get("default"),
        max_length=int(spec.get("max_length", DEFAULT_MAX_LENGTH)),
        options=options,
        confirm=confirm,
        checks=tuple(field_checks),
        location=file.at(path),
    )


def _outcome(builder: Builder, file: _File, doc: Mapping[str, Any], names: frozenset[str], subject: str) -> Outcome | None:
    before = len(file.problems)
    effects: list[Effect] = []
    for index, item in enumerate(doc.get("effects", [])):
        path = ("outcome", "effects", index)

        def expr(key: str, item: Mapping[str, Any] = item, path: tuple[Hashable, ...] = path) -> Expression | None:
            return builder.expression(file, (*path, key), item[key], names) if key in item else None

        effects.append(
            Effect(
                op=item["op"],
                entity=item.get("entity", subject),
                id=expr("id"),
                field=item.get("field"),
                to=expr("to"),
                values={k: e for k, v in item.get("values", {}).items() if (e := builder.expression(file, (*path, "values", k), v, names)) is not None},
                args={k: e for k, v in item.get("with", {}).items() if (e := builder.expression(file, (*path, "with", k), v, names)) is not None},
                when=expr("when"),
                location=file.at(path),
            )
        )
    emails = []
    for index, item in enumerate(doc.get("emails", [])):
        path = ("outcome", "emails", index)
        to = builder.expression(file, (*path, "to"), item["to"], names)
        when = builder.expression(file, (*path, "when"), item["when"], names) if "when" in item else None
        if to is not None:
            emails.append(Email(item["template"], to, when, file.at(path)))
    banner = builder.template(file, ("outcome", "banner"), doc.get("banner"), names)
    audit = builder.template(file, ("outcome", "audit"), doc["audit"], names)
    if len(file.problems) != before or audit is None:
        return None
    return Outcome(tuple(effects), tuple(emails), banner, bool(doc["reversible"]), doc.get("undo"), audit)
