# make install: system packages and .venv      make demo: run the demo school on :8000
# make check: lint, types, migrations, tests    make test: tests only
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: install demo check lint types migrations test directories bench screenshots

install:
	scripts/install-system-deps
	scripts/bootstrap

demo: install
	$(PY) manage.py migrate --noinput && $(PY) manage.py collectstatic --noinput -v0 && $(PY) manage.py sync_directory && $(PY) manage.py runserver_demo

check: install
	$(MAKE) --no-print-directory lint types migrations test

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

types:
	.venv/bin/mypy --strict config accounts classroom slides media_server

migrations:
	$(PY) manage.py makemigrations --check --dry-run

# The suite runs in three parts, each in a private network namespace where the fixtures start
# slapd, Redis, PostgreSQL and daphne (README, "Tests"): the whole suite in the embedded shape
# (SQLite, in-memory channel layer); the tests that touch the database on PostgreSQL; and those
# of the packages behind the room socket in the production shape (PostgreSQL, REDIS_URL, two
# daphne processes). Every part runs; the target fails if any did.
PYTEST := scripts/netns-run .venv/bin/pytest -q
PRODUCTION_SHAPED := tests/room tests/recess tests/slides tests/media_cluster
ON_POSTGRES := tests $(addprefix --ignore=,tests/browser tests/media $(PRODUCTION_SHAPED))

test:
	@failed=""; \
	part() { name=$$1; shift; start=$$SECONDS; "$$@" || failed="$$failed $$name"; \
	  echo "make test: $$name took $$((SECONDS - start)) s"; }; \
	part embedded $(PYTEST); \
	part postgres env CV_TEST_DATABASE=postgres $(PYTEST) -m database $(ON_POSTGRES); \
	part production env CV_TEST_SHAPE=production $(PYTEST) -m database $(PRODUCTION_SHAPED); \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed"; exit 1; fi

directories:
	$(PY) scripts/gen_directory.py --preset test -o tests/directory/test_school.ldif
	$(PY) scripts/gen_directory.py --preset demo -o directory/demo_school.ldif

# Benchmarks are not tests: they print numbers and never gate the build.
bench:
	@if [ -x bench/run ]; then bench/run; else echo "bench/run is not there yet"; fi

# Every page at 1366x768 and 360x740, in French and English, into docs/screenshots/ (README).
screenshots:
	scripts/netns-run $(PY) scripts/screenshots.py
