"""A text's change in words: `… has been [-deleted-]{+removed+} from …`, as `git diff --word-diff` shows it."""

from __future__ import annotations

import difflib

CONTEXT = 4  # words kept on each side of a change
ELLIPSIS = "…"


def word_diff(before: str, after: str, *, context: int = CONTEXT) -> str:
    """The words removed (`[-…-]`) and added (`{+…+}`) between two texts, with a few words around each change.

    Whitespace alone is no change: texts are compared word by word. Empty when the words are the same.
    """
    old, new = before.split(), after.split()
    if old == new:
        return ""
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    pieces: list[str] = []
    opcodes = matcher.get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            words = old[i1:i2]
            first, last = index == 0, index == len(opcodes) - 1
            if len(words) > (context if first or last else 2 * context):
                head = [] if first else words[:context]
                tail = [] if last else words[-context:]
                pieces.extend([*head, ELLIPSIS, *tail])
            else:
                pieces.extend(words)
            continue
        if i2 > i1:
            pieces.append(f"[-{' '.join(old[i1:i2])}-]")
        if j2 > j1:
            pieces.append(f"{{+{' '.join(new[j1:j2])}+}}")
    return " ".join(pieces)
