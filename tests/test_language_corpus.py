"""The broken-file corpus: each file of tests/flows/invalid/ holds one mistake and gets one exact message.

Every case is loaded as a real project: the shipped project is copied into
tmp_path and the one broken file is put in its place (flows/ cases are added as
new flows; rules/ and project/ cases replace flows/rules.yaml and
flows/project.yaml; emails/ cases are added to templates/emails/ with any file
of the same name beside them; data/ cases are opened as data files). Each
folder's expected.yaml maps the case's file name to the one located message it
must produce, `path:line:col: message`, and nothing else.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from clientflow import DefinitionError, EffectSpec, Engine, load_project
from clientflow.language.project import Extensions

CORPUS = Path(__file__).resolve().parent / "flows" / "invalid"
VALID = Path(__file__).resolve().parent / "flows" / "valid"
KINDS = ("flows", "rules", "project", "emails", "data")


def expected(kind: str) -> dict[str, str]:
    loaded = yaml.safe_load((CORPUS / kind / "expected.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def cases(kind: str) -> list[Path]:
    return sorted(CORPUS / kind / name for name in expected(kind))


def problems_of(root: Path) -> list[str]:
    with pytest.raises(DefinitionError) as raised:
        load_project(root)
    return [str(problem) for problem in raised.value.problems]


def test_the_corpus_is_large_and_every_case_has_its_message() -> None:
    files = {f"{kind}/{path.name}" for kind in KINDS for path in (CORPUS / kind).iterdir() if path.name != "expected.yaml"}
    listed = {f"{kind}/{name}" for kind in KINDS for name in expected(kind)}
    # a file that is not a case is the text partner of an HTML case (emails/NAME.txt beside emails/NAME.html)
    partners = {name for name in files - listed if name.startswith("emails/") and name.replace(".txt", ".html") in listed}
    assert files - listed == partners
    assert listed <= files
    assert len(listed) >= 40


# `note` stands for an effect a plugin adds (tests/flows/valid/every-key.yaml uses one)
PLUGIN_EFFECTS = Extensions(effects={"note": EffectSpec("note", apply=lambda context: [])})


@pytest.mark.parametrize("case", sorted(VALID.glob("*.yaml")), ids=lambda p: p.name)
def test_a_valid_flow_loads_clean(case: Path, project_copy: Path) -> None:
    """The controls: pause-client.yaml is what every flows/ case breaks once; every-key.yaml writes every key."""
    shutil.copy(case, project_copy / "flows" / case.name)
    project = load_project(project_copy, PLUGIN_EFFECTS)
    assert case.stem in project.flows


@pytest.mark.parametrize("case", cases("flows"), ids=lambda p: p.name)
def test_flow_file(case: Path, project_copy: Path) -> None:
    shutil.copy(case, project_copy / "flows" / case.name)
    assert problems_of(project_copy) == [expected("flows")[case.name]]


@pytest.mark.parametrize("case", cases("rules"), ids=lambda p: p.name)
def test_rules_file(case: Path, project_copy: Path) -> None:
    shutil.copy(case, project_copy / "flows" / "rules.yaml")
    assert problems_of(project_copy) == [expected("rules")[case.name]]


@pytest.mark.parametrize("case", cases("project"), ids=lambda p: p.name)
def test_project_file(case: Path, project_copy: Path) -> None:
    shutil.copy(case, project_copy / "flows" / "project.yaml")
    assert problems_of(project_copy) == [expected("project")[case.name]]


@pytest.mark.parametrize("case", cases("emails"), ids=lambda p: p.name)
def test_email_template(case: Path, project_copy: Path) -> None:
    for part in case.parent.glob(f"{case.stem}.*"):
        shutil.copy(part, project_copy / "templates" / "emails" / part.name)
    assert problems_of(project_copy) == [expected("emails")[case.name]]


@pytest.mark.parametrize("case", cases("data"), ids=lambda p: p.name)
def test_data_file(case: Path, project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project_copy / "data").mkdir()
    shutil.copy(case, project_copy / "data" / case.name)
    monkeypatch.chdir(project_copy)
    with pytest.raises(DefinitionError) as raised:  # DataError, or its base when the bytes cannot be read
        Engine.open(".", data=Path("data") / case.name, notifiers={})
    assert [str(p) for p in raised.value.problems] == [expected("data")[case.name]]
