#!/usr/bin/env bash
# Build the e2e control plane and tools from the Go module proxy, once, into a cache.
#
#   tests/e2e/setup.sh [all|kube-apiserver|etcd|workflow-controller|argo|helm|oracle]...
#
# Binaries land in $ARGO_ADMISSION_BIN (default ~/.cache/argo-admission/bin) and are
# reused when present with the right version stamp. Any module version the proxy does
# not serve stops the script with a message naming it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

KUBE_VERSION=${KUBE_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.8}
ARGO_VERSION=${ARGO_VERSION:-v3.7.18}
HELM_VERSION=${HELM_VERSION:-v3.22.0}

BIN=${ARGO_ADMISSION_BIN:-$HOME/.cache/argo-admission/bin}
WORK=${ARGO_ADMISSION_BUILD:-$HOME/.cache/argo-admission/build}
mkdir -p "$BIN" "$WORK"
export CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "Go is not installed; the e2e suite needs it to build its binaries"

# fresh <name> <version>: true when $BIN/<name> exists and was built at <version>.
fresh() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" >"$BIN/$1.version"; say "$1 $2 ready in $BIN ($(( SECONDS - $3 ))s)"; }

# module <dir>: a fresh wrapper module in $WORK/<dir>.
module() {
  rm -rf "${WORK:?}/$1" && mkdir -p "$WORK/$1" && cd "$WORK/$1"
  go mod init "argo-admission.local/build/$1" >/dev/null 2>&1
}

# get <module@version>...: go get, with a loud message naming what the proxy refused.
get() {
  if ! out=$(go get "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    die "the Go module proxy did not serve: $* (see above for the module it could not fetch)"
  fi
}

build_kube_apiserver() {
  fresh kube-apiserver "$KUBE_VERSION" && return 0
  local t=$SECONDS; say "building kube-apiserver $KUBE_VERSION (about 4 minutes cold)"
  module kube-apiserver
  # k/k's go.mod points every staging module at ./staging; the proxy serves them as v0.x.
  local staging_version="v0.${KUBE_VERSION#v1.}"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -n "$gomod" ] || die "the Go module proxy did not serve k8s.io/kubernetes@$KUBE_VERSION"
  local m
  for m in $(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
    go mod edit -replace "$m=$m@$staging_version"
  done
  get "k8s.io/kubernetes@$KUBE_VERSION"
  get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION"
  go build -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  stamp kube-apiserver "$KUBE_VERSION" $t
}

build_etcd() {
  fresh etcd "$ETCD_VERSION" && return 0
  local t=$SECONDS; say "building etcd $ETCD_VERSION (about 1 minute cold)"
  module etcd
  get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  stamp etcd "$ETCD_VERSION" $t
}

# Argo's own go.mod pins tablewriter to v0.0.5 with a replace, which a dependent module must repeat.
argo_module() {
  module "$1"
  go mod edit -replace github.com/olekukonko/tablewriter=github.com/olekukonko/tablewriter@v0.0.5
  get "github.com/argoproj/argo-workflows/v3@$ARGO_VERSION"
}

build_workflow_controller() {
  local name=workflow-controller-$ARGO_VERSION
  fresh "$name" "$ARGO_VERSION" && return 0
  local t=$SECONDS; say "building Argo workflow-controller $ARGO_VERSION (about 3 minutes cold)"
  argo_module workflow-controller
  get -tool "github.com/argoproj/argo-workflows/v3/cmd/workflow-controller@$ARGO_VERSION"
  go build -o "$BIN/$name" github.com/argoproj/argo-workflows/v3/cmd/workflow-controller
  # Argo's CRDs ship in the module; the e2e suite installs them from here.
  local dir
  dir=$(go list -m -f '{{.Dir}}' "github.com/argoproj/argo-workflows/v3")
  rm -rf "$BIN/argo-crds-$ARGO_VERSION" && cp -r "$dir/manifests/base/crds/minimal" "$BIN/argo-crds-$ARGO_VERSION"
  chmod -R u+w "$BIN/argo-crds-$ARGO_VERSION"
  stamp "$name" "$ARGO_VERSION" $t
}

build_argo_cli() {
  local name=argo-$ARGO_VERSION
  fresh "$name" "$ARGO_VERSION" && return 0
  local t=$SECONDS; say "building Argo CLI $ARGO_VERSION (about 3 minutes cold)"
  argo_module argo-cli
  get -tool "github.com/argoproj/argo-workflows/v3/cmd/argo@$ARGO_VERSION"
  # The CLI embeds ui/dist/app, which the module zip does not ship. Argo's Makefile writes a
  # placeholder index.html when STATIC_FILES=false; do the same in a writable copy of the
  # module and point the build at it.
  local dir src="$WORK/argo-cli/argo-workflows"
  dir=$(go list -m -f '{{.Dir}}' "github.com/argoproj/argo-workflows/v3")
  [ -d "$dir" ] || die "no source for github.com/argoproj/argo-workflows/v3@$ARGO_VERSION in the module cache"
  cp -r "$dir" "$src" && chmod -R u+w "$src"
  mkdir -p "$src/ui/dist/app" && touch "$src/ui/dist/app/index.html"
  go mod edit -replace "github.com/argoproj/argo-workflows/v3=$src"
  go build -o "$BIN/$name" github.com/argoproj/argo-workflows/v3/cmd/argo \
    || die "go build of the Argo CLI $ARGO_VERSION failed (see above)"
  stamp "$name" "$ARGO_VERSION" $t
}

# The merge oracle: tests/oracle/main.go, Argo's own JoinWorkflowSpec behind a pipe, for the
# differential tests of admission/merge.py.
build_oracle() {
  local src="$HERE/../oracle/main.go" sum
  sum="$ARGO_VERSION-$(sha256sum "$src" | cut -c1-12)"
  fresh merge-oracle "$sum" && return 0
  local t=$SECONDS; say "building the merge oracle on Argo $ARGO_VERSION (about 1 minute cold)"
  argo_module merge-oracle
  cp "$src" main.go
  go mod tidy >/dev/null 2>&1 || die "go mod tidy failed for the merge oracle"
  go build -o "$BIN/merge-oracle" . || die "go build of the merge oracle failed (see above)"
  stamp merge-oracle "$sum" $t
}

build_helm() {
  fresh helm "$HELM_VERSION" && return 0
  local t=$SECONDS; say "building helm $HELM_VERSION (about 1.5 minutes cold)"
  module helm
  get -tool "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  go build -o "$BIN/helm" helm.sh/helm/v3/cmd/helm
  stamp helm "$HELM_VERSION" $t
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(all)
for target in "${targets[@]}"; do
  case $target in
    all) build_helm; build_etcd; build_kube_apiserver; build_workflow_controller; build_argo_cli
         build_oracle ;;
    oracle) build_oracle ;;
    kube-apiserver) build_kube_apiserver ;;
    etcd) build_etcd ;;
    workflow-controller) build_workflow_controller ;;
    argo) build_argo_cli ;;
    helm) build_helm ;;
    *) die "unknown target: $target" ;;
  esac
done
say "binaries in $BIN"
