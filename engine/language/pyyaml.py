"""PyYAML, imported without compiling the one pattern that only its pure-Python reader uses (a start-up cost).

PyYAML's `Reader` compiles `NON_PRINTABLE`, a character class of every printable code point, when
the package is imported: about 57 M instructions (some 15 ms), more than half of `import yaml`, on
every start of every command. Only the pure-Python reader reads it; libyaml's parser, which
yamlfile.py uses, checks the characters itself. So the first import here finds the pattern already
in `re`'s cache as `Deferred`, which compiles the very same pattern the first time anything reads
it (PyYAML's pure-Python loader, should anything use one), and is taken out of the cache again right
after. Where `re` keeps no such cache, or PyYAML is imported already, it is imported as usual.
tests/test_yamlfile.py checks that the pattern is deferred and reads as the compiled one.
"""

from __future__ import annotations

import re
import sys
from typing import Any

# as yaml/reader.py writes it (PyYAML 5.1 to 6.0): if it changes, the cache is not hit and PyYAML compiles its own
NON_PRINTABLE = "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


class Deferred:
    """`re.compile(NON_PRINTABLE)`, compiled when first used: every attribute is the compiled pattern's."""

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        compiled = self._compiled
        if compiled is None:
            # re.UNICODE is a text pattern's default (the same flags, the same pattern), and another key of the cache
            compiled = self._compiled = re.compile(self._pattern, re.UNICODE)
        return getattr(compiled, name)


def _seed() -> bool:
    """Put `Deferred` in `re`'s cache under PyYAML's pattern, unless it cannot help; whether it did."""
    cache = getattr(re, "_cache", None)
    if not isinstance(cache, dict) or "yaml" in sys.modules or _KEY in cache:
        return False
    cache[_KEY] = Deferred(NON_PRINTABLE)
    return True


def _unseed() -> None:
    cache = getattr(re, "_cache", None)
    if isinstance(cache, dict) and isinstance(cache.get(_KEY), Deferred):
        del cache[_KEY]  # PyYAML holds it now; nothing else is given it


_KEY = (str, NON_PRINTABLE, 0)  # how re._compile looks a pattern up (Python 3.11 to 3.13)
if _seed():
    try:
        import yaml  # noqa: E402 - after the pattern is in the cache: the point of this module
    finally:
        _unseed()
else:
    import yaml  # noqa: E402

__all__ = ["yaml"]
