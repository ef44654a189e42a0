"""`python -m clientflow`: the same as the `clientflow` console script.

`python -m` puts the current folder first on the import path; a project folder
is data, never code, so it is taken off before anything else is imported.
(Python itself imports a few standard modules before this file runs: in a
folder you do not trust, run `clientflow`, or `python -P -m clientflow`.)
"""

import os
import sys

if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from .cli import main  # noqa: E402 - after the import path is made safe

main()
