#!/usr/bin/env bash
# Writes the release artefacts into dist/ (`make dist` runs it with the tool paths):
#   dist/install.yaml                 config/default with the manager image pinned to the release
#   dist/finx-operator-<v>.tgz        the Helm chart, version and appVersion set to the release
#   dist/kubectl-finx_<v>_<os>_<arch>.tar.gz and dist/krew/finx.yaml (sha256 filled in)
#   dist/checksums.txt
# Env: RELEASE (SemVer without v), IMG_REPO, HELM, PLUGIN_PLATFORMS ("os/arch ...").
set -euo pipefail
cd "$(dirname "$0")/.."
: "${RELEASE:?}" "${IMG_REPO:?}" "${HELM:?}"
PLUGIN_PLATFORMS="${PLUGIN_PLATFORMS:-linux/amd64}"
LDFLAGS="-X github.com/finx-operator/finx-operator/internal/version.Version=v${RELEASE}"

rm -rf dist && mkdir -p dist/krew
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# install.yaml: config/default with the image config/manager names replaced by the release's.
go run ./hack/render --image "finx-operator=${IMG_REPO}:v${RELEASE}" config/default > dist/install.yaml
grep -q "image: ${IMG_REPO}:v${RELEASE}" dist/install.yaml

# The chart, stamped with the release and pointing at the same image.
cp -r charts/finx-operator "$work/chart"
sed -i.bak -e "s/^version: .*/version: ${RELEASE}/" -e "s/^appVersion: .*/appVersion: \"v${RELEASE}\"/" "$work/chart/Chart.yaml"
sed -i.bak -e "s|^  repository: .*|  repository: ${IMG_REPO}|" "$work/chart/values.yaml"
rm -f "$work/chart/"*.bak
"$HELM" lint --strict "$work/chart" >"$work/lint.log" || { cat "$work/lint.log"; exit 1; }
"$HELM" package "$work/chart" --destination dist >/dev/null

# kubectl-finx for each platform, and the krew manifest naming each archive's digest.
cp plugins/finx.yaml "$work/krew.yaml"
sed -i.bak "s/@VERSION@/v${RELEASE}/g" "$work/krew.yaml"
for platform in $PLUGIN_PLATFORMS; do
  os="${platform%/*}" arch="${platform#*/}"
  dir="$work/plugin-$os-$arch"
  mkdir -p "$dir"
  CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -ldflags "$LDFLAGS" -o "$dir/kubectl-finx" ./cmd/kubectl-finx
  cp LICENSE "$dir/" 2>/dev/null || true
  archive="dist/kubectl-finx_v${RELEASE}_${os}_${arch}.tar.gz"
  tar -C "$dir" -czf "$archive" .
  sum="$(sha256sum "$archive" | cut -d' ' -f1)"
  sed -i.bak "s/@SHA256_${os}_${arch}@/${sum}/" "$work/krew.yaml"
done
# Platforms not built are dropped from the krew manifest rather than left with a placeholder.
awk 'BEGIN{RS="  - selector:"; ORS=""} NR==1{print; next} !/@SHA256_/{print "  - selector:" $0}' "$work/krew.yaml" > dist/krew/finx.yaml

(cd dist && sha256sum -- *.yaml *.tgz *.tar.gz > checksums.txt)
echo "dist/: $(cd dist && ls | tr '\n' ' ')"
