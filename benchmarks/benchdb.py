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
    """A checkpoint now: the previous run's writes are flushed before the next one is timed, and
    PostgreSQL's timed checkpoint (every 5 minutes) does not fall inside it."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
