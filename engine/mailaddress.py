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
DEFAULT_SENDER = "no-reply@clientflow.invalid"
HOW = "write one plain address such as name@example.com: no display name, spaces, line breaks or '=?'"


@lru_cache(maxsize=4096)  # the same few senders and recipients come back in every plan of a bulk run
def valid_address(address: str) -> bool:
    """True for one plain address with no display name, spaces, line breaks or encoded-word opener (`=?`)."""
    return len(address) <= 254 and "=?" not in address and _ADDRESS.fullmatch(address) is not None
