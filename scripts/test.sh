#!/usr/bin/env bash
# README quick start #2 (what .ci/run runs): install stylesim with its test dependencies, then
# lint (ruff), check formatting, type-check (mypy: strict on stylesim/, lenient on tests/ and
# scripts/; configuration in pyproject.toml) and run the test suite. Any failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
if ! command -v chromium >/dev/null 2>&1; then  # the gallery test's browser (Playwright's own is not reachable)
    echo "== installing Debian's chromium for the gallery test" >&2
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
echo "== ruff" >&2
python3 -m ruff check stylesim tests scripts
python3 -m ruff format --check --quiet stylesim tests scripts
echo "== mypy" >&2
python3 -m mypy
echo "== pytest" >&2
python3 -m pytest -q "$@"
