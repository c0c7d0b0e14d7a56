# healthexport — `make run` serves, `make test` checks. Both install what is missing first.
# `make run` installs the runtime requirements only; test, lint and bench add the dev ones.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python

# The test suite's real services: scripts/start-services.sh starts them when they are on this
# machine and not up, and waits for them elsewhere (CI's service containers).
export TEST_DATABASE_URL ?= postgis://postgres:postgres@127.0.0.1:5432/healthexport
export TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_ARGS ?=

.PHONY: run test lint format bench system-run system-test services venv venv-runtime

run: system-run venv-runtime
	scripts/run.sh

# The tests and benchmarks ignore .env (DOTENV_PATH empty): what they run against is set here.
test: system-test venv services lint
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=test-only-secret DOTENV_PATH= \
		$(VENV)/bin/pytest $(PYTEST_ARGS)
	env -u DATABASE_URL -u REDIS_URL SECRET_KEY=test-only-secret DOTENV_PATH= \
		$(VENV)/bin/pytest -m embedded $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: system-test venv services
	@for script in bench/[!_]*.py; do \
		echo "== $$script"; \
		DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=bench-only-secret DOTENV_PATH= \
			$(PYTHON) $$script || exit 1; \
	done

system-run:
	scripts/setup-system.sh run

system-test:
	scripts/setup-system.sh test

services:
	scripts/start-services.sh

# One stamp per requirements file: a dev venv is not reinstalled by `make run`, nor each test run.
venv-runtime: $(VENV)/.installed

venv: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	[ -x $(PYTHON) ] || /usr/bin/python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PYTHON) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@
