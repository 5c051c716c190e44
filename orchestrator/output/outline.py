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
