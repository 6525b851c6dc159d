"""Opening the state's database: SQLite (a 0600 file in a 0700 directory) or PostgreSQL, and migrating it.

The schema comes from the Alembic migrations shipped in this package
(``sls_access/service/store/migrations``), applied by :func:`migrate` through Alembic's
public API (``command.upgrade`` on a connection handed to the migrations' ``env.py``).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sls_access.errors import ConfigError

__all__ = ["create_engine", "migrate"]


def migrate(connection: Connection) -> None:
    """Bring the schema on *connection* to the newest migration (alembic's ``upgrade head``)."""
    from alembic import command  # noqa: PLC0415 - only when a store opens
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    with resources.as_file(resources.files("sls_access.service.store") / "migrations") as where:
        config.set_main_option("script_location", str(where))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _sqlite_file(database: str) -> None:
    """Create the SQLite file 0600 in a 0700 directory when it does not exist yet."""
    path = Path(database)
    if not path.is_absolute():
        raise ConfigError(
            f"the SQLite state must be an absolute path (sqlite:////abs/path), not {database!r}", key="state"
        )
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def create_engine(url: sa.URL) -> Engine:
    """Return the engine of the state at *url* (a SQLite file is created first, private)."""
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ConfigError("the SQLite state must be a file: sqlite:////abs/path", key="state")
        _sqlite_file(url.database)
        engine = sa.create_engine(url.set(drivername="sqlite+pysqlite"), connect_args={"timeout": 10})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi: Any, _record: object) -> None:  # noqa: ANN401 - a DB-API connection
            cursor = dbapi.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.get_backend_name() == "postgresql":
        return sa.create_engine(
            url.set(drivername="postgresql+psycopg"),
            pool_pre_ping=True,
            pool_size=4,
            max_overflow=4,
            pool_timeout=5,
            connect_args={"connect_timeout": 5, "options": "-c statement_timeout=10000"},
        )
    raise ConfigError(
        f"the state must be sqlite:///ABS/PATH or postgresql://..., not {url.get_backend_name()}", key="state"
    )
