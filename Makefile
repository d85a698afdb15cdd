# `make run`: the whole pipeline on the embedded defaults. `make test`: the whole suite.
# Both create the virtualenv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck schemas unit install clean bench-streams

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/hopstream dev $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

schemas: $(STAMP)
	$(BIN)/hopstream schemas

test: lint typecheck schemas
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# Worker throughput vs a raw consumer loop, and peak RSS (README, "Benchmarks").
bench-streams: $(STAMP)
	$(BIN)/python -m bench.streams $(ARGS)

clean:
	rm -rf $(VENV) .hopstream .pytest_cache .mypy_cache .ruff_cache
