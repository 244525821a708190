"""Shared by the benchmark scripts: make sure the benchmark's PostgreSQL database exists."""

from __future__ import annotations


def ensure_database(database_url: str) -> None:
    """Create the database named at the end of ``database_url`` when it is missing (a new machine)."""
    import psycopg

    name = database_url.rsplit("/", 1)[-1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def checkpoint(database_url: str) -> None:
    """Statistics, then a checkpoint, before a run is timed.

    ``VACUUM ANALYZE``: the planner needs statistics of the tables earlier runs filled, and their
    dead rows (every station's row is rewritten at each connect and last-seen update) must go.
    Where autovacuum is off (as on the machine of the README's figures, where no table of the
    benchmark database had ever been analysed), nothing else does it. The checkpoint flushes the
    previous run's writes, and PostgreSQL's timed checkpoint (every 5 minutes) does not fall
    inside the run."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
