# rayop — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

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

.PHONY: run
run: $(STAMP) ## Start kubesim and the operator in one process, and bring up the seed RayCluster
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
unit: $(STAMP) controlplane-if-go ## Run the tests alone, without lint
	$(BIN)/pytest

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
