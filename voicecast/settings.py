"""The one settings object. Nothing else in voicecast reads the environment.

Every field can be set with a ``VOICECAST_`` environment variable; nested fields
use ``__``, e.g. ``VOICECAST_QUEUE__BROKER_URL=redis://localhost:6379/0`` or
``VOICECAST_STORAGE__BUCKET=renders``. With nothing set, voicecast runs embedded:
SQLite and a local object-store folder under ``data_dir``, and a local pool of
worker processes.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicecast.errors import VoicecastError

ENV_PREFIX = "VOICECAST_"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "voicecast"


#: 8k..320k: what the MP3 and AAC encoders accept as a CBR bit rate.
_BITRATE = r"^([89]|[1-9][0-9]|[12][0-9][0-9]|3[01][0-9]|320)k$"


def env_name(*loc: str | int) -> str:
    """The environment variable of a settings field: ``("fit", "hard_max")`` ->
    ``VOICECAST_FIT__HARD_MAX``."""
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc)


def _check_chain(group: str, chain: list[tuple[str, float]]) -> None:
    """Raise naming both variables when a chain ``a <= b <= ...`` (``""`` = the
    constant 1) is out of order."""
    for (na, a), (nb, b) in zip(chain, chain[1:], strict=False):
        if a > b:
            left = f"{env_name(group, na)} ({a:g})" if na else "1"
            right = f"{env_name(group, nb)} ({b:g})" if nb else "1"
            raise ValueError(f"{left} must not exceed {right}")


class QueueSettings(BaseModel):
    """Celery broker. Setting ``broker_url`` switches to distributed mode."""

    broker_url: str | None = None
    #: Result backend for the few tasks whose answer the CLI waits on (voice enrollment).
    result_backend: str | None = None
    synth_queue: str = "synth"
    assemble_queue: str = "assemble"
    #: Seconds before an unacknowledged task of a dead worker is handed to another one.
    #: Must exceed the longest task (one segment synthesis or one assembly).
    #: Checked against the task time limits (``limits``) in distributed mode.
    visibility_timeout_s: int = Field(default=900, gt=0)
    #: How often a live worker sweeps for such abandoned tasks.
    restore_interval_s: int = Field(default=10, gt=0)
    #: How long a broker outage is ridden out (seconds): sending a message
    #: retries with capped exponential backoff for this long, and a task that
    #: failed on a broker or database error is retried (re-queued with a
    #: countdown) until its waits add up to this much. See docs/operations.md.
    retry_budget_s: float = Field(default=180.0, ge=0, le=86400)
    #: The longest single wait between two tries (broker, storage, task retries).
    retry_backoff_max_s: float = Field(default=30.0, ge=1, le=3600)
    #: A job driver (``render``, ``wait``) that sees no progress on a job for
    #: this long, and finds no message of the job queued and no task of it
    #: running, reserved or waiting to retry on any worker, sends the job's
    #: undone work again (a lost message costs this long). 0: never.
    stall_timeout_s: float = Field(default=120.0, ge=0, le=86400)
    #: Fair scheduling (:mod:`orchestrator.schedule`): a job has at most this
    #: many segments queued at once; more are released as its results arrive.
    job_window: int = Field(default=8, ge=1, le=10_000)
    #: Segments queued at once over every job (distributed mode): what the synth
    #: list's length can reach, so size an autoscaler's target with it.
    max_in_flight: int = Field(default=64, ge=1, le=1_000_000)


class StorageSettings(BaseModel):
    """Object storage: S3 (AWS, MinIO, any compatible server) when ``bucket`` is set,
    otherwise a local folder."""

    bucket: str | None = None
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    #: Never printed (``repr`` shows ``**********``); read with ``get_secret_value()``.
    secret_access_key: SecretStr | None = None
    prefix: str = ""
    #: Local object-store folder (embedded mode); default ``data_dir/objects``.
    local_dir: Path | None = None
    #: S3 (SigV4) presigned URLs live at most 7 days.
    presign_expiry_s: int = Field(default=7 * 24 * 3600, ge=1, le=7 * 24 * 3600)
    #: How long a storage outage is ridden out (seconds): a storage call
    #: retries with capped exponential backoff (``queue.retry_backoff_max_s``)
    #: for this long in the CLI; inside a task, for a short while in place,
    #: then the task is retried (re-queued with a countdown) until its waits
    #: add up to this much. See docs/operations.md.
    retry_budget_s: float = Field(default=180.0, ge=0, le=86400)
    #: One S3 request: connecting, and waiting for an answer (seconds).
    connect_timeout_s: float = Field(default=5.0, gt=0, le=600)
    read_timeout_s: float = Field(default=60.0, gt=0, le=3600)


class EngineSettings(BaseModel):
    name: str = "kokoro"
    #: onnxruntime intra-op threads per process; 0 = all cores, except that the
    #: embedded pool and `voicecast worker` divide the cores among their processes.
    threads: int = Field(default=0, ge=0)
    #: onnxruntime execution providers in order of preference; empty = CUDA when
    #: available, else CPU.
    providers: list[str] = Field(default_factory=list)
    #: The ``null`` engine only (benchmarks, queue tests): seconds it spends per
    #: second of audio it returns, so it stands in for an engine of that
    #: real-time factor (0: as fast as it can).
    null_rtf: float = Field(default=0.0, ge=0, le=100)
    # The "remote" engine (workers/engines/remote.py): an OpenAI-compatible
    # speech server (POST {remote_url}/v1/audio/speech), such as a second
    # `voicecast serve`, speaches or Kokoro-FastAPI.
    #: The server's base URL, http(s)://host[:port][/prefix] (a trailing /v1 is
    #: accepted); required with name "remote".
    remote_url: str | None = None
    #: Sent as ``Authorization: Bearer KEY`` when set; never printed.
    remote_api_key: SecretStr | None = None
    #: The ``model`` field of every request.
    remote_model: str = Field(default="tts-1", min_length=1, max_length=200)
    #: The voice names the server offers, as JSON (``'["alloy", "nova"]'``):
    #: the engine's built-in voices (``--voice alloy``). Letters, digits, ``_.-``.
    remote_voices: list[str] = Field(default_factory=list)
    #: Emotions the server renders itself from an ``emotion`` request field
    #: (a `voicecast serve` does); any other emotion is rendered here on the
    #: server's neutral speech, as for every engine.
    remote_emotions: list[str] = Field(default_factory=list)
    #: The rate the engine delivers at; the server's audio is resampled to it.
    remote_sample_rate: int = Field(default=24000, ge=8000, le=192000)
    #: One request: connecting, and waiting for each read of the answer; the
    #: whole answer must also arrive within four times this.
    remote_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    #: How long refused connections, timeouts, 429 and 5xx answers are retried
    #: in place (seconds) before the segment fails transiently (a queued task
    #: is then retried by the queue).
    remote_retry_s: float = Field(default=30.0, ge=0, le=3600)
    #: The ``response_format`` asked for: "wav", or "pcm" (raw 16-bit mono; its
    #: rate from an ``X-Sample-Rate`` header, else ``remote_sample_rate``).
    remote_format: Literal["wav", "pcm"] = "wav"

    @model_validator(mode="after")
    def _remote(self) -> EngineSettings:
        url = self.remote_url
        if url and not (url.startswith(("http://", "https://")) and len(url) > 8):
            raise ValueError(f"{env_name('engine', 'remote_url')} must be an http:// or https:// URL "
                             f"(got {url[:200]!r})")
        for name in self.remote_voices:
            # A voice is stored as builtin-remote-NAME, a safe id of at most 64 characters.
            if not (0 < len(name) <= 48 and ".." not in name
                    and all(c.isascii() and (c.isalnum() or c in "_.-") for c in name)):
                raise ValueError(f"{env_name('engine', 'remote_voices')}: voice name {name[:60]!r} must "
                                 "be 1-48 letters, digits, '_', '.' or '-'")
        if self.name == "remote":
            if not url:
                raise ValueError(f"{env_name('engine', 'remote_url')} must be set with "
                                 f"{env_name('engine', 'name')}=remote: the speech server's base URL "
                                 "(e.g. http://gpu-host:8000)")
            if not self.remote_voices:
                raise ValueError(f"{env_name('engine', 'remote_voices')} must be set with "
                                 f"{env_name('engine', 'name')}=remote: the voice names the server "
                                 'offers, as JSON (\'["alloy"]\')')
        return self


class FitSettings(BaseModel):
    """How each line is fitted to its slot (see ``workers.fitting``)."""

    #: Rates (natural length / slot length) that still sound natural.
    #: Must hold: hard_min <= comfortable_min <= 1 <= comfortable_max <= hard_max.
    comfortable_min: float = Field(default=0.8, gt=0, le=1)
    comfortable_max: float = Field(default=1.25, ge=1, le=4)
    #: Rates allowed when borrowing the gap before the next cue is not enough.
    hard_min: float = Field(default=0.7, gt=0, le=1)
    hard_max: float = Field(default=1.4, ge=1, le=4)
    #: Range of the engine's own speed control; the residual is time-stretched.
    #: Must hold: engine_rate_min <= 1 <= engine_rate_max.
    engine_rate_min: float = Field(default=0.87, gt=0, le=1)
    engine_rate_max: float = Field(default=1.15, ge=1, le=4)
    #: Engine calls per segment at most. With a duration predictor (Kokoro) the
    #: first is at the solved speed and a second is rare; without one, or for a
    #: short line, the first is at natural speed.
    max_engine_calls: int = Field(default=2, ge=1, le=5)
    #: Re-synthesize at a new engine speed only when the needed rate is further
    #: than this from 1; a smaller residual is time-stretched (cheap, transparent).
    engine_tolerance: float = Field(default=0.1, ge=0, le=1)
    #: Leading/trailing audio quieter than this (dBFS) is trimmed.
    trim_db: float = Field(default=-40.0, ge=-120, lt=0)

    @model_validator(mode="after")
    def _ordered(self) -> FitSettings:
        # The fitter assumes these orderings (a rate of 1 is always allowed).
        chain = [("hard_min", self.hard_min), ("comfortable_min", self.comfortable_min), ("", 1.0),
                 ("comfortable_max", self.comfortable_max), ("hard_max", self.hard_max)]
        _check_chain("fit", chain)
        _check_chain("fit", [("engine_rate_min", self.engine_rate_min), ("", 1.0),
                             ("engine_rate_max", self.engine_rate_max)])
        return self


class EnrollSettings(BaseModel):
    """Voice enrollment on the built-in engine (see workers/voices.py)."""

    #: "search": nearest bundled mix, then a scored search of the style space
    #: and a pitch/formant correction; "nearest": the nearest bundled voice only.
    method: Literal["search", "nearest"] = "search"
    #: Wall-clock budget of the search, seconds (the whole enrollment stays under ~3 min).
    budget_s: float = Field(default=110.0, gt=0, le=3600)


class LoudnessSettings(BaseModel):
    """Two-pass EBU R128 loudness normalisation of the assembled track."""

    #: Ranges are those of ffmpeg's ``loudnorm`` filter.
    integrated_lufs: float = Field(default=-16.0, ge=-70, le=-5)
    true_peak_db: float = Field(default=-1.5, ge=-9, le=0)
    lra: float = Field(default=11.0, ge=1, le=50)
    sample_rate: int = Field(default=48000, ge=8000, le=192000)

    def preset(self, name: str | None) -> LoudnessSettings:
        """These settings with a named target (``render --loudness``): ``web``
        (-16 LUFS, -1.5 dBTP: streaming and podcasts) or ``broadcast`` (EBU R128:
        -23 LUFS, -1 dBTP); ``None``: unchanged."""
        if name is None:
            return self
        if name not in LOUDNESS_PRESETS:
            raise ValueError(f"unknown loudness preset {name!r}; use {', '.join(LOUDNESS_PRESETS)}")
        lufs, tp = LOUDNESS_PRESETS[name]
        return self.model_copy(update={"integrated_lufs": lufs, "true_peak_db": tp})


#: ``render --loudness``: integrated loudness (LUFS) and true-peak ceiling (dBTP).
LOUDNESS_PRESETS: dict[str, tuple[float, float]] = {"web": (-16.0, -1.5), "broadcast": (-23.0, -1.0)}


class VideoSettings(BaseModel):
    """Dubs of a video or audio input (docs/video.md): how the original sound
    is lowered under the dub (``--mix duck``), and the dub track's encoding."""

    #: How far the original sound is lowered while dub speech plays (dB;
    #: ``render --duck-db`` overrides it per job).
    duck_db: float = Field(default=18.0, ge=1, le=60)
    #: The fall before a line (ending as its speech starts) and the rise after it, seconds.
    duck_attack_s: float = Field(default=0.15, ge=0, le=5)
    duck_release_s: float = Field(default=0.4, ge=0, le=5)
    #: A gap between two lines shorter than this stays lowered (no pumping between lines).
    duck_hold_s: float = Field(default=0.6, ge=0, le=30)
    #: Bit rate of a dub track encoded as AAC or Opus.
    audio_bitrate: str = Field(default="192k", pattern=r"^[1-9][0-9]{1,3}k$")


class ScriptSettings(BaseModel):
    """Plain scripts (``.txt``): lines spoken one after another at natural length."""

    #: Silence before the first line, between lines, and after the last (seconds).
    head_s: float = Field(default=0.5, ge=0, le=60)
    line_pause_s: float = Field(default=0.6, ge=0, le=60)
    tail_s: float = Field(default=1.0, ge=0, le=60)


class BookSettings(BaseModel):
    """Audiobooks (``--mode audiobook``): pauses, segment length, loudness profile."""

    #: Silence between sentences of a paragraph, after a paragraph, and after a
    #: spoken chapter title (seconds). ``[pause:S]`` in the text adds S.
    sentence_pause_s: float = Field(default=0.35, ge=0, le=60)
    #: Silence where a sentence changes voice (a quotation inside narration).
    clause_pause_s: float = Field(default=0.2, ge=0, le=60)
    paragraph_pause_s: float = Field(default=0.9, ge=0, le=60)
    title_pause_s: float = Field(default=1.5, ge=0, le=60)
    #: Room tone at the head and tail of every chapter file (ACX: 0.5-1 s, 1-5 s).
    chapter_head_s: float = Field(default=0.75, ge=0, le=60)
    chapter_tail_s: float = Field(default=2.5, ge=0, le=60)
    #: Speak each chapter's title as its first segment.
    speak_titles: bool = True
    #: Open the book with its title and author ("Emma, by Jane Austen."), as
    #: audiobooks do.
    announce: bool = True
    #: A sentence longer than this (characters) is split at clause punctuation.
    max_segment_chars: int = Field(default=300, ge=20, le=5000)
    #: Loudness profile "acx": each segment's speech is levelled to this RMS
    #: (dBFS, over its active speech), peaks limited to ``peak_db``, and the
    #: gaps filled with room tone at ``room_tone_db`` RMS.
    speech_rms_db: float = Field(default=-18.0, ge=-60, lt=0)
    peak_db: float = Field(default=-3.5, ge=-60, le=0)
    room_tone_db: float = Field(default=-72.0, ge=-120, lt=0)
    #: Chapter MP3s (ACX: 192 kb/s CBR, 44.1 kHz) and the M4B's AAC bit rate,
    #: as ffmpeg writes them: kilobits with a ``k`` (8k to 320k).
    mp3_bitrate: str = Field(default="192k", pattern=_BITRATE)
    m4b_bitrate: str = Field(default="64k", pattern=_BITRATE)
    output_sample_rate: int = Field(default=44100, ge=8000, le=192000)


class LimitsSettings(BaseModel):
    """How long anything may run before it is taken for hung (seconds).

    A tool (subprocess) that outlives its timeout is killed and run once more;
    a second hang fails the segment (or assembly) with the tool's name. A
    Celery task past its hard limit is killed; a synthesis or assembly task is
    then sent again once, and a second overrun fails the job. The soft limit
    fires ``soft_margin_s`` before the hard one, raising inside the task so it
    can stop cleanly (a hang in native code only ends at the hard limit).
    """

    #: Rubber Band and ffprobe (per segment, seconds of audio).
    tool_timeout_s: float = Field(default=60.0, gt=0, le=86400)
    #: ffmpeg, which also encodes whole tracks and audiobooks.
    ffmpeg_timeout_s: float = Field(default=600.0, gt=0, le=86400)
    #: Hard limit of one segment's synthesis: this much, plus
    #: ``synth_time_per_audio_s`` per second of the segment's slot (or of its
    #: text, 10 characters a second), at most ``synth_time_max_s``.
    synth_time_s: float = Field(default=120.0, gt=0, le=86400)
    synth_time_per_audio_s: float = Field(default=10.0, ge=0, le=3600)
    synth_time_max_s: float = Field(default=600.0, gt=0, le=86400)
    #: Hard limit of a voice enrollment (its search budget is ``enroll.budget_s``).
    enroll_time_s: float = Field(default=600.0, gt=0, le=86400)
    #: Hard limit of recording a segment's result or failure in SQL.
    record_time_s: float = Field(default=60.0, gt=0, le=86400)
    #: Hard limit of assembling a job's output (a long audiobook needs more,
    #: and ``queue.visibility_timeout_s`` above it).
    assemble_time_s: float = Field(default=840.0, gt=0, le=86400)
    #: The soft limit fires this long before the hard one; 0 = no soft limit.
    soft_margin_s: float = Field(default=30.0, ge=0, le=3600)

    def synth_hard_s(self, slot_s: float, text: str = "") -> float:
        """The hard time limit of one segment, scaled by its length."""
        length_s = max(slot_s, len(text) / 10.0)
        return min(self.synth_time_max_s, self.synth_time_s + self.synth_time_per_audio_s * length_s)

    def celery_limits(self, hard_s: float) -> dict[str, float]:
        """``time_limit``/``soft_time_limit`` options for a task with this hard limit."""
        soft = hard_s - self.soft_margin_s
        if self.soft_margin_s and soft > 0:
            return {"time_limit": hard_s, "soft_time_limit": soft}
        return {"time_limit": hard_s}

    def longest_hard(self) -> tuple[str, float]:
        """The variable of the longest task hard limit, and that limit."""
        hard = {"synth_time_max_s": self.synth_time_max_s, "enroll_time_s": self.enroll_time_s,
                "record_time_s": self.record_time_s, "assemble_time_s": self.assemble_time_s}
        name = max(hard, key=lambda k: hard[k])
        return env_name("limits", name), hard[name]


class InputSettings(BaseModel):
    """Bounds on what an input may ask for, checked before the work starts
    (docs/operations.md, "Limits"). A file or plan past one is refused with
    exit 2 and a line naming the file, its line and the variable to raise."""

    #: Largest input file (EPUB, subtitles, script, Markdown), cover, lexicon
    #: (bytes); subtitles, scripts and text books are read whole, so they get
    #: ``max_text_bytes``. Checked (a regular file, not a device or a pipe)
    #: before the file is hashed or read.
    max_input_bytes: int = Field(default=1 << 30, ge=1)
    max_text_bytes: int = Field(default=64 << 20, ge=1)
    #: Largest video or audio input to dub (``voicecast render VIDEO``; it is
    #: probed, never read whole).
    max_media_bytes: int = Field(default=64 << 30, ge=1)
    #: Largest reference clip (``--voice CLIP``, ``voice add``) and ``[like:]`` clip file.
    max_reference_bytes: int = Field(default=200 << 20, ge=1)
    #: EPUB (a ZIP archive), from its central directory before anything is
    #: decompressed: total uncompressed bytes, one entry's, the number of
    #: entries, and the compression ratio of an entry larger than 1 MiB (text
    #: compresses 3-10 times; a zip bomb thousands of times).
    epub_max_bytes: int = Field(default=1 << 30, ge=1)
    epub_max_entry_bytes: int = Field(default=256 << 20, ge=1)
    epub_max_entries: int = Field(default=10000, ge=1)
    epub_max_ratio: float = Field(default=200.0, ge=1)
    #: Longest track a job may make (seconds; a subtitle cue past it is refused
    #: naming its line) and most segments in one job.
    max_job_duration_s: float = Field(default=24 * 3600.0, gt=0)
    max_segments: int = Field(default=100_000, ge=1)
    #: A cue is refused at plan time when its text, spoken at ``chars_per_s``
    #: and sped up to ``fit.hard_max``, needs more than ``overflow_ratio`` times
    #: the room it has (its slot plus the gap it may borrow) and at least
    #: ``overflow_min_s`` more: rendered, it would be cut to a fraction.
    chars_per_s: float = Field(default=15.0, gt=0, le=100)
    overflow_ratio: float = Field(default=3.0, ge=1)
    overflow_min_s: float = Field(default=10.0, ge=0)
    #: Seconds of a ``[like:CLIP]`` clip decoded (the rest is never read).
    like_clip_max_s: float = Field(default=30.0, gt=0, le=3600)
    #: A lexicon pattern (``re:``) running longer than this on one line of
    #: text (catastrophic backtracking) fails planning naming the entry.
    lexicon_timeout_s: float = Field(default=1.0, gt=0, le=600)


class ApiSettings(BaseModel):
    """The HTTP service (``voicecast serve``, :mod:`orchestrator.service`)."""

    #: Largest upload of one request (input, clips): past it, 413.
    max_upload_bytes: int = Field(default=256 << 20, ge=1024)
    #: Requests per second per key (a token bucket per key and server process; 429 past it) ...
    rate_per_s: float = Field(default=20.0, gt=0, le=100_000)
    #: ... and the burst it allows.
    rate_burst: int = Field(default=60, ge=1, le=1_000_000)
    #: Webhook callbacks to loopback, private or link-local addresses are refused
    #: (a callback URL must not reach the service's own network); allow them for tests
    #: and single-machine setups.
    webhook_allow_private: bool = False
    #: Tries of one webhook delivery before it is given up; waits double from ``webhook_first_wait_s``.
    webhook_attempts: int = Field(default=8, ge=1, le=100)
    webhook_first_wait_s: float = Field(default=5.0, gt=0, le=3600)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=600)
    #: A key found valid (or not) is trusted this long before it is looked up
    #: again, so a revoked key stops working within this many seconds.
    key_cache_s: float = Field(default=5.0, ge=0, le=3600)
    #: A job accepted by an API replica that stopped before planning it stays
    #: pending; after this long (seconds) another replica fails it with that
    #: reason (submit it again), in distributed mode.
    plan_timeout_s: float = Field(default=1800.0, gt=0, le=86400)
    #: Jobs planned at once in an embedded service (planning parses and enrolls).
    plan_threads: int = Field(default=2, ge=1, le=64)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VOICECAST_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    #: SQLAlchemy URL; default is a SQLite file in ``data_dir``.
    database_url: str | None = None
    #: Local worker processes in embedded mode; 0 = one per core.
    workers: int = Field(default=0, ge=0, le=1024)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    fit: FitSettings = Field(default_factory=FitSettings)
    loudness: LoudnessSettings = Field(default_factory=LoudnessSettings)
    enroll: EnrollSettings = Field(default_factory=EnrollSettings)
    script: ScriptSettings = Field(default_factory=ScriptSettings)
    video: VideoSettings = Field(default_factory=VideoSettings)
    book: BookSettings = Field(default_factory=BookSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    inputs: InputSettings = Field(default_factory=InputSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @model_validator(mode="after")
    def _visibility_exceeds_limits(self) -> Settings:
        # Redis re-delivers a task still unacknowledged after the visibility
        # timeout: a task allowed to run longer would run twice at once.
        # Embedded mode has no broker, so the check only applies with one.
        name, hard = self.limits.longest_hard()
        if self.distributed and self.queue.visibility_timeout_s <= hard:
            raise ValueError(
                f"{env_name('queue', 'visibility_timeout_s')} ({self.queue.visibility_timeout_s}) "
                f"must exceed the longest task time limit, {name} ({hard:g})"
            )
        return self

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

    def child_json(self) -> str:
        """These settings as JSON for a local worker process
        (``Settings.model_validate_json``), secrets included: the plain
        ``model_dump_json`` masks them (``**********``), which would hand a
        worker a wrong S3 secret or remote engine key."""

        def reveal(value: Any) -> Any:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, dict):
                return {k: reveal(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [reveal(v) for v in value]
            return value

        return json.dumps(reveal(self.model_dump(mode="python")), default=str)


class SettingsError(VoicecastError):
    """A ``VOICECAST_*`` variable has a value the settings do not accept."""


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad variable and why, e.g.
    ``VOICECAST_FIT__HARD_MAX: Input should be greater than or equal to 1 (got '0.5')``."""
    parts = []
    for e in exc.errors():
        msg = str(e["msg"]).removeprefix("Value error, ")
        loc = tuple(p for p in e["loc"] if isinstance(p, str | int))
        if msg.startswith(ENV_PREFIX) or not loc:
            parts.append(msg)  # a cross-field check names its variables itself
            continue
        given = e.get("input")
        shown = (f" (got {given!r})" if isinstance(given, str | int | float) and given != ""
                 and not any("secret" in str(p) for p in loc) else "")
        parts.append(f"{env_name(*loc)}: {msg}{shown}")
    return "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and ``overrides``); a bad value raises
    :class:`SettingsError` naming its variable instead of pydantic's report."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise SettingsError(describe_validation_error(e)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return load_settings()
