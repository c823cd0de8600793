# RetailOps — the two commands a newcomer needs:  make run  ·  make test
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
# pytest-xdist workers for make test: one per core (auto); TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= auto

.PHONY: run test install migrate demo lint format check bench clean-db help

help:
	@echo "make run   - install, migrate, load the demo chain (if empty) and start web + worker + beat"
	@echo "make test  - install and run the whole test suite (lint, unit, integration, browser)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

# Reinstall when the declared or pinned dependencies change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo --if-empty --queue-models

run: demo
	@echo ""
	@echo "  RetailOps is starting on http://127.0.0.1:$(PORT)/  (Ctrl+C stops web, worker, beat and the demo till)"
	@echo "  Demo logins:  owner / owner-demo-2026   accountant / accountant-demo-2026   staff / staff-demo-2026"
	@echo ""
	PATH="$(CURDIR)/$(BIN):$$PATH" PORT=$(PORT) DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/honcho -f Procfile.dev start

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist load --cov --cov-report=

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: install
	RETAILOPS_PRODUCTION=1 DJANGO_SECRET_KEY=$$(openssl rand -hex 32) DJANGO_ALLOWED_HOSTS=example.com \
		$(BIN)/python manage.py check --deploy --fail-level WARNING
