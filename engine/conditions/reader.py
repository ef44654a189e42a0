"""The reader of a text: the locale it is rendered for, and what follows that locale (dates, numbers, plurals).

A program renders each text for one reader (`Reader`): its locale and, for a translation,
the plural forms of that locale's catalog. The program sets the reader around the
rendering of a text that needs one (`reading`, only for texts that use what is here), and
the filters `format_date`, `format_datetime` and `format_number` and the plural blocks
(`{% trans count=... %}`, engine/language/plurals.py) read it. Babel, a heavy import, is
imported the first time one of them is used, never when a project loads.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import nodes
from markupsafe import Markup, escape

from ..errors import ExpressionError, did_you_mean
from ..language.plurals import to_python_format
from ..plain import frozen
from . import limits

DEFAULT_LOCALE = "en"  # a project that declares no locales is read in English
STYLES = ("short", "medium", "long", "full")
MAX_DECIMALS = 20
MAX_PATTERN = 100  # characters of a date pattern such as "d MMMM y"
MAX_DATE_TEXT = 64  # characters of a text read as a date
_PATTERN_LETTERS = frozenset("GyYuUrQqMLlwWdDFgEecabBhHKkjJCmsSAzZOvVXx")
_QUOTED = re.compile(r"'[^']*'")

# (singular, plural) as the template writes them -> the forms of the reader's language, in Python's %(name)s style
Forms = Mapping[tuple[str, str], tuple[str, ...]]


@frozen
class Reader:
    """Who a text is rendered for: a locale (None: the project declares none) and its catalog's plural forms."""

    locale: str | None
    plurals: Forms = field(default_factory=dict)
    plural_index: Callable[[int], int] | None = None  # the locale's rule: a number -> the index of its form
    titles: Mapping[str, str] = field(default_factory=dict)  # each flow's title (`flow.title`) as this reader reads it

    @property
    def tag(self) -> str:
        return self.locale or DEFAULT_LOCALE


_READER: ContextVar[Reader | None] = ContextVar("clientflow_reader", default=None)
READER = _READER  # set and reset by generated code around a text it runs inline (the rulebook), as `for_reader` does


_NOBODY = Reader(None)  # who reads a text nothing set a reader for: English, as written


def current() -> Reader:
    """The reader of the text being rendered (English, when nothing set one)."""
    return _READER.get() or _NOBODY


@contextmanager
def reading(reader: Reader) -> Iterator[None]:
    """Render for `reader` within the block (the program does it around each text that needs it)."""
    token = _READER.set(reader)
    try:
        yield
    finally:
        _READER.reset(token)


def for_reader(render: Callable[[Mapping[str, Any]], str], reader: Callable[[], Reader]) -> Callable[[Mapping[str, Any]], str]:
    """`render`, run as `reading(reader())` runs it (a text's fast function called without `Program.render`'s layers)."""

    def rendered(scope: Mapping[str, Any]) -> str:
        token = _READER.set(reader())
        try:
            return render(scope)
        finally:
            _READER.reset(token)

    return rendered


def source_reader(locale: str | None, titles: Mapping[str, str] | None = None) -> Reader:
    """The reader of a text as written: its locale is the project's first; plurals use the template's own two forms."""
    return Reader(locale, titles=dict(titles or {}))


# -- Babel, imported when first used -------------------------------------------------------


@functools.lru_cache(maxsize=64)
def babel_locale(tag: str) -> Any:
    """Babel's Locale for a language tag (`fr-CA`); the language alone, then English, when CLDR lacks it."""
    from babel import Locale, UnknownLocaleError  # Babel (~2 ms past the engine) only once a text is read in a locale

    for candidate in (tag, tag.split("-")[0], DEFAULT_LOCALE):
        try:
            return Locale.parse(candidate, sep="-")
        except (UnknownLocaleError, ValueError):
            continue
    raise AssertionError("English is always known")  # pragma: no cover


@functools.lru_cache(maxsize=64)
def plural_rule(tag: str) -> Callable[[int], int]:
    """The gettext plural rule of a locale (CLDR's, as Babel writes it in Plural-Forms): a count -> a form's index."""
    import gettext  # only for a text with plural forms (~1 ms, where click has not loaded it)

    from babel.messages.plurals import get_plural  # CLDR's plural rules (~8 ms) only for a text with plural forms

    try:
        expression = get_plural(str(babel_locale(tag))).plural_expr
    except (ValueError, KeyError):
        expression = "(n != 1)"
    rule: Callable[[int], int] = gettext.c2py(expression)
    return rule


def plural_count(tag: str) -> int:
    """How many plural forms a locale has (CLDR's rule, through Babel)."""
    from babel.messages.plurals import get_plural  # CLDR's plural rules (~8 ms) only for a text with plural forms

    return int(get_plural(str(babel_locale(tag))).num_plurals)


# -- the filters --------------------------------------------------------------------------


def _style(fmt: Any, what: str) -> str:
    if not isinstance(fmt, str) or not fmt or len(fmt) > MAX_PATTERN:
        raise ExpressionError(f"{what}: the format is one of {', '.join(STYLES)}, or a pattern such as 'd MMMM y'")
    return fmt


def _parse_moment(value: Any, what: str) -> date | datetime:
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, Mapping):  # `now`, or a record's moment written as {iso: ...}
        value = value.get("iso", value.get("date"))
    if isinstance(value, str) and 0 < len(value) <= MAX_DATE_TEXT:
        text = value.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            pass
    shown = "none" if value is None else limits.text(value, MAX_DATE_TEXT * 4)[:MAX_DATE_TEXT]
    raise ExpressionError(f"{what} needs a date such as 2025-03-14, a date and time such as 2025-03-14T09:30:00Z, or now; not {shown!r}")


def format_date(value: Any, format: str = "medium") -> str:  # noqa: A002 - the word a template writes
    """A date as the reader's locale writes it: `{{ record.due_date | format_date }}` -> 14 mars 2025; none writes nothing."""
    limits.tick()
    if value is None:  # a field the data leaves empty: the type check lets it through, so the text is not stopped for it
        _style(format, "format_date")
        return ""
    from babel.dates import format_date as babel_format_date  # Babel's dates (~3 ms) only for a text that writes a date

    moment = _parse_moment(value, "format_date")
    day = moment.date() if isinstance(moment, datetime) else moment
    try:
        return str(babel_format_date(day, _style(format, "format_date"), locale=babel_locale(current().tag)))
    except (ValueError, KeyError, AttributeError) as exc:
        raise ExpressionError(f"format_date: the format {format!r} is not a date pattern ({exc})") from exc


def format_datetime(value: Any, format: str = "medium") -> str:  # noqa: A002
    """A date and time as the reader's locale writes it, in the time zone it was given in (UTC when none); none writes nothing."""
    limits.tick()
    if value is None:  # as format_date
        _style(format, "format_datetime")
        return ""
    from babel.dates import format_datetime as babel_format_datetime  # Babel's dates (~3 ms) only for a text that writes a date

    moment = _parse_moment(value, "format_datetime")
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return str(babel_format_datetime(moment, _style(format, "format_datetime"), tzinfo=moment.tzinfo, locale=babel_locale(current().tag)))
    except (ValueError, KeyError, AttributeError) as exc:
        raise ExpressionError(f"format_datetime: the format {format!r} is not a date pattern ({exc})") from exc


def format_number(value: Any, decimals: int | None = None) -> str:
    """A number as the reader's locale writes it (1 234,5 in French); `decimals` fixes how many digits follow the point.

    None writes nothing (as format_date)."""
    limits.tick()
    from babel.numbers import format_decimal  # Babel's numbers (~1 ms) only for a text that writes a number

    if value is None:
        _decimals(decimals)
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        shown = "none" if value is None else type(value).__name__
        raise ExpressionError(f"format_number needs a number; not {shown}")
    limits.within(value)
    try:
        number = Decimal(limits.number_text(value).strip()) if isinstance(value, str) else value
    except InvalidOperation:
        raise ExpressionError(f"format_number needs a number; not {str(value)[:MAX_DATE_TEXT]!r}") from None
    if isinstance(number, Decimal) and (not number.is_finite() or abs(number.adjusted()) > limits.MAX_BITS):
        raise ExpressionError("format_number: that number is over the limit")
    pattern = _decimals(decimals)
    return str(format_decimal(number, format=pattern, locale=babel_locale(current().tag)))


def _decimals(decimals: Any) -> str | None:
    """The number pattern for `decimals` digits after the point (None: the locale's own)."""
    if decimals is None:
        return None
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
        raise ExpressionError(f"format_number: decimals is a whole number from 0 to {MAX_DECIMALS}")
    return "#,##0" + ("." + "0" * decimals if decimals else "")


FILTERS: dict[str, Callable[..., Any]] = {"format_date": format_date, "format_datetime": format_datetime, "format_number": format_number}


def is_locale_filter(name: str, function: Any) -> bool:
    """Whether the filter `name` is one of these (not a plugin's of the same name)."""
    return FILTERS.get(name) is function


def argument_problem(node: nodes.Filter) -> str | None:
    """A constant format or number of decimals these filters cannot take, said where it is written."""
    given = [*node.args[:1], *(k.value for k in node.kwargs if k.key in ("format", "decimals"))]
    for arg in given:
        if not isinstance(arg, nodes.Const):
            continue
        value = arg.value
        if node.name == "format_number":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DECIMALS):
                return f"format_number: decimals is a whole number from 0 to {MAX_DECIMALS}, not {value!r}"
            continue
        if not isinstance(value, str) or not value or len(value) > MAX_PATTERN:
            return f"{node.name}: the format is one of {', '.join(STYLES)}, or a pattern such as 'd MMMM y'"
        if value in STYLES:
            continue
        letters = {c for c in _QUOTED.sub("", value) if c.isascii() and c.isalpha()}
        if letters - _PATTERN_LETTERS or value.isalpha() and value.islower() and did_you_mean(value, STYLES).startswith("; did you mean"):
            hint = did_you_mean(value, STYLES)
            hint = hint if hint.startswith("; did you mean") else ""
            return f"{node.name}: {value!r} is no format{hint} (the formats: {', '.join(STYLES)}, or a pattern such as 'd MMMM y', words in quotes)"
    return None


# -- plural blocks ------------------------------------------------------------------------


def plural_function(html: bool) -> Callable[..., Any]:
    """What a `{% trans count=N %}one{% pluralize %}many{% endtrans %}` block calls: the reader's form, filled in.

    The block's text is the template's own (trusted like the rest of it); each value put
    into it is measured first, and escaped in an HTML template.
    """

    def ngettext(singular: str, plural: str, count: Any, /, **values: Any) -> str:
        limits.tick()
        number = count if count.__class__ is int else _count(count)
        reader = _READER.get() or _NOBODY
        forms = reader.plurals.get((singular, plural)) if reader.plurals else None
        if forms:
            index = (reader.plural_index or plural_rule(reader.tag))(number)
            chosen = forms[min(max(index, 0), len(forms) - 1)]
        else:  # the template's own forms: the one for one where the first locale's rule says so (English: 1 only)
            index = (reader.plural_index or plural_rule(reader.locale))(number) if reader.locale else int(number != 1)
            chosen = singular if index == 0 else plural
        filled = {name: _value(value, html) for name, value in values.items()}
        return _fill(chosen, filled, html)

    return ngettext


# How many values the plural blocks of one text may give in all and still be filled in without a budget: each value is
# refused past MAX_OUTPUT characters, and `ngettext` counts at most twice its length, so this many cannot reach MAX_BUILT
FREE_VALUES = limits.MAX_BUILT // (2 * limits.MAX_OUTPUT)


def plural_block(
    singular: str, plural: str, keys: tuple[str, ...], given: tuple[bool, ...], *, html: bool, free: bool, alone: bool = False
) -> Callable[..., Any]:
    """One plural block of a plain text (engine/conditions/fasttext.py), called with its count and the values of `keys`.

    A key whose `given` is False is the count itself (`count=`), passed once. The answer is
    `ngettext`'s: the same form, the same text, the same error. With `free` (the text's blocks
    give at most FREE_VALUES values, and nothing else in it spends the budget: the budget cannot
    run out, and the work is bounded by the values' sizes, each measured), a count that is a whole
    number and values that are texts or whole numbers are filled in without counting them
    against the budget; anything else goes through `ngettext`, which measures and counts it.
    With `alone` as well (the text's one block), that is where the text's budget starts: the text itself
    does not start one (nothing before the block spends it).

    A free block has `reading(reader, count, *values)`: its text for `reader`, given rather than read
    from the context (the rulebook's inlined messages): a text made already is given without setting
    the reader; anything else is the block's, with the reader set around it.
    """
    full = plural_function(html)
    pairs = tuple(zip(keys, given, strict=True))
    forms = (singular, plural)
    simple = len(keys) == 1 and not given[0]  # the usual block: `count=` alone

    def counted(count: Any, *values: Any) -> str:
        if free and alone:
            limits.fresh()
        found = iter(values)
        named = {key: next(found) if own else count for key, own in pairs}
        return full(singular, plural, count, **named)

    if not free:
        return counted
    # the usual block's text for the last reader it was rendered for, by count: a text depends on nothing else
    # (the reader is not changed once made); a few counts kept (a page of subjects of a few sizes), then made again
    made: list[tuple[Reader | None, dict[int, str]]] = [(None, {})]

    def block(count: Any, *values: Any) -> str:
        if count.__class__ is not int or not -_SHORT < count < _SHORT:
            return counted(count, *values)
        if simple:
            reader = _READER.get() or _NOBODY
            last, texts = made[0]
            if last is reader:
                text = texts.get(count)
                if text is not None:
                    return text
            text = filling(reader, count, None)
            if last is not reader:
                made[0] = (reader, {count: text})
            elif len(texts) < _MADE:
                texts[count] = text
            return text
        found = iter(values)
        filled = {}
        for key, own in pairs:
            value = next(found) if own else count
            if value.__class__ is str:
                if len(value) > limits.MAX_OUTPUT:
                    return counted(count, *values)  # refused, as ngettext says
                filled[key] = str(escape(value)) if html else value
            elif value.__class__ is int and -_SHORT < value < _SHORT:
                filled[key] = str(value)
            else:
                return counted(count, *values)
        return filling(_READER.get() or _NOBODY, count, filled)

    def filling(reader: Reader, count: int, filled: dict[str, str] | None) -> str:
        """The text for `reader`: the form its count chooses, `filled` in (None: the count alone)."""
        translated = reader.plurals.get(forms) if reader.plurals else None
        if translated:
            index = (reader.plural_index or _rule(reader.tag))(count)
            chosen = translated[min(max(index, 0), len(translated) - 1)]
        else:
            index = (reader.plural_index or _rule(reader.locale))(count) if reader.locale else int(count != 1)
            chosen = singular if index == 0 else plural
        if filled is not None:
            return _fill(chosen, filled, html)
        number = str(count)
        cut = _CUTS.get((chosen, keys[0]))
        if cut is None:
            cut = _cut(chosen, keys[0])
        if isinstance(cut, tuple):  # the form is text around one `%(count)s`: what _fill makes, joined directly
            before, after = cut
            if len(before) + len(number) + len(after) > limits.MAX_OUTPUT:
                raise ExpressionError(f"the plural form makes more than {limits.MAX_OUTPUT:,} characters, over the limit")
            text = before + number + after
            return Markup(text) if html else text  # noqa: S704 - markup of the template, the value a number
        return _fill(chosen, {keys[0]: number}, html)

    def reading(reader: Reader, count: Any, *values: Any) -> str:
        if simple and count.__class__ is int:
            last, texts = made[0]
            if last is reader:
                text = texts.get(count)
                if text is not None:
                    return text
        token = _READER.set(reader)
        try:
            return block(count, *values)
        finally:
            _READER.reset(token)

    block.reading = reading  # type: ignore[attr-defined]
    return block


_RULES: dict[str | None, Callable[[int], int]] = {}  # plural_rule's answers, read without its cache's call
# (form, name) -> the text before and after the form's one `%(name)s`, or False when the form is anything else
_CUTS: dict[tuple[str, str], tuple[str, str] | bool] = {}


def _rule(tag: str | None) -> Callable[[int], int]:
    rule = _RULES.get(tag)
    if rule is None:
        rule = _RULES[tag] = plural_rule(tag)  # type: ignore[arg-type]
    return rule


def _cut(form: str, name: str) -> tuple[str, str] | bool:
    parts = _PART.split(form)
    cut: tuple[str, str] | bool = False
    if len(parts) == 3 and parts[1] == f"%({name})s" and "%" not in parts[0] + parts[2]:
        cut = (parts[0], parts[2])
    if len(_CUTS) > 1024:
        _CUTS.clear()
    _CUTS[(form, name)] = cut
    return cut


_SHORT = 10**18  # a whole number within this prints in at most 19 characters, far within any limit
_MADE = 32  # the texts of a plural block kept by count, for one reader
_PART = re.compile(r"(%%|%\([A-Za-z_][A-Za-z0-9_]*\)s)")


# a form -> (its length without its values, the names it fills in, in order), or False when it holds a % that
# `_fill_parts` refuses; a form is the template's or its catalog's (a few per project), split once
_PLANS: dict[str, tuple[int, tuple[str, ...]] | bool] = {}


def _plan(form: str) -> tuple[int, tuple[str, ...]] | bool:
    fixed, names = 0, []
    for part in _PART.split(form):
        if part == "%%":
            fixed += 1
        elif part.startswith("%(") and part.endswith(")s") and _PART.fullmatch(part):
            names.append(part[2:-2])
        elif "%" in part:
            return False
        else:
            fixed += len(part)
    if len(_PLANS) > 1024:
        _PLANS.clear()
    plan = _PLANS[form] = (fixed, tuple(names))
    return plan


def _fill(form: str, values: Mapping[str, str], html: bool) -> str:
    """A form with its `%(name)s` replaced by the values given, measured before it is built (a form could repeat a value).

    A form made only of text, `%%` and `%(name)s` whose names are all given is filled
    by Python's own `%` (the same text: each `%(name)s` is its value, `%%` is %), once
    its size, worked out from the values' lengths, is within MAX_OUTPUT; any other form
    goes through `_fill_parts`, which says what is wrong with it.
    """
    plan = _PLANS.get(form)
    if plan is None:
        plan = _plan(form)
    if plan is not False:
        size, names = plan  # type: ignore[misc]
        for name in names:
            if name not in values:
                break
            size += len(values[name])
        else:
            if size > limits.MAX_OUTPUT:
                raise ExpressionError(f"the plural form makes more than {limits.MAX_OUTPUT:,} characters, over the limit")
            text = form % values if names or "%" in form else form
            return Markup(text) if html else text  # noqa: S704 - markup of the template, values escaped
    return _fill_parts(form, values, html)


def _fill_parts(form: str, values: Mapping[str, str], html: bool) -> str:
    """A form with its `%(name)s` replaced by the values given, measured as it is built (a form could repeat a value)."""
    out: list[str] = []
    size = 0
    for part in _PART.split(form):
        if part == "%%":
            piece = "%"
        elif part.startswith("%(") and part.endswith(")s") and _PART.fullmatch(part):
            name = part[2:-2]
            if name not in values:
                raise ExpressionError(f"the plural form {to_python_format(form, back=True)[:200]!r} uses {{{{ {name} }}}}, which its block does not give")
            piece = values[name]
        elif "%" in part:
            raise ExpressionError("a plural form holds % only as written in its block (a value is {{ name }})")
        else:
            piece = str(escape(Markup(part))) if html else part  # noqa: S704 - the template's own text, kept as markup
        size += len(piece)
        if size > limits.MAX_OUTPUT:
            raise ExpressionError(f"the plural form makes more than {limits.MAX_OUTPUT:,} characters, over the limit")
        out.append(piece)
    text = "".join(out)
    return Markup(text) if html else text  # noqa: S704 - markup of the template, values escaped


def _count(count: Any) -> int:
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, int):
        shown = "none" if count is None else type(count).__name__
        raise ExpressionError(f"the count of a plural block is a whole number (such as users | length); not {shown}")
    return count


def _value(value: Any, html: bool) -> Any:
    if value.__class__ is int and -_SHORT < value < _SHORT:  # a count: what limits.text measures, builds and spends, in one step
        text = str(value)
        limits.spend(len(text))
    else:
        text = value if isinstance(value, str) else limits.text(value, limits.MAX_OUTPUT)
    if len(text) > limits.MAX_OUTPUT:
        raise ExpressionError(f"a value of {len(text):,} characters is over the limit of {limits.MAX_OUTPUT:,}")
    limits.spend(len(text))
    return str(escape(text)) if html else text
