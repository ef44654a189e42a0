"""What counts as an email address here: a plain address, no display name, no line break."""

from __future__ import annotations

import re
from functools import lru_cache

_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
DEFAULT_SENDER = "no-reply@clientflow.invalid"


@lru_cache(maxsize=4096)  # the same few senders and recipients come back in every plan of a bulk run
def valid_address(address: str) -> bool:
    """True for a plain address with no display name, spaces or line breaks."""
    return len(address) <= 254 and _ADDRESS.match(address) is not None
