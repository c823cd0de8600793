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

# This checkout's own random secret key (var/ is never committed): with DEBUG off RetailOps refuses the public
# development key, so manage.py, the benches and mypy read this one. A deployment sets DJANGO_SECRET_KEY.
var/secret_key:
	mkdir -p var
	umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_hex(32))" > $@

install: $(STAMP) var/secret_key

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo --if-empty --queue-models

run: demo
	@echo ""
	@echo "  RetailOps is starting on http://127.0.0.1:$(PORT)/  (Ctrl+C stops web, the two workers — interactive and heavy —, beat and the demo till)"
	@echo "  Demo logins:  owner / owner-demo-2026   accountant / accountant-demo-2026   staff / staff-demo-2026"
	@echo "  POS devices:  one API token per store (user pos-<store code, lower case>): $(BIN)/python manage.py drf_create_token pos-hb01"
	@echo ""
	PATH="$(CURDIR)/$(BIN):$$PATH" PORT=$(PORT) DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/honcho -f Procfile.dev start

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@# Then the reliability suite on its own (real gunicorn, Celery worker, beat and a Redis it stops and freezes;
	@# no xdist: its processes must not compete with test workers). Both run even if the first fails, so the last
	@# table printed is the scorecard of the whole make test.
	status=0; \
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist load --cov --cov-report= --scorecard-file var/scorecard.json \
		|| status=$$?; \
	$(BIN)/pytest -q -p no:xdist reliability --scorecard-file var/scorecard.json --scorecard-append || status=$$?; \
	exit $$status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: install
	RETAILOPS_PRODUCTION=1 DJANGO_SECRET_KEY=$$(openssl rand -hex 32) DJANGO_ALLOWED_HOSTS=example.com \
		$(BIN)/python manage.py check --deploy --fail-level WARNING
