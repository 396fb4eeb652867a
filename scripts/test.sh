#!/usr/bin/env bash
# README quick start #2 (what .ci/run runs): install stylesim with its test dependencies, then
# lint (ruff), check formatting, type-check (mypy: strict on stylesim/, lenient on tests/ and
# scripts/; configuration in pyproject.toml) and run the test suite. Any failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
echo "== ruff" >&2
python3 -m ruff check stylesim tests scripts
python3 -m ruff format --check --quiet stylesim tests scripts
echo "== mypy" >&2
python3 -m mypy
echo "== pytest" >&2
python3 -m pytest -q "$@"
