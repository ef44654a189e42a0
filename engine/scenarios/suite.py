"""Scenario files: what a flow must do, given data, an actor, a subject and answers.

`load_suite` reads scenario files (YAML with positions) -> the scenario schema, with
the project's own word for its subject added as a key -> `Scenario`s whose data is a
patched, validated copy of a data file. `run_suite` dry-runs each one on its own
in-memory storage (`Engine.simulate`, or `Engine.available` when no flow is named) and
compares the plan with what the scenario expects (`expectations.py`). Nothing is
ever written to a database and no email is sent.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..api import Engine
from ..errors import ClientflowError, DataError, DefinitionError, Location, Problem, RunNotFound, UnknownName, did_you_mean
from ..language import schemas
from ..language.model import Project
from ..language.project import DURATION_WORDS, parse_duration
from ..language.yamlfile import Positions, load_data_text, load_yaml, read_text
from ..plain import frozen, mutable
from ..plugins import Registry
from ..runtime.approvals import APPROVERS_RULE
from ..runtime.context import Clock, flow_scope, resolve
from ..runtime.data import Records, check_data, import_data
from ..runtime.plan import Plan, Verdict
from ..storage import SchedulingTransaction
from . import expectations
from . import patches as patches_module
from .expectations import Expect, Mismatch

SCHEMA = "scenario.schema.json"
GENERIC_SUBJECT = "subject"
DEFAULT_NOW = "2025-01-01T09:00:00+00:00"  # scenarios are deterministic: a fixed clock unless `now` says otherwise
FILE_KEYS = ("defaults", "scenarios")
DEFAULT_KEYS = ("given", "actor", GENERIC_SUBJECT, "flow", "now")  # what every scenario of a file may inherit
SCENARIO_KEYS = ("name", "description", *DEFAULT_KEYS, "answers", "expect", "then")

KeyPath = tuple[Hashable, ...]


@frozen
class Scenario:
    """One scenario, ready to run: its data patched and checked, its expectations typed."""

    name: str
    location: Location
    data_file: str
    data: dict[str, Any] = field(repr=False)
    actor: str
    subject: str
    flow: str | None
    answers: dict[str, Any]
    now: datetime
    expect: Expect
    then: tuple[Later, ...] = ()  # time moving forward: the flow is committed, then each step in turn


@frozen
class Later:
    """One step of a scenario after time has moved: the worker's pass at `now`, then (with a flow) a run committed then."""

    location: Location
    now: datetime
    actor: str
    flow: str | None
    answers: dict[str, Any]
    expect: Expect
    decide: dict[str, Any] | None = None  # {"by": ACTOR} approves the scenario's run awaiting approval; with "reject": REASON, rejects it


@mutable
class Observed:
    """What one scenario saw of one flow, for coverage."""

    rules_passed: set[str] = field(default_factory=set)
    rules_failed: set[str] = field(default_factory=set)
    steps: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)


@mutable
class ScenarioResult:
    """A scenario's verdict: the mismatches (none when it passed) and what it saw."""

    scenario: Scenario
    mismatches: list[Mismatch]
    plan: Plan | None = None
    offered: list[str] | None = None
    observed: dict[str, Observed] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "location": str(self.scenario.location),
            "flow": self.scenario.flow,
            "passed": self.passed,
            "mismatches": [m.to_json() for m in self.mismatches],
            "warnings": list(self.warnings),
        }

    @property
    def warnings(self) -> list[dict[str, str]]:
        """What the plan said without stopping (e.g. an email to nobody): shown with the result, pass or fail."""
        return list(self.plan.warnings) if self.plan is not None else []


# loading ----------------------------------------------------------------
def scenario_files(targets: Iterable[Path]) -> list[Path]:
    """The YAML files named, and those under the folders named, in a stable order."""
    found: list[Path] = []
    for target in targets:
        if target.is_dir():
            found.extend(sorted(p for p in target.rglob("*.y*ml") if p.suffix in (".yaml", ".yml")))
        else:
            found.append(target)
    return list(dict.fromkeys(found))


def load_suite(project: Project, files: Sequence[Path]) -> list[Scenario]:
    """Every scenario of `files`, or one DefinitionError with every located problem.

    A name the flow lacks is not a problem here: the scenario fails when it runs, saying where.
    """
    scenarios, problems, _ = _read_suite(project, files)
    if problems:
        raise DefinitionError(problems)
    return scenarios


def check_suite(project: Project, files: Sequence[Path]) -> tuple[int, list[Problem]]:
    """How many scenarios `files` hold, and every problem `clientflow validate` reports of them.

    That is what stops a scenario from loading, and also every flow, step, field,
    rule or email it names that the project does not have (with a did-you-mean).
    """
    scenarios, problems, unknown = _read_suite(project, files, copies=False)
    return len(scenarios), problems + unknown


def _read_suite(project: Project, files: Sequence[Path], *, copies: bool = True) -> tuple[list[Scenario], list[Problem], list[Problem]]:
    """The scenarios of `files`, the problems that stop them loading, and the names their flows lack.

    `copies`: each scenario gets its own copy of its data, to run on; without it, a
    scenario without patches shares its data file's values (for counting and checking only).
    """
    problems: list[Problem] = []
    loader = _Loader(project, problems, copies=copies)
    scenarios: list[Scenario] = []
    for path in files:
        scenarios.extend(loader.file(path))
    seen: dict[str, Location] = {}
    for scenario in scenarios:
        if scenario.name in seen:
            first = seen[scenario.name]
            problems.append(Problem(scenario.location, f"another scenario is named {scenario.name!r} ({first}); give each scenario its own name"))
        seen.setdefault(scenario.name, scenario.location)
    return scenarios, problems, loader.unknown


def checker(project: Project) -> Any:
    """The scenario schema's validator with the project's word for its subject added as a key."""
    from jsonschema import Draft202012Validator  # the reference validator (~45 ms) only to explain a scenario file jsonschema-rs refused

    return Draft202012Validator(_document(project))


def _document(project: Project) -> dict[str, Any]:
    """The scenario schema with the project's word for its subject added as a key."""
    document = _copied(schemas.schema(SCHEMA))
    word = project.subject_entity
    if word != GENERIC_SUBJECT:
        document["$id"] = f"{document['$id']}#{word}"
        for holder in ("scenario", "defaults"):
            properties = document["$defs"][holder]["properties"]
            properties[word] = {**properties[GENERIC_SUBJECT], "description": f"The {word} the flow acts on (the same as subject)."}
    return document


def _fast_checker(project: Project) -> Any:
    """jsonschema-rs over the same document: answers "valid?" in microseconds (None without it)."""
    try:
        import jsonschema_rs  # ~10 ms to import: only once scenario files are loaded

        document = _document(project)
        document.pop("$id", None)  # its references are all within the document; a fragment in $id is not a valid $id
        return jsonschema_rs.validator_for(document)
    except Exception:  # noqa: BLE001 - not installed, or any trouble: the reference validator alone
        return None


class _Loader:
    """Reads scenario files for one project, keeping every problem it finds."""

    def __init__(self, project: Project, problems: list[Problem], *, copies: bool = True) -> None:
        self.project = project
        self.problems = problems
        self.copies = copies  # False: scenarios are only counted and checked, never run, so unpatched data is shared
        self.unknown: list[Problem] = []  # names a scenario's flow lacks: the scenario fails when run, validate reports them
        self.fast = _fast_checker(project)
        self.reference: Any = None  # the reference validator, built only for a file the fast one refuses
        self.data_files: dict[Path, tuple[dict[str, Any], str] | None] = {}
        self.resolved: dict[Path, Path] = {}  # the path a scenario names -> the file it is (many scenarios name one)
        self.patched: dict[tuple[int, str], tuple[dict[str, Any], str]] = {}  # (data file, patches) -> the data they made

    def file(self, path: Path) -> list[Scenario]:
        display = str(path)
        try:
            doc, positions = load_yaml(read_text(path, display), display)
        except DefinitionError as exc:
            self.problems.extend(exc.problems)
            return []
        if not self._valid({} if doc is None else doc):
            self.reference = self.reference or checker(self.project)
            found = schemas.validate({} if doc is None else doc, SCHEMA, positions, checker=self.reference)
            if found:
                self.problems.extend(found)
                return []
        defaults = doc.get("defaults", {})
        out = []
        for index, item in enumerate(doc["scenarios"]):
            scenario = _ScenarioReader(self, path, positions, defaults, item, ("scenarios", index)).read()
            if scenario is not None:
                out.append(scenario)
        return out

    def _valid(self, doc: Any) -> bool:
        """Whether the fast validator finds `doc` valid (False when there is none, or it cannot say)."""
        try:
            return self.fast is not None and bool(self.fast.is_valid(doc))
        except Exception:  # noqa: BLE001 - values it cannot take are judged by the reference validator
            return False

    def data(self, path: Path, location: Location) -> tuple[dict[str, Any], str] | None:
        """A data file, read and checked once per suite."""
        key = self.resolved.get(path)
        if key is None:
            key = self.resolved[path] = path.resolve()
        if key not in self.data_files:
            self.data_files[key] = None
            display = os.path.normpath(path)  # scenarios/../data/demo.yaml reads as data/demo.yaml, as validate names it
            try:
                doc, positions = load_data_text(read_text(path, display, DataError), display)
                check_data(self.project, doc, positions, display)
                self.data_files[key] = (doc, display)
            except DefinitionError as exc:
                if not path.exists():
                    self.problems.append(Problem(location, f"there is no data file {display}; the path is relative to the scenario file"))
                else:
                    self.problems.extend(exc.problems)
        return self.data_files[key]


class _ScenarioReader:
    """Builds one scenario from its own keys and its file's defaults."""

    def __init__(self, loader: _Loader, path: Path, positions: Positions, defaults: Mapping[str, Any], item: Mapping[str, Any], at: KeyPath) -> None:
        self.loader, self.project, self.path, self.positions = loader, loader.project, path, positions
        self.defaults, self.item, self.at = defaults, item, at
        self.problems: list[Problem] = []

    def where(self, *keys: Hashable, key: bool = False) -> Location:
        return self.positions.at((*self.at, *keys), key=key)

    def error(self, location: Location, message: str) -> None:
        self.problems.append(Problem(location, message))

    def value(self, name: str) -> tuple[Any, KeyPath] | None:
        """The scenario's own value for `name`, else its file's default, with where it was written."""
        word = self.project.subject_entity
        names = (GENERIC_SUBJECT, word) if name == GENERIC_SUBJECT and word != GENERIC_SUBJECT else (name,)
        for source, base in ((self.item, self.at), (self.defaults, ("defaults",))):
            given = [n for n in names if n in source]
            if len(given) > 1:
                self.error(self.positions.at((*base, given[1]), key=True), f"give either {word!r} or {GENERIC_SUBJECT!r}, not both")
            if given:
                return source[given[0]], (*base, given[0])
        return None

    def required(self, name: str) -> tuple[Any, KeyPath] | None:
        found = self.value(name)
        if found is None:
            shown = self.project.subject_entity if name == GENERIC_SUBJECT else name
            self.error(self.where(), f"scenario {self.item['name']!r}: missing key {shown!r}; give it here or under defaults")
        return found

    def read(self) -> Scenario | None:
        name = self.item["name"]
        actor, subject, given = self.required("actor"), self.required(GENERIC_SUBJECT), self.required("given")
        flow_id, flow_known = self._flow()
        answers = dict(self.item.get("answers", {}))
        if answers and flow_id is None and flow_known:  # an unknown flow is reported once, not again here
            self.error(self.where("answers", key=True), "answers need a flow; name the flow the answers are for")
        unknown: list[Problem] = []  # names the flow lacks: the scenario fails, saying where
        if flow_id is not None:
            fields = self.project.flows[flow_id].fields()
            for answer in answers:
                if answer not in fields:
                    unknown.append(Problem(self.where("answers", answer, key=True), f"{flow_id} has no field {answer!r}{did_you_mean(str(answer), fields)}"))
        now = self._now()
        then = self._then(now, str(actor[0]) if actor is not None else "", unknown, flow_id) if now is not None else ()
        expect = Expect()
        if flow_known:
            expect = expectations.read(
                self.item["expect"],
                self.project,
                flow_id,
                lambda keys, message: self.error(self.where("expect", *keys), message),
                lambda keys, message: unknown.append(Problem(self.where("expect", *keys), message)),
            )
            expect = dataclasses.replace(expect, unknown=tuple(str(p) for p in unknown))
        self.loader.unknown.extend(unknown)
        data = self._data(given) if given is not None else None
        if data is not None and actor is not None and subject is not None:
            self._exists(data[0], self.project.actor_entity, str(actor[0]), self.project.actor_match, actor[1])
            self._exists(data[0], self.project.subject_entity, str(subject[0]), self.project.subject_match, subject[1])
        self.loader.problems.extend(self.problems)
        if self.problems or actor is None or subject is None or data is None or now is None:
            return None
        return Scenario(name, self.where(), data[1], data[0], str(actor[0]), str(subject[0]), flow_id, answers, now, expect, then)

    def _then(self, start: datetime, actor: str, unknown: list[Problem], first_flow: str | None = None) -> tuple[Later, ...]:
        """The steps under `then`, each at its time: `after` a duration since the step before, or at `now`."""
        steps: list[Later] = []
        moment = start
        for index, item in enumerate(self.item.get("then", [])):
            at = ("then", index)
            if ("after" in item) == ("now" in item):
                self.error(self.where(*at), "a step under then needs `after: DURATION` (since the step before) or `now: TIME`, not both")
                continue
            if "after" in item:
                seconds = parse_duration(str(item["after"]))
                if seconds is None:
                    self.error(self.where(*at, "after"), f"{item['after']!r} is not a duration; write {DURATION_WORDS}")
                    continue
                moment = moment + timedelta(seconds=seconds)
            else:
                try:
                    given = datetime.fromisoformat(str(item["now"]))
                except ValueError:
                    self.error(self.where(*at, "now"), f"{item['now']!r} is not a date and time; write it as ISO 8601, e.g. 2025-03-01T09:00:00Z")
                    continue
                given = given if given.tzinfo else given.replace(tzinfo=UTC)
                if given < moment:
                    self.error(self.where(*at, "now"), f"{item['now']} is before the step before it ({moment.isoformat()}); time only moves forward")
                    continue
                moment = given
            flow_id = item.get("flow")
            if flow_id is not None and flow_id not in self.project.flows:
                self.error(self.where(*at, "flow"), f"unknown flow {flow_id!r}{did_you_mean(flow_id, self.project.flows)}")
                continue
            answers = dict(item.get("answers", {}))
            if answers and flow_id is None:
                self.error(self.where(*at, "answers", key=True), "answers need a flow; name the flow the answers are for")
            if flow_id is not None:
                fields = self.project.flows[flow_id].fields()
                for answer in answers:
                    if answer not in fields:
                        unknown.append(
                            Problem(self.where(*at, "answers", answer, key=True), f"{flow_id} has no field {answer!r}{did_you_mean(str(answer), fields)}")
                        )

            def error(keys: KeyPath, message: str, at: KeyPath = at) -> None:
                self.error(self.where(*at, "expect", *keys), message)

            def lacking(keys: KeyPath, message: str, at: KeyPath = at) -> None:
                unknown.append(Problem(self.where(*at, "expect", *keys), message))

            decide = item.get("decide")
            if decide is not None and (flow_id is not None or first_flow is None):
                why = "a step decides the scenario's run or commits a flow, not both" if flow_id is not None else "decide needs the scenario's flow"
                self.error(self.where(*at, "decide"), f"{why}; name the flow in the scenario and leave it out of this step")
                continue
            expect = expectations.read(item["expect"], self.project, first_flow if decide is not None else flow_id, error, lacking, later=True)
            steps.append(Later(self.where(*at), moment, str(item.get("actor", actor)), flow_id, answers, expect, dict(decide) if decide else None))
        return tuple(steps)

    def _flow(self) -> tuple[str | None, bool]:
        """The flow named (None for none) and whether it exists."""
        found = self.value("flow")
        if found is None or found[0] is None:
            return None, True
        flow_id, at = found
        if flow_id not in self.project.flows:
            self.error(self.positions.at(at), f"unknown flow {flow_id!r}{did_you_mean(flow_id, self.project.flows)}")
            return None, False
        return str(flow_id), True

    def _now(self) -> datetime | None:
        found = self.value("now")
        text, at = found if found is not None else (DEFAULT_NOW, self.at)
        try:
            moment = datetime.fromisoformat(str(text))
        except ValueError:
            self.error(self.positions.at(at), f"{text!r} is not a date and time; write it as ISO 8601, e.g. 2025-03-01T09:00:00Z")
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def _data(self, given: tuple[Any, KeyPath]) -> tuple[dict[str, Any], str] | None:
        """The data file named by the scenario (or its defaults), with every patch applied in order."""
        own = self.item.get("given")
        default = self.defaults.get("given")
        patches: list[tuple[Mapping[str, Any], KeyPath]] = []
        file: tuple[str, KeyPath] | None = None
        for source, base in ((default, ("defaults", "given")), (own, (*self.at, "given"))):
            if isinstance(source, str):
                file, patches = (source, base), []
            elif isinstance(source, Mapping):
                if "data" in source:
                    file, patches = (source["data"], (*base, "data")), []
                patches += [(p, (*base, "patch", i)) for i, p in enumerate(source.get("patch", []))]
        if file is None:
            self.error(self.positions.at(given[1]), "given needs a data file: given: {data: FILE, patch: [...]}")
            return None
        location = self.positions.at(file[1])
        loaded = self.loader.data((self.path.parent / file[0]), location)
        if own is not None:
            location = self.where("given")  # the scenario's own patches are what a data problem comes from
        if loaded is None:
            return None
        if not patches:  # the data file as read, and checked then: nothing to apply or check again
            return (_copied(loaded[0]) if self.loader.copies else loaded[0]), loaded[1]
        # scenarios only counted and checked share what the same patches made of the same file (many repeat a setup)
        same = (id(loaded), repr([patch for patch, _ in patches])) if not self.loader.copies else None
        if same is not None and same in self.loader.patched:
            return self.loader.patched[same]
        data = _copied(loaded[0])
        before = len(self.problems)
        for patch, at in patches:

            def report(keys: KeyPath, message: str, at: KeyPath = at) -> None:
                self.error(self.positions.at((*at, *keys), key=True), message)

            patches_module.apply(self.project, data, patch, report)
        if len(self.problems) != before:
            return None
        try:
            check_data(self.project, data, Positions(loaded[1]), loaded[1])
        except DataError as exc:
            culprit = self._culprit(loaded, patches)  # the patch after which the data no longer fits: said there
            for problem in exc.problems:
                # Lines of the data file say nothing of patched values: drop them, the key path names the record.
                message = re.sub(r" \(first at line \d+\)", "", problem.message)
                self.error(culprit or location, f"after the patches, the data does not fit: {message}")
            return None
        if same is not None:  # only a result that fits: a problem is said where each scenario writes its patches
            self.loader.patched[same] = (data, loaded[1])
        return data, loaded[1]

    def _culprit(self, loaded: tuple[dict[str, Any], str], patches: list[tuple[Mapping[str, Any], KeyPath]]) -> Location | None:
        """Where the first patch is written after which the data no longer fits (only asked once it does not: a check per patch)."""
        data = _copied(loaded[0])
        for patch, at in patches:
            patches_module.apply(self.project, data, patch, lambda keys, message: None)
            try:
                check_data(self.project, data, Positions(loaded[1]), loaded[1])
            except DataError:
                return self.positions.at(at)
        return None

    def _exists(self, data: dict[str, Any], entity_name: str, given: str, keys: Sequence[str], at: KeyPath) -> None:
        entity = self.project.entities[entity_name]
        candidates: list[str] = []
        for _, record in patches_module.records(self.project, data, entity):
            if any(str(record.get(k)) == given for k in keys if record.get(k) is not None):
                return
            candidates.extend(str(record[k]) for k in keys if record.get(k) is not None)
        self.error(self.positions.at(at), f"unknown {entity_name} {given!r} in the data{did_you_mean(given, candidates)}")


def _copied(value: Any) -> Any:
    """A deep copy of values read from a data file (mappings, lists, texts, numbers), several times faster than copy.deepcopy."""
    kind = value.__class__
    if kind is dict:
        return {key: _copied(item) for key, item in value.items()}
    if kind is list:
        return [_copied(item) for item in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


_ATOMS = (str, int, float, bool, type(None))


# running ----------------------------------------------------------------
def run_suite(project: Project, scenarios: Iterable[Scenario], registry: Registry | None = None) -> list[ScenarioResult]:
    """Run every scenario, each on its own in-memory copy of its data."""
    registry = registry or Registry.collect()
    return [run_scenario(project, registry, scenario) for scenario in scenarios]


def run_scenario(project: Project, registry: Registry, scenario: Scenario) -> ScenarioResult:
    """Dry-run one scenario (commit it and move time forward, when it has `then` steps) and compare what happened with what it expects."""
    storage = registry.storage("memory")
    with storage.transaction(write=True) as tx:
        import_data(project, tx, scenario.data)
    engine = Engine(project, storage, clock=Clock(scenario.now), registry=registry)
    try:
        shown = engine.for_actor(scenario.actor)  # screens, reasons and banners in the actor's own locale, as simulate shows them
        if scenario.flow is None:
            availability = shown.available(scenario.actor, scenario.subject)
            offered = availability.offered()
            broken = _broken([v for item in availability.flows for v in item.rules])
            result = ScenarioResult(scenario, broken + expectations.compare_offered(scenario.expect, offered), offered=offered)
            for item in availability.flows:
                result.observed[item.flow] = _rules_observed(item.rules)
        else:
            path = None
            if scenario.then:
                path = _committed_path(project, shown, scenario.actor, scenario.subject, scenario.flow, scenario.answers)
                committed = shown.apply(scenario.flow, scenario.actor, scenario.subject, scenario.answers, deliver=False)
                assert committed is not None
                plan = committed
            else:
                plan = shown.simulate(scenario.flow, scenario.actor, scenario.subject, scenario.answers)
            result = ScenarioResult(scenario, _broken(plan.rules) + expectations.compare(scenario.expect, plan), plan=plan)
            result.observed[plan.flow] = _plan_observed(project, shown, scenario.actor, scenario.subject, scenario.answers, plan, path)
        for number, step in enumerate(scenario.then, 1):
            result.mismatches.extend(_later(project, engine, scenario, step, number, result))
        if scenario.then:
            _waited(project, engine, result)
    except ClientflowError as exc:
        return ScenarioResult(scenario, [Mismatch("error", None, str(exc), note="the dry-run failed")])
    finally:
        engine.close()
    return result


def _later(project: Project, engine: Engine, scenario: Scenario, step: Later, number: int, result: ScenarioResult) -> list[Mismatch]:
    """One `then` step: the clock moves to its time, the worker carries out what is due, then its flow (if any) is committed."""
    engine.clock.fixed = step.now
    where = f"then[{number - 1}] at {step.now.isoformat()}"
    carried = engine.carry_out()
    out: list[Mismatch] = []
    for flow_id in {e["flow"] for e in carried.emails}:
        result.observed.setdefault(flow_id, Observed()).emails.update(e["template"] for e in carried.emails if e["flow"] == flow_id)
    if step.decide is not None:
        out += _decide(project, engine, scenario, step, result)
    if step.flow is not None:
        shown = engine.for_actor(step.actor)  # in the step's actor's own locale
        path = _committed_path(project, shown, step.actor, scenario.subject, step.flow, step.answers)
        plan = shown.apply(step.flow, step.actor, scenario.subject, step.answers, deliver=False)
        assert plan is not None
        out += _broken(plan.rules) + expectations.compare(dataclasses.replace(step.expect, scheduled=None), plan)
        seen = _plan_observed(project, shown, step.actor, scenario.subject, step.answers, plan, path)
        into = result.observed.setdefault(plan.flow, Observed())
        for name in ("rules_passed", "rules_failed", "steps", "fields", "emails", "paths"):
            getattr(into, name).update(getattr(seen, name))
    exists = _exists(project, engine, scenario.subject)
    if step.flow is None and step.expect.offered is not None:
        if not exists:
            out.append(Mismatch("offered", sorted(step.expect.offered), None, note="the subject no longer exists"))
        else:
            availability = engine.for_actor(step.actor).available(step.actor, scenario.subject)
            out += _broken([v for item in availability.flows for v in item.rules])
            out += expectations.compare_offered(step.expect, availability.offered())
            for item in availability.flows:
                into = result.observed.setdefault(item.flow, Observed())
                seen = _rules_observed(item.rules)
                into.rules_passed.update(seen.rules_passed)
                into.rules_failed.update(seen.rules_failed)
                into.paths.update(seen.paths)
    pending = engine.scheduled(subject=_subject_id(project, engine, scenario.subject)) if step.expect.scheduled is not None else []
    worker = {"changes": carried.changes, "emails": carried.emails, "dropped": carried.dropped}
    out += expectations.compare_later(step.expect, worker, pending, exists)
    return [dataclasses.replace(m, what=f"{where}: {m.what}") for m in out]


def _decide(project: Project, engine: Engine, scenario: Scenario, step: Later, result: ScenarioResult) -> list[Mismatch]:
    """A `then` step's `decide`: the scenario's run awaiting approval approved (or rejected) by `by`, compared with what it expects."""
    assert step.decide is not None and scenario.flow is not None
    run = result.plan.run if result.plan is not None else None
    if run is None or result.plan is None or result.plan.status != "awaiting_approval":
        status = result.plan.status if result.plan is not None else None
        return [Mismatch("decide", "a run awaiting approval", status, note="the scenario's run does not wait for an approval")]
    by = str(step.decide["by"])
    shown = engine.for_actor(by)
    reason = step.decide.get("reject")
    try:
        plan = shown.reject(run, by, str(reason), deliver=False) if reason is not None else shown.approve(run, by, deliver=False)
    except RunNotFound:  # `by` is outside reach: every face answers as of a run that is not there; a scenario sees the refusal it is
        refused = [{"rule": APPROVERS_RULE, "message": f"run {run} does not await your approval"}]
        plan = Plan(flow=scenario.flow, status="blocked", dry_run=False, run=run, blocked_by=refused, outside_reach=True)
    seen = result.observed.setdefault(plan.flow, Observed())
    seen.emails.update(e.template for e in plan.emails)
    return _broken(plan.rules) + expectations.compare(dataclasses.replace(step.expect, scheduled=None), plan)


def _committed_path(project: Project, engine: Engine, actor: str, subject: str, flow_id: str, answers: Mapping[str, Any]) -> str | None:
    """The completed path of a run about to be committed, worked out on the data before it (the dry-run's answers, defaults filled)."""
    dry = engine.simulate(flow_id, actor, subject, answers)
    if dry.status not in ("completed", "awaiting_approval"):
        return None
    return _path_key(project, engine, actor, subject, flow_id, dry.audit.get("answers", {}))


def _subject_id(project: Project, engine: Engine, subject: str) -> str:
    """The subject's id (scheduled work is kept by id), or the name given when it no longer exists."""
    with engine.storage.transaction() as tx:
        try:
            found = Records(project, tx).find(project.subject_entity, subject, project.subject_match)
        except UnknownName:
            return subject
    return str(found.get("id"))


def _exists(project: Project, engine: Engine, subject: str) -> bool:
    with engine.storage.transaction() as tx:
        try:
            Records(project, tx).find(project.subject_entity, subject, project.subject_match)
        except UnknownName:
            return False
    return True


def _waited(project: Project, engine: Engine, result: ScenarioResult) -> None:
    """The waiting branches the scenario walked: each scheduled part carried out, or not (cancelled, dropped)."""
    from . import paths  # only when scenarios run

    with engine.storage.transaction() as tx:
        items = tx.scheduled() if isinstance(tx, SchedulingTransaction) else []
    for item in items:
        if item["status"] == "pending" or item["flow"] not in project.flows:
            continue
        label = paths.delayed_labels(project.flows[item["flow"]]).get((item["kind"], int(item["index"])))
        if label is not None:
            result.observed.setdefault(item["flow"], Observed()).paths.add(paths.waited_key(label, item["status"] == "done"))


def _broken(verdicts: Sequence[Verdict]) -> list[Mismatch]:
    """A rule that could not be checked is an error of the scenario: it never passes as "blocked" for the wrong reason."""
    seen = dict.fromkeys((v.rule, v.message or "") for v in verdicts if v.broken)
    return [
        Mismatch("error", None, f"{rule}: {message}", note="a rule could not be checked; fix the rule (a scenario cannot pass on it)") for rule, message in seen
    ]


def _rules_observed(verdicts: Sequence[Verdict]) -> Observed:
    from . import paths  # only when scenarios run: `clientflow validate` reads them without it

    seen = Observed()
    for verdict in verdicts:
        (seen.rules_passed if verdict.passed else seen.rules_failed).add(verdict.rule)
    first = next((v for v in verdicts if not v.passed), None)
    if first is not None:
        seen.paths.add(paths.blocked_key(first.rule))
    return seen


def _path_key(project: Project, engine: Engine, actor: str, subject: str, flow_id: str, answers: Mapping[str, Any]) -> str | None:
    """The completed path a run with these answers takes on the data as it is now (None when the subject is gone)."""
    from . import paths  # only when scenarios run: `clientflow validate` reads them without it

    flow = project.flow(flow_id)
    with engine.storage.transaction() as tx:
        records_ = Records(project, tx)
        try:
            parties = resolve(project, records_, actor, subject)
        except UnknownName:
            return None
        scope = flow_scope(engine.runner.scope(records_, parties), flow, answers)
        return paths.completed_key(flow, paths.taken(project.program, flow, scope))


def _plan_observed(project: Project, engine: Engine, actor: str, subject: str, answers: Mapping[str, Any], plan: Plan, path: str | None = None) -> Observed:
    """What a plan saw; `path`: the completed path, worked out before a committed run changed the data."""
    from . import paths  # only when scenarios run: `clientflow validate` reads them without it

    seen = _rules_observed(plan.rules)
    flow = project.flow(plan.flow)
    seen.steps = {s.step for s in plan.screens}
    refused = {e["field"] for e in plan.errors}
    fields = flow.fields()
    for name, value in answers.items():
        if value not in (None, "") and name not in refused and name in fields and fields[name][0].id in seen.steps:
            seen.fields.add(name)
    seen.emails = {e.template for e in plan.emails}
    seen.paths.update(paths.invalid_key(name) for name in refused)
    if plan.status in ("completed", "awaiting_approval"):  # waiting for an approval, the walk through the flow is complete
        key = path if plan.run is not None else _path_key(project, engine, actor, subject, plan.flow, plan.audit.get("answers", {}))
        if key is not None:
            seen.paths.add(key)
    return seen
