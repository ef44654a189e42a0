#!/usr/bin/env bash
# Install and run every test, against the wheel users install: lint, types, the pytest suite
# (which also installs the wheel into a fresh virtualenv and uses it from a temporary folder),
# then the shipped project's scenarios. Versions come from constraints.txt (scripts/lock.sh refreshes it).
set -euo pipefail
cd "$(dirname "$0")/.."
# The preview's browser tests drive Debian's Chromium (Playwright cannot download browsers here); CI runs as root.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export PIP_CONSTRAINT="$PWD/constraints.txt" PIP_DISABLE_PIP_VERSION_CHECK=1  # also pins the wheel's build tools
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
rm -rf build/lib build/bdist.*  # setuptools reuses these: a module moved or deleted since must not ride along
python3 -m pip wheel --quiet --no-deps --wheel-dir "$wheels" .
wheel=$(ls "$wheels"/clientflow-*.whl)
python3 -m pip install --quiet "$wheel[test,web,postgres]"
python3 -m pip install --quiet --force-reinstall --no-deps "$wheel"  # this build, even at an unchanged version
export CLIENTFLOW_WHEEL="$wheel"  # tests/test_wheel.py installs the same file into a fresh virtualenv
python3 -m ruff check engine plugins tests benchmarks
python3 -m ruff format --check engine plugins tests benchmarks
python3 -m mypy  # the installed package: what users and plugin authors import
python3 -m pytest -q -p no:cacheprovider "$@"
clientflow test --coverage --fail-under 100  # runs only when pytest passed (set -e keeps pytest's exit code)
