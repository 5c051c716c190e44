"""Alembic environment: the URL comes from voicecast settings, never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from orchestrator.store.models import Base
from voicecast.settings import get_settings

config = context.config
url = config.attributes.get("database_url") or get_settings().db_url
target_metadata = Base.metadata


def run_offline() -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
