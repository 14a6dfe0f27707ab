# zkclear — `make help` lists what you can do.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test test-heavy test-all lint typecheck bench doctor vectors clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

install: $(PY_STAMP) $(NODE_STAMP) ## create .venv, install pinned pip + npm dependencies

$(PY_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,fast,ray]"
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: install ## install, build and run the end-to-end demo on the embedded EVM
	$(BIN)/zkclear demo

test: install ## the test suite (everything but the heavy proving tests)
	$(BIN)/pytest -m "not heavy"

test-heavy: install ## the heavy proving tests (CI runs them too)
	$(BIN)/pytest -m heavy --timeout 3600

test-all: install ## every test
	$(BIN)/pytest

lint: install ## ruff
	$(BIN)/ruff check .

# mypy cannot follow the editable install's import hook (clearing/ is zkclear.clearing,
# ...): scripts/typecheck.py lays the package out as the wheel does in build/typecheck/
# and runs mypy there with pyproject.toml's [tool.mypy], naming the repository's files.
typecheck: install ## mypy on the zkclear package (zkclear/, clearing/, prover/, verifier/)
	$(BIN)/python scripts/typecheck.py

bench: install ## benchmarks (JSON on stdout); see bench/README.md
	$(BIN)/python bench/run.py --quick

doctor: install ## check tools, versions and the artefact cache
	$(BIN)/zkclear doctor

vectors: $(NODE_STAMP) ## regenerate Poseidon constants and test vectors from circomlibjs
	node scripts/gen_poseidon_constants.mjs
	node scripts/gen_poseidon_vectors.mjs

clean: ## remove build artefacts (keeps .venv and node_modules)
	rm -rf build
