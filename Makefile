# Two entry points (README): `make run` serves the dashboard, `make test` runs every test.
# Each installs what it needs into .venv first, from the pinned requirements files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench lint screenshots clean

run: $(VENV)/.runtime
	$(BIN)/python app.py

test: $(VENV)/.dev
	bash scripts/install-debian.sh browser redis containers
	$(BIN)/python -m pytest

bench: $(VENV)/.runtime
	$(BIN)/python cli.py bench --large

screenshots: $(VENV)/.dev
	bash scripts/install-debian.sh browser
	$(BIN)/python scripts/screenshots.py

lint: $(VENV)/.dev
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $(VENV)/.runtime $@

clean:
	rm -rf $(VENV) .pytest_cache
