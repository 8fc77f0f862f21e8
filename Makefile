# ExportAI Deal Ledger — `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test reliability fuzz soak lint typecheck migrate bench screens clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml client/pyproject.toml bench/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]" -e client -e bench
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/exim-ledger migrate

run: migrate
	$(BIN)/exim-ledger serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/python -m pytest

reliability: $(STAMP)
	$(BIN)/python -m pytest -m reliability

# Five times the default budget, on SQLite and PostgreSQL (LEDGER_TEST_POSTGRES_URL).
fuzz: $(STAMP)
	LEDGER_FUZZ_SCALE=5 LEDGER_FUZZ_POSTGRES=1 $(BIN)/python -m pytest -m fuzz -s

lint: $(STAMP)
	$(BIN)/ruff check domain projections service tests tools migrations client bench

typecheck: $(STAMP)
	$(BIN)/mypy

# the full suite; BENCH_DATABASE (a PostgreSQL URL the bench may empty) adds PostgreSQL
bench: $(STAMP)
	$(BIN)/exim-ledger bench $(if $(BENCH_DATABASE),--database $(BENCH_DATABASE))

# not in CI: mixed reads and writes at half the maximum rate for SOAK_SECONDS (ten minutes
# by default); fails on a leak
SOAK_SECONDS ?= 600
soak: $(STAMP)
	$(BIN)/python -m tests.reliability.soak --seconds $(SOAK_SECONDS)

# the dashboard's pages on the demo portfolio, in Debian's Chromium: docs/screens/*.png
screens: $(STAMP)
	$(BIN)/python tools/screens.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
