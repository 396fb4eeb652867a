#!/usr/bin/env bash
# Install stylesim with its test dependencies, then run the test suite (README quick start #2).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
python3 -m pytest -q "$@"
