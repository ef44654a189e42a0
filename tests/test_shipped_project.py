"""The shipped project (flows/, templates/, scenarios/, data/ at the root) is proven by its own commands, and only by them.

The flows belong to product managers: what they do is proven by their scenarios
(`clientflow test`), by `clientflow validate` (which also checks the scenarios and
the demo runs against the flows) and by `clientflow demo`. No other test reads the
shipped project (tests/test_meta_shipped.py sees to it), so a consistent edit of
flows/ and scenarios/ cannot break the Python tests; the last test here makes such an edit and runs the three.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO

from clientflow.language.yamlfile import load_yaml

# exactly what a product manager runs after an edit, in the repository's folder
COMMANDS = {
    "validate": ["validate"],
    "test": ["test", "--coverage", "--fail-under", "100"],
    "demo": ["demo"],
    "translations": ["i18n", "check"],
}


def clientflow(*args: str) -> subprocess.CompletedProcess[str]:
    """`clientflow ARGS` in the repository's folder, as a product manager runs it, without our CLIENTFLOW_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    return subprocess.run([sys.executable, "-m", "clientflow", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("name", COMMANDS)
def test_the_shipped_project_passes_its_own_command(name: str) -> None:
    done = clientflow(*COMMANDS[name])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    last = done.stdout.rstrip("\n").splitlines()[-1]
    if name == "validate":
        assert last.startswith("ok: ") and last.endswith(" no problems.") and " scenarios, " in last and " demo runs, " in last
    if name == "test":
        assert last.endswith(" passed, 0 failed") and not last.startswith("0 ")
    if name == "demo":
        assert "status   invalid" not in done.stdout
    if name == "translations":
        assert last.startswith("ok: ") and "translated into fr" in last


# A product manager's consistent edit ------------------------------------------------------------
# The edits are code over the YAML (read as the engine reads it, YAML 1.2, and written back), and
# choose their flows and steps by looking at what is there, so they keep working as the shipped
# flows change. Each keeps the project consistent, as a product manager would: the scenarios and
# the demo runs follow the flows.
TEXTS = ("title", "body", "summary")  # the words a product manager rewrites
JINJA = re.compile(r"{{.*?}}|{%.*?%}", re.S)


class Plain(yaml.SafeDumper):
    """Writes a value used twice out twice: the engine refuses YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class Copy:
    """A copy of the shipped project in a folder of its own, with its YAML files at hand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.added: set[str] = set()  # flows the edits added: the other edits change the shipped ones
        for folder in ("flows", "templates", "scenarios", "data", "locales"):
            if (REPO / folder).is_dir():
                shutil.copytree(REPO / folder, root / folder)
        named = self.read(root / "flows" / "project.yaml").get("data_schema")
        if named:  # the data schema the project file names, as the shipped project keeps it
            (root / named).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / named, root / named)

    @staticmethod
    def read(path: Path) -> Any:
        return load_yaml(path.read_text(encoding="utf-8"), str(path))[0]

    @staticmethod
    def write(path: Path, doc: Any) -> None:
        path.write_text(yaml.dump(doc, Dumper=Plain, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")

    def flows(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted((self.root / "flows").glob("*.yaml")) if p.stem not in ("project", "rules")}

    def shipped(self) -> dict[str, Path]:
        return {flow_id: path for flow_id, path in self.flows().items() if flow_id not in self.added}

    def scenario_files(self) -> list[Path]:
        return sorted((self.root / "scenarios").glob("*.yaml"))

    def scenarios_of(self, flow_id: str | None) -> Iterator[tuple[Path, dict[str, Any], dict[str, Any]]]:
        """(file, its document, scenario) for every scenario of `flow_id` (None: every scenario)."""
        for path in self.scenario_files():
            doc = self.read(path)
            default = (doc.get("defaults") or {}).get("flow")
            for scenario in doc.get("scenarios") or []:
                if flow_id is None or scenario.get("flow", default) == flow_id:
                    yield path, doc, scenario

    def edit_scenarios(self, flow_id: str | None, change: Any) -> int:
        """Apply `change(scenario)` to every scenario of `flow_id`, file by file; how many it changed."""
        changed = 0
        for path in self.scenario_files():
            doc = self.read(path)
            default = (doc.get("defaults") or {}).get("flow")
            touched = [change(s) for s in doc.get("scenarios") or [] if flow_id is None or s.get("flow", default) == flow_id]
            if any(touched):
                self.write(path, doc)
                changed += sum(map(bool, touched))
        return changed

    @property
    def runs_path(self) -> Path:
        return self.root / "data" / "demo-runs.yaml"

    def templates_of(self, flow: dict[str, Any]) -> list[Path]:
        names = {email["template"] for email in (flow.get("outcome") or {}).get("emails") or []}
        return sorted(p for name in names for p in (self.root / "templates" / "emails").glob(f"{name}.*"))


def strings(node: Any, change: Any, key: str = "") -> Any:
    """`node` with `change(key, text)` applied to every string value in it."""
    if isinstance(node, dict):
        return {k: strings(v, change, str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [strings(v, change, key) for v in node]
    return change(key, node) if isinstance(node, str) else node


def reword_every_text(copy: Copy) -> int:
    """Every title, summary and body of every flow and step in new words, keeping the expressions it shows."""
    count = 0

    def reword(key: str, text: str) -> str:
        nonlocal count
        if key not in TEXTS:
            return text
        count += 1
        return f"Reworded {key}: " + " ".join(JINJA.findall(text))

    for path in copy.flows().values():
        copy.write(path, strings(copy.read(path), reword))
    return count


def remove_a_screen(copy: Copy) -> tuple[str, str]:
    """Remove an info screen (no questions, always shown) from a flow with others; the scenarios stop expecting it."""
    for flow_id, path in copy.shipped().items():
        flow = copy.read(path)
        for step in flow["steps"]:
            if len(flow["steps"]) > 1 and step["kind"] == "info" and not step.get("fields") and "when" not in step:
                flow["steps"].remove(step)
                copy.write(path, flow)

                def forget(scenario: dict[str, Any], gone: str = step["id"]) -> bool:
                    screens = (scenario.get("expect") or {}).get("screens")
                    if screens and gone in screens:
                        screens.remove(gone)
                        return True
                    return False

                copy.edit_scenarios(flow_id, forget)
                return flow_id, step["id"]
    raise AssertionError("no flow has an info screen to remove")


def add_a_survey_question(copy: Copy) -> tuple[str, str]:
    """An optional question on a flow's survey screen, and a scenario that answers it."""
    for flow_id, path in copy.shipped().items():
        flow = copy.read(path)
        survey = next((s for s in flow["steps"] if s["kind"] == "survey" and "when" not in s), None)
        if survey is None:
            continue
        name = "pm_added_question"
        survey.setdefault("fields", []).append({"name": name, "type": "text", "label": "Anything else we should know?", "required": False})
        copy.write(path, flow)
        for file, doc, scenario in copy.scenarios_of(flow_id):
            if (scenario.get("expect") or {}).get("status") == "completed":
                added = {**scenario, "name": f"{scenario['name']}, with the new survey question answered"}
                added["answers"] = {**(scenario.get("answers") or {}), name: "We are moving offices."}
                added["expect"] = {"status": "completed"}
                doc["scenarios"].append(added)
                copy.write(file, doc)
                return flow_id, name
    raise AssertionError("no flow has a survey screen with a completed scenario to extend")


def rename_an_answer(copy: Copy) -> tuple[str, str, str]:
    """Rename the field most used (flow, email templates, scenarios, demo runs) everywhere it is used."""
    runs = copy.read(copy.runs_path) or {}
    rules = copy.root / "flows" / "rules.yaml"
    shared_rules = rules.read_text(encoding="utf-8") if rules.is_file() else ""
    owners: dict[Path, set[str]] = {}  # a template's flows: one shared by two flows is renamed in neither
    flows = {flow_id: copy.read(path) for flow_id, path in copy.flows().items()}
    for flow_id, flow in flows.items():
        for template in copy.templates_of(flow):
            owners.setdefault(template, set()).add(flow_id)
    candidates = []
    for flow_id, flow in flows.items():
        if flow_id in copy.added:
            continue
        for step in flow["steps"]:
            for field in step.get("fields") or []:
                name = field["name"]
                used = re.compile(rf"\banswers\.{re.escape(name)}\b")
                in_runs = name in ((runs.get(flow_id) or {}).get("answers") or {})
                in_scenarios = sum(name in (s.get("answers") or {}) for _, _, s in copy.scenarios_of(flow_id))
                templates = [t for t in copy.templates_of(flow) if used.search(t.read_text(encoding="utf-8"))]
                shared = any(owners[t] != {flow_id} for t in templates) or used.search(shared_rules)
                if in_runs and in_scenarios and not shared:
                    candidates.append((len(templates), in_scenarios, flow_id, name))
    assert candidates, "no answer is used in the demo runs and the scenarios"
    *_, flow_id, old = max(candidates)
    new = f"{old}_renamed"
    used = re.compile(rf"\banswers\.{re.escape(old)}\b")

    def rename_text(key: str, text: str) -> str:
        return used.sub(f"answers.{new}", text)

    flow = strings(flows[flow_id], rename_text)
    for step in flow["steps"]:
        for field in step.get("fields") or []:
            if field["name"] == old:
                field["name"] = new
    copy.write(copy.flows()[flow_id], flow)
    for template in copy.templates_of(flow):
        template.write_text(rename_text("", template.read_text(encoding="utf-8")), encoding="utf-8")

    def rename_in(scenario: dict[str, Any]) -> bool:
        before = repr(scenario)
        if old in (scenario.get("answers") or {}):
            scenario["answers"] = {new if k == old else k: v for k, v in scenario["answers"].items()}
        expect = scenario.get("expect") or {}
        for key in ("errors", "needs"):
            items = expect.get(key) or []
            expect[key] = [new if i == old else {**i, "field": new} if isinstance(i, dict) and i.get("field") == old else i for i in items]
            if not items:
                expect.pop(key, None)
        return repr(scenario) != before

    assert copy.edit_scenarios(flow_id, rename_in)
    answers = runs[flow_id]["answers"]
    runs[flow_id]["answers"] = {new if k == old else k: v for k, v in answers.items()}
    copy.write(copy.runs_path, runs)
    return flow_id, old, new


def renamed(value: Any, old: str, new: str) -> Any:
    """`value` with every list item `old` (a flow id in a list of flows) made `new`."""
    if isinstance(value, dict):
        return {key: renamed(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [new if item == old else renamed(item, old, new) for item in value]
    return value


def add_a_flow(copy: Copy) -> str:
    """A new flow, started from one that is there, with a scenario file of its own and a demo run; offered where its model is."""
    runs = copy.read(copy.runs_path) or {}
    model = next(f for f in copy.flows() if f in runs and (copy.root / "scenarios" / f"{f}.yaml").is_file())
    new = f"{model}-new"
    flow = copy.read(copy.flows()[model])
    flow.update(id=new, title=f"A new way to {flow['title'].lower()}")
    copy.write(copy.root / "flows" / f"{new}.yaml", flow)
    scenarios = copy.read(copy.root / "scenarios" / f"{model}.yaml")
    if (scenarios.get("defaults") or {}).get("flow") == model:
        scenarios["defaults"]["flow"] = new
    for scenario in scenarios["scenarios"]:
        scenario["name"] = f"{new}: {scenario['name']}"
        if scenario.get("flow") == model:
            scenario["flow"] = new
        given = scenario.get("given")
        if isinstance(given, dict):  # data naming the model's id (a list of flows, such as approval_required_for) names the new one
            given["patch"] = renamed(given.get("patch"), model, new)
    copy.write(copy.root / "scenarios" / f"{new}.yaml", scenarios)

    def offer(scenario: dict[str, Any]) -> bool:  # same rules as its model: offered wherever the model is, later steps too
        edited = False
        for expect in (scenario.get("expect") or {}, *((step.get("expect") or {}) for step in scenario.get("then") or [])):
            offered = expect.get("offered")
            if offered is not None and model in offered:
                offered.append(new)
                edited = True
        return edited

    copy.edit_scenarios(None, offer)
    runs[new] = runs[model]
    copy.write(copy.runs_path, runs)
    copy.added.add(new)
    return new


def translate_the_changes(copy: Copy) -> int:
    """The translator's part of the edit: the catalogs follow the flows (`i18n extract`, `i18n update`), and
    each new or changed text gets its translation (here the text itself, which keeps its placeholders)."""
    from babel.messages.pofile import read_po, write_po

    for command in ("extract", "update"):
        done = clientflow_in(copy.root, "i18n", command)
        assert done.returncode == 0, done.stdout + done.stderr
    count = 0
    for path in sorted((copy.root / "locales").glob("*/LC_MESSAGES/clientflow.po")):
        with path.open("rb") as given:
            catalog = read_po(given)
        for message in catalog:
            if message.id and (message.fuzzy or not message.string):
                message.string, message.flags = message.id, message.flags - {"fuzzy"}
                count += 1
        with path.open("wb") as out:
            write_po(out, catalog, width=0)
    return count


def test_a_product_managers_consistent_edit_keeps_validate_test_and_demo_green(tmp_path: Path) -> None:
    copy = Copy(tmp_path / "project")
    before = json.loads(clientflow_in(copy.root, "validate", "--format", "json").stdout)
    assert before["valid"] is True

    added = add_a_flow(copy)
    reworded = reword_every_text(copy)
    screen_flow, screen = remove_a_screen(copy)
    survey_flow, question = add_a_survey_question(copy)
    renamed_flow, old, new = rename_an_answer(copy)
    translated = translate_the_changes(copy) if (copy.root / "locales").is_dir() else None

    done = {name: clientflow_in(copy.root, *args) for name, args in COMMANDS.items()}
    for name, result in done.items():
        assert result.returncode == 0, f"clientflow {' '.join(COMMANDS[name])} after the edits:\n{result.stdout}{result.stderr}"
    assert done["test"].stdout.rstrip().splitlines()[-1].endswith(" passed, 0 failed")

    # the edits did happen, and the checks saw them
    after = json.loads(clientflow_in(copy.root, "validate", "--format", "json").stdout)
    assert after["flows"] == before["flows"] + 1 and after["scenarios"] > before["scenarios"] and after["demo_runs"] == before["demo_runs"] + 1
    flows = {flow_id: Copy.read(path) for flow_id, path in copy.flows().items()}
    assert screen not in [s["id"] for s in flows[screen_flow]["steps"]]
    assert question in {f["name"] for s in flows[survey_flow]["steps"] for f in s.get("fields") or []}
    names = {f["name"] for s in flows[renamed_flow]["steps"] for f in s.get("fields") or []}
    assert new in names and old not in names
    files = [copy.flows()[renamed_flow], *copy.templates_of(flows[renamed_flow]), copy.runs_path, *copy.scenario_files()]
    text = "".join(p.read_text(encoding="utf-8") for p in files)
    assert not re.search(rf"\banswers\.{old}\b", text) and f"answers.{new}" in text
    assert added in flows and f"── {added} · " in done["demo"].stdout
    assert reworded >= 2 * after["flows"]
    assert all(text.startswith("Reworded ") for flow in flows.values() for text in texts(flow))
    if translated is not None:  # the shipped project is translated: the edit reached its catalogs too
        assert translated > 0


def texts(node: Any) -> list[str]:
    """Every title, summary and body in `node`."""
    found: list[str] = []

    def keep(key: str, text: str) -> str:
        if key in TEXTS:
            found.append(text)
        return text

    strings(node, keep)
    return found


def clientflow_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`clientflow ARGS` run in `root`, as a product manager runs it there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTFLOW_")}
    return subprocess.run([sys.executable, "-m", "clientflow", *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)


def test_an_emptied_french_translation_fails_validate_at_its_line(tmp_path: Path) -> None:
    """The contract of issue 18: emptying one msgstr of the shipped French catalog makes validate exit 1 at that line."""
    copy = Copy(tmp_path / "project")
    po = copy.root / "locales" / "fr" / "LC_MESSAGES" / "clientflow.po"
    lines = po.read_text(encoding="utf-8").splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith('msgstr "') and line != 'msgstr ""')
    lines[at] = 'msgstr ""'
    po.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = clientflow_in(copy.root, "validate")
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if line.startswith("locales/")] == [
        next(line for line in done.stderr.splitlines() if line.startswith(f"locales/fr/LC_MESSAGES/clientflow.po:{at + 1}:"))
    ]


def test_approval_required_for_names_flows_with_an_approval_step_where_it_is_written(tmp_path: Path) -> None:
    """Listing a flow without an approval step (or no flow at all) would change nothing: init says so, at the value."""
    copy = Copy(tmp_path / "project")
    data = copy.root / "data" / "demo.yaml"
    partner = "    name: Northwind Bookkeeping\n"
    text = data.read_text(encoding="utf-8")
    assert partner in text
    data.write_text(
        text.replace(partner, partner + "    settings: {approval_required_for: [delete-client, restore-client, deactivate-clent]}\n", 1), encoding="utf-8"
    )
    line = data.read_text(encoding="utf-8").splitlines().index("    settings: {approval_required_for: [delete-client, restore-client, deactivate-clent]}") + 1
    done = clientflow_in(copy.root, "init", "--data", "data/demo.yaml", "--db", str(tmp_path / "db.sqlite"))
    assert done.returncode == 1, done.stdout + done.stderr
    said = [row.split("data/demo.yaml:", 1)[1] for row in (done.stdout + done.stderr).splitlines() if "data/demo.yaml:" in row]
    assert len(said) == 2 and all(row.startswith(f"{line}:") for row in said), said
    assert "approval_required_for[1]: flow 'restore-client' has no approval step, so naming it here changes nothing" in said[0]
    assert "approval_required_for[2]: 'deactivate-clent' is not a flow of the project; did you mean 'deactivate-client'?" in said[1]
