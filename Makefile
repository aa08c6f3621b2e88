# orderly: `make run` serves the app, `make test` runs the whole suite.
# Everything is installed into ./.venv from uv.lock; nothing is installed globally.

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
export UV_COMPILE_BYTECODE := 1

.PHONY: install bytecode run test test-all lint fmt typecheck security migrate bench clean chromium

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(BIN)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	@touch $@

install: $(BIN)/.installed

# Bytecode for orderly's own modules (the lock's packages are compiled on install): a
# start-up otherwise spends ~0.2 s compiling them when PYTHONDONTWRITEBYTECODE is set.
bytecode: install
	$(BIN)/python -m compileall -q src

run: bytecode
	$(BIN)/orderly serve

migrate: install
	$(BIN)/orderly migrate

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

# Medium and high severity findings of bandit (configuration in pyproject.toml).
security: install
	$(BIN)/bandit -c pyproject.toml -r src -ll -q

# The browser tests drive Debian's chromium (Playwright cannot download its own build here):
# installed with apt-get when missing (CI runs as root), nothing to do when present.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

# Coverage of the code the tests run in process (lines and branches; the e2e processes are
# not measured), printed at the end; below the floor the run fails.
COVERAGE := --cov --cov-report=term:skip-covered --cov-fail-under=90

# pytest-xdist: one worker per CPU. Every test makes its own databases, key prefixes, vhosts
# and ports, so they run side by side; the tests that stop the machine's servers (marked
# servers) run alone, after the rest.
WORKERS ?= auto

test: lint typecheck security chromium
	$(BIN)/pytest -m "not slow" -n $(WORKERS) $(COVERAGE)

test-all: lint typecheck security chromium
	ORDERLY_HYPOTHESIS_PROFILE=deep $(BIN)/pytest -m "not servers" -n $(WORKERS)
	$(BIN)/pytest -m servers

bench: bytecode
	$(BIN)/python bench/run.py
	$(BIN)/python bench/profile.py
	$(BIN)/python bench/middleware.py
	$(BIN)/python bench/servers.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
