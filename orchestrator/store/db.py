"""Database engine, sessions and the one-shot migration step (Alembic)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from voicecast.errors import VoicecastError
from voicecast.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(eng, "connect")
        def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets the progress reader and the recorder work at the same time.
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return eng
    return create_engine(url, pool_pre_ping=True)


def engine_for(settings: Settings) -> Engine:
    return _engine(settings.db_url)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    factory = sessionmaker(bind=engine_for(settings), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(settings: Settings):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = settings.db_url
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply migrations (the one-shot ``voicecast db upgrade`` step)."""
    from alembic import command

    command.upgrade(_alembic_config(settings), revision)


def current_revision(settings: Settings) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine_for(settings).connect() as conn:
        rev: str | None = MigrationContext.configure(conn).get_current_revision()
        return rev


def head_revision(settings: Settings) -> str | None:
    from alembic.script import ScriptDirectory

    head: str | None = ScriptDirectory.from_config(_alembic_config(settings)).get_current_head()
    return head


def ensure_schema(settings: Settings, *, auto_upgrade: bool) -> None:
    """Check the database is at the head revision.

    Embedded mode owns its SQLite file, so it upgrades it here; a shared
    database is migrated by the one-shot ``voicecast db upgrade`` step, and a
    stale one is reported rather than changed behind the operators' back.
    """
    if current_revision(settings) == head_revision(settings):
        return
    if auto_upgrade:
        upgrade(settings)
        return
    raise VoicecastError(
        "database schema is not up to date; run `voicecast db upgrade` first",
        field="database_url",
    )
