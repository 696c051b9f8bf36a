# Development tasks. `make run` starts Temporal, the worker and the API; `make test` is CI.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run lint test chaos format clean-data

install: $(VENV)/.installed

# The stamp is newer than pyproject.toml once its dependencies are installed, so re-runs
# skip pip entirely; an existing venv is reused rather than recreated.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

run: install
	$(BIN)/python devstack.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: install lint
	$(BIN)/python -m pytest

# The fault tests alone: workers, Temporal, a receiver and PostgreSQL killed mid-burst.
chaos: install
	$(BIN)/python -m pytest -m chaos tests/chaos

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-data:
	rm -rf .data
