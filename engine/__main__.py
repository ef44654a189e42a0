"""`python -m clientflow`: the same as the `clientflow` console script."""

from .cli import main

main()
