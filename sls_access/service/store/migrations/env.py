"""Alembic's environment for the state's migrations: run on the connection the store hands it.

:func:`sls_access.service.store.sql.migrate` calls ``alembic.command.upgrade`` with the
connection in ``config.attributes["connection"]``; there is no ``alembic.ini``.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, version_table="alembic_version")
with context.begin_transaction():
    context.run_migrations()
