#!/usr/bin/env bash
# Create .venv with the pinned dependencies (requirements.lock) and FireTwin itself (editable).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(scripts/find-python.sh)
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
  rm -rf .venv
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip uv
.venv/bin/uv pip install -q -p .venv/bin/python -r requirements.lock
.venv/bin/uv pip install -q -p .venv/bin/python --no-deps -e .
touch .venv/.installed
