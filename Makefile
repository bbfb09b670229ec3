# yilian: every target installs what it needs into .venv first, so a fresh clone needs only
# Python 3.11+ (and, for the PostgreSQL suite, a reachable server; see .ci/run).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck importlint unit bench clean

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
	$(BIN)/ruff check src tests tools
	$(BIN)/ruff format --check src tests tools

typecheck: install
	$(BIN)/mypy src

importlint: install
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest -q -n 2 --dist loadfile

test: lint typecheck importlint unit

# Benchmarks: every script in bench/ (each prints its figures and writes bench/results/*.json).
bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
