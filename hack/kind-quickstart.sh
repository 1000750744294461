#!/usr/bin/env bash
# The README's "Try it on kind", as a script: a kind cluster with Argo Workflows (its quick-start
# manifests), this repository's image built and loaded into kind, the chart installed, then one
# Workflow refused (inline templates) and one admitted (a ref into the library). Needs docker,
# kind, kubectl (>= 1.31) and helm; run from the repository's top. tests/unit/test_quickstart.py
# holds the steps below to the README's, line for line.
set -euo pipefail
cd "$(dirname "$0")/.."

expect_refused() {
  if "$@"; then
    echo "expected a refusal: $*" >&2
    exit 1
  fi
}

# --- steps (the README's "Try it on kind") ---
kind create cluster --name argo-admission
kubectl create namespace argo
kubectl apply -n argo -f https://github.com/argoproj/argo-workflows/releases/download/v3.7.18/quick-start-minimal.yaml
kubectl -n argo rollout status deploy/workflow-controller --timeout=180s
docker build --build-arg COMMIT="$(git rev-parse HEAD)" -t argo-admission:dev .
kind load docker-image argo-admission:dev --name argo-admission
helm install argo-admission charts/argo-admission -n argo-admission --create-namespace --set image.repository=argo-admission --set image.tag=dev --set image.pullPolicy=Never --wait
kubectl wait --for=create validatingwebhookconfiguration/argo-admission --timeout=60s
kubectl apply -n argo -f examples/library/hello.yaml
expect_refused kubectl create -n argo -f examples/bad/inline.yaml
kubectl create -n argo -f examples/good/hello.yaml
# --- end of steps ---

echo "one Workflow refused, one admitted: kubectl -n argo get workflows"
