# callstream: `make up` runs the platform locally, `make test` runs the whole test suite.
# Both install exactly what requirements.lock pins (with hashes); `make lock` refreshes it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
# the installer, pinned by hash like everything else
TOOLS  := tools.lock
# byte-compiled at install, as pip does: two fresh-clone suites without it ran ~190 s slower
# and `up`'s dashboard showed no lag within its minute (a dozen processes compiling at once)
UV     := $(BIN)/uv pip install -q --python $(BIN)/python --no-deps --compile-bytecode

.PHONY: setup up test test-unit lint lock bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(LOCK) $(TOOLS) scripts/setup-system.sh
	./scripts/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r $(TOOLS)
	$(UV) --require-hashes -r $(LOCK)
	$(UV) --no-build-isolation -e .
	touch $(STAMP)

up: setup
	$(BIN)/callstream up

test: setup
	$(BIN)/python -m pytest

test-unit: setup
	$(BIN)/python -m pytest -m "not kafka and not s3"

lint: setup
	$(BIN)/ruff check callstream tests bench
	$(BIN)/mypy

# `make lock` pins what pyproject.toml added and keeps every other pin; `make lock UPGRADE=1`
# refreshes every pin to the newest release pyproject.toml allows. Run `make test` on the
# result before committing it: the lock is what CI and every new machine install.
lock:
	$(PYTHON) -m venv /tmp/callstream-lock-tool
	/tmp/callstream-lock-tool/bin/pip install -q --require-hashes -r $(TOOLS)
	/tmp/callstream-lock-tool/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--generate-hashes $(if $(UPGRADE),--upgrade) --quiet -o $(LOCK)
	$(PYTHON) scripts/lock_stamp.py write $(LOCK)

clean:
	-$(BIN)/callstream kafka stop
	rm -rf $(VENV) .callstream
