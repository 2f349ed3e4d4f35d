#!/usr/bin/env bash
# Installs what is missing, then runs firstmile as one process (edge + origin over the in-memory bus).
# Extra arguments go to `firstmile up`, e.g. scripts/up.sh --rtmp-port 1936
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH="$PWD/.tools/node_modules/.bin:$PATH"
# Node flags and environment as in the image (services/firstmile/src/node-runtime.ts says why).
export MALLOC_ARENA_MAX=2
exec node --max-semi-space-size=2 services/firstmile/src/bin.ts up "$@"
