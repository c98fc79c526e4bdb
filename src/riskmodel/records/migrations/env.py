"""Alembic's environment for the audit database.

Run only through :func:`riskmodel.records.audit.migrate`, which passes the open
connection (in its transaction, holding the writers' lock) as
``config.attributes["connection"]``: no ``alembic.ini``, no URL of its own, no logging
configuration.
"""

from __future__ import annotations

from alembic import context

from riskmodel.records.audit import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
