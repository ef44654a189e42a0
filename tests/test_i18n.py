"""Translations (issue 18): locales in the project, catalogs extracted and merged, checked like code.

Each test works on a copy of the fixture project, with `locales:` and the catalogs written by the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DEMO, copy_project

from clientflow.conditions.program import load_project
from clientflow.errors import DefinitionError
from clientflow.language.yamlfile import load_data_text
from clientflow.runtime.data import check_data


def declare(root: Path, *locales: str) -> None:
    """Add `locales:` to the copy's project file, just after data_schema."""
    path = root / "flows" / "project.yaml"
    text = path.read_text(encoding="utf-8")
    listed = ", ".join(locales)
    path.write_text(text.replace("data_schema: schema/data.schema.json\n", f"data_schema: schema/data.schema.json\nlocales: [{listed}]\n", 1), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


def test_a_project_declares_its_locales_the_first_is_the_source_language(project: Path) -> None:
    assert load_project(project).locales == ()
    declare(project, "en", "fr", "fr-CA")
    assert load_project(project).locales == ("en", "fr", "fr-CA")


@pytest.mark.parametrize("bad", ["french", "f", "fr_CA", "''"])
def test_a_locale_that_is_no_language_tag_is_refused_where_it_is_written(project: Path, bad: str) -> None:
    declare(project, "en", bad)
    with pytest.raises(DefinitionError) as caught:
        load_project(project)
    (problem,) = caught.value.problems
    text = (project / "flows" / "project.yaml").read_text(encoding="utf-8").splitlines()
    assert problem.location.path == "flows/project.yaml"
    assert text[problem.location.line - 1].startswith("locales:")


def test_a_user_may_carry_a_locale_in_the_data_file(project: Path) -> None:
    loaded = load_project(project)
    demo = DEMO.read_text(encoding="utf-8")
    user = "email: alice@northwind.example, role: administrator"
    assert user in demo
    data, positions = load_data_text(demo.replace(user, f"{user}, locale: fr-CA", 1), "data/demo.yaml")
    check_data(loaded, data, positions, "data/demo.yaml")
    broken = demo.replace(user, f"{user}, locale: French", 1)
    data, positions = load_data_text(broken, "data/demo.yaml")
    with pytest.raises(DefinitionError) as caught:
        check_data(loaded, data, positions, "data/demo.yaml")
    line = next(number for number, text in enumerate(broken.splitlines(), 1) if "locale: French" in text)
    assert [p.location.line for p in caught.value.problems] == [line]
