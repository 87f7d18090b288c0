# Two entry points (README): `make run` serves the dashboard, `make test` runs every test.
# Each installs what it needs into .venv first, from the pinned requirements files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-fast bench bench-browser bench-peers lint screenshots clean

run: $(VENV)/.runtime
	$(BIN)/python app.py

test: $(VENV)/.dev
	bash scripts/install-debian.sh browser redis containers
	$(BIN)/python -m pytest

# the edit-test loop: no root, no browser, no Redis, no container; the tiers are markers
# (pyproject.toml) set by tests/conftest.py
test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest -m "not browser and not cluster and not deploy and not slow"

bench: $(VENV)/.runtime
	$(BIN)/python cli.py bench --large

# the page's speed in the browser (docs/performance.md): the app served as in production, driven in headless
# Chromium (Debian's chromium and chromium-driver, as for the screenshots)
bench-browser: $(VENV)/.dev
	bash scripts/install-debian.sh browser
	$(BIN)/python scripts/bench_browser.py

# the engine beside the same training in JAX: JAX is an optional extra, installed
# here only (pinned in requirements-peers.txt; CI never installs it)
bench-peers: $(VENV)/.runtime
	$(BIN)/python -m pip install -q -r requirements-peers.txt
	$(BIN)/python cli.py bench --peers

screenshots: $(VENV)/.dev
	bash scripts/install-debian.sh browser
	$(BIN)/python scripts/screenshots.py

lint: $(VENV)/.dev
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# the pinned requirements, then this project as an editable package (its own dependencies
# are ranges that the pins satisfy: --no-deps keeps the pins)
$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(VENV)/.runtime $@

clean:
	rm -rf $(VENV) .pytest_cache
