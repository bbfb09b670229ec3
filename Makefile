# yilian: every target installs what it needs into .venv first, so a fresh clone needs only
# Python 3.11+ (and, for the PostgreSQL suite, a reachable server; see .ci/run).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck importlint unit bench bench-quick clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "yilian needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/yilian demo

lint: install
	$(BIN)/ruff check src tests tools bench
	$(BIN)/ruff format --check src tests tools bench

typecheck: install
	$(BIN)/mypy src bench

importlint: install
	$(BIN)/lint-imports
	$(BIN)/python tools/check_import_cycles.py

unit: install
	$(BIN)/pytest -q -n 2 --dist loadfile

test: lint typecheck importlint unit

# Benchmarks (bench/run.py: CRUD, ingest, bulk, searches and their growth at 100, 1,000 and
# 10,000 patients on SQLite and PostgreSQL, each beside its direct-SQL baseline; then the audit
# overhead).  Each prints its table and writes bench/results/*.json.  bench-quick: about a minute.
bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/audit_overhead.py
	$(BIN)/python bench/worker_latency.py
	$(BIN)/python bench/decimal_cost.py
	$(BIN)/python bench/synth_rate.py
	$(BIN)/python bench/mllp_rate.py

bench-quick: install
	$(BIN)/python bench/run.py --quick
	$(BIN)/python bench/audit_overhead.py --quick
	$(BIN)/python bench/worker_latency.py --quick
	$(BIN)/python bench/decimal_cost.py --quick
	$(BIN)/python bench/synth_rate.py --quick
	$(BIN)/python bench/mllp_rate.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
