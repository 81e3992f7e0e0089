#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager, kubectl and the
# Go checks in one binary) and helm from their Go modules into a cache folder outside the clone,
# and prints that folder on stdout. Does nothing but print it when the build is up to date, so
# every caller may run it. Progress goes to stderr.
#
#   CACHE_OPERATOR_CACHE   cache root (default: ${XDG_CACHE_HOME:-~/.cache}/cache-operator)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
cache=${CACHE_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cache-operator}
mkdir -p "$cache"

k8s=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
# The build's identity: its sources, the module graph, this script and the Go toolchain.
key=$( { go version; cat build.sh go.mod go.sum; find . -name '*.go' -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -c1-16)
out="$cache/control-plane/$k8s-$key"
if [ -x "$out/control-plane" ] && [ -x "$out/helm" ]; then
  touch "$out"   # in use: kept by the clean-up below
  echo "$out"
  exit 0
fi

exec 9>"$cache/control-plane.lock"
flock 9
if [ -x "$out/control-plane" ] && [ -x "$out/helm" ]; then
  echo "$out"
  exit 0
fi

minor=${k8s#v1.}; minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
total=$(go list -deps ./cmd/control-plane helm.sh/helm/v3/cmd/helm | wc -l)
echo "--- building Kubernetes $k8s (etcd, kube-apiserver, kube-controller-manager, kubectl) and helm from their Go modules" >&2
echo "    into $out; the first build on a fresh 2-core machine takes 10-25 minutes, later ones seconds" >&2
started=$(date +%s)
mkdir -p "$out.tmp"
# go build -v names each package as it compiles it: count them for a progress line.
go build -v -trimpath -ldflags "$ldflags" -o "$out.tmp/control-plane" ./cmd/control-plane 2>&1 \
  | awk -v total="$total" -v start="$started" '
      /^#|: / { print > "/dev/stderr"; next }
      { n++; if (n % 100 == 0) { printf "    %d/%d packages, %ds\n", n, total, systime() - start > "/dev/stderr"; fflush("/dev/stderr") } }'
[ "${PIPESTATUS[0]}" = 0 ] || { echo "control-plane build failed" >&2; exit 1; }
go build -trimpath -ldflags "-s -w" -o "$out.tmp/helm" helm.sh/helm/v3/cmd/helm
rm -rf "$out"
mv "$out.tmp" "$out"
# Builds unused for a week are only disk space (a few hundred MB each); other checkouts may use
# the recent ones.
find "$cache/control-plane" -mindepth 1 -maxdepth 1 -type d ! -path "$out" -mtime +7 -exec rm -rf {} + 2>/dev/null || true
echo "--- built in $(( $(date +%s) - started ))s: $("$out/control-plane" version)" >&2
echo "$out"
