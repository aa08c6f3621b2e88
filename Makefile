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

.PHONY: install run test test-all lint fmt typecheck migrate bench clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(BIN)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/orderly serve

migrate: install
	$(BIN)/orderly migrate

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -m "not slow"

test-all: lint typecheck
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/middleware.py
	$(BIN)/python bench/servers.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
