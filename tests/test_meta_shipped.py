"""No test module but the shipped project's own reads the shipped project: its flows belong to product managers.

Every test module runs on a project of its own (tests/fixtures/accounts, or one
written into tmp_path). This reads the source of every module under tests/ and
finds each use of the repository's root (REPO, or `Path(__file__)...parent.parent`):
joined to a folder that is not the shipped project's (README.md, docs/, engine/,
benchmarks/ ...) it is fine; joined to flows/, templates/, scenarios/, data/ or
schema/, or passed whole where a project or a working folder goes (a subprocess's
cwd included), it is not. In the test process itself, conftest.py's audit hook
(shipped_guard.ShippedReads) fails a test that opens or lists a shipped file.
"""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

from conftest import REPO, SHIPPED_READS
from shipped_guard import SHIPPED_READERS, ShippedReads

TESTS = Path(__file__).resolve().parent
SHIPPED = ("flows", "templates", "scenarios", "data", "schema")  # schema/: the language's own is read through schema_dir()
ALLOWED = SHIPPED_READERS


def _file_based(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(node))


def _parents(node: ast.AST) -> int:
    """How many `.parent` steps `node` takes from a path built on __file__ (0 when it is not one)."""
    count = 0
    while isinstance(node, ast.Attribute) and node.attr == "parent":
        count, node = count + 1, node.value
    return count if count and _file_based(node) else 0


class Finder(ast.NodeVisitor):
    """Every use of the repository's root in one module that may read the shipped project."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.roots = {"REPO"}
        self.found: list[str] = []
        self.parent: dict[ast.AST, ast.AST] = {}

    def is_root(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.roots and isinstance(node.ctx, ast.Load)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
            index = node.slice
            return _file_based(node.value) and isinstance(index, ast.Constant) and isinstance(index.value, int) and index.value >= 1
        return _parents(node) >= 2

    def check(self, tree: ast.AST) -> list[str]:
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        for node in ast.walk(tree):  # names bound to the root are roots too
            if isinstance(node, ast.Assign) and self.is_root(node.value):
                self.roots |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if self.is_root(node) and not self.is_root(self.parent.get(node, tree)):
                self.use(node)
        return sorted(self.found, key=lambda line: int(line.split(":")[1]))

    def use(self, node: ast.AST) -> None:
        parent = self.parent.get(node)
        where = f"{self.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(parent, ast.Assign) and parent.value is node:
            return  # REPO = ... itself
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div) and parent.left is node:
            part = parent.right
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                first = part.value.strip("/").split("/")[0]
                if first in SHIPPED:
                    self.found.append(f"{where}: reads the shipped {first}/; use the fixture project (conftest.PROJECT) or one in tmp_path")
                return
            self.found.append(f"{where}: joins a computed path to the repository's root; name the folder, which must not be the shipped project's")
            return
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and parent.func.attr in ("relative_to", "is_relative_to"):
            return  # shortening a path for a message
        if isinstance(parent, ast.Compare) or (isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "ShippedReads"):
            return  # compared, or watched for reads: not read
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "str":
            holder = self.parent.get(parent)
            if isinstance(holder, ast.Dict):
                keys = [k.value for k, v in zip(holder.keys, holder.values, strict=True) if v is parent and isinstance(k, ast.Constant)]
                if keys == ["PYTHONPATH"]:
                    return  # where Python finds the sources, not a project
        self.found.append(f"{where}: uses the repository's root as a project or a working folder; use the fixture project (conftest.PROJECT)")


def uses(name: str, source: str) -> list[str]:
    """Every use of the repository's root in `source` that reads, or may read, the shipped project."""
    return Finder(name).check(ast.parse(source))


def test_no_test_module_reads_the_shipped_project() -> None:
    modules = sorted(TESTS.glob("*.py"))
    assert len(modules) > 30
    found = [problem for path in modules if path.name not in ALLOWED for problem in uses(path.name, path.read_text(encoding="utf-8"))]
    assert found == [], "the shipped project belongs to product managers; only " + ", ".join(ALLOWED) + " may read it:\n" + "\n".join(found)


def test_the_allowed_modules_exist_and_the_shipped_one_does_read_it() -> None:
    assert all((TESTS / name).is_file() for name in ALLOWED), sorted(name for name in ALLOWED if not (TESTS / name).is_file())
    assert uses("test_shipped_project.py", (TESTS / "test_shipped_project.py").read_text(encoding="utf-8"))  # it runs in REPO


def test_the_check_finds_each_way_of_reading_the_shipped_project() -> None:
    source = textwrap.dedent(
        """
        from pathlib import Path
        from conftest import REPO
        ROOT = Path(__file__).resolve().parent.parent
        HERE = Path(__file__).resolve().parent
        a = REPO / "flows" / "x.yaml"
        b = ROOT / "data/demo.yaml"
        c = Path(__file__).parents[1] / "templates"
        d = Engine.open(REPO, data=HERE / "demo.yaml")
        e = invoke("validate", "--project", str(ROOT))
        f = subprocess.run(["clientflow", "demo"], cwd=REPO)
        monkeypatch.chdir(REPO)
        g = REPO / name
        h = Path(__file__).resolve().parent.parent / "scenarios"
        """
    )
    found = uses("sample.py", source)
    assert [int(line.split(":")[1]) for line in found] == [6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert "reads the shipped flows/" in found[0] and "reads the shipped data/" in found[1] and "computed path" in found[7]


def test_the_check_lets_the_repository_be_read_for_what_is_not_the_project() -> None:
    source = textwrap.dedent(
        """
        from conftest import PROJECT, REPO
        readme = (REPO / "README.md").read_text()
        docs = REPO / "docs" / "cli.md"
        sys.path.insert(0, str(REPO / "benchmarks"))
        env = {"PYTHONPATH": str(REPO)}
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        watch = ShippedReads(REPO)
        assert Path(folder).parent == REPO
        engine = Engine.open(PROJECT, data=PROJECT / "data" / "demo.yaml")
        """
    )
    assert uses("sample.py", source) == []
    assert (REPO / "README.md").is_file()


# the watch in the test process -------------------------------------------------------------------
def test_the_watch_keeps_what_is_read_under_the_shipped_folders_only(tmp_path: Path) -> None:
    watch = ShippedReads(tmp_path)
    for name in ("flows", "data", "notes"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.yaml").write_text("x: 1\n", encoding="utf-8")
    sys.addaudithook(watch)  # a second hook, on tmp_path: the session's keeps watching REPO
    (tmp_path / "flows" / "x.yaml").read_text(encoding="utf-8")
    sorted((tmp_path / "data").glob("*.yaml"))
    (tmp_path / "notes" / "x.yaml").read_text(encoding="utf-8")
    (tmp_path / "flows-old").mkdir()
    assert watch.take() == [str(tmp_path / "flows" / "x.yaml"), str(tmp_path / "data")]
    assert watch.take() == []
    watch("open", (3, "r", 0))  # a file descriptor: not a path
    watch("exec", (str(tmp_path / "flows"),))  # not a read
    assert watch.take() == []


def test_the_session_watches_the_repository_and_nothing_here_has_read_it() -> None:
    assert sorted(Path(folder).name for folder in SHIPPED_READS.folders) == ["data", "flows", "scenarios", "templates"]
    assert all(Path(folder).parent == REPO for folder in SHIPPED_READS.folders)
    assert SHIPPED_READS.seen == []  # this module reads the README, never the shipped project
    assert (REPO / "README.md").read_text(encoding="utf-8")
    assert SHIPPED_READS.seen == []
