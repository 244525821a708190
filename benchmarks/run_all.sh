#!/usr/bin/env bash
# The OCPP load benchmarks, CSMS against the bare ocpp server; see benchmarks/run_all.py --help.
# Needs PostgreSQL and Redis on 127.0.0.1. Run on demand, never in CI.
set -eu
cd "$(dirname "$0")/.."
exec "${PY:-.venv/bin/python}" benchmarks/run_all.py "$@"
