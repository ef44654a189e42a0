"""docs/plugins.md documents every hook with the signature the code has, and quotes the example package as it is.

As datasette's tests/test_docs.py: the hooks are read from clientflow.hookspecs (every function
marked @hookspec), the guide's signatures from its ```python blocks (every `def clientflow_...`,
a leading `self` allowed), and both are compared as parsed Python. A block whose info string
says `file=PATH` is an excerpt: its lines must appear in that file, in order.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

import clientflow.testing
from clientflow import hookspecs
from clientflow.errors import ConfigError
from clientflow.outbox import PermanentFailure
from clientflow.plugins import DEFAULT_PLUGINS, _plugin_name
from clientflow.storage import ConflictError, ReadOnlyError

GUIDE = REPO / "docs" / "plugins.md"
EXAMPLE_PATH = "docs/examples/clientflow-example-plugins"  # as the guide names the files it quotes
EXAMPLE = REPO / "docs" / "examples" / "clientflow-example-plugins"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block."""
    return [(m.group("info").strip(), m.group("body")) for m in FENCE.finditer(text)]


def python_blocks(text: str) -> list[str]:
    """Every ```python block, dedented (an excerpt of a method is indented as in its class)."""
    return [textwrap.dedent(body) for info, body in blocks(text) if info.split(" ")[0] == "python"]


def hooks_of(tree: ast.AST, *, marked: bool) -> dict[str, list[ast.FunctionDef]]:
    """Every function named clientflow_* (with `marked`: only those decorated @hookspec), by name."""
    found: dict[str, list[ast.FunctionDef]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("clientflow_"):
            continue
        decorators = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
        if marked and not any(isinstance(d, ast.Name) and d.id == "hookspec" for d in decorators):
            continue
        found.setdefault(node.name, []).append(node)
    return found


Signature = tuple[tuple[str, ...], str]  # the parameters as written (`name: annotation`), the return annotation


def signature(node: ast.FunctionDef) -> Signature:
    """A function's parameters and return annotation as written, without a leading `self`."""
    args = node.args
    params = [ast.unparse(arg) for arg in args.posonlyargs + args.args + args.kwonlyargs]
    if params and params[0] == "self":
        params = params[1:]
    return tuple(params), ast.unparse(node.returns) if node.returns else ""


def shown(name: str, sig: Signature) -> str:
    return f"{name}({', '.join(sig[0])}) -> {sig[1]}"


def spec_signatures() -> dict[str, Signature]:
    tree = ast.parse(Path(hookspecs.__file__).read_text(encoding="utf-8"))
    return {name: signature(nodes[0]) for name, nodes in hooks_of(tree, marked=True).items()}


def guide_signatures(text: str) -> dict[str, list[Signature]]:
    found: dict[str, list[Signature]] = {}
    for body in python_blocks(text):
        for name, nodes in hooks_of(ast.parse(body), marked=False).items():
            found.setdefault(name, []).extend(signature(node) for node in nodes)
    return found


def fewer(given: tuple[str, ...], spec: tuple[str, ...]) -> bool:
    """Whether `given` is `spec` with some parameters left out (pluggy calls an implementation with those it names)."""
    rest = iter(spec)
    return all(param in rest for param in given)


def problems(text: str, specs: dict[str, Signature]) -> list[str]:
    """What is wrong with a guide's hooks: missing, not shown with the code's signature, another one used, or not hooks at all."""
    documented = guide_signatures(text)
    found = [f"{name} is not documented in a ```python block" for name in sorted(set(specs) - set(documented))]
    found += [f"{name} is no hook of clientflow.hookspecs" for name in sorted(set(documented) - set(specs))]
    for name in sorted(set(specs) & set(documented)):
        spec = specs[name]
        if spec not in documented[name]:
            found.append(f"no ```python block shows {shown(name, spec)}")
        for given in documented[name]:
            if given != spec and not (given[1] == spec[1] and fewer(given[0], spec[0])):
                found.append(f"{shown(name, given)} differs from the code's {shown(name, spec)}")
        if f"### `{name}`" not in text:
            found.append(f"{name} has no heading of its own (### `{name}`)")
    return found


def test_every_hook_is_documented_with_the_codes_signature() -> None:
    specs = spec_signatures()
    assert len(specs) >= 6 and "clientflow_register_storage" in specs
    assert problems(GUIDE.read_text(encoding="utf-8"), specs) == []


def test_the_check_finds_a_missing_hook_a_changed_signature_and_an_invented_one() -> None:
    specs = {"clientflow_a": (("register: RegisterA",), "None"), "clientflow_b": (("event: dict[str, Any]", "settings: Mapping[str, Any]"), "None")}
    guide = (
        "### `clientflow_a`\n\n```python\ndef clientflow_a(register: RegisterA, extra: int = 1) -> None: ...\n```\n\n"
        "### `clientflow_c`\n\n```python\nclass P:\n    def clientflow_c(self, x: int) -> None: ...\n```\n"
    )
    assert problems(guide, specs) == [
        "clientflow_b is not documented in a ```python block",
        "clientflow_c is no hook of clientflow.hookspecs",
        "no ```python block shows clientflow_a(register: RegisterA) -> None",
        "clientflow_a(register: RegisterA, extra: int) -> None differs from the code's clientflow_a(register: RegisterA) -> None",
    ]
    exact = "### `clientflow_a`\n\n```python\nclass P:\n    @hookimpl\n    def clientflow_a(self, register: RegisterA) -> None: ...\n```\n"
    exact += "### `clientflow_b`\n```python\ndef clientflow_b(event: dict[str, Any], settings: Mapping[str, Any]) -> None: ...\n```\n"
    assert problems(exact, specs) == []
    fewer = "```python\ndef clientflow_b(event: dict[str, Any]) -> None: ...\n```\n"  # an implementation may leave parameters out
    assert problems(exact + fewer, specs) == []
    for wrong in ("def clientflow_b(settings: Mapping[str, Any], event: dict[str, Any]) -> None: ...", "def clientflow_b(event: dict) -> None: ..."):
        assert len(problems(exact + f"```python\n{wrong}\n```\n", specs)) == 1, wrong
    assert problems(exact.replace("### `clientflow_b`", "## B"), specs) == ["clientflow_b has no heading of its own (### `clientflow_b`)"]


def test_every_python_block_of_the_guide_is_python() -> None:
    for body in python_blocks(GUIDE.read_text(encoding="utf-8")):
        ast.parse(body)


def excerpts(text: str) -> list[tuple[str, str]]:
    """(path, body) of every block whose info string names the file it quotes."""
    found = []
    for info, body in blocks(text):
        named = re.search(r"\bfile=(\S+)", info)
        if named:
            found.append((named.group(1), body))
    return found


def missing_lines(quoted: str, source: str) -> list[str]:
    """The lines of `quoted` that are not in `source` in the same order (blank lines aside)."""
    lines = iter(line.rstrip() for line in source.splitlines())
    return [line for line in (q.rstrip() for q in quoted.splitlines()) if line and line not in lines]


EXCERPTS = excerpts(GUIDE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("path", "body"), EXCERPTS, ids=[f"{Path(path).name}-{n}" for n, (path, _) in enumerate(EXCERPTS)])
def test_each_excerpt_is_in_the_example_as_quoted(path: str, body: str) -> None:
    assert path.startswith(f"{EXAMPLE_PATH}/")
    assert missing_lines(body, (EXAMPLE / path.removeprefix(f"{EXAMPLE_PATH}/")).read_text(encoding="utf-8")) == []


def test_the_excerpt_check_needs_the_lines_in_order() -> None:
    source = "a = 1\nb = 2\nc = 3\n"
    assert missing_lines("a = 1\n\nc = 3\n", source) == []
    assert missing_lines("c = 3\na = 1\n", source) == ["a = 1"]
    assert missing_lines("b = 3\n", source) == ["b = 3"]


def test_the_guide_walks_through_the_example_and_names_the_kit_and_the_errors() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    quoted = {Path(path).name for path, _ in excerpts(text)}
    assert {"pyproject.toml", "webhook.py", "jsonfile.py", "test_webhook.py", "test_jsonfile.py"} <= quoted
    for name in clientflow.testing.__all__:
        assert f"`{name}" in text, name
    for error in (ConfigError, ConflictError, ReadOnlyError, PermanentFailure):
        assert f"`{error.__module__}.{error.__name__}" in text, error  # by the name a plugin imports it with
    for variable in ("CLIENTFLOW_DISABLE_PLUGINS", "CLIENTFLOW_LOAD_PLUGINS", "CLIENTFLOW_TRACE_PLUGINS", "clientflow plugins --format json"):
        assert variable in text, variable


def test_the_guide_names_every_built_in_plugin_a_plugin_may_not_be_named_like() -> None:
    sentence = re.search(r"must differ from the built-ins' \(([^)]*)\)", " ".join(GUIDE.read_text(encoding="utf-8").split()))
    assert sentence is not None
    assert sorted(re.findall(r"`(\w+)`", sentence.group(1))) == sorted(_plugin_name(spec) for spec in DEFAULT_PLUGINS)
