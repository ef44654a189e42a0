"""What counts as an email address here: a plain address, no display name, no line break.

The whole text must match (`fullmatch`: a `$` would accept a final newline, which
would end an email's header block early); the local part is a dot-atom (no
leading, trailing or double dot, which mail readers fail to parse); and it may
not hold `=?`, which mail readers decode as an RFC 2047 encoded word even inside
an address.
"""

from __future__ import annotations

import re
from functools import lru_cache

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")  # a dot-atom local part: no leading, trailing or double dot
# The same rule in JSON Schema words, for jsonschema-rs to check a data file's addresses without calling back into
# Python for each one (about 1.2 us an address that way, 0.1 this way). Each pattern avoids look-arounds, which would
# take fancy-regex's backtracking engine (0.3 us): the local part's length is a pattern of its own, and an atom that
# never holds `=?` is written out (a run of `=` is followed by the atom's end or by a character other than `?`).
# Patterns are ECMA-262 searches (`$` is the very end). tests/test_fast_paths.py holds both to the same verdicts.
_ATOM_CHAR_BUT_EQUALS = r"[A-Za-z0-9!#$%&'*+/?^_`{|}~\-]"
_ATOM_CHAR_BUT_EQUALS_OR_QUESTION = r"[A-Za-z0-9!#$%&'*+/^_`{|}~\-]"
_ATOM_WITHOUT_ENCODED_WORD = rf"(?:(?:{_ATOM_CHAR_BUT_EQUALS}|=+{_ATOM_CHAR_BUT_EQUALS_OR_QUESTION})+=*|=+)"
SCHEMA_RULE: tuple[dict[str, int | str], ...] = (  # each to hold (an `allOf`)
    {"maxLength": 254},
    {"pattern": "^[^@]{1,64}@"},
    {"pattern": rf"^{_ATOM_WITHOUT_ENCODED_WORD}(?:\.{_ATOM_WITHOUT_ENCODED_WORD})*@{_LABEL}(?:\.{_LABEL})+$"},
)
DEFAULT_SENDER = "no-reply@clientflow.invalid"
HOW = "write one plain address such as name@example.com: no display name, spaces, line breaks or '=?'"


@lru_cache(maxsize=4096)  # the same few senders and recipients come back in every plan of a bulk run
def valid_address(address: str) -> bool:
    """True for one plain address with no display name, spaces, line breaks or encoded-word opener (`=?`)."""
    return len(address) <= 254 and "=?" not in address and _ADDRESS.fullmatch(address) is not None
