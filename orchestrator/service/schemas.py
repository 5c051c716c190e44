"""The API's typed seams: what a request may carry and what answers hold."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.inputs.media import VIDEO_CONTAINERS

#: Output formats by job kind (a book is an M4B with chapters; a video's dub may also be a video).
DUB_FORMATS = ("wav", "m4a", "mp3", "flac")
VIDEO_FORMATS = tuple(ext.lstrip(".") for ext in VIDEO_CONTAINERS)


class JobOptions(BaseModel):
    """``options`` of ``POST /v1/jobs``: the CLI's render options under their
    long names (validated again by :class:`orchestrator.options.RenderOptions`),
    and what only a service job has. Options naming server files (``lexicon``,
    ``clip_dir``, ``cover``) are not accepted: a lexicon is uploaded as a part."""

    model_config = ConfigDict(extra="forbid")

    #: The narrator: a voice of the tenant's (``POST /v1/voices``) or a built-in
    #: one; omit it with a ``reference`` clip to clone that clip's voice.
    voice: str | None = Field(default=None, max_length=200)
    #: Characters' voices: ``{"Fox": "af_bella"}``.
    voices: dict[str, str] = Field(default_factory=dict, max_length=200)
    mode: Literal["dub", "audiobook"] | None = None
    #: The output: an audio format, ``m4b`` (a book), or a video container
    #: (a video input; default: the input's own container).
    format: Literal["wav", "m4a", "mp3", "flac", "m4b", "mp4", "m4v", "mov", "mkv", "webm"] | None = None
    duration: float | None = None
    emotion: str | None = Field(default=None, max_length=64)
    emotion_map: list[str] = Field(default_factory=list, max_length=500)
    ignore_unknown_tags: bool = False
    strict_tags: bool = False
    brackets: Literal["skip", "speak"] = "skip"
    front_matter: bool = False
    back_matter: bool = False
    notes: Literal["skip", "paragraph", "chapter"] = "skip"
    styles: list[str] = Field(default_factory=list, max_length=200)
    unmapped: Literal["error", "narrator"] = "error"
    title: str | None = Field(default=None, max_length=500)
    author: str | None = Field(default=None, max_length=500)
    #: Video and audio inputs (docs/video.md). Each dub's timeline: the file
    #: name of an uploaded ``subs`` part, ``stream:LANG`` or ``stream:INDEX``
    #: (a text subtitle stream of the input), or ``asr`` (its own speech).
    subs: list[str] = Field(default_factory=list, max_length=8)
    #: Each dub's narrator, in order (default: ``voice`` for every dub).
    dub_voices: list[str] = Field(default_factory=list, max_length=8)
    #: The job's language (BCP 47; default: what the input says, else English),
    #: or a video's dubs' languages: one for all, or one per dub.
    lang: list[str] = Field(default_factory=list, max_length=8)
    #: Characters' languages: ``{"Pierre": "fr"}`` (their lines spoken in it).
    speaker_langs: dict[str, str] = Field(default_factory=dict, max_length=200)
    #: The dub track: the dub alone, the original lowered under it, or the
    #: uploaded ``bed`` part under it (default: ``bed`` with a bed, else ``replace``).
    mix: Literal["replace", "duck", "bed"] | None = None
    original: Literal["keep", "drop"] = "keep"
    mux_subs: bool = False
    loudness: Literal["web", "broadcast"] | None = None
    duck_db: float | None = Field(default=None, ge=1, le=60)
    #: Higher is released first (:mod:`orchestrator.schedule`).
    priority: int = Field(default=0, ge=-100, le=100)
    #: POSTed when the job ends, signed (``X-Voicecast-Signature``).
    callback_url: str | None = Field(default=None, max_length=2000)


class Links(BaseModel):
    self: str
    events: str
    output: str
    report: str
    cancel: str


class JobProgress(BaseModel):
    done: int
    total: int
    failed: int
    reused: int
    audio_s_done: float
    #: The track's length; None where it is known only once rendered (books, scripts).
    audio_s_total: float | None
    #: Seconds left at the pace so far; None before the first result.
    eta_s: float | None


class FitSummary(BaseModel):
    overflows: int
    max_stretch: float | None
    max_overflow_s: float | None


class OutputFile(BaseModel):
    kind: str
    url: str
    size_bytes: int | None


class JobOut(BaseModel):
    id: str
    kind: str
    status: str
    input_name: str
    priority: int
    created_at: str
    finished_at: str | None
    progress: JobProgress
    fit: FitSummary
    warnings: list[str]
    error: str | None
    outputs: list[OutputFile]
    links: Links


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None


class Accepted(BaseModel):
    id: str
    status: str
    links: Links


class SpeechRequest(BaseModel):
    """``POST /v1/audio/speech`` (OpenAI's fields, plus ``emotion``)."""

    model_config = ConfigDict(extra="ignore")

    model: str = "voicecast"
    input: str = Field(min_length=1, max_length=4096)
    voice: str = Field(min_length=1, max_length=200)
    response_format: Literal["wav", "mp3", "flac", "pcm"] = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    emotion: str | None = Field(default=None, max_length=64)


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


def voice_out(info: dict[str, Any], tenant: str) -> dict[str, Any]:
    """A stored voice as a tenant sees it: its own name, never another's."""
    suffix = f"@{tenant}"
    out = {k: v for k, v in info.items() if k not in ("profile_key",)}
    out["name"] = str(info["name"]).removesuffix(suffix)
    return out
