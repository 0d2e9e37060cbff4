# make install: system packages and .venv      make demo: run the demo school on :8000
# make check: lint, types, migrations, tests    make test: tests only
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: install demo check lint types migrations test directories bench

install:
	scripts/install-system-deps
	scripts/bootstrap

demo: install
	$(PY) manage.py migrate --noinput && $(PY) manage.py collectstatic --noinput -v0 && $(PY) manage.py sync_directory && $(PY) manage.py runserver_demo

check: install
	$(MAKE) --no-print-directory lint types migrations test

lint:
	.venv/bin/ruff check .

types:
	.venv/bin/mypy --strict media_server

migrations:
	$(PY) manage.py makemigrations --check --dry-run

# The whole suite runs in a private network namespace; the fixtures start slapd and Redis in it.
test:
	scripts/netns-run .venv/bin/pytest -q

directories:
	$(PY) scripts/gen_directory.py --preset test -o tests/directory/test_school.ldif
	$(PY) scripts/gen_directory.py --preset demo -o directory/demo_school.ldif

# Benchmarks are not tests: they print numbers and never gate the build.
bench:
	@if [ -x bench/run ]; then bench/run; else echo "bench/run is not there yet"; fi
