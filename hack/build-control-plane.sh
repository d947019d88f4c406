#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries (kube-apiserver, etcd and, on
# request, kube-controller-manager) from the Go module proxy, because
# setup-envtest's prebuilt downloads are not reachable from offline machines.
#
# Usage: hack/build-control-plane.sh [component...]
#   components: kube-apiserver etcd kube-controller-manager (default: the first two)
# Env:   KUBE_VERSION (default 1.37.2), BIN_DIR (default ./bin)
# Prints the directory holding the binaries on its last line (usable as KUBEBUILDER_ASSETS).
#
# Binaries land in $BIN_DIR/k8s/$KUBE_VERSION-$GOOS-$GOARCH/ and are not rebuilt
# when a binary of the right version is already there.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.37.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${BIN_DIR:-$ROOT/bin}"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
OUT="$BIN_DIR/k8s/$KUBE_VERSION-$GOOS-$GOARCH"
WORK="$BIN_DIR/k8s/.build-$KUBE_VERSION"

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kube-apiserver etcd)

log() { echo "build-control-plane: $*" >&2; }

# Staging modules are published as k8s.io/<name> v0.<minor>.<patch>.
STAGING_VERSION="v0.${KUBE_VERSION#*.}"

version_ok() {
  local bin="$1"
  [ -x "$OUT/$bin" ] || return 1
  # Capture first: with pipefail, grep -q closing the pipe early would fail the check.
  local out
  out="$("$OUT/$bin" --version 2>/dev/null || true)"
  case "$bin" in
    etcd) [[ "$out" == *"finx-control-plane-$KUBE_VERSION"* ]] ;;
    *) [[ "$out" == *"v$KUBE_VERSION"* ]] ;;
  esac
}

todo=()
for c in "${components[@]}"; do
  case "$c" in
    kube-apiserver|etcd|kube-controller-manager) ;;
    *) log "unknown component '$c'"; exit 2 ;;
  esac
  version_ok "$c" || todo+=("$c")
done

if [ ${#todo[@]} -eq 0 ]; then
  echo "$OUT"
  exit 0
fi

mkdir -p "$OUT" "$WORK"
cd "$WORK"

if [ ! -f go.mod ] || ! grep -q "k8s.io/kubernetes v$KUBE_VERSION" go.mod; then
  log "preparing build module for Kubernetes v$KUBE_VERSION"
  rm -f go.mod go.sum
  cat > go.mod <<MOD
module finx-operator.local/control-plane

go 1.25

require k8s.io/kubernetes v$KUBE_VERSION
MOD
  # Every k8s.io module that Kubernetes itself replaces with ./staging must be
  # pinned to the matching published version, or the build cannot resolve.
  kmod="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [ -n "$kmod" ] || { log "could not download k8s.io/kubernetes@v$KUBE_VERSION"; exit 1; }
  {
    echo
    echo "replace ("
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$kmod" | awk -v v="$STAGING_VERSION" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >> go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
  GOFLAGS=-mod=mod go mod tidy -e >&2 || true
  # tidy may drop what only tools.go needs when build tags differ; make sure.
  GOFLAGS=-mod=mod go get "k8s.io/kubernetes@v$KUBE_VERSION" >&2
fi

# The version is stamped so that --version reports it and the API server's
# compatibility version logic sees a real release, not v0.0.0-master.
major="${KUBE_VERSION%%.*}"
minor="${KUBE_VERSION#*.}"; minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
kldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION \
 -X k8s.io/component-base/version.gitMajor=$major \
 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=$build_date \
 -X k8s.io/client-go/pkg/version.gitVersion=v$KUBE_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=$major \
 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

for c in "${todo[@]}"; do
  log "building $c (the first build takes several minutes)"
  case "$c" in
    etcd)
      GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=finx-control-plane-$KUBE_VERSION" \
        -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3
      ;;
    *)
      GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -tags providerless \
        -ldflags "$kldflags" -o "$OUT/$c.tmp" "k8s.io/kubernetes/cmd/$c"
      ;;
  esac
  mv "$OUT/$c.tmp" "$OUT/$c"
  version_ok "$c" || { log "$c built but does not report the expected version"; "$OUT/$c" --version >&2 || true; exit 1; }
done

log "control plane v$KUBE_VERSION ready in $OUT"
echo "$OUT"
