"""What an audiobook job keeps of its book besides the segments (``Job.book``).

Planning writes a :class:`BookOutline` (title, author, cover, the chapters as
ranges of segments, the level every line is rendered at); assembly reads it
back and adds what it built (``assembled``), which ``voicecast status`` shows.
Stored as ``model_dump(mode="json")``; rows written before this model held the
same keys.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Stored(BaseModel):
    # Frozen; keys this version does not know (a newer writer's) are ignored.
    model_config = ConfigDict(frozen=True, extra="ignore")


class ChapterOutline(_Stored):
    """One chapter: segments ``first`` to ``first + count - 1``."""

    title: str
    first: int = Field(ge=0)
    count: int = Field(ge=0)
    #: Silence asked for (``[pause:]``) before its first line.
    lead_s: float = 0.0
    #: Where the chapter came from (file and line), for messages.
    source: str | None = None
    line: int | None = None


class Level(_Stored):
    """The level audiobook lines are rendered at (part of their content hash)."""

    rms_db: float
    peak_db: float


class AssembledChapter(_Stored):
    """One chapter as assembled: where it starts in the M4B and whether its
    files were reused from an earlier job."""

    title: str
    start_s: float
    duration_s: float
    marker_s: float
    reused: bool
    segments: int


class BookOutline(_Stored):
    title: str | None = None
    author: str | None = None
    language: str | None = None
    narrator: str | None = None
    #: The cover in object storage (content-addressed), and its MIME type.
    cover_key: str | None = None
    cover_type: str | None = None
    chapters: list[ChapterOutline] = Field(default_factory=list)
    level: Level | None = None
    #: Written by assembly.
    assembled: list[AssembledChapter] = Field(default_factory=list)

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None) -> BookOutline | None:
        """The outline stored on a job (None: not an audiobook)."""
        return None if stored is None else cls.model_validate(stored)

    def stored(self) -> dict[str, Any]:
        """The JSON stored as ``Job.book``."""
        return self.model_dump(mode="json")


class DubTrackOutline(_Stored):
    """One dub of a media job: segments ``first`` to ``first + count - 1``,
    spoken in ``lang`` (BCP 47) by ``voice``, timed by ``source`` (a subtitle
    file, ``film.mkv (stream #3)`` or ``film.mp4 (speech)``), whose text is
    stored under ``subs_key`` in ``subs_format`` (muxed with ``--mux-subs``,
    handed back as an SRT for ``--timeline asr``)."""

    index: int = Field(ge=0)
    lang: str
    voice: str
    source: str
    origin: str = "file"
    subs_key: str | None = None
    subs_format: str = "srt"
    first: int = Field(ge=0)
    count: int = Field(ge=0)


class MediaOutline(_Stored):
    """What a media job keeps of its input besides the segments (``Job.media``):
    the source in object storage (muxed, and ducked under the dub), its
    length, frame rate (``"25/1"``; ``None``: no picture) and sound streams,
    the dubs, and a ``--bed`` stem."""

    source_key: str
    source_name: str
    duration_s: float
    fps: str | None = None
    audio_streams: int = 0
    video_codecs: list[str] = Field(default_factory=list)
    tracks: list[DubTrackOutline] = Field(default_factory=list)
    bed_key: str | None = None

    @property
    def frame_ms(self) -> float | None:
        """One frame's length in milliseconds (``None``: no picture)."""
        from fractions import Fraction

        return 1000.0 / float(Fraction(self.fps)) if self.fps else None

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None) -> MediaOutline | None:
        """The outline stored on a job (None: not a media job)."""
        return None if stored is None else cls.model_validate(stored)

    def stored(self) -> dict[str, Any]:
        """The JSON stored as ``Job.media``."""
        return self.model_dump(mode="json")
