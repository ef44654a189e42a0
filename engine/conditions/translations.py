"""Translations compiled like their source: the compile check of a catalog's texts.

A translation is compiled by the project's own program, against the names its source
text reads (a translation may show nothing its source does not), and type-checked by
the data schema as the source was. engine/language/catalogs.py asks it through
`translator(project)`, which is its `Translate`.
"""

from __future__ import annotations

from jinja2 import TemplateSyntaxError, meta

from ..errors import CompileError
from ..language.catalogs import Translate
from ..language.code import Text, Uses
from ..language.model import Project
from .program import program_of


def translator(project: Project) -> Translate:
    """Compile a translation of `source` with the names `source` reads; raises CompileError."""
    program = program_of(project)

    def translate(source: Text, translation: Text) -> Uses:
        env = program.texts.html_env if source.html else program.texts.text_env
        try:
            names = meta.find_undeclared_variables(env.parse(source.source))
        except TemplateSyntaxError as exc:  # the source compiled at load, so this is not expected
            raise CompileError(f"the source text does not parse: {exc.message}", exc.lineno or 1) from exc
        return program.compile_template(translation, names)

    return translate
