"""SQL job store (SQLAlchemy 2): jobs, their segments, voices and artifacts.

Works on SQLite and PostgreSQL; the schema is owned by the Alembic revisions in
``migrations/`` (never ``create_all`` outside tests of pure mapping).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from orchestrator.store.states import JobStatus, SegmentStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(t: datetime | None) -> str | None:
    """A stored time as UTC ISO 8601 to the second (SQLite gives naive datetimes: they are UTC)."""
    return t.replace(tzinfo=t.tzinfo or UTC).isoformat(timespec="seconds") if t else None


class Base(DeclarativeBase):
    pass


class Voice(Base):
    __tablename__ = "voices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    engine: Mapped[str] = mapped_column(String(64))
    profile_key: Mapped[str] = mapped_column(String(500))
    source_sha256: Mapped[str] = mapped_column(String(64), index=True)
    consent: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VoiceEvent(Base):
    """The consent trail of a voice name: one row per enrollment (each version's
    consent text and reference hash) and per removal. Rows are only ever added:
    re-enrolling or removing a voice replaces or deletes its ``voices`` row and
    its profiles, never its trail."""

    __tablename__ = "voice_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The voice name as enrolled (no foreign key: the trail outlives the voice).
    name: Mapped[str] = mapped_column(String(200), index=True)
    voice_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    #: ``enrolled`` or ``removed``.
    event: Mapped[str] = mapped_column(String(16))
    consent: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Who ran the command, as ``user@host`` (what the CLI can know; not an authentication).
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Tenant(Base):
    """Who owns jobs and voices on the HTTP API (``voicecast keys create TENANT``).
    Jobs and voices of the CLI belong to no tenant (NULL)."""

    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Signs the tenant's webhook callbacks (HMAC-SHA256 over the body).
    webhook_secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored (the key is shown once, when made)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name", ondelete="CASCADE"), index=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: The key's first characters, to tell keys apart in ``keys list``.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebhookDelivery(Base):
    """One callback to send (an outbox row, written in the transaction that
    ends the job) and what became of it: attempts, the last answer, when."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_due", "state", "next_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    event: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    #: ``pending`` (due at ``next_at``), ``delivered`` or ``failed`` (gave up).
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SchedulerLock(Base):
    """One row; the scheduler updates it first in every release, which
    serialises releases across processes (a row lock on PostgreSQL, the write
    lock on SQLite)."""

    __tablename__ = "scheduler"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    releases: Mapped[int] = mapped_column(BigInteger, default=0)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("tenant", "idempotency_key", name="uq_job_idempotency"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="dub")
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING, index=True)
    input_name: Mapped[str] = mapped_column(String(1000))
    input_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    output_path: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    output_format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    voice_id: Mapped[str | None] = mapped_column(ForeignKey("voices.id"), nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Audiobooks: title, author, narrator, cover key and the chapters
    #: (``[{"title", "first", "count", "lead_s", "key"}]``); NULL for other jobs.
    book: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: Video and audio inputs: the stored source, its length and frame rate,
    #: the dubs (``orchestrator.output.outline.MediaOutline``); NULL otherwise.
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Where the output was last copied to (``deliver``); NULL: not delivered
    #: (detached, or the copy failed: ``delivery_error`` says why).
    delivered_path: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    delivery_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The API tenant that owns the job; NULL: made by the CLI.
    tenant: Mapped[str | None] = mapped_column(ForeignKey("tenants.name"), nullable=True, index=True)
    #: Higher goes first when the scheduler releases segments (``--priority``).
    priority: Mapped[int] = mapped_column(Integer, default=0)
    #: Who releases the job's segments: ``celery`` (the scheduler, distributed),
    #: ``service`` (the scheduler, inside an embedded ``voicecast serve``) or
    #: ``cli`` (an embedded ``voicecast render``, which drives its own job).
    runner: Mapped[str] = mapped_column(String(16), default="cli")
    #: The uploaded input's object key (API jobs).
    input_key: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    callback_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)

    segments: Mapped[list[Segment]] = relationship(
        back_populates="job", order_by="Segment.idx", cascade="all, delete-orphan"
    )
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="job", cascade="all, delete-orphan"
    )


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("job_id", "idx", name="uq_segment_job_idx"),
                      Index("ix_segments_job_status", "job_id", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    speaker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    emotion: Mapped[str] = mapped_column(String(32), default="neutral")
    intensity: Mapped[float] = mapped_column(Float, default=0.0)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    max_end_s: Mapped[float] = mapped_column(Float)
    source_line: Mapped[int] = mapped_column(Integer, default=0)
    #: The voice that speaks it (a character's); NULL: the job's voice.
    voice_id: Mapped[str | None] = mapped_column(ForeignKey("voices.id"), nullable=True)
    #: Audiobooks: 0-based chapter; slot-less lines: silence after it (seconds).
    chapter: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Video and audio inputs: the dub (0-based) the segment belongs to.
    track: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The language it is spoken in (BCP 47); NULL: English.
    language: Mapped[str | None] = mapped_column(String(35), nullable=True)
    pause_after_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=SegmentStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cache_hit: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # Fit figures (seconds unless noted), filled when the segment is rendered.
    natural_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    target_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    final_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    engine_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    stretch: Mapped[float | None] = mapped_column(Float, nullable=True)
    borrowed_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    overflow: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    overflow_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    engine_calls: Mapped[int | None] = mapped_column(Integer, nullable=True)
    synth_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The worker's whole time for the segment (``synth_s`` and its overhead).
    wall_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    job: Mapped[Job] = relationship(back_populates="segments")

    @property
    def audio_key(self) -> str:
        from voicecast.storage import segment_audio_key

        return segment_audio_key(self.content_hash)


class Artifact(Base):
    """A file a job produced, by object key. No URL is kept: a presigned URL goes
    stale after ``storage.presign_expiry_s``, so readers sign the key when they show it."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("job_id", "kind", name="uq_artifact_job_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(1000))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    job: Mapped[Job] = relationship(back_populates="artifacts")
