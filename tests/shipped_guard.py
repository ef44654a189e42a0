"""Which test modules may read the shipped project, and a watch that sees every file a test process reads of it.

The shipped flows/, templates/, scenarios/ and data/ belong to product managers. The
Python tests run on tests/fixtures/accounts or on projects of their own; only the
modules below may read the shipped project. tests/test_meta_shipped.py checks their
sources (subprocesses included); conftest.py installs `ShippedReads` as an audit
hook, so that a test of another module that opens or lists a shipped file in the
test process (through a default `--project .`, say) fails, naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SHIPPED = ("flows", "templates", "scenarios", "data")  # the shipped project's folders at the repository's root

# the modules that may read the shipped project, and why
SHIPPED_READERS = {
    "test_shipped_project.py": "runs clientflow validate, test and demo on it (and on a copy a product manager edited), and nothing else",
    "test_wheel.py": "builds the wheel from the checkout; the shipped project is what `clientflow new` copies, then validate, test and demo",
}

WATCHED = ("open", "os.listdir", "os.scandir")  # the audit events that read a file or a folder


class ShippedReads:
    """An audit hook (sys.addaudithook) keeping every path under the shipped folders of `root` opened or listed."""

    def __init__(self, root: Path) -> None:
        self.folders = {os.path.join(str(root), name) for name in SHIPPED}
        self.prefixes = tuple(folder + os.sep for folder in self.folders)
        self.seen: list[str] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event not in WATCHED or not args or not isinstance(args[0], str | bytes | os.PathLike):
            return
        # as given, not resolved: the installed package reaches the same files through links of its own
        path = os.path.abspath(os.fsdecode(args[0]))
        if path in self.folders or path.startswith(self.prefixes):
            self.seen.append(path)

    def take(self) -> list[str]:
        """The paths read since the last call."""
        found, self.seen = self.seen, []
        return found
