# rayop — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RAY_STAMP := $(VENV)/.ray-installed
RAY_REQ   := $(shell grep -o 'ray\[default\]==[0-9.]*' pyproject.toml)

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*##/ {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install rayop with its dev dependencies

# Real Ray for kubesim's process runtime (make run, tests/realray/); once per venv.
$(RAY_STAMP): $(STAMP)
	@echo "Installing the ray extra: $(RAY_REQ) (~80 MB download, ~380 MB in .venv), for real Ray pods"
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	@touch $(RAY_STAMP)

.PHONY: install-ray
install-ray: $(RAY_STAMP) ## Also install Ray (the `ray` extra) for real Ray pods in kubesim

.PHONY: run
run: $(RAY_STAMP) ## Start kubesim and the operator in one process, and bring up the seed RayCluster
	$(BIN)/rayop dev

.PHONY: sim
sim: $(STAMP) ## Run kubesim alone (writes ./kubeconfig.yaml)
	$(BIN)/python -m kubesim serve --kubeconfig-out kubeconfig.yaml

CONTROLPLANE := tools/controlplane/build.sh

.PHONY: controlplane
controlplane: ## Build (or reuse) etcd + kube-apiserver + controller-manager + scheduler from Go modules (cache outside the repo)
	nice -n 10 $(CONTROLPLANE)

.PHONY: controlplane-if-go
controlplane-if-go: # what `make test` runs: build when Go is there (failing loudly), else say why not
	@if $(CONTROLPLANE) --check; then nice -n 10 $(CONTROLPLANE) >/dev/null; \
	else echo "make: not building the control plane; tests on the real API server will skip"; fi

.PHONY: realk8s
realk8s: $(STAMP) controlplane ## Run a real control plane built from Go modules (writes ./kubeconfig-realk8s.yaml)
	$(BIN)/python -m tests.controlplane --kubeconfig-out kubeconfig-realk8s.yaml

.PHONY: lint
lint: $(STAMP) ## ruff, mypy --strict and the import layering contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: format
format: $(STAMP) ## Rewrite the code with ruff's formatter and import sorter
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: unit
unit: $(RAY_STAMP) tools controlplane-if-go ## Run the tests alone, without lint
	RAYOP_HELM=$(HELM) $(BIN)/pytest -n auto --dist loadgroup

# ---- deploy tools: helm (built from the Go module proxy into a cache outside the repo) and
# Prometheus + promtool (Debian's package). A tool that cannot be had here is reported, and the
# tests needing it skip naming it; nothing else fails.
TOOLS        ?= $(HOME)/.cache/rayop-tools
HELM_VERSION := v3.22.1
HELM         := $(TOOLS)/helm-$(HELM_VERSION)/helm

.PHONY: tools
tools: helm prometheus ## Build helm and install Prometheus/promtool for the deploy tests

.PHONY: helm
helm: $(HELM) ## Build the pinned helm with `go install` into $(TOOLS)

$(HELM):
	@if command -v go >/dev/null; then \
	  echo "building helm $(HELM_VERSION) into $(dir $(HELM))"; \
	  GOBIN=$(dir $(HELM)) GOFLAGS=-buildvcs=false nice -n 10 go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION) \
	    || echo "helm: go install failed; the helm tests will skip"; \
	else echo "helm: no Go toolchain; the helm tests will skip"; fi

.PHONY: prometheus
prometheus: ## Install Debian's prometheus package (prometheus + promtool) when missing
	@if command -v promtool >/dev/null && command -v prometheus >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) \
	    || echo "prometheus: apt-get install failed; the Prometheus tests will skip"; \
	else echo "prometheus: not root or no apt-get; the Prometheus tests will skip"; fi

.PHONY: test
test: lint unit ## Everything CI runs: lint, type checks, the whole suite

.PHONY: check
check: test ## Alias of `make test`

.PHONY: bench
bench: $(STAMP) ## Run every benchmark in benchmarks/ (prints tables, writes JSON to benchmarks/results/)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

.PHONY: clean
clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache *.egg-info
