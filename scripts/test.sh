#!/usr/bin/env bash
# Installs what is missing (Node 24, pnpm, the workspace, and the real encoders/players/servers the
# suite drives), typechecks every package, then runs the whole test suite with node's test runner.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --system
export PATH="$PWD/.tools/node_modules/.bin:$PATH"
pnpm run -s typecheck
# Interop tests start their own servers on ephemeral loopback ports, so files run in parallel safely.
exec node --test --test-concurrency=2 --test-timeout=300000 \
  "libs/*/test/**/*.test.ts" "services/*/test/**/*.test.ts" "test/**/*.test.ts" "e2e/**/*.test.ts" "$@"
