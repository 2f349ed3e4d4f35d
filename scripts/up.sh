#!/usr/bin/env bash
# Installs what is missing, then runs firstmile as one process (edge + origin over the in-memory bus).
# Extra arguments go to `firstmile up`, e.g. scripts/up.sh --rtmp-port 1936
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH="$PWD/.tools/node_modules/.bin:$PATH"
exec node services/firstmile/src/bin.ts up "$@"
