# Quick start: `make run` (the app; the demo portal when nothing is configured) and `make test`.
# Both bootstrap everything they need: a pinned uv, a virtual environment from uv.lock.

PY ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# `make run PORT=8081` when 8080 is taken.
PORT ?= 8080

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_LINK_MODE := copy

.PHONY: run test lint typecheck unit e2e bench clean

$(UV):
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python "$$($(PY) -c 'import sys; print(sys.executable)')"
	touch $@

# Serve for real when the Bitrix24 credentials are configured, otherwise the demo portal.
run: $(VENV)/.synced
	@if [ -n "$$TOUCHPOINTS_B24_CLIENT_ID" ]; then \
		exec $(BIN)/touchpoints serve --port $(PORT); \
	else \
		exec $(BIN)/touchpoints demo --port $(PORT); \
	fi

lint: $(VENV)/.synced
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(VENV)/.synced
	$(BIN)/mypy

# The whole suite: lint, layering, types, then every test (unit, contracts, integration, e2e).
# The browser tests run in their own pytest process: Playwright's sync API keeps an event
# loop running in the main thread, which the asyncio tests cannot share.
test: lint typecheck
	bash scripts/test-deps.sh
	$(BIN)/pytest --ignore=tests/e2e $(PYTEST_ARGS)
	bash scripts/e2e-deps.sh
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

e2e: $(VENV)/.synced
	bash scripts/e2e-deps.sh
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

unit: $(VENV)/.synced
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .touchpoints .pytest_cache .mypy_cache .ruff_cache
