# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test install migrate demo serve check benchmark-ocpp benchmark-remote clean messages

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

migrate: install
	@$(PY) manage.py migrate --noinput -v0

# Sets everything up (venv, install, migrate, static files, demo data) and starts daphne with a
# Celery worker and beat, together; one Ctrl-C stops them all.
run: migrate
	@$(PY) manage.py collectstatic --noinput -v0
	@PORT=$(PORT) $(PY) manage.py demo_data
	@PORT=$(PORT) PY=$(PY) ./scripts/run-all.sh

# First line: which database and channel layer the run uses (PostgreSQL and Redis are used when
# they answer on 127.0.0.1, or as DATABASE_URL/REDIS_URL say).
test:
	@. ./scripts/test-env.sh && $(MAKE) --no-print-directory install && \
		./scripts/ensure-chromium.sh && \
		$(PY) -m pytest $(PYTEST_ARGS)

# On demand, never in CI: OCPP load against daphne (PostgreSQL + Redis) and the bare ocpp server.
# BENCH_ARGS e.g. "--scenarios saturation,fleet --size fleet=1000"; see benchmarks/run_all.py --help.
benchmark-ocpp: install
	@PY=$(PY) ./benchmarks/run_all.sh $(BENCH_ARGS)

# On demand, never in CI: the remote-control round trip across two daphnes (PostgreSQL + Redis).
# BENCH_ARGS e.g. "--calls 1000 --chargers 1000"; see benchmarks/remote_roundtrip.py --help.
benchmark-remote: install
	@DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/csms_bench} \
		REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} $(PY) benchmarks/remote_roundtrip.py $(BENCH_ARGS)

check: install
	@$(PY) manage.py check
	@$(PY) manage.py makemigrations --check --dry-run -v0

messages: install
	@$(PY) manage.py makemessages -l fr -l de -l it --ignore=.venv --ignore=var
	@$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var db.sqlite3
