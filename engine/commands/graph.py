"""graph: a flow as a diagram (Mermaid for Markdown viewers, DOT for Graphviz).

The flow becomes a small graph first (`diagram`): its rules as decisions, each
step (behind a decision when it has a `when`), the outcome and the ends. The
two writers only spell that graph in their syntax.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import click

from ..language.model import DEFAULT_BUTTONS, Delay, Effect, Field, Flow, Outcome, Project, Step
from .common import command, project_option

WIDTH = 44  # characters per label line


@dataclass
class Node:
    id: str
    shape: str  # start | decision | step | outcome | end | stop | wait
    lines: list[str]


@dataclass
class Edge:
    source: str
    target: str
    label: str = ""
    dotted: bool = False


@dataclass
class Diagram:
    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def node(self, id: str, shape: str, *lines: str) -> str:
        self.nodes.append(Node(id, shape, [part for line in lines for part in _wrap(line)]))
        return id

    def edge(self, source: str, target: str, label: str = "", *, dotted: bool = False) -> None:
        self.edges.append(Edge(source, target, label, dotted))


def _wrap(text: str) -> list[str]:
    text = " ".join(text.split())
    return textwrap.wrap(text, WIDTH, break_on_hyphens=False) or [""]


def diagram(project: Project, flow_id: str) -> Diagram:
    """The graph of one flow: rules, steps and their `when`, the outcome, the ends."""
    flow = project.flow(flow_id)
    reach = project.reach
    graph = Diagram(flow.id)
    entry = " › ".join([*flow.entry, *([flow.button] if flow.button else [])])
    graph.node("start", "start", f"{flow.id}: {flow.title}", *([entry] if entry else []))
    blocked = "blocked"
    previous, label = "start", ""
    rules = [("reach", r) for r in reach] + [("who may start", r) for r in flow.started_by] + [("precondition", r) for r in flow.preconditions]
    for number, (kind, rule) in enumerate(rules, 1):
        node = graph.node(f"rule{number}", "decision", f"{kind}: {rule.name}", rule.condition.source)
        graph.edge(previous, node, label)
        previous, label = node, "yes"
    entries: list[str] = []
    for number, step in enumerate(flow.steps, 1):
        box = graph.node(f"step{number}", "step", f"{step.id} ({step.kind})", step.title.source, *(_field(f) for f in step.fields))
        entries.append(graph.node(f"when{number}", "decision", f"when {step.when.source}") if step.when is not None else box)
        if step.when is not None:
            graph.edge(entries[-1], box, "yes")
    result = graph.node("result", "outcome", "outcome", *_outcome(flow.outcome))
    cancels: list[Edge] = []
    for number, step in enumerate(flow.steps):
        graph.edge(previous, entries[number], label)
        if step.when is not None:
            graph.edge(entries[number], entries[number + 1] if number + 1 < len(entries) else result, "no")
        previous, label = f"step{number + 1}", _button(project, step, "next")
        cancels.append(Edge(previous, "cancelled", _button(project, step, "cancel"), dotted=True))
        if step.approval is not None:  # the run waits here for someone other than its starter
            who = ", ".join(rule.name for rule in step.approval.approvers)
            wait = graph.node(f"approval{number + 1}", "wait", f"waits for approval by: {who} (never the starter)", f"expires after {step.approval.expires}")
            graph.edge(previous, wait, label)
            graph.node(f"undecided{number + 1}", "stop", "rejected (with a reason), or expired: nothing changes, the starter is told")
            graph.edge(wait, f"undecided{number + 1}", "rejected or expired", dotted=True)
            previous, label = wait, "approved: every rule checked again"
    graph.edge(previous, result, label)
    reversible = flow.outcome.reversible
    undo = ("can be undone" if reversible else "cannot be undone") if isinstance(reversible, bool) else f"can be undone when {reversible.source}"
    banner = flow.outcome.banner.source if flow.outcome.banner else ""
    graph.node("done", "end", f"done: {undo}", *([f"banner: {banner}"] if banner else []))
    graph.edge(result, "done")
    _waits(project, flow, graph)
    if rules:
        graph.node(blocked, "stop", "not offered: each failed rule's message is shown")
        graph.edges.extend(Edge(f"rule{number}", blocked, "no") for number in range(1, len(rules) + 1))
    if cancels:
        graph.node("cancelled", "stop", "cancelled: nothing changes")
        graph.edges.extend(cancels)
    return graph


def _waits(project: Project, flow: Flow, graph: Diagram) -> None:
    """The outcome's delayed parts: a wait per `after`, what is done when it is due, and what keeps it from being done."""
    groups: dict[str, list[str]] = {}
    for effect in flow.outcome.effects:
        if effect.after is not None:
            groups.setdefault(effect.after.written, []).extend(_unless(_effect_line(effect), effect.after))
    for email in flow.outcome.emails:
        if email.after is not None:
            groups.setdefault(email.after.written, []).extend(_unless(f"email {email.template} to {email.to.source}", email.after))
    if not groups:
        return
    cancellers = sorted(other.id for other in project.flows.values() if flow.id in other.outcome.cancel)
    why = "cancelled" + (f" by {', '.join(cancellers)}" if cancellers else "") + ", its unless holds, or a rule no longer holds"
    graph.node("dropped", "stop", f"not carried out: {why} (audited)")
    for number, (written, lines) in enumerate(groups.items(), 1):
        wait = graph.node(f"wait{number}", "wait", f"wait: {written}")
        graph.edge("result", wait, "scheduled", dotted=True)
        later = graph.node(f"later{number}", "outcome", "when due: every rule checked again", *lines)
        graph.edge(wait, later, "due")
        graph.edge(wait, "dropped", "", dotted=True)


def _unless(line: str, delay: Delay) -> list[str]:
    return [line + (f" unless {delay.unless.source}" if delay.unless is not None else "")]


def _field(item: Field) -> str:
    need = "required" if item.required else "optional"
    confirm = ", typed confirmation" if item.confirm is not None else ""
    return f"{item.name}: {item.type}, {need}{confirm}"


def _button(project: Project, step: Step, name: str) -> str:
    """The label of a step's button as written: the step's own, else the project's (`buttons:`), else the engine's."""
    template = step.buttons.get(name) or project.buttons.get(name)
    return template.source if template is not None else DEFAULT_BUTTONS[name]


def _effect_line(effect: Effect) -> str:
    when = f" if {effect.when.source}" if effect.when is not None else ""
    if effect.op == "update":
        return f"set {effect.entity}.{effect.field} = {effect.to.source if effect.to else 'none'}{when}"
    if effect.op in ("delete", "create"):
        return f"{effect.op} {effect.entity}{when}"
    return f"{effect.op} ({effect.entity}){when}"


def _outcome(outcome: Outcome) -> list[str]:
    """What the commit does at once (the delayed parts are drawn as waits)."""
    lines = [_effect_line(effect) for effect in outcome.effects if effect.after is None]
    for email in outcome.emails:
        if email.after is None:
            when = f" if {email.when.source}" if email.when is not None else ""
            lines.append(f"email {email.template} to {email.to.source}{when}")
    if outcome.cancel:
        lines.append(f"cancel the pending work of {', '.join(outcome.cancel)}")
    return lines


# Mermaid ------------------------------------------------------------------
MERMAID_SHAPES = {
    "start": ('(["', '"])'),
    "decision": ('{"', '"}'),
    "step": ('["', '"]'),
    "outcome": ('[["', '"]]'),
    "end": ('(["', '"])'),
    "stop": ('(["', '"])'),
    "wait": ('{{"', '"}}'),
}
MERMAID_CLASSES = {"end": "finish fill:#e3f4e1,stroke:#2e7d32", "stop": "refusal fill:#fbe4e2,stroke:#c62828"}


def _mermaid_text(text: str) -> str:
    # Mermaid reads #NNN; as a character code: escape what would end or mark up a label
    for char in '#&"<>`|':
        text = text.replace(char, f"#{ord(char)};")
    return text


def mermaid(graph: Diagram) -> str:
    """The diagram as a Mermaid flowchart (renders in GitHub and most Markdown viewers)."""
    out = ["flowchart TD"]
    for node in graph.nodes:
        opening, closing = MERMAID_SHAPES[node.shape]
        out.append(f"    {node.id}{opening}{'<br/>'.join(_mermaid_text(line) for line in node.lines)}{closing}")
    for edge in graph.edges:
        arrow = "-.->" if edge.dotted else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        out.append(f"    {edge.source} {arrow}{label} {edge.target}")
    for shape, definition in MERMAID_CLASSES.items():
        members = [n.id for n in graph.nodes if n.shape == shape]
        if members:
            name = definition.split()[0]
            out.append(f"    classDef {definition}")
            out.append(f"    class {','.join(members)} {name}")
    return "\n".join(out)


# DOT ----------------------------------------------------------------------
DOT_SHAPES = {
    "start": 'shape=box, style="rounded,bold"',
    "decision": "shape=diamond",
    "step": "shape=box",
    "outcome": "shape=box, peripheries=2",
    "end": 'shape=box, style="rounded,filled", fillcolor="#e3f4e1"',
    "stop": 'shape=box, style="rounded,filled", fillcolor="#fbe4e2"',
    "wait": "shape=hexagon, style=dashed",
}


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(graph: Diagram) -> str:
    """The diagram in Graphviz's DOT language (`dot -Tsvg`)."""
    out = [
        f"digraph {_dot_text(graph.title)} {{",
        "    rankdir=TB;",
        '    node [fontname="Helvetica", fontsize=10];',
        '    edge [fontname="Helvetica", fontsize=9];',
    ]
    for node in graph.nodes:
        label = _dot_text("\n".join(node.lines)).replace("\n", "\\n")
        out.append(f"    {node.id} [{DOT_SHAPES[node.shape]}, label={label}];")
    for edge in graph.edges:
        attributes = [f"label={_dot_text(edge.label)}"] if edge.label else []
        if edge.dotted:
            attributes.append("style=dashed")
        out.append(f"    {edge.source} -> {edge.target}" + (f" [{', '.join(attributes)}]" if attributes else "") + ";")
    out.append("}")
    return "\n".join(out)


@command(short_help="A flow as a diagram: Mermaid or Graphviz DOT.")
@click.argument("flow")
@project_option
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True, help="mermaid (for Markdown) or dot (for Graphviz)."
)
def graph(flow: str, project: Path, fmt: str) -> None:
    """Draw FLOW: its rules as decisions, its steps and `when` conditions, its outcome.

    Mermaid output goes in a Markdown file inside a ```mermaid block; DOT
    output renders with Graphviz, e.g. `clientflow graph FLOW --format dot | dot -Tsvg > flow.svg`.
    """
    # the language's compilers and the plugins (~45 ms) not for `graph --help`, nor `clientflow --help`
    from ..conditions.program import load_project
    from ..language.project import Extensions
    from ..plugins import Registry

    registry = Registry.collect()
    loaded = load_project(project, Extensions(registry.functions, registry.filters, registry.effects))
    drawn = diagram(loaded, flow)
    click.echo(mermaid(drawn) if fmt == "mermaid" else dot(drawn))
