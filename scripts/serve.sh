#!/usr/bin/env bash
# Set up, build the bundled glossary's index if it is missing or stale, and serve the API
# on 127.0.0.1:8000 (override with GLOSSARY_HOST / GLOSSARY_PORT / GLOSSARY_INDEX).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/glossary index          # embeds only what changed; a no-op when up to date
exec .venv/bin/glossary serve
