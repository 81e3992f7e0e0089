#!/usr/bin/env bash
# Pins k8s.io/kubernetes at $1 (for example v1.37.2) and etcd's server at $2, with one `replace`
# per staging module at the matching v0.X.Y. The list is read from the served go.mod of
# k8s.io/kubernetes, whose own `replace => ./staging/...` lines dependents ignore.
set -euo pipefail
cd "$(dirname "$0")"
k8s=${1:?usage: update-k8s.sh v1.X.Y v3.A.B}; etcd=${2:?usage: update-k8s.sh v1.X.Y v3.A.B}
staging=v0.${k8s#v1.}
gomod=$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
for old in $(go mod edit -json | sed -n 's/.*"Path": "\(k8s\.io\/[^"]*\)".*/\1/p' | sort -u); do
  go mod edit -dropreplace="$old"
done
for m in $(sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
  go mod edit -replace="$m=$m@$staging"
done
go mod edit -require="k8s.io/kubernetes@$k8s" -require="go.etcd.io/etcd/server/v3@$etcd"
go mod tidy
echo "k8s.io/kubernetes $k8s (staging $staging), etcd $etcd"
