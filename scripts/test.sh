#!/usr/bin/env bash
# Set up (project, test tools, Debian's chromium for the browser tests) and run every test.
# Extra arguments go to pytest: scripts/test.sh -k api
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test: installing Debian's chromium for the browser tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "test: the browser tests need Chromium: sudo apt-get install chromium" >&2
  fi
fi

exec .venv/bin/python -m pytest "$@"
