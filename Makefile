# argo-admission: `make help` lists the targets.
PY ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
BIN := $(dir $(PY))
PYTEST := $(PY) -m pytest
NETNS := tests/e2e/netns.sh
E2E := ARGO_ADMISSION_REQUIRE_BINARIES=1 ARGO_ADMISSION_REQUIRE_NETNS=1 $(NETNS)
# The Argo versions the e2e suite proves: the whole suite runs on the first, and its Argo tests
# (`-m argo`: Argo's controller, CLI and argo-server) run again on each of the others.
ARGO_VERSIONS := v3.7.18 v4.0.5
ARGO_FIRST := $(firstword $(ARGO_VERSIONS))
ARGO_OTHERS := $(wordlist 2,$(words $(ARGO_VERSIONS)),$(ARGO_VERSIONS))
# Unit tests that ask Argo's own code (the operations oracle), run again for each other version.
ARGO_UNIT := tests/unit/test_operations.py tests/unit/test_gofields.py

.PHONY: help install lint test test-unit test-integration test-e2e test-argo-versions binaries binaries-first chart-lint bench fixtures-update gofields serve

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: ## create .venv and install the package with its test tools
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e '.[test]'

lint: ## ruff (lint and format), mypy --strict on admission/, import-linter contracts
	$(BIN)ruff check admission tests bench
	$(BIN)ruff format --check admission tests bench
	$(BIN)mypy
	$(BIN)lint-imports

binaries: ## build kube-apiserver, etcd, Argo's controller and CLI (each version), helm, the merge and operations oracles (cached)
	env -u ARGO_VERSION ARGO_VERSIONS="$(ARGO_VERSIONS)" tests/e2e/setup.sh all

binaries-first: ## the binaries the whole suite needs: all but the other Argo versions (cached)
	env -u ARGO_VERSION ARGO_VERSIONS="$(ARGO_FIRST)" tests/e2e/setup.sh all

# The other Argo versions are built, and their Argo tests run, beside the whole suite: each stream
# in its own netns with its own control plane. Much of an e2e run waits on the controller, so a
# build and a suite share two cores well. The other stream's output follows the suite's.
test: binaries-first lint ## everything: lint, unit, chart, integration, e2e (real apiserver + Argo, every Argo version), in a loopback-only netns
	@status=0; log=$$(mktemp); \
	  $(MAKE) --no-print-directory test-argo-versions >"$$log" 2>&1 & others=$$!; \
	  ARGO_VERSION=$(ARGO_FIRST) $(E2E) $(PYTEST) tests -q || status=$$?; \
	  wait $$others || status=$$?; cat "$$log"; rm -f "$$log"; exit $$status

test-unit: ## unit tests and policy suites only (no binaries needed)
	$(PYTEST) tests/unit -q -m "not chart"

test-integration: ## the real server: gunicorn + TLS on loopback (the soak: make test)
	$(PYTEST) tests/integration -q -m "not slow"

test-e2e: binaries ## real kube-apiserver + etcd + Argo's controller, CLI and argo-server behind the webhook, every Argo version
	status=0; ARGO_VERSION=$(ARGO_FIRST) $(E2E) $(PYTEST) tests/e2e -q || status=$$?; \
	  $(MAKE) --no-print-directory test-argo-versions || status=$$?; exit $$status

test-argo-versions: binaries ## the Argo e2e tests (-m argo) on every Argo version but the first
	status=0; for version in $(ARGO_OTHERS); do \
	  echo "e2e: the Argo tests on Argo $$version"; \
	  ARGO_VERSION=$$version $(E2E) $(PYTEST) tests/e2e $(ARGO_UNIT) -q -m argo || status=$$?; \
	done; exit $$status

chart-lint: ## helm lint and template tests of charts/argo-admission
	tests/e2e/setup.sh helm
	ARGO_ADMISSION_REQUIRE_BINARIES=1 $(PYTEST) tests/unit -q -m chart

bench: ## benchmarks (print figures; see README "Performance")
	$(PY) bench/run_all.py

fixtures-update: ## regenerate merge expectations from Argo's code and golden reviews (review the diff!)
	tests/e2e/setup.sh oracle
	UPDATE_GOLDEN=1 $(PYTEST) tests/unit/test_merge.py tests/unit/test_reviews.py -q

gofields: ## regenerate admission/core/gofields.py from Argo's Go types, every Argo version (review the diff!)
	env -u ARGO_VERSION ARGO_VERSIONS="$(ARGO_VERSIONS)" tests/e2e/setup.sh ops-oracle
	$(PY) tests/oracle/gofields.py

serve: ## serve the default policy on :8443 with self-generated certs in certs/
	$(BIN)argo-admission serve
