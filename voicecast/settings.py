"""The one settings object. Nothing else in voicecast reads the environment.

Every field can be set with a ``VOICECAST_`` environment variable; nested fields
use ``__``, e.g. ``VOICECAST_QUEUE__BROKER_URL=redis://localhost:6379/0`` or
``VOICECAST_STORAGE__BUCKET=renders``. With nothing set, voicecast runs embedded:
SQLite and a local object-store folder under ``data_dir``, and a local pool of
worker processes.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "voicecast"


class QueueSettings(BaseModel):
    """Celery broker. Setting ``broker_url`` switches to distributed mode."""

    broker_url: str | None = None
    #: Result backend for the few tasks whose answer the CLI waits on (voice enrollment).
    result_backend: str | None = None
    synth_queue: str = "synth"
    assemble_queue: str = "assemble"
    #: Seconds before an unacknowledged task of a dead worker is handed to another one.
    #: Must exceed the longest task (one segment synthesis or one assembly).
    visibility_timeout_s: int = 900
    #: How often a live worker sweeps for such abandoned tasks.
    restore_interval_s: int = 10
    #: Retries for transient storage/broker errors, with exponential backoff.
    max_retries: int = 5
    retry_backoff_max_s: int = 60


class StorageSettings(BaseModel):
    """Object storage: S3 (AWS, MinIO, any compatible server) when ``bucket`` is set,
    otherwise a local folder."""

    bucket: str | None = None
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    prefix: str = ""
    #: Local object-store folder (embedded mode); default ``data_dir/objects``.
    local_dir: Path | None = None
    presign_expiry_s: int = 7 * 24 * 3600


class EngineSettings(BaseModel):
    name: str = "kokoro"
    #: onnxruntime intra-op threads per process; 0 = all cores, except that the
    #: embedded pool and `voicecast worker` divide the cores among their processes.
    threads: int = 0
    #: onnxruntime execution providers in order of preference; empty = CUDA when
    #: available, else CPU.
    providers: list[str] = Field(default_factory=list)


class FitSettings(BaseModel):
    """How each line is fitted to its slot (see ``workers.fitting``)."""

    #: Rates (natural length / slot length) that still sound natural.
    comfortable_min: float = 0.8
    comfortable_max: float = 1.25
    #: Rates allowed when borrowing the gap before the next cue is not enough.
    hard_min: float = 0.7
    hard_max: float = 1.4
    #: Range of the engine's own speed control; the residual is time-stretched.
    engine_rate_min: float = 0.87
    engine_rate_max: float = 1.15
    #: Engine calls per segment at most. With a duration predictor (Kokoro) the
    #: first is at the solved speed and a second is rare; without one, or for a
    #: short line, the first is at natural speed.
    max_engine_calls: int = 2
    #: Re-synthesize at a new engine speed only when the needed rate is further
    #: than this from 1; a smaller residual is time-stretched (cheap, transparent).
    engine_tolerance: float = 0.1
    #: Leading/trailing audio quieter than this (dBFS) is trimmed.
    trim_db: float = -40.0


class EnrollSettings(BaseModel):
    """Voice enrollment on the built-in engine (see workers/voices.py)."""

    #: "search": nearest bundled mix, then a scored search of the style space
    #: and a pitch/formant correction; "nearest": the nearest bundled voice only.
    method: str = "search"
    #: Wall-clock budget of the search, seconds (the whole enrollment stays under ~3 min).
    budget_s: float = 110.0


class LoudnessSettings(BaseModel):
    """Two-pass EBU R128 loudness normalisation of the assembled track."""

    integrated_lufs: float = -16.0
    true_peak_db: float = -1.5
    lra: float = 11.0
    sample_rate: int = 48000


class ScriptSettings(BaseModel):
    """Plain scripts (``.txt``): lines spoken one after another at natural length."""

    #: Silence before the first line, between lines, and after the last (seconds).
    head_s: float = 0.5
    line_pause_s: float = 0.6
    tail_s: float = 1.0


class BookSettings(BaseModel):
    """Audiobooks (``--mode audiobook``): pauses, segment length, loudness profile."""

    #: Silence between sentences of a paragraph, after a paragraph, and after a
    #: spoken chapter title (seconds). ``[pause:S]`` in the text adds S.
    sentence_pause_s: float = 0.35
    #: Silence where a sentence changes voice (a quotation inside narration).
    clause_pause_s: float = 0.2
    paragraph_pause_s: float = 0.9
    title_pause_s: float = 1.5
    #: Room tone at the head and tail of every chapter file (ACX: 0.5-1 s, 1-5 s).
    chapter_head_s: float = 0.75
    chapter_tail_s: float = 2.5
    #: Speak each chapter's title as its first segment.
    speak_titles: bool = True
    #: A sentence longer than this (characters) is split at clause punctuation.
    max_segment_chars: int = 300
    #: Loudness profile "acx": each segment's speech is levelled to this RMS
    #: (dBFS, over its active speech), peaks limited to ``peak_db``, and the
    #: gaps filled with room tone at ``room_tone_db`` RMS.
    speech_rms_db: float = -18.0
    peak_db: float = -3.5
    room_tone_db: float = -72.0
    #: Chapter MP3s (ACX: 192 kb/s CBR, 44.1 kHz) and the M4B's AAC bit rate.
    mp3_bitrate: str = "192k"
    m4b_bitrate: str = "64k"
    output_sample_rate: int = 44100


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VOICECAST_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    #: SQLAlchemy URL; default is a SQLite file in ``data_dir``.
    database_url: str | None = None
    #: Local worker processes in embedded mode; 0 = one per core.
    workers: int = 0
    queue: QueueSettings = Field(default_factory=QueueSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    fit: FitSettings = Field(default_factory=FitSettings)
    loudness: LoudnessSettings = Field(default_factory=LoudnessSettings)
    enroll: EnrollSettings = Field(default_factory=EnrollSettings)
    script: ScriptSettings = Field(default_factory=ScriptSettings)
    book: BookSettings = Field(default_factory=BookSettings)

    @property
    def distributed(self) -> bool:
        return bool(self.queue.broker_url)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'voicecast.db'}"

    @property
    def local_store_dir(self) -> Path:
        return self.storage.local_dir or self.data_dir / "objects"

    @property
    def worker_count(self) -> int:
        return self.workers or (os.cpu_count() or 1)

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
