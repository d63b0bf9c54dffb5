# callstream: `make up` runs the platform locally, `make test` runs the whole test suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup up test test-unit bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup-system.sh
	./scripts/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

up: setup
	$(BIN)/callstream up

test: setup
	$(BIN)/python -m pytest

test-unit: setup
	$(BIN)/python -m pytest -m "not kafka"

clean:
	-$(BIN)/callstream kafka stop
	rm -rf $(VENV) .callstream
