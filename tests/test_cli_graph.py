"""`clientflow graph`: Mermaid and DOT that a viewer accepts, checked line by line against their grammar."""

from __future__ import annotations

import re
from collections import deque

import pytest
from cli_support import PROJECT, REPO, copy_project, invoke

FLOWS = sorted(p.stem for p in (PROJECT / "flows").glob("*.yaml") if p.stem not in ("project", "rules"))

# Mermaid flowchart statements, exactly as `graph` writes them (four spaces, one per line)
M_NODE = re.compile(r'^    (?P<id>[A-Za-z][A-Za-z0-9_]*)(?P<open>\(\["|\{"|\[\["|\[")(?P<label>[^"]*)(?P<close>"\]\)|"\}|"\]\]|"\])$')
M_EDGE = re.compile(r'^    (?P<source>[A-Za-z]\w*) (?P<arrow>-->|-\.->)(?:\|"(?P<label>[^"]*)"\|)? (?P<target>[A-Za-z]\w*)$')
M_CLASSDEF = re.compile(r"^    classDef (?P<name>[A-Za-z]\w*) (?P<style>[a-z-]+:#[0-9a-f]{6}(?:,[a-z-]+:#[0-9a-f]{6})*)$")
M_CLASS = re.compile(r"^    class (?P<ids>[A-Za-z]\w*(?:,[A-Za-z]\w*)*) (?P<name>[A-Za-z]\w*)$")
M_PAIRS = {'(["': '"])', '{"': '"}', '[["': '"]]', '["': '"]'}
M_RESERVED = {"end", "graph", "flowchart", "subgraph", "class", "classDef", "style", "click", "linkStyle", "direction", "default"}
M_TEXT = re.compile(r"^(?:[^\"<>#&|`]|#\d+;|<br/>)*$")  # markup only as <br/>, specials only as #code;

# DOT statements
D_ATTR = r'[a-z]+=(?:"(?:[^"\\]|\\.)*"|[A-Za-z0-9_.#]+)'
D_ATTRS = rf"\[{D_ATTR}(?:, {D_ATTR})*\]"
D_NODE = re.compile(rf"^    (?P<id>[A-Za-z]\w*) (?P<attrs>{D_ATTRS});$")
D_EDGE = re.compile(rf"^    (?P<source>[A-Za-z]\w*) -> (?P<target>[A-Za-z]\w*)(?: (?P<attrs>{D_ATTRS}))?;$")
D_DEFAULTS = re.compile(rf"^    (?:(?:node|edge) {D_ATTRS}|rankdir=(?:TB|LR));$")


def reachable(edges: list[tuple[str, str]], start: str) -> set[str]:
    seen, todo = {start}, deque([start])
    while todo:
        node = todo.popleft()
        for source, target in edges:
            if source == node and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def check_mermaid(text: str) -> tuple[dict[str, str], list[tuple[str, str, str | None, str]]]:
    """Every line is a statement Mermaid accepts; every node is defined once and reached from start."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str | None, str]] = []
    classes: set[str] = set()
    for line in lines[1:]:
        if node := M_NODE.match(line):
            assert M_PAIRS[node["open"]] == node["close"], line
            assert node["id"] not in nodes and node["id"] not in M_RESERVED, line
            assert M_TEXT.match(node["label"]), line
            nodes[node["id"]] = node["label"]
        elif edge := M_EDGE.match(line):
            assert edge["label"] is None or M_TEXT.match(edge["label"]), line
            edges.append((edge["source"], edge["target"], edge["label"], edge["arrow"]))
        elif definition := M_CLASSDEF.match(line):
            classes.add(definition["name"])
        elif used := M_CLASS.match(line):
            assert used["name"] in classes and set(used["ids"].split(",")) <= set(nodes), line
        else:
            pytest.fail(f"not a Mermaid flowchart statement: {line!r}")
    pairs = [(s, t) for s, t, _, _ in edges]
    assert {n for pair in pairs for n in pair} <= set(nodes)
    assert reachable(pairs, "start") == set(nodes)
    return nodes, edges


def check_dot(text: str) -> tuple[set[str], list[tuple[str, str]]]:
    lines = text.splitlines()
    assert re.fullmatch(r'digraph "[\w-]+" \{', lines[0]) and lines[-1] == "}"
    nodes: set[str] = set()
    edges: list[tuple[str, str]] = []
    for line in lines[1:-1]:
        if D_DEFAULTS.match(line):
            continue
        if node := D_NODE.match(line):
            assert node["id"] not in nodes and node["id"] not in ("node", "edge", "graph", "digraph", "subgraph", "strict"), line
            nodes.add(node["id"])
        elif edge := D_EDGE.match(line):
            edges.append((edge["source"], edge["target"]))
        else:
            pytest.fail(f"not a DOT statement: {line!r}")
    assert {n for pair in edges for n in pair} <= nodes
    assert reachable(edges, "start") == nodes
    return nodes, edges


def graph(flow: str, fmt: str = "mermaid", project=PROJECT) -> str:
    result = invoke("graph", flow, "--project", project, "--format", fmt)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("flow", FLOWS)
def test_every_flow_draws_as_valid_mermaid_and_dot(flow):
    nodes, edges = check_mermaid(graph(flow))
    assert {"start", "result", "done", "blocked", "cancelled"} <= set(nodes)
    dot_nodes, dot_edges = check_dot(graph(flow, "dot"))
    assert dot_nodes == set(nodes)
    assert sorted(dot_edges) == sorted((s, t) for s, t, _, _ in edges)


def test_the_diagram_shows_rules_steps_fields_and_the_outcome():
    nodes, edges = check_mermaid(graph("disconnect-client"))
    assert [nodes[f"rule{n}"].split("<br/>")[0] for n in range(1, 6)] == [
        "reach: own-practice-clients",
        "reach: own-business",
        "who may start: practice-administrator",
        "precondition: paid-by-practice",
        "precondition: has-users",
    ]
    assert nodes["rule5"] == "precondition: has-users<br/>client.users #124; length #62; 0"
    assert nodes["step3"] == "choose-owner (choice)<br/>Who should own {{ client.name }}'s account?<br/>owner: choice, required"
    assert "set client.partner = none" in nodes["result"] and "email disconnect-client to lookup('user',<br/>answers.owner).email" in nodes["result"]
    assert nodes["done"].startswith("done: cannot be undone")
    main = [(s, t, label) for s, t, label, arrow in edges if arrow == "-->"]
    assert main[:6] == [("start", "rule1", None), *[(f"rule{n}", f"rule{n + 1}", "yes") for n in range(1, 5)], ("rule5", "step1", "yes")]
    assert ("step1", "step2", "Disconnect client") in main and ("step3", "result", "Disconnect client") in main
    assert {(s, t, label) for s, t, label, arrow in edges if arrow == "-.->"} == {(f"step{n}", "cancelled", "Cancel") for n in (1, 2, 3)}
    assert {s for s, t, _, _ in edges if t == "blocked"} == {f"rule{n}" for n in range(1, 6)}


def test_when_conditions_and_awkward_text(tmp_path):
    project = copy_project(tmp_path / "project")
    path = project / "flows" / "deactivate-client.yaml"
    text = path.read_text().replace("title: Let {{ client.name }} know?", """title: 'Say "hi" to <b>{{ client.name }}</b> & #1 | now?'""")
    text = text.replace(
        "outcome:",
        "  - id: notice\n    kind: info\n    title: The business will hear from us\n    when: answers.notify_client and client.users | length > 0\n"
        "    buttons: {next: Send it}\noutcome:",
    )
    path.write_text(text)
    assert invoke("validate", "--project", project).exit_code == 0
    nodes, edges = check_mermaid(graph("deactivate-client", project=project))
    assert nodes["when4"] == "when answers.notify_client and client.users<br/>#124; length #62; 0"
    assert "Say #34;hi#34; to #60;b#62;{{ client.name }}#60;/b#62; #38; #35;1 #124; now?" in nodes["step3"].replace("<br/>", " ")
    main = {(s, t, label) for s, t, label, _ in edges}
    assert {("step3", "when4", "Deactivate"), ("when4", "step4", "yes"), ("when4", "result", "no"), ("step4", "result", "Send it")} <= main
    dot = graph("deactivate-client", "dot", project)
    check_dot(dot)
    assert r'label="survey (survey)\nBefore you go on (optional)\nreason: text, optional"' in dot
    assert r"Say \"hi\" to <b>{{ client.name }}</b> & #1" in dot
    assert "when4 -> result [label=" in dot


def test_docs_hold_the_current_mermaid_of_disconnect_client():
    docs = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```mermaid\n(.*?)```", docs, re.S)
    assert blocks, "docs/cli.md shows a flow as a Mermaid diagram"
    assert blocks[0] == graph("disconnect-client")


def test_unknown_flow_and_format():
    result = invoke("graph", "disconect-client", "--project", PROJECT)
    assert result.exit_code == 1 and result.stderr == "error: unknown flow 'disconect-client'; did you mean 'disconnect-client'?\n"
    result = invoke("graph", "disconnect-client", "--project", PROJECT, "--format", "svg")
    assert result.exit_code == 2 and "'svg' is not one of 'mermaid', 'dot'" in result.stderr


def test_a_button_a_step_leaves_out_is_drawn_with_the_projects_own_label(tmp_path):
    project = copy_project(tmp_path / "project")
    path = project / "flows" / "deactivate-client.yaml"
    path.write_text(path.read_text().replace("outcome:", "  - id: notice\n    kind: info\n    title: The business will hear from us\noutcome:", 1))
    settings = project / "flows" / "project.yaml"
    settings.write_text(
        settings.read_text().replace(
            "data_schema: schema/data.schema.json\n", "data_schema: schema/data.schema.json\nbuttons: {next: Go on, cancel: Stop here}\n", 1
        )
    )
    assert invoke("validate", "--project", project).exit_code == 0
    _, edges = check_mermaid(graph("deactivate-client", project=project))
    drawn = {(s, t, label) for s, t, label, _ in edges}
    assert {("step4", "result", "Go on"), ("step4", "cancelled", "Stop here"), ("step3", "cancelled", "Cancel")} <= drawn
