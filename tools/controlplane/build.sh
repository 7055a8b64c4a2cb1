#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager from the Go modules pinned in go.mod
# into a cache directory outside the repository, and reuses them when they are already there.
#
#   build.sh            build (or reuse) and print the bin directory on the last line
#   build.sh --bin-dir  print the bin directory only (needs no Go; tests use it to find binaries)
#   build.sh --check    exit 0 when Go is there, 3 (with the reason on stderr) when it is not
#
# The directory name carries the pinned versions and a hash of go.mod, go.sum, the main.go
# files and this script, so changing a pin builds into a fresh directory and never reuses stale binaries.
# RAYOP_CONTROLPLANE_CACHE moves the cache (default ~/.cache/rayop/controlplane); GO names the
# go command to use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

version_of() { awk -v m="$1" '$1 == m && $2 ~ /^v/ {print $2; exit}' go.mod; }
k8s="$(version_of k8s.io/kubernetes)"
etcd="$(version_of go.etcd.io/etcd/server/v3)"
digest="$(cat go.mod go.sum cmd/*/main.go build.sh | sha256sum | cut -c1-12)"
cache="${RAYOP_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rayop/controlplane}"
bin="$cache/k8s-$k8s-etcd-$etcd-$digest/bin"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler)

find_go() {  # $GO overrides (a path, or a name on PATH)
    if [ -n "${GO:-}" ]; then command -v "$GO" || return 1
    elif command -v go >/dev/null 2>&1; then command -v go
    elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
    else return 1
    fi
}

case "${1:-}" in
    --bin-dir) echo "$bin"; exit 0 ;;
    --check)
        if ! find_go >/dev/null; then
            echo "Go is not installed (no 'go' on PATH, no /usr/local/go/bin/go); see README: Go toolchain" >&2
            exit 3
        fi
        exit 0 ;;
    "") ;;
    *) echo "usage: $0 [--bin-dir|--check]" >&2; exit 2 ;;
esac

if [ -f "$bin/.complete" ]; then
    echo "control plane: reusing $bin (k8s $k8s, etcd $etcd)" >&2
    echo "$bin"
    exit 0
fi

if ! go="$(find_go)"; then
    echo "control plane build FAILED at step 'find Go': no 'go' on PATH and no /usr/local/go/bin/go" >&2
    exit 3
fi
export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:--buildvcs=false}"

fail() {  # step, log file
    echo "control plane build FAILED at step '$1' ($go, k8s $k8s, etcd $etcd); Go said:" >&2
    tail -n 40 "$2" >&2
    exit 1
}

# Stamp the version as upstream's release build does (kubectl version, discovery's /version).
minor="${k8s#v1.}"; minor="${minor%%.*}"
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
done

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
mkdir -p "$bin.tmp"
echo "control plane: downloading modules (k8s $k8s, etcd $etcd)" >&2
"$go" mod download >"$log" 2>&1 || fail "go mod download" "$log"
for name in "${binaries[@]}"; do
    echo "control plane: building $name" >&2
    start=$SECONDS
    "$go" build -trimpath -ldflags="$ldflags" -o "$bin.tmp/$name" "./cmd/$name" >"$log" 2>&1 || fail "go build ./cmd/$name" "$log"
    echo "control plane: built $name in $((SECONDS - start)) s" >&2
done
rm -rf "$bin"
mv "$bin.tmp" "$bin"
touch "$bin/.complete"
echo "$bin"
