#!/usr/bin/env bash
# Build the e2e control plane and tools from the Go module proxy, once, into a cache.
#
#   tests/e2e/setup.sh [all|kube-apiserver|etcd|workflow-controller|argo|helm|oracle|ops-oracle]...
#
# Binaries land in $ARGO_ADMISSION_BIN (default ~/.cache/argo-admission/bin) and are
# reused when present with the right version stamp. Any module version the proxy does
# not serve stops the script with a message naming it.
#
# Argo's controller and CLI are built for every version in ARGO_VERSIONS (the e2e suite runs
# its Argo tests once per version), named by version: workflow-controller-v4.0.5, argo-v4.0.5,
# and Argo's CRDs in argo-crds-v4.0.5. ARGO_VERSION=vX.Y.Z builds that version only.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

KUBE_VERSION=${KUBE_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.8}
ARGO_VERSIONS=${ARGO_VERSION:-${ARGO_VERSIONS:-v3.7.18 v4.0.5}}
# The merge oracle (tests/oracle/main.go) imports Argo v3's packages.
ORACLE_ARGO_VERSION=${ORACLE_ARGO_VERSION:-v3.7.18}
# helm 4 (helm 3's support ended in November 2026); it waits with kstatus and names what is
# not ready.
HELM_VERSION=${HELM_VERSION:-v4.3.1}

BIN=${ARGO_ADMISSION_BIN:-$HOME/.cache/argo-admission/bin}
WORK=${ARGO_ADMISSION_BUILD:-$HOME/.cache/argo-admission/build}
mkdir -p "$BIN" "$WORK"
# -w: no DWARF tables (nobody debugs these binaries), which shortens every link.
export CGO_ENABLED=0 GOFLAGS="-trimpath -ldflags=-w" GOTOOLCHAIN=local

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

# kube_version_ldflags: the version stamps k/k's release build sets (hack/lib/version.sh);
# without them the server says v0.0.0-master and a chart's kubeVersion check fails. The
# module zip is the tag's tree; its commit is not in it (KUBE_GIT_COMMIT names it if known).
kube_version_ldflags() {
  local minor=${KUBE_VERSION#v1.} pkg flags="-w"  # as GOFLAGS says, which -ldflags overrides
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitCommit=${KUBE_GIT_COMMIT:-} -X $pkg.gitTreeState=clean"
    flags+=" -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  echo "$flags"
}

build_kube_apiserver() {
  # The stamp names the version stamps too: a binary built without them is rebuilt.
  fresh kube-apiserver "$KUBE_VERSION+stamped" && return 0
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
  go build -ldflags "$(kube_version_ldflags)" -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  "$BIN/kube-apiserver" --version | grep -qx "Kubernetes $KUBE_VERSION" \
    || die "kube-apiserver does not say it is $KUBE_VERSION: $("$BIN/kube-apiserver" --version)"
  stamp kube-apiserver "$KUBE_VERSION+stamped" $t
}

build_etcd() {
  fresh etcd "$ETCD_VERSION" && return 0
  local t=$SECONDS; say "building etcd $ETCD_VERSION (about 1 minute cold)"
  module etcd
  get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  stamp etcd "$ETCD_VERSION" $t
}

# argo_path <version>: Argo's Go module path at that version (v4 is .../argo-workflows/v4).
argo_path() { echo "github.com/argoproj/argo-workflows/${1%%.*}"; }

# argo_module <dir> <version>: a fresh wrapper module requiring Argo at <version>, with the
# replaces of Argo's own go.mod, which a dependent module must repeat (v3 pins tablewriter to
# v0.0.5 that way; v4 has none).
argo_module() {
  local path gomod old new version
  path=$(argo_path "$2")
  module "$1"
  gomod=$(go mod download -json "$path@$2" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -n "$gomod" ] || die "the Go module proxy did not serve $path@$2"
  while read -r old new version; do
    go mod edit -replace "$old=$new@$version"
  done < <(sed -n 's#^\(replace\)\{0,1\}[[:space:]]*\([^ .][^ ]*\) => \([^ .][^ ]*\) \(v[^ ]*\)$#\2 \3 \4#p' "$gomod")
  get "$path@$2"
}

# argo_source <version>: cd into a wrapper module that builds Argo <version> from a writable
# copy of its source (made once, shared by the controller and the CLI, so Argo's packages are
# compiled once per version).
#
# The CLI embeds ui/dist/app, which the module zip does not ship. Argo's Makefile writes a
# placeholder index.html when STATIC_FILES=false; the copy gets the same.
argo_source() {
  local dir="$WORK/argo-$1" path src
  path=$(argo_path "$1")
  if [ -f "$dir/ready" ]; then cd "$dir"; return 0; fi
  argo_module "argo-$1" "$1"
  get -tool "$path/cmd/workflow-controller@$1" "$path/cmd/argo@$1"
  src=$(go list -m -f '{{.Dir}}' "$path")
  [ -d "$src" ] || die "no source for $path@$1 in the module cache"
  cp -r "$src" argo-workflows && chmod -R u+w argo-workflows
  mkdir -p argo-workflows/ui/dist/app && touch argo-workflows/ui/dist/app/index.html
  go mod edit -replace "$path=./argo-workflows"
  touch ready
}

build_workflow_controller() {
  local version=$1 name=workflow-controller-$1 crds=$BIN/argo-crds-$1
  fresh "$name" "$version" && [ -d "$crds" ] && return 0
  local t=$SECONDS; say "building Argo workflow-controller $version (about 3 minutes cold)"
  argo_source "$version"
  go build -o "$BIN/$name" "$(argo_path "$version")/cmd/workflow-controller" \
    || die "go build of the Argo workflow-controller $version failed (see above)"
  # Argo's CRDs ship in the module; the e2e suite installs them from here.
  rm -rf "$crds" && cp -r argo-workflows/manifests/base/crds/minimal "$crds"
  stamp "$name" "$version" $t
}

build_argo_cli() {
  local version=$1 name=argo-$1
  fresh "$name" "$version" && return 0
  local t=$SECONDS; say "building Argo CLI $version (about 1.5 minutes after its controller)"
  argo_source "$version"
  go build -o "$BIN/$name" "$(argo_path "$version")/cmd/argo" \
    || die "go build of the Argo CLI $version failed (see above)"
  stamp "$name" "$version" $t
}

# The merge oracle: tests/oracle/main.go, Argo's own JoinWorkflowSpec behind a pipe, for the
# differential tests of admission/core/merge/.
build_oracle() {
  local src="$HERE/../oracle/main.go" sum
  sum="$ORACLE_ARGO_VERSION-$(sha256sum "$src" | cut -c1-12)"
  fresh merge-oracle "$sum" && return 0
  local t=$SECONDS; say "building the merge oracle on Argo $ORACLE_ARGO_VERSION (about 1 minute cold)"
  argo_module merge-oracle "$ORACLE_ARGO_VERSION"
  cp "$src" main.go
  go mod tidy >/dev/null 2>&1 || die "go mod tidy failed for the merge oracle"
  go build -o "$BIN/merge-oracle" . || die "go build of the merge oracle failed (see above)"
  stamp merge-oracle "$sum" $t
}

# The operations oracle: tests/oracle/ops, Argo's own client operations (retry, resubmit, resume,
# node set, cron create/update, ...) behind a pipe, once per Argo version (ops-oracle-v4.0.5),
# for the property tests of tests/unit/test_operations.py. Its source names Argo v3's packages;
# for another major version the import paths are rewritten and that version's compat file used.
build_ops_oracle() {
  local version=$1 name=ops-oracle-$1 dir="$HERE/../oracle/ops" major sum
  major=${version%%.*}
  sum="$version-$(cat "$dir/main.go" "$dir/argo.go" "$dir/compat_$major.go" | sha256sum | cut -c1-12)"
  fresh "$name" "$sum" && return 0
  local t=$SECONDS; say "building the operations oracle on Argo $version (about 1 minute after Argo's CLI)"
  argo_module "$name" "$version"
  cp "$dir/main.go" "$dir/argo.go" "$dir/compat_$major.go" .
  sed -i "s#github.com/argoproj/argo-workflows/v3/#$(argo_path "$version")/#" ./*.go
  go mod tidy >/dev/null 2>&1 || die "go mod tidy failed for the operations oracle $version"
  go build -o "$BIN/$name" . || die "go build of the operations oracle $version failed (see above)"
  stamp "$name" "$sum" $t
}

build_helm() {
  fresh helm "$HELM_VERSION" && return 0
  local t=$SECONDS; say "building helm $HELM_VERSION (about 3 minutes cold)"
  local path="helm.sh/helm/${HELM_VERSION%%.*}/cmd/helm"
  module helm
  get -tool "$path@$HELM_VERSION"
  go build -o "$BIN/helm" "$path"
  stamp helm "$HELM_VERSION" $t
}

# Argo's controller and CLI, version after version.
build_argo() {
  local v
  for v in $ARGO_VERSIONS; do build_workflow_controller "$v"; build_argo_cli "$v"; done
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(all)
for target in "${targets[@]}"; do
  case $target in
    all) build_helm; build_etcd; build_kube_apiserver; build_argo; build_oracle
      for v in $ARGO_VERSIONS; do build_ops_oracle "$v"; done ;;
    oracle) build_oracle ;;
    ops-oracle) for v in $ARGO_VERSIONS; do build_ops_oracle "$v"; done ;;
    kube-apiserver) build_kube_apiserver ;;
    etcd) build_etcd ;;
    workflow-controller) for v in $ARGO_VERSIONS; do build_workflow_controller "$v"; done ;;
    argo) for v in $ARGO_VERSIONS; do build_argo_cli "$v"; done ;;
    helm) build_helm ;;
    *) die "unknown target: $target" ;;
  esac
done
say "binaries in $BIN"
