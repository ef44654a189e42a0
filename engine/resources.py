"""Where the installed package keeps its data: the language's schemas and the starter project.

They install as data packages under `clientflow` (pyproject's package-dir maps the
repository's `schema/`, `flows/`, `templates/` ... there), so they are found through
the import system wherever and however the package is installed, never by a path
relative to a source file.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

SCHEMAS = "clientflow.schema"
# the starter project that `clientflow new` copies: folder in a new project -> data package
STARTER = {
    "flows": "clientflow.starter.flows",
    "templates": "clientflow.starter.templates",
    "scenarios": "clientflow.starter.scenarios",
    "data": "clientflow.starter.data",
    "locales": "clientflow.starter.locales",  # the translation catalogs (docs/flow-language.md, Translations)
    "schema": SCHEMAS,
}


@cache
def folder(package: str) -> Path:
    """The folder of an installed data package (a namespace package: no __init__.py in it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the installed clientflow lacks its data package {package}; reinstall it (pip install --force-reinstall clientflow)")
    return Path(next(iter(spec.submodule_search_locations)))
