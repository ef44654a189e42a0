"""Python's cyclic garbage collector paused while long-lived objects are built (a project, its data): one pause for all."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused(*, then_freeze: bool = False) -> Iterator[None]:
    """Python's cyclic garbage collector paused for the block: loading a project (and its data) builds many objects
    that live as long as the command, and makes few cycles (a cold `validate` of the shipped project: about 1,000
    objects, 0.4 MB, left for later), so collecting while they are built walks them again and again for nothing.
    The work is bounded by the project's and data file's size limits.

    `then_freeze`: the process ends after the command (the console script, `one_command`): what the block made is
    frozen (gc.freeze), never walked again; else the first collection after the block, and Python's own at shutdown,
    walk all of it once more (about 35 ms of a cold `validate`). Cycles left in it are never freed: bounded as above.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if then_freeze:
            gc.freeze()
        if was:
            gc.enable()
