# Two entry points for a fresh machine (Python 3.11): `make serve` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test check install system-test-deps

$(BIN)/pufa: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned in pyproject.toml: the CPU wheel, never the CUDA one.
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/pufa

# Installs, builds the statute index on first run (model conversion + embedding, ~2–3 min), then serves.
serve: install
	$(BIN)/pufa serve --host $${PUFA_HOST:-127.0.0.1} --port $${PUFA_PORT:-8000}

# Servers and the browser the tests need come from Debian's packages.
system-test-deps:
	sh scripts/install-test-deps.sh

# Lint and types first (seconds, and a failure names the line), then the suite.
check: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install system-test-deps check
	$(BIN)/python -m pytest
