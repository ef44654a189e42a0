#!/usr/bin/env bash
# Refresh constraints.txt, the exact versions every machine tests against (uv's resolver).
# Run it after changing a dependency in pyproject.toml, then commit constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check uv
python3 -m uv pip compile pyproject.toml scripts/build-requirements.in --all-extras \
    --python-version 3.11 --universal --no-header --output-file constraints.txt
