#!/usr/bin/env bash
# Create .venv (if missing) and install the project into it, editable.
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh test
# Re-running is cheap: pip runs again only when pyproject.toml or the extras change.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $python" >&2
  "$python" -m venv .venv
fi

stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras:-core}"
if [ ! -f "$stamp" ]; then
  echo "setup: installing the project${extras:+ with [$extras]} (torch==2.13.0, CPU build where one is on disk)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  .venv/bin/python -m pip install --quiet -e "$spec"
  touch "$stamp"
fi
