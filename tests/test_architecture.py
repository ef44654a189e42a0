"""The shape of the package: no import cycles, layers imported only downward, backends only through plugins,
and no import inside a function without a comment saying why it waits.

The graph is read from the installed package's source (every import, at module level
or inside a function; what only a type checker reads is left out), so a cycle hidden
in a function is a cycle here too.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(next(iter(importlib.util.find_spec("clientflow").submodule_search_locations)))  # type: ignore[union-attr, arg-type]

# Lowest first. A module may import its own layer and those below it, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("errors", "collector", "storage", "hookspecs", "resources", "mailaddress", "faults", "config", "plugins", "tokens", "plain")),
    ("language", ("language",)),
    ("conditions", ("conditions",)),
    ("runtime", ("runtime", "outbox")),
    ("api", ("api", "__init__", "testing", "bulk", "parallel")),
    ("scenarios", ("scenarios", "review")),
    ("faces", ("cli", "__main__", "commands", "web")),
]
# Known debt, shrinking only: an upward import listed here is tolerated until it goes (issue 14 emptied it).
# A new upward import fails; one that goes away must leave this list.
KNOWN_UPWARD: set[str] = set()
PLUGINS = "clientflow.default_plugins"


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = ["clientflow", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known}
            found |= subs or {target}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {t for t in found if t.startswith("clientflow") and t != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {t for t in imports(name, path, known) if t in known} for name, path in known.items()}


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        parts = [*parts, "__init__"]
    if parts[1] == "default_plugins":
        return None
    for index, (_, names) in enumerate(LAYERS):
        if parts[1] in names:
            return index
    raise AssertionError(f"{module} is in no layer of tests/test_architecture.py: place it")


def test_no_import_cycles() -> None:
    edges = graph()
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if seen.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(edges):
        if node not in seen:
            visit(node)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_layers_are_imported_only_downward() -> None:
    upward = set()
    for module, targets in graph().items():
        here = layer(module)
        for target in targets:
            there = layer(target)
            if here is not None and there is not None and there > here:
                upward.add(f"{module} imports {target}")
    assert sorted(upward - KNOWN_UPWARD) == [], "imports that reach up a layer"
    assert sorted(KNOWN_UPWARD - upward) == [], "gone at last: take these out of KNOWN_UPWARD"


def test_the_engine_reaches_backends_only_through_the_plugin_manager() -> None:
    wrong = sorted(f"{m} imports {t}" for m, ts in graph().items() if layer(m) is not None for t in ts if t.startswith(PLUGINS))
    assert wrong == [], "import built-in plugins only by name in plugins.DEFAULT_PLUGINS:\n" + "\n".join(wrong)


def lazy_imports(path: Path) -> list[list[ast.stmt]]:
    """The imports inside functions (what only a type checker reads left out), in runs of consecutive lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f) if n is not f}
    runs: list[list[ast.stmt]] = []
    for block in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(block, field, None)
            run: list[ast.stmt] = []
            for statement in statements if isinstance(statements, list) else []:
                if not isinstance(statement, (ast.Import, ast.ImportFrom)) or id(statement) not in inside or id(statement) in typing_only:
                    run = []
                elif run and statement.lineno == (run[-1].end_lineno or run[-1].lineno) + 1:
                    run.append(statement)
                else:
                    run = [statement]
                    runs.append(run)
    return runs


def test_every_import_inside_a_function_says_why_it_is_lazy() -> None:
    # A lazy import hides a cycle or saves start-up time; only the second is welcome, and then
    # its comment says what it saves, so one that no longer saves anything can be seen and moved up.
    pragma = re.compile(r"\s*(type: ?ignore(\[[\w, -]+\])?|noqa(: ?[A-Z]+\d+(, ?[A-Z]+\d+)*)?|pragma: no cover|fmt: ?(skip|off|on))\s*")
    unexplained = []
    for path in sorted(ROOT.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        said = {t.start[0] for t in tokens if t.type == tokenize.COMMENT and any(not pragma.fullmatch(part) for part in t.string.split("#")[1:])}
        for run in lazy_imports(path):
            first = run[0].lineno
            if first in said or (first - 1 in said and lines[first - 2].lstrip().startswith("#")):
                continue
            for statement in run:
                if not said & set(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1)):
                    shown = path.resolve()
                    shown = shown.relative_to(Path.cwd()) if shown.is_relative_to(Path.cwd()) else shown
                    unexplained.append(f"{shown}:{statement.lineno}: {lines[statement.lineno - 1].strip()}")
    assert unexplained == [], "imports inside a function with no comment saying why they are lazy:\n" + "\n".join(unexplained)


def test_the_table_of_contents_is_short() -> None:
    import clientflow

    assert 5 <= len(clientflow.__all__) <= 15
    for name in clientflow.__all__:
        assert getattr(clientflow, name) is not None
