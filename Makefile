# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	# torch first, pinned: the CPU build; an unpinned one drags in gigabytes of CUDA wheels.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,st]'
	touch $(TEST_STAMP)

run: $(STAMP)
	$(BIN)/kb init
	$(BIN)/kb demo-load --if-empty content/demo
	$(BIN)/kb serve --demo-users

test: $(TEST_STAMP)
	$(BIN)/ruff check kb indexer api eval cli tests
	$(BIN)/mypy
	ZHIKU_TEST_PG_URL="$${ZHIKU_TEST_PG_URL:-$$(bash .ci/postgres.sh)}" $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check kb indexer api eval cli tests
	$(BIN)/ruff format --check kb indexer api eval cli tests
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/kb eval ../shared/bench/bq ../shared/bench/atec --mode all --out reports/bench

clean-data:
	rm -rf data
