# argo-admission: `make help` lists the targets.
PY ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
BIN := $(dir $(PY))
PYTEST := $(PY) -m pytest
NETNS := tests/e2e/netns.sh

.PHONY: help install lint test test-unit test-integration test-e2e binaries chart-lint bench fixtures-update serve

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: ## create .venv and install the package with its test tools
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e '.[test]'

lint: ## ruff, mypy --strict on admission/, import-linter contracts
	$(BIN)ruff check admission tests bench
	$(BIN)mypy
	$(BIN)lint-imports

binaries: ## build kube-apiserver, etcd, Argo's controller and CLI, helm, the merge oracle (cached)
	tests/e2e/setup.sh all

test: binaries lint ## everything: lint, unit, chart, integration, e2e (real apiserver + Argo), in a loopback-only netns
	ARGO_ADMISSION_REQUIRE_BINARIES=1 ARGO_ADMISSION_REQUIRE_NETNS=1 $(NETNS) $(PYTEST) tests -q

test-unit: ## unit tests and policy suites only (no binaries needed)
	$(PYTEST) tests/unit -q -m "not chart"

test-integration: ## the real server: gunicorn + TLS on loopback
	$(PYTEST) tests/integration -q

test-e2e: binaries ## real kube-apiserver + etcd + Argo's workflow-controller behind the webhook
	ARGO_ADMISSION_REQUIRE_BINARIES=1 ARGO_ADMISSION_REQUIRE_NETNS=1 $(NETNS) $(PYTEST) tests/e2e -q

chart-lint: ## helm lint and template tests of charts/argo-admission
	tests/e2e/setup.sh helm
	ARGO_ADMISSION_REQUIRE_BINARIES=1 $(PYTEST) tests/unit -q -m chart

bench: ## benchmarks (print figures; see README "Performance")
	$(PY) bench/run_all.py

fixtures-update: ## regenerate merge expectations from Argo's code and golden reviews (review the diff!)
	tests/e2e/setup.sh oracle
	UPDATE_GOLDEN=1 $(PYTEST) tests/unit/test_merge.py tests/unit/test_reviews.py -q

serve: ## serve the default policy on :8443 with self-generated certs in certs/
	$(BIN)argo-admission serve
