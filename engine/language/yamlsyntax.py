"""Why a YAML file does not read: the cause, at the line it is on, and the fix.

libyaml stops where reading became impossible, which is often past the
mistake: the closing quote that was meant as an apostrophe, the ': ' that
started a second key inside a text, the block that lost its indentation
lines above. `explain` reads the tokens before that point and names these
causes where they were written. Every quoting or re-indentation it proposes
is first tried on the text, so a suggestion always reads (at least past the
place it mends); when none does, it says nothing and libyaml's own reason
stands.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from .pyyaml import yaml

MAX_EXPLAINED_BYTES = 64 * 1024  # larger files (data, written by programs) keep libyaml's reason: each tried fix reads the file again
MAX_DEPTH = 64  # as the loader: a tried fix reads no deeper
MAX_LINES_MOVED = 40  # a re-indentation tried moves at most this many lines

_INDENTATION = (
    "did not find expected key",
    "did not find expected '-' indicator",
    "did not find expected <document start>",
    "expected <block end>",
)
_KEY_LIKE = re.compile(r"^[A-Za-z_][\w-]*$")
_KEY_LINE = re.compile(r"^(?:-(?:\s|$)|[A-Za-z_][\w-]*:(?:\s|$))")  # a line that begins a list item or a key
MAX_LINES_BACK = 6  # the last resort tries the lines this close above where reading stopped
MAX_LINES_AFTER = 10  # a text that lost its indentation is found this many lines before where libyaml stopped
_ZERO_WIDTH = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.BlockEndToken, yaml.KeyToken, yaml.StreamStartToken, yaml.StreamEndToken)
_BLOCK_TEXT = re.compile(r":[ \t]+[|>][-+0-9]*[ \t]*(?:#.*)?$")  # `key: |` or `key: >-`: the lines below, indented more, are its text
_FOLLOWS_A_QUOTE = " \t\r\n,]}:#"  # what may come right after a closing quote


class Cause(NamedTuple):
    """A mistake where it was written: 1-based line and column, and what to do."""

    line: int
    col: int
    message: str


class _Line(NamedTuple):
    """One line that begins a block key or a list item."""

    indent: int
    entries: tuple[tuple[int, str, str], ...]  # (column, "key" or "item", key name) of what the line begins, left to right
    opens: bool  # ends with `key:` or `-`: the lines below it, indented more, belong to it


def quoted(text: str) -> str:
    """`text` as YAML in double quotes, or in single quotes when it holds a " or a backslash."""
    if '"' in text or "\\" in text:
        return "'" + text.replace("'", "''") + "'"
    return '"' + text + '"'


def explain(exc: yaml.MarkedYAMLError, text: str, loader: Any) -> Cause | None:
    """The cause of libyaml's refusal `exc` of `text`, when it is one of the common slips."""
    mark = exc.problem_mark
    if mark is None or len(text) > MAX_EXPLAINED_BYTES or not 0 <= mark.index <= len(text):
        return None
    reading = _Reading(text, loader)
    reason = exc.problem or ""
    at_colon = text[mark.index : mark.index + 1] == ":"
    return (
        reading.closed_quote(mark.index)
        or reading.quoted_start(mark.index)
        or (reading.colon(mark.index) if "mapping values are not allowed" in reason or (at_colon and "expected ','" in reason) else None)
        or reading.block_text(mark.line)
        or (reading.indentation(mark) if any(needle in reason for needle in _INDENTATION) else None)
        or reading.line_off(mark.line)
    )


class _Reading:
    """The tokens libyaml read before it stopped, and the lines they begin."""

    def __init__(self, text: str, loader: Any) -> None:
        self.text = text
        self.loader = loader
        self.rows = text.split("\n")
        self.tokens: list[yaml.Token] = []
        scanned = yaml.scan(text, Loader=loader)
        try:
            for token in scanned:
                self.tokens.append(token)
        except yaml.YAMLError:
            pass  # the tokens up to the mistake are what is needed
        self.outline = self._outline()
        self.texts = {
            r
            for t in self.tokens
            if isinstance(t, yaml.ScalarToken) and t.end_mark.line > t.start_mark.line
            for r in range(t.start_mark.line + 1, t.end_mark.line + (1 if t.end_mark.column else 0))
        }  # lines inside a text that runs over several lines

    # the causes ----------------------------------------------------------
    def closed_quote(self, index: int) -> Cause | None:
        """An apostrophe inside '...' (or a " inside "..."): the text ends there and the rest cannot be read."""
        line = self.text.count("\n", 0, index)
        for position, token in reversed(list(enumerate(self.tokens))):
            if token.start_mark.index > index or not isinstance(token, yaml.ScalarToken):
                continue
            if token.end_mark.line < line:
                return None
            end = token.end_mark.index
            if token.style not in ("'", '"') or token.start_mark.line != line or self.text[end : end + 1] in ("", *_FOLLOWS_A_QUOTE):
                continue
            return self._requote(position, token)
        return None

    def quoted_start(self, index: int) -> Cause | None:
        """A value that begins with a text in quotes and goes on after it: `if: 'administrator' == actor.role`.

        YAML reads the quoted text as the whole value, so what follows it cannot be read; a condition is the usual
        case. The fix quotes the whole value (and is tried first).
        """
        position = next((i for i in range(len(self.tokens) - 1, -1, -1) if self.tokens[i].start_mark.index < index), -1)
        token = self.tokens[position] if position >= 2 else None
        if not isinstance(token, yaml.ScalarToken) or token.style not in ("'", '"'):
            return None
        key, value = self.tokens[position - 2], self.tokens[position - 1]
        line = token.start_mark.line
        if isinstance(value, yaml.BlockEntryToken):  # a list item: `- 'administrator' == actor.role`
            lead = "- "
        elif isinstance(key, yaml.ScalarToken) and isinstance(value, yaml.ValueToken):
            lead = f"{key.value}: "
        else:
            return None
        if token.end_mark.line != line:
            return None
        row = self.rows[line]
        after = token.end_mark.column + len(row[token.end_mark.column :]) - len(row[token.end_mark.column :].lstrip())
        rest = row[after:].rstrip()
        if not rest or rest.startswith("#") or self.text.count("\n", 0, index) != line:
            return None
        begin = token.start_mark.column
        fix = quoted(row[begin:].rstrip())
        if not self._mends("\n".join([*self.rows[:line], row[:begin] + fix, *self.rows[line + 1 :]]), line):
            return None
        return Cause(
            line + 1,
            after + 1,
            f"the text in quotes ends at column {token.end_mark.column}, so the rest of the line cannot be read; "
            f"to write a value that begins with a quote, put all of it in quotes: {lead}{fix}",
        )

    def colon(self, index: int) -> Cause | None:
        """A ': ' inside a text without quotes, or a key indented deeper than the one above it."""
        line = self.text.count("\n", 0, index)
        value = next(
            (i for i in range(len(self.tokens) - 1, -1, -1) if isinstance(self.tokens[i], yaml.ValueToken) and self.tokens[i].start_mark.index < index), None
        )
        key = self.tokens[value - 1] if value else None
        if value is None or not isinstance(key, yaml.ScalarToken):
            return None
        start = self._skip_spaces(self.tokens[value].end_mark.index)
        if start >= index or self.text[start] in "'\"[{|>&*!%@`":
            return None
        if self.text.count("\n", 0, start) == line:
            return self._quote_text(key, start, index, line)
        return self._over_indented(key, index, line)

    def block_text(self, line: int) -> Cause | None:
        """`key: |` whose text, or a line of it, lost its indentation: the text ends there and the rest reads as keys."""
        block = next(
            (t for t in reversed(self.tokens) if isinstance(t, yaml.ScalarToken) and t.style in ("|", ">") and t.start_mark.line < line),
            None,
        )
        parent = self.outline.get(block.start_mark.line) if block is not None else None
        if block is None or parent is None or parent.entries[-1][1] != "key":
            return None
        key_col, _, name = parent.entries[-1]
        rows = [r for r in range(block.start_mark.line + 1, min(len(self.rows), line + 1)) if self.rows[r].strip()]
        if not rows:
            return None
        text_col = _indent(self.rows[rows[0]]) if block.value else key_col + 2
        first = next((r for r in rows if _indent(self.rows[r]) < text_col), None)
        if first is None or line > first + MAX_LINES_AFTER or (_indent(self.rows[first]) <= key_col and _KEY_LINE.match(self.rows[first].lstrip())):
            return None  # the text ended where it should: the mistake is elsewhere
        ends = []
        for r in range(first, min(len(self.rows), first + MAX_LINES_MOVED)):
            if self.rows[r].strip():
                if _indent(self.rows[r]) >= text_col:
                    break
                ends.append(r)
        shift = text_col - _indent(self.rows[first])
        reached = [(self._reach(self._shifted(first, last, shift)), -last) for last in ends]
        reach, last = max(reached, default=(-1.0, 0))
        last = -last
        if reach <= last + 1:
            return None
        style = self.text[block.start_mark.index]
        how = f"indent {_lines(first, last, 'it')} by {_more(shift)}"
        if not block.value:
            return Cause(
                first + 1,
                _indent(self.rows[first]) + 1,
                f"the text of {name}: {style} must be indented more than {name}: on line {block.start_mark.line + 1}; {how}",
            )
        said = "this line is" if first == last else f"lines {first + 1}-{last + 1} are"
        return Cause(
            first + 1,
            _indent(self.rows[first]) + 1,
            f"{said} indented {_spaces(_indent(self.rows[first]))}, less than the {_spaces(text_col)} of the text of {name}: {style} above, "
            f"so the text ends there; {how}",
        )

    def indentation(self, mark: Any) -> Cause | None:
        """A line whose indentation fits no block above it: a block moved left above it, or the line itself."""
        head = self.outline.get(mark.line)
        if head is None or mark.column != head.indent:
            return None
        return self._moved_left(mark.line, head.indent, _what(head)) or self._misplaced(mark.line, head)

    def line_off(self, line: int) -> Cause | None:
        """Last resort: a line at or just above where reading stopped is out of line with the lines like it.

        Each of the nearest lines is tried at the indentations of the lines of its kind around it
        (alone, then with the lines written under it); only a shift after which the whole file reads is said.
        """
        near = [r for r in range(min(line, len(self.rows) - 1), max(-1, line - MAX_LINES_BACK), -1) if _entries(self.rows[r])]
        found: list[tuple[int, int, int, int, int, int]] = []  # (lines above the stop, spaces moved, line, column, like line, last line)
        for r in near:
            if _BLOCK_TEXT.search(self.rows[r]):
                continue  # moved, its text would swallow every line below it: the file "reads", and says nothing meant
            col, kind, _ = _entries(self.rows[r])[0]
            columns: dict[int, int] = {}  # column -> the nearest line of the same kind that begins there
            for other in sorted(range(max(0, r - MAX_LINES_MOVED), min(len(self.rows), r + MAX_LINES_MOVED)), key=lambda o: abs(o - r)):
                if other not in (r, line):
                    for c, k, _ in _entries(self.rows[other]):
                        if k == kind and c != col:
                            columns.setdefault(c, other)
            under = [o for o in range(r + 1, min(len(self.rows), r + MAX_LINES_MOVED)) if self.rows[o].strip()]
            block_end = r
            for o in under:
                if _indent(self.rows[o]) <= col:
                    break
                block_end = o
            for target in sorted(columns, key=lambda c: abs(c - col))[:3]:
                shift = target - col
                for last in dict.fromkeys((r, block_end)):
                    if (
                        all(_indent(self.rows[o]) >= -shift for o in range(r, last + 1) if self.rows[o].strip())
                        and self._reach(self._shifted(r, last, shift)) == math.inf
                    ):
                        found.append((line - r, abs(shift), r, target, columns[target], last))
                        break
            if found:
                break
        if not found:
            return None
        _, _, r, target, like, last = min(found)
        col, kind, name = _entries(self.rows[r])[0]
        like_col, like_kind, like_name = next(e for e in _entries(self.rows[like]) if e[0] == target and e[1] == kind)
        what = f"{name}:" if kind == "key" else "the list item"
        like_what = f"{like_name}:" if like_kind == "key" else "the list item"
        shift = target - col
        along = f" (and {_lines(r + 1, last)} with it, {_more(shift) if shift > 0 else _spaces(-shift) + ' less'} each)" if last > r else ""
        return Cause(
            r + 1, col + 1, f"{what} {_indented(col)}, out of line with the {kind}s around it; {_put(target)}, like {like_what} on line {like + 1}{along}"
        )

    # the parts -------------------------------------------------------------
    def _requote(self, position: int, token: yaml.ScalarToken) -> Cause | None:
        quote = self.text[token.start_mark.index]
        row = self.rows[token.start_mark.line]
        begin, close = token.start_mark.column, token.end_mark.column - 1
        prefix = ""
        key = self.tokens[position - 2] if position >= 2 else None
        if isinstance(key, yaml.ScalarToken) and isinstance(self.tokens[position - 1], yaml.ValueToken):
            prefix = f"{key.value}: "
        # the text was meant to end at one of the next quotes on the line: the first whose fix reads
        for end in (i for i in range(close + 1, len(row)) if row[i] == quote):
            meant = row[begin + 1 : end]
            fix = quoted(meant) if quote == "'" else ("'" + meant + "'" if "'" not in meant else '"' + meant.replace('"', '\\"') + '"')
            mended = "\n".join([*self.rows[: token.start_mark.line], row[:begin] + fix + row[end + 1 :], *self.rows[token.start_mark.line + 1 :]])
            if self._mends(mended, token.start_mark.line):
                break
        else:
            return None
        if quote == "'":
            how = (
                f"put the text in double quotes: {prefix}{fix} (or write the apostrophe twice: '')"
                if fix.startswith('"')
                else f"write each apostrophe twice: {prefix}{fix}"
            )
            what = "an apostrophe"
        else:
            how = f"put the text in single quotes: {prefix}{fix}" if fix.startswith("'") else f'write each " inside as \\": {prefix}{fix}'
            what = 'a "'
        return Cause(
            token.start_mark.line + 1,
            close + 1,
            f"this {quote} ends the text that the {quote} at column {begin + 1} opened, and the rest of the line cannot be read; to write {what} in it, {how}",
        )

    def _quote_text(self, key: yaml.ScalarToken, start: int, colon: int, line: int) -> Cause | None:
        row_start = self.text.rfind("\n", 0, start) + 1
        row = self.rows[line]
        inside_braces = self._flow_depth_at(colon) > 0
        stop = len(row)
        for i in range(colon - row_start, len(row)):
            if (inside_braces and row[i] in ",]}") or (row[i] == "#" and row[i - 1] in " \t"):
                stop = i
                break
        text = row[start - row_start : stop].rstrip()
        fix = quoted(text)
        mended = "\n".join([*self.rows[:line], row[: start - row_start] + fix + row[start - row_start + len(text) :], *self.rows[line + 1 :]])
        if not self._mends(mended, line):
            return None
        before = self.text[start:colon].strip()
        return Cause(
            line + 1,
            colon - row_start + 1,
            f"the ': ' after {before!r} starts a second key on this line; put the text in quotes: {key.value}: {fix}",
        )

    def _over_indented(self, key: yaml.ScalarToken, colon: int, line: int) -> Cause | None:
        row = self.rows[line]
        indent = _indent(row)
        written = row[indent : colon - (self.text.rfind("\n", 0, colon) + 1)].strip()
        col, parent = key.start_mark.column, key.value
        if _entries(row) and not _KEY_LIKE.match(written):
            return self._moved_left(line, indent, "the list item")  # a list item: a block above may have lost its indentation
        if not _KEY_LIKE.match(written):
            return Cause(
                line + 1,
                colon - (self.text.rfind("\n", 0, colon) + 1) + 1,
                f"the text of {parent}: goes on to this line, and the ': ' here starts a key; "
                f"put the whole text in quotes, or write it as a block: {parent}: | with the text on the lines below",
            )
        moved = self._moved_left(line, indent, f"{written}:")  # the line above may be the one out of line
        if moved is not None:
            return moved
        if col >= indent or not self._mends(self._shifted(line, line, col - indent), line):
            return None
        # or the key above is the one out of line: a key like this one's just above it says so
        at = key.start_mark.line
        above = max((n for n in self.outline if n < at), default=-1)
        sibling = next((name for c, k, name in self.outline[above].entries if k == "key" and c == indent), None) if above >= 0 else None
        other = ""
        if sibling is not None and _indent(self.rows[at]) == col and self._reach(self._shifted(at, at, indent - col)) == math.inf:
            other = f"; or, if {parent}: is the one out of line, indent it {_spaces(indent)}, like {sibling}: on line {above + 1}"
        return Cause(
            line + 1,
            indent + 1,
            f"{written}: is indented more than {parent}: on line {at + 1}, so it reads as more of the text of {parent}:; {_put(col)}, like {parent}:{other}",
        )

    def _moved_left(self, line: int, indent: int, what: str) -> Cause | None:
        """Lines above that lost their indentation: the line at `line` fits once they get it back."""
        rows = [r for r in range(line - 1, -1, -1) if self.rows[r].strip() and not self.rows[r].lstrip().startswith("#")]
        less = next((i for i, r in enumerate(rows) if _indent(self.rows[r]) < indent), None)
        if less is None:
            return None
        # walk up from the line: over the lines indented at least as much, then over the ones indented less,
        # up to a line indented as much as it (the block before the move) or a `key:` the moved lines were under
        first, before = rows[less], None
        for r in rows[less + 1 :]:
            above = self.outline.get(r)
            if _indent(self.rows[r]) >= indent or (
                above is not None and above.opens and above.entries[-1][1] == "key" and above.entries[-1][0] == _indent(self.rows[first])
            ):
                before = r
                break
            first = r
        if before is None or before not in self.outline:
            return None  # the top of the file, or the text of a block: nothing shows how far the lines were meant to go
        moved = _indent(self.rows[first])
        last = max(r for r in range(first, line) if self.rows[r].strip())
        begun = self.outline.get(first)
        moved_what = _what(begun) if begun is not None else f"line {first + 1}"
        where = "" if first == last else f" (lines {first + 1}-{last + 1})"
        # under the line just above them, or back beside the line: each that reads
        targets = []
        above = self.outline.get(before)
        flat = all(_indent(self.rows[r]) == moved for r in range(first, line) if self.rows[r].strip())
        if begun is not None and above is not None and flat:  # a run of lines moved left together may continue the line above
            targets = [
                (col, f"{name}: on line {before + 1}") for col, kind, name in above.entries if kind == begun.entries[0][1] and col not in (indent, moved)
            ]
        opener = next(((c, k, name, at) for c, k, name, at in _ancestors(self.outline, first) if c < indent), None)
        parent = ""
        if opener is not None and opener[0] == moved:  # moved left by one level, to where the key (or item) they are under begins
            parent = f" under {opener[2]}:" if opener[1] == "key" else f" in the list item on line {opener[3] + 1}"
            targets.append((indent, ""))
        chosen = [
            (col, like) for col, like in targets if col > moved and self._usual(first, last) and self._mends(self._shifted(first, last, col - moved), line)
        ]
        if not chosen:
            return None
        lines = _lines(first, last, "it")
        if len(chosen) > 1:
            (col, like), (other, _) = chosen[0], chosen[-1]
            return Cause(
                first + 1,
                moved + 1,
                f"{moved_what}{where} {_indented(moved)}, so {what} on line {line + 1} fits nowhere; "
                f"indent {lines} by {_more(col - moved)} to go with {like}, or by {other - moved} to go with {what}{parent}",
            )
        col, like = chosen[0]
        if like:
            return Cause(
                first + 1,
                moved + 1,
                f"{moved_what}{where} {_indented(moved)}, but it goes with {like}, which {_indented(col)}; indent {lines} by {_more(col - moved)}",
            )
        return Cause(
            first + 1,
            moved + 1,
            f"{moved_what}{where} {_indented(moved)}, but {what} on line {line + 1}, which goes with it{parent}, {_indented(indent)}; indent {lines} by {_more(col - moved)}",
        )

    def _usual(self, first: int, last: int) -> bool:
        """Whether lines `first`-`last` step in from one another as the rest of the file does.

        A block moved left as a whole keeps its inner shape; lines that only look moved (the
        first key under another written one space too far) step in as no other lines do.
        """
        steps, inside = set(), []
        open_rows: list[tuple[int, int]] = []  # (line, indentation) of the lines still open above
        for r, row in enumerate(self.rows):
            if r in self.texts or not _entries(row):
                continue
            indent = _indent(row)
            while open_rows and open_rows[-1][1] >= indent:
                open_rows.pop()
            if open_rows:
                parent, step = open_rows[-1][0], indent - open_rows[-1][1]
                if first <= r <= last and first <= parent:
                    inside.append(step)
                elif not first <= r <= last:
                    steps.add(step)
            open_rows.append((r, indent))
        return all(step in steps for step in inside)

    def _misplaced(self, line: int, head: _Line) -> Cause | None:
        """A line indented like no block above it: the nearest indentation that reads."""
        kind = head.entries[0][1]
        above = max((n for n in self.outline if n < line), default=None)
        targets: list[tuple[int, str]] = []
        if above is not None and self.outline[above].opens and self.outline[above].entries[-1][1] == "key":
            col, _, name = self.outline[above].entries[-1]
            if head.indent <= col:  # written below a `key:` with nothing after it, and no deeper: it belongs under that key
                targets = [(col + 2, f"to go under {name}: on line {above + 1}")]
        chosen, reach = self._best(line, head.indent, targets)
        if not chosen:
            targets = [
                (col, f"like {name + ':' if k == 'key' else 'the list item'} on line {at + 1}")
                for col, k, name, at in _ancestors(self.outline, line)
                if k == kind and col != head.indent
            ]
            chosen, reach = self._best(line, head.indent, targets)
        if reach < math.inf:  # it reads further, but not to the end: a line just above may be the one out of line
            chosen = [] if self.line_off(line) is not None else chosen
        if not chosen:
            return None
        options = ", or ".join(f"{_put(col)}, {like}" for col, like, _ in chosen)
        col, _, last = chosen[0]
        shift = col - head.indent
        along = (
            f" (and {_lines(line + 1, last)} with it, {_more(shift) if shift > 0 else _spaces(-shift) + ' less'} each)"
            if last > line and len(chosen) == 1
            else ""
        )
        noun = "key" if kind == "key" else "list item"
        return Cause(line + 1, head.indent + 1, f"{_what(head)} {_indented(head.indent)}, which lines up with no {noun} above it; {options}{along}")

    def _best(self, line: int, indent: int, targets: list[tuple[int, str]]) -> tuple[list[tuple[int, str, int]], float]:
        """The targets (column, how to say it) that read furthest, nearest first, each with the last line that moves with the line."""
        ends = [line]  # the line alone, or with the lines below it, indented more, that were written under it
        for r in range(line + 1, min(len(self.rows), line + MAX_LINES_MOVED)):
            if not self.rows[r].strip() or self.rows[r].lstrip().startswith("#"):
                continue
            if _indent(self.rows[r]) <= indent:
                break
            ends.append(r)
        tried: list[tuple[float, int, int, str, int]] = []  # (reach, -distance, column, how, last line)
        for col, how in targets:
            shift = col - indent
            best: tuple[float, int] | None = None
            for last in ends:
                if any(_indent(self.rows[r]) < -shift for r in range(line, last + 1) if self.rows[r].strip()):
                    break
                reach = self._reach(self._shifted(line, last, shift))
                if reach > last + 1 and (best is None or reach > best[0]):
                    best = (reach, last)
                if reach == math.inf:
                    break  # the whole file reads: moving more lines cannot do better
            if best is not None:
                tried.append((best[0], -abs(shift), col, how, best[1]))
        if not tried:
            return [], -1
        top = max(t[:2] for t in tried)
        return [(col, how, last) for reach, distance, col, how, last in tried if (reach, distance) == top], top[0]

    def _outline(self) -> dict[int, _Line]:
        entries: dict[int, list[tuple[int, str, str]]] = {}
        last: dict[int, yaml.Token] = {}
        depth = 0
        for i, token in enumerate(self.tokens):
            line = token.start_mark.line
            if isinstance(token, (yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)):
                depth += 1
            elif isinstance(token, (yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)):
                depth = max(depth - 1, 0)
            elif depth == 0 and isinstance(token, yaml.BlockEntryToken):
                entries.setdefault(line, []).append((token.start_mark.column, "item", ""))
            elif depth == 0 and isinstance(token, yaml.KeyToken):
                after = self.tokens[i + 1] if i + 1 < len(self.tokens) else None
                name = str(after.value) if isinstance(after, yaml.ScalarToken) else ""
                entries.setdefault(line, []).append((token.start_mark.column, "key", name))
            if not isinstance(token, _ZERO_WIDTH):
                last[line] = token
        outline = {}
        for line, found in entries.items():
            indent = _indent(self.rows[line])
            if found[0][0] == indent:
                outline[line] = _Line(indent, tuple(found), isinstance(last.get(line), (yaml.ValueToken, yaml.BlockEntryToken)))
        return outline

    def _flow_depth_at(self, index: int) -> int:
        depth = 0
        for token in self.tokens:
            if token.start_mark.index >= index:
                break
            if isinstance(token, (yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)):
                depth += 1
            elif isinstance(token, (yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)):
                depth = max(depth - 1, 0)
        return depth

    def _skip_spaces(self, index: int) -> int:
        while index < len(self.text) and self.text[index] in " \t":
            index += 1
        return index

    def _shifted(self, first: int, last: int, shift: int) -> str:
        rows = list(self.rows)
        for r in range(first, last + 1):
            if rows[r].strip():
                rows[r] = " " * shift + rows[r] if shift > 0 else rows[r][-shift:]
        return "\n".join(rows)

    def _mends(self, text: str, line: int) -> bool:
        """Whether `text` reads past the line after `line` (0-based): the mistake there is gone."""
        return self._reach(text) > line + 1

    def _reach(self, text: str) -> float:
        """The 0-based line where libyaml stops reading `text`, or infinity when it reads to the end."""
        depth = 0
        try:
            for event in yaml.parse(text, Loader=self.loader):
                if isinstance(event, yaml.CollectionStartEvent):
                    depth += 1
                    if depth > MAX_DEPTH:
                        return math.inf  # the loader stops here too, for another reason
                elif isinstance(event, yaml.CollectionEndEvent):
                    depth -= 1
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            return mark.line if mark is not None else -1
        except yaml.YAMLError:
            return -1
        return math.inf


def _ancestors(outline: dict[int, _Line], before: int) -> list[tuple[int, str, str, int]]:
    """The keys and list items still open at line `before`, innermost first: (column, kind, name, line)."""
    found: list[tuple[int, str, str, int]] = []
    for number in sorted((n for n in outline if n < before), reverse=True):
        for col, kind, name in reversed(outline[number].entries):
            # a list may sit at its key's own indentation (`steps:` then `- id: ...`)
            if not found or col < found[-1][0] or (col == found[-1][0] and kind == "key" and found[-1][1] == "item"):
                found.append((col, kind, name, number))
        if found and found[-1][0] == 0 and found[-1][1] == "key":
            break
    return found


def _entries(row: str) -> list[tuple[int, str, str]]:
    """What a line begins, read from its text alone: (column, "key" or "item", key name), left to right."""
    found: list[tuple[int, str, str]] = []
    col = _indent(row)
    rest = row[col:]
    while rest.startswith("-") and rest[1:2] in ("", " "):
        found.append((col, "item", ""))
        spaces = len(rest[1:]) - len(rest[1:].lstrip(" "))
        col, rest = col + 1 + spaces, rest[1 + spaces :]
    key = _KEY_LINE.match(rest)
    if key is not None and not rest.startswith("-"):
        found.append((col, "key", rest[: rest.index(":")]))
    return found


def _indent(row: str) -> int:
    return len(row) - len(row.lstrip(" "))


def _spaces(count: int) -> str:
    return f"{count} space" if count == 1 else f"{count} spaces"


def _indented(count: int) -> str:
    return "is at the margin" if count == 0 else f"is indented {_spaces(count)}"


def _what(line: _Line) -> str:
    _, kind, name = line.entries[0]
    return f"{name}:" if kind == "key" else "the list item"


def _lines(first: int, last: int, one: str = "") -> str:
    if first == last:
        return one or f"line {first + 1}"
    return f"lines {first + 1}-{last + 1}"


def _put(col: int) -> str:
    return "put it at the margin" if col == 0 else f"indent it {_spaces(col)}"


def _more(count: int) -> str:
    return f"{count} more space" if count == 1 else f"{count} more spaces"
