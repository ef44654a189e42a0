#!/usr/bin/env bash
# Install and run every test: lint, types, the pytest suite, the shipped scenarios.
set -euo pipefail
cd "$(dirname "$0")/.."
# The preview's browser tests drive Debian's Chromium (Playwright cannot download browsers here); CI runs as root.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
python3 -m ruff check engine plugins tests benchmarks
python3 -m ruff format --check engine plugins
python3 -m mypy
python3 -m pytest -q -p no:cacheprovider "$@"
clientflow test --coverage --fail-under 100  # runs only when pytest passed (set -e keeps pytest's exit code)
