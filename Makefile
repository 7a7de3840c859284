# floodmark: every target does its own setup, idempotently (see README "Setup").
#
#   make run    a 30-second replog chaos run under the default schedule (venv, Docker, images first)
#   make test   lint and the whole test suite, integration and slow tests included
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.floodmark-installed
IMAGES ?= base toxiproxy replog
TIME_LIMIT ?= 30
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: help venv docker images browser lint test run clean docs

help:
	@echo "make run     venv + Docker + images, then a $(TIME_LIMIT) s floodmark run under the default fault schedule (RUN_ARGS=...)"
	@echo "make test    venv + Docker + images + browser + lint, then pytest (PYTEST_ARGS=...)"
	@echo "make venv | docker | images | browser | lint | clean"

# The virtualenv, reinstalled only when pyproject.toml changes.
venv: $(STAMP)
$(STAMP): pyproject.toml
	@scripts/ensure-venv.sh $(VENV) $(PYTHON)
	@touch $@

docker:
	@scripts/ensure-docker.sh

images: venv docker
	$(PY) -m compose.images build $(IMAGES)

browser:
	@if [ -f scripts/ensure-chromium.sh ]; then bash scripts/ensure-chromium.sh >/dev/null; fi

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict
	$(VENV)/bin/lint-imports

# The suite runs under coverage (subprocesses too); the per-package floors of pyproject.toml
# are enforced on a whole run (no PYTEST_ARGS), reported only on a partial one.
test: venv docker images browser lint
	@rm -f .coverage .coverage.* coverage.json; rc=0; \
	$(VENV)/bin/coverage run -m pytest $(PYTEST_ARGS) || rc=$$?; \
	$(VENV)/bin/coverage combine -q >/dev/null 2>&1 || true; \
	$(VENV)/bin/coverage json -q -o coverage.json >/dev/null 2>&1 || true; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5); that is a failure" >&2; exit 1; fi; \
	floors=0; $(PY) scripts/coverage-floors.py coverage.json $(if $(PYTEST_ARGS),--report-only) || floors=$$?; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; \
	exit $$floors

# The safe replog configuration under the default schedule (every fault package plus the
# protocol-aware triggers); RUN_ARGS="--nemesis none" runs it without faults.
run: venv docker images
	$(VENV)/bin/floodmark run --time-limit $(TIME_LIMIT) $(RUN_ARGS)

clean: venv
	$(VENV)/bin/floodmark clean

# The README's registry tables (faults, checkers, systems, suites) from the registries.
docs: venv
	$(PY) -m harness.catalogue README.md
