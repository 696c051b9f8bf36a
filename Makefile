# Development tasks. `make run` starts Temporal, the worker and the API (`make run
# WORKERS=N` for more worker processes); `make test` is CI.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run lint test chaos bench format clean-data

install: $(VENV)/.installed-dev

# One stamp per set of extras (.installed-dev, .installed-dev,bench), each newer than
# pyproject.toml once those dependencies are installed, so re-runs skip pip entirely; an
# existing venv is reused rather than recreated.
$(VENV)/.installed-%: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[$*]'
	touch $@

run: install
	$(BIN)/python devstack.py $(if $(WORKERS),--workers $(WORKERS))

# The linters and the suite cover the benchmark too, so they install its extra beside dev.
lint: $(VENV)/.installed-dev,bench
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: lint
	$(BIN)/python -m pytest

# The fault tests alone: workers, Temporal, a receiver and PostgreSQL killed mid-burst.
chaos: install
	$(BIN)/python -m pytest -m chaos tests/chaos

# The delivery benchmark against in-run baselines; `make bench BENCH_ARGS=--quick` is short.
bench: $(VENV)/.installed-dev,bench
	$(BIN)/python -m bench $(BENCH_ARGS)

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-data:
	rm -rf .data
