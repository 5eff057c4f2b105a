"""Alembic environment: runs migrations on the connection (or URL) that bot.migrations passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bot.records.database import make_engine, normalise_url
from bot.records.models import Base

# Imported for their tables, which join Base.metadata.
from bot.shared_state import database as shared_db  # noqa: F401
from bot.staff import auth, card_edits, curated, reviews, users, volunteer_replies  # noqa: F401

config = context.config


def _configure(connection: Connection) -> None:
    # Batch mode: SQLite can only ALTER a table by copying it; Alembic does that when render_as_batch.
    context.configure(
        connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """`alembic upgrade --sql`: print the DDL for a DBA instead of running it."""
    context.configure(
        url=normalise_url(config.attributes["url"]), target_metadata=Base.metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = make_engine(config.attributes["url"])
    try:
        with engine.begin() as own_connection:
            _configure(own_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
