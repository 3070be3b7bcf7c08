# OpsAssist. `make up` runs the product, `make test` runs the tests; `make help` lists the rest.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# VENV=/path/to/venv installs into and runs from another virtualenv (CI's smoke step builds a fresh one).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help install up web worker beat agent test test-deps smoke lint typecheck format migrate bootstrap shell clean

help: ## List every target
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP) $@

install: $(STAMP) ## Create the virtualenv and install the runtime requirements (requirements.txt only)

up: $(STAMP) ## Install, migrate, create admin + token, serve web + websocket + worker + beat (port OPSASSIST_PORT, default 8000)
	OPSASSIST_SIMULATION=$${OPSASSIST_SIMULATION:-1} $(PY) manage.py up

web: $(STAMP) ## Service mode: uvicorn (ASGI, HTTP + WebSocket), WEB_CONCURRENCY workers (default 2)
	$(PY) manage.py serve --host $${OPSASSIST_HOST:-127.0.0.1} --workers $${WEB_CONCURRENCY:-2}

worker: $(STAMP) ## Service mode: a Celery worker (checks, notifications, analysis, remediation)
	$(VENV)/bin/celery -A opsassist worker --loglevel $${LOG_LEVEL:-INFO} -Q $${CELERY_QUEUES:-celery,checks,notifications,correlation,alerts}

beat: $(STAMP) ## Service mode: Celery beat (correlation, due health checks, escalations)
	$(VENV)/bin/celery -A opsassist beat --loglevel $${LOG_LEVEL:-INFO} --schedule $${OPSASSIST_VAR_DIR:-var}/celerybeat-schedule

agent: $(STAMP) ## Host agent: heartbeats to OPSASSIST_URL with OPSASSIST_TOKEN (AGENT_ARGS for --process ...)
	$(PY) manage.py agent $(AGENT_ARGS)

migrate: $(STAMP) ## Apply database migrations
	$(PY) manage.py migrate

bootstrap: $(STAMP) ## Create the admin user and API token if missing
	$(PY) manage.py bootstrap

shell: $(STAMP) ## Django shell
	$(PY) manage.py shell

test: $(DEV_STAMP) ## Run the whole test suite (SQLite, or PostgreSQL when DATABASE_URL is set)
	$(PY) -m pytest $(PYTEST_ARGS)

test-deps: ## Install system packages used by end-to-end tests (as root: prometheus, prometheus-alertmanager, chromium)
	scripts/install-test-deps.sh

smoke: ## Service mode from nothing: fresh venv, PostgreSQL + Redis, events -> incident -> WebSocket, Ctrl-C
	scripts/smoke-service.sh

lint: $(DEV_STAMP) ## ruff check
	$(VENV)/bin/ruff check .

typecheck: $(DEV_STAMP) ## mypy over the apps (settings and paths in pyproject.toml)
	$(VENV)/bin/mypy

format: $(DEV_STAMP) ## ruff format
	$(VENV)/bin/ruff format .

clean: ## Remove the virtualenv and local state (var/)
	rm -rf $(VENV) var
