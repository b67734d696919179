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
# Compiled bytecode up front: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every process
# would otherwise compile pandas, SQLAlchemy, … from source at import (~4 s per process).
.venv/bin/uv pip install -q -p .venv/bin/python --compile-bytecode -r requirements.lock
.venv/bin/uv pip install -q -p .venv/bin/python --no-deps -e .
# Packages installed before --compile-bytecode was used (a no-op when all are compiled).
.venv/bin/python -m compileall -q -j 0 .venv/lib/python3*/site-packages >/dev/null 2>&1 || true
touch .venv/.installed
