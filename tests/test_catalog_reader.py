"""`check`'s own catalog reader reads what Babel's `read_po(..., abort_invalid=True)` reads, or leaves the file to Babel.

engine/language/catalogs.py (`_plain_catalog`): whenever it gives a catalog, Babel reads the same
file without an error and gives the same locale, plural count and entries (ids, strings,
contexts, lines, fuzzy flags); on anything else it gives None and Babel reads the file.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.pofile import read_po
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientflow.language import catalogs

ROOT = Path(__file__).resolve().parent.parent


def _view(catalog: Any) -> tuple[Any, ...]:
    messages = [(m.id, m.string, m.context, m.lineno, m.fuzzy) for m in catalog if m.id]
    keys = [(m[0] if isinstance(m[0], str) else m[0][0], m[2]) for m in messages]
    return (
        str(catalog.locale),
        catalog.num_plurals,
        messages,
        sorted((str(m.id), m.lineno) for m in catalog.obsolete.values()),
        [catalog.get(*key) is not None for key in keys],
    )


def _same_as_babel(text: str, locale: str = "fr") -> bool:
    """Whether the reader gave a catalog (else None: Babel's to read); when it did, that it is Babel's."""
    language = Locale.parse(locale)
    mine = catalogs._plain_catalog(text, language)
    if mine is None:
        return False
    theirs = read_po(io.BytesIO(text.encode("utf-8")), locale=language, abort_invalid=True)  # must not raise either
    assert _view(mine) == _view(theirs)
    return True


def test_the_shipped_catalog_is_read_as_babel_reads_it() -> None:
    text = (ROOT / "locales" / "fr" / "LC_MESSAGES" / "clientflow.po").read_text(encoding="utf-8")
    assert _same_as_babel(text)


HEADER = (
    'msgid ""\nmsgstr ""\n"Project-Id-Version: P 1.0\\n"\n"POT-Creation-Date: 2026-12-07 13:33+0000\\n"\n'
    '"PO-Revision-Date: YEAR-MO-DA HO:MI+ZONE\\n"\n"Language: fr\\n"\n'
    '"Plural-Forms: nplurals=3; plural=(n == 0 || n == 1) ? 0 : n != 0 && n % 1000000 == 0 ? 1 : 2;\\n"\n'
    '"Content-Type: text/plain; charset=utf-8\\n"\n\n'
)


def test_a_plain_catalog_and_its_plural_forms() -> None:
    text = HEADER + (
        '#: flows/a.yaml:3\n#, fuzzy\nmsgctxt "a/title"\nmsgid "Hello"\nmsgstr "Bonjour"\n\n'
        'msgctxt "a/body"\nmsgid ""\n"two \\"lines\\"\\n"\n"here"\nmsgstr "deux\\tlignes"\n\n'
        'msgctxt "a/plural/1"\nmsgid "one"\nmsgid_plural "{{ count }} users"\nmsgstr[0] "un"\nmsgstr[2] "{{ count }}"\n'
    )
    assert _same_as_babel(text)


def test_what_it_leaves_to_babel() -> None:
    for text in [
        HEADER + '#~ msgctxt "old"\n#~ msgid "x"\n#~ msgstr "y"\n',  # an obsolete entry
        HEADER + 'msgctxt "a"\nmsgid "x"\nmsgstr "y"\nmsgctxt "a"\nmsgid "x"\nmsgstr "z"\n',  # a repeated entry
        'msgctxt "a"\nmsgid "x"\nmsgstr "y"\n' + HEADER,  # the header last
        HEADER.replace("charset=utf-8", "charset=latin-1"),
        HEADER.replace("2026-12-07 13:33", "2026-13-07 13:33"),  # a date Babel cannot read: it raises
        HEADER.replace("nplurals=3", "nplurals=x"),
        HEADER + 'msgid "x"\n# a comment before its msgstr\nmsgstr "y"\n',
        HEADER + 'msgid "x"\nmsgid_plural "xs"\nmsgstr[3] "y"\n',  # more forms than the header's count
        HEADER + 'msgid "x"\nmsgunknown "y"\n',
        HEADER + 'msgid "x"\nmsgstr[a] "y"\n',
        HEADER + 'msgid "x"\nmsgstr "a\\vb"\n',  # an escape Babel 2.14 leaves as it is and later ones read: the installed Babel's
        "",
    ]:
        assert catalogs._plain_catalog(text, Locale.parse("fr")) is None


# generated catalogs: entries of every shape, now and then something out of place
_WORD = st.lists(st.sampled_from(list('ab {}%"\\\tné\u00a0') + ["\\n", "\\t", '\\"', "\\\\", "\\x"]), max_size=6).map("".join)


def _quoted(word: str) -> str:
    escaped = ""
    for i, c in enumerate(word):  # keep it one whole string: a bare " or a trailing \ would end or break it
        if c == '"' and (i == 0 or word[i - 1] != "\\"):
            escaped += '\\"'
        else:
            escaped += c
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        escaped += "\\"
    return f'"{escaped}"'


@st.composite
def _string(draw: Any, keyword: str) -> list[str]:
    parts = draw(st.lists(_WORD, min_size=1, max_size=3))
    spacing = draw(st.sampled_from([" "] * 12 + ["  ", "\t"]))  # a tab: Babel refuses the keyword
    return [f"{keyword}{spacing}{_quoted(parts[0])}", *(_quoted(p) for p in parts[1:])]


@st.composite
def _entry(draw: Any, number: int) -> list[str]:
    lines: list[str] = []
    for comment in draw(
        st.lists(st.sampled_from(["#, fuzzy", "#, python-format, fuzzy", "#: flows/a.yaml:3", "# note", "#. auto", '#| msgid "old"', "#,fuzzy"]), max_size=2)
    ):
        lines.append(comment)
    if draw(st.integers(0, 4)):  # mostly a context of its own, as the project's entries have
        lines += draw(_string("msgctxt"))
        lines.append(f'"#{number}"')
    lines += draw(_string("msgid"))
    if draw(st.booleans()):
        lines += draw(_string("msgid_plural"))
        for index in draw(st.lists(st.integers(0, 3), min_size=int(draw(st.integers(0, 9)) > 0), max_size=3, unique=True) | st.just([0, 0])):
            lines += draw(_string(f"msgstr[{index}]"))
    else:
        lines += draw(_string("msgstr"))
    if draw(st.integers(0, 19)) == 0:  # something out of place
        lines.insert(
            draw(st.integers(0, len(lines))), draw(st.sampled_from(['#~ msgid "x"', "#- conflict", 'msgstr "stray"', '"stray"', 'msgbad "x"', "# mid"]))
        )
    if draw(st.booleans()):
        lines.append("")
    return lines


@st.composite
def _catalog(draw: Any) -> str:
    header = draw(
        st.sampled_from(
            [
                HEADER,
                HEADER.replace("nplurals=3", "nplurals=2"),
                HEADER.replace('"Language: fr\\n"\n', ""),
                HEADER.replace('"Language: fr\\n"\n', '"Language: de-CH\\n"\n'),
                HEADER.replace('"Plural-Forms: ', '"X-Plural-Forms: '),
                HEADER.replace("+0000", ""),
                'msgid ""\nmsgstr ""\n',
                "",
            ]
        )
    )
    lines = [line for number in range(draw(st.integers(0, 5))) for line in draw(_entry(number))]
    return header + "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


@settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_catalog())
def test_generated_catalogs_read_as_babel_reads_them(text: str) -> None:
    if catalogs.syntax_problems(text, "x.po"):
        return  # `check` reports these and reads nothing
    _same_as_babel(text)


def test_the_plural_counts_are_babels() -> None:
    from babel.messages.plurals import get_plural

    for tag in ["fr", "fr_CA", "de", "ga", "ja", "pl", "ar", "pt_BR", "en"]:
        assert tuple(catalogs._get_plural(tag)) == tuple(get_plural(tag))
        assert catalogs._get_plural(Locale.parse(tag)).num_plurals == get_plural(Locale.parse(tag)).num_plurals


_ALTERNATING = re.compile(r'"(?:[^"\\]|\\.)*"\s*$')  # the quoted text as gettext writes it, one alternation per character


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from(['"', "\\", "a", "é", " ", "\t", "\n", "\x0b", "n"]), max_size=12))
def test_the_unrolled_pattern_reads_the_quoted_texts_the_alternation_reads(text: str) -> None:
    assert (catalogs._PO_WHOLE_STRING.match(text) is None) == (_ALTERNATING.match(text) is None)
    assert (catalogs._PO_WHOLE_STRING.match(f'"{text}') is None) == (_ALTERNATING.match(f'"{text}') is None)
