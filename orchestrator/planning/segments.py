"""The segment model of a plan and its content hash.

A :class:`Plan` is the timeline of :class:`PlannedSegment` a job renders (cues
planned by :mod:`orchestrator.planning.cues`, scripts by
:mod:`orchestrator.planning.script`, prose by :mod:`orchestrator.planning.prose`);
:func:`segment_hash` names a segment's audio in storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicecast.queue import HASH_SCHEMA_VERSION, content_hash, to_ms

__all__ = ["HASH_SCHEMA_VERSION", "Plan", "PlannedSegment", "segment_hash"]


@dataclass(frozen=True)
class PlannedSegment:
    """One line to render: clean text in a time slot on the track.

    ``idx`` is the 0-based position in the plan; the slot is ``[start, end)``
    in seconds; ``max_end`` is the latest the line may run to by borrowing the
    gap after it (the next segment's start, or the track end), never less than
    ``end``. ``source_line`` is the first contributing cue's line in the
    subtitle file and ``cue_indices`` the 1-based file positions of all cues
    merged into it. ``speaker`` is who speaks it (None: the default voice, the
    narrator). Segments without a slot (scripts, audiobooks) are placed one
    after another by the assembler, with ``pause_after`` seconds of silence
    after each; ``chapter`` is an audiobook segment's 0-based chapter (-1
    otherwise), ``track`` a video or audio input's dub (-1 otherwise).
    """

    idx: int
    text: str
    start: float
    end: float
    max_end: float
    speaker: str | None = None
    emotion: str = "neutral"
    intensity: float = 0.0
    source_line: int = 0
    cue_indices: tuple[int, ...] = ()
    #: ``[like:PATH]``: the clip as written (the service stores it and sets
    #: ``emotion`` to ``like:<sha>`` before hashing).
    clip: str | None = None
    chapter: int = -1
    pause_after: float = 0.0
    #: A media job's dub (0-based) the segment belongs to (-1 otherwise).
    track: int = -1
    #: The language it is spoken in (BCP 47); "": the job's.
    language: str = ""

    @property
    def slot(self) -> float:
        """Length of the slot in seconds."""
        return self.end - self.start


@dataclass
class Plan:
    """The segments of a track in time order, what the planner had to change, and
    the track's duration in seconds. ``lead_s`` is extra silence before the
    first segment (a script's leading ``[pause:]``), on top of the usual head."""

    segments: list[PlannedSegment]
    warnings: list[str] = field(default_factory=list)
    duration: float = 0.0
    lead_s: float = 0.0


# --------------------------------------------------------------------------- hashing


def segment_hash(
    seg: PlannedSegment,
    *,
    voice_id: str,
    voice_version: int,
    engine: str,
    engine_version: str,
    fit: dict[str, Any],
) -> str:
    """Content hash (sha256 hex) of everything that determines a segment's audio:
    :func:`voicecast.queue.content_hash` of the segment's text, voice, emotion,
    intensity, slot length and borrowable length (``max_end - start``), the
    engine and the fit settings (:func:`voicecast.queue.hash_fit`). A synthesis
    worker recomputes it from the segment's :class:`~voicecast.queue.SegmentSpec`.

    It deliberately leaves out the absolute start time, the speaker name and
    the segment's index: where a line sits on the track is the assembler's
    business, so shifting a line (or inserting one before it) without changing
    its length reuses its audio instead of re-rendering it. Lengths are
    rounded to the millisecond so float noise from re-parsing cannot change the
    hash.
    """
    return content_hash(
        text=seg.text, voice_id=voice_id, voice_version=voice_version, emotion=seg.emotion,
        intensity=seg.intensity, slot_ms=to_ms(seg.end - seg.start),
        borrow_ms=to_ms(seg.max_end - seg.start), engine=engine, engine_version=engine_version, fit=fit,
        language=seg.language or "en",
    )
