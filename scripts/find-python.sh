#!/usr/bin/env bash
# Print the path of a Python >= 3.12 (pygeoapi >= 0.22 needs it): PATH first, then pyenv.
set -euo pipefail
for exe in python3.12 python3.13 python3; do
  if p=$(command -v "$exe" 2>/dev/null) && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    echo "$p"; exit 0
  fi
done
for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
  if [ -x "$p" ]; then echo "$p"; exit 0; fi
done
echo "no Python >= 3.12 found: install python3.12 (e.g. apt-get install python3.12 or pyenv)" >&2
exit 1
