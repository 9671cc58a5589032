# The two commands: `make run` starts the platform, `make test` installs and tests it.
# A failing command before a pipe fails the target.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
STAMP := $(VENV)/.installed-dev
RUN_STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)

run: $(RUN_STAMP)
	HOTLINE_DEV=$${HOTLINE_DEV-1} HOTLINE_DATA_DIR=$${HOTLINE_DATA_DIR-$(DATA_DIR)} $(BIN)/hotline serve --migrate --seed-demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m agent_console.catalogs --check

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage report | grep -E '^(Name|TOTAL)'
	@# STYLE.md: the pure cores (routing, rooms) are covered completely, every branch.
	$(BIN)/coverage report --include='routing/*,rooms/*' --fail-under=100 | grep -E '^(Name|TOTAL)' 

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
