#!/usr/bin/env bash
# Installs what the benchmark needs and is missing. The bench (bench/src/main.ts) calls it with the
# tools the selected servers need:
#   bench/setup.sh ffmpeg         ffmpeg (to make the test FLV once; it is cached afterwards)
#   bench/setup.sh nginx          Debian's nginx with libnginx-mod-rtmp (nginx-rtmp)
#   bench/setup.sh nats           Debian's nats-server (the cluster scenario)
# Node-Media-Server needs nothing here: it is an npm dependency of @firstmile/bench
# (pnpm install --frozen-lockfile). Installing Debian packages needs root or sudo; without them
# the script fails with a message saying what to install.
set -euo pipefail

bench_log() { printf '[bench setup] %s\n' "$*" >&2; }

NGINX_RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so

need=()
for what in "$@"; do
  case "$what" in
    ffmpeg) command -v ffmpeg >/dev/null || need+=(ffmpeg) ;;
    nginx)
      if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then need+=(nginx); fi
      [ -f "$NGINX_RTMP_MODULE" ] || need+=(libnginx-mod-rtmp)
      ;;
    nats)
      if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then need+=(nats-server); fi
      ;;
    *) bench_log "unknown tool '$what' (expected ffmpeg, nginx or nats)"; exit 2 ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null || ! sudo -n true 2>/dev/null; then
    bench_log "missing: ${need[*]}. Install them as root: apt-get install -y ${need[*]}"
    bench_log "(or leave the server or scenario that needs them out: --servers firstmile,nms, --scenarios fanout,ingest,latency)"
    exit 1
  fi
  sudo="sudo -n"
fi
bench_log "apt-get install ${need[*]}"
$sudo apt-get update -qq
# nginx's postinst starts the system service when it can; the bench never uses it (it runs its own
# nginx on a loopback port with its own config), and a policy-rc.d, where present, prevents that.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
for what in "$@"; do
  if [ "$what" = nginx ] && [ ! -f "$NGINX_RTMP_MODULE" ]; then
    bench_log "libnginx-mod-rtmp installed but $NGINX_RTMP_MODULE is missing"
    exit 1
  fi
done
