# `make run`: the whole pipeline on the embedded defaults. `make test`: the whole suite.
# Both create the virtualenv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck schemas docs lock unit install clean bench-receiver bench-sink bench-streams bench-codec bench-floor

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The pipeline plus a moderate simulation (HOPSTREAM_SIMULATE_*), until Ctrl-C. A short
# late-click grace, so the simulated unknown click ids show as issues within the minute.
run: $(STAMP)
	HOPSTREAM_LATE_CLICK_GRACE_S=$${HOPSTREAM_LATE_CLICK_GRACE_S:-30} $(BIN)/hopstream dev --simulate $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

schemas: $(STAMP)
	$(BIN)/hopstream schemas

# The generated references (docs/configuration.md, docs/topics.md) must match the code.
docs: $(STAMP)
	$(BIN)/hopstream docs

test: lint typecheck schemas docs
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# Receiver throughput and latency against a bare aiohttp handler (bench/receiver).
bench-receiver: $(STAMP)
	$(BIN)/python -m bench.receiver $(ARGS)

# Sink throughput (rows/s per process, inserts/s per table); ARGS="--rows 500000" etc.
bench-sink: $(STAMP)
	$(BIN)/python bench/sink.py $(ARGS)

# deploy/requirements.lock: every package the image installs, pinned (after a dependency change).
lock: $(STAMP)
	$(BIN)/python deploy/lock.py

# Worker throughput vs a raw consumer loop, and peak RSS (README, "Performance").
bench-streams: $(STAMP)
	$(BIN)/python -m bench.streams $(ARGS)

# About the least the worker's handling costs per click + postback in Python, step by step
# (a bare loop, no Faust, no broker): what the streams benchmark's ratio goal is held against.
bench-floor: $(STAMP)
	$(BIN)/python -m bench.floor $(ARGS)

# Codec cost per message (ns per decode/encode), before and after its generated fast path.
bench-codec: $(STAMP)
	$(BIN)/python -m bench.codec $(ARGS)

clean:
	rm -rf $(VENV) .hopstream .pytest_cache .mypy_cache .ruff_cache
