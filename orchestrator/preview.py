"""``voicecast plan``: a render's plan, previewed, with nothing stored.

The input is parsed and planned exactly as a render plans it
(:func:`orchestrator.render.plan_input`: the same segments, text as it will be
spoken, voices, emotions and warnings), but no job, segment, voice profile or
clip is stored and no voice is enrolled: a voice is looked up read-only
(:func:`orchestrator.voices.lookup_voice`: a stored voice, an engine's own
voice, or a reference clip enrolled before; a clip never enrolled gets no
prediction).

Given a voice, each line's natural length is predicted by the engine's
duration predictor through the dispatch adapter (:meth:`Dispatcher.predict`,
the synthesis role's code: no audio is rendered), and the fit the worker
would plan on it: the rate and whether the line will be read faster than the
comfortable rate (``fast``) or overflow its slot even at the hard rate after
borrowing the gap (``overflow``). The prediction is the worker's own first
estimate (``workers.fitting``: the predicted length at speed 1.0 less the
engine's edge silence, at the line's emotion's speed); the render corrects it
with the take, within a few per cent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.options import RenderOptions
from orchestrator.render import TIMED_KINDS, InputPlan, book_cover, plan_input
from orchestrator.voices import NARRATOR, VoiceLookup, lookup_voice
from voicecast.queue import LinePrediction, LineSlot
from voicecast.settings import Settings

if TYPE_CHECKING:
    from orchestrator.dispatch import Dispatcher


@dataclass(frozen=True)
class PreviewLine:
    """One segment as it will be rendered."""

    idx: int
    text: str
    #: Audiobooks: the 0-based chapter; None otherwise.
    chapter: int | None
    #: Who speaks it (None: the narrator), and the voice given for them (None: no ``--voice``).
    speaker: str | None
    voice: str | None
    emotion: str
    intensity: float
    #: The slot on the track (subtitles); None for scripts and books (read one after another).
    start_s: float | None
    end_s: float | None
    max_end_s: float | None
    source_line: int
    #: ``[like:CLIP]``: the clip as written.
    clip: str | None = None
    #: The language it is spoken in (BCP 47): its ``[lang:]`` tag's, its
    #: character's (``--lang NAME=TAG``), else the job's.
    language: str = "en"
    #: With a voice: the predicted natural length and the planned fit (see :class:`LinePrediction`).
    predicted_s: float | None = None
    rate: float | None = None
    target_s: float | None = None
    borrowed_s: float | None = None
    overflow: bool = False
    overflow_s: float | None = None
    fast: bool = False


@dataclass(frozen=True)
class PreviewChapter:
    title: str
    #: How many segments (they are ``segments[first:first + segments]``).
    segments: int
    first: int
    source: str
    line: int


@dataclass
class Preview:
    """What ``voicecast plan`` prints (``--json``: :meth:`as_dict`)."""

    kind: str
    input: str
    segments: list[PreviewLine]
    chapters: list[PreviewChapter] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The track's length (subtitles, scripts); None for a book.
    duration_s: float | None = None
    #: Audiobooks: title and author as the M4B will carry them.
    title: str | None = None
    author: str | None = None
    #: Voice-map entries as given (``narrator`` first); empty without ``--voice``.
    voices: dict[str, str] = field(default_factory=dict)
    #: Whether lengths were predicted (a voice given and an engine with a predictor).
    predicted: bool = False
    #: The job's language (BCP 47); each line has its own too.
    language: str = "en"

    def flagged(self) -> list[PreviewLine]:
        """Lines predicted to overflow or to be read faster than comfortable."""
        return [g for g in self.segments if g.overflow or g.fast]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "input": self.input, "title": self.title, "author": self.author,
            "duration_s": self.duration_s, "voices": self.voices, "predicted": self.predicted,
            "language": self.language,
            "chapters": [asdict(c) for c in self.chapters],
            "segments": [asdict(g) for g in self.segments],
            "flagged": {"overflow": [g.idx for g in self.segments if g.overflow],
                        "fast": [g.idx for g in self.segments if g.fast and not g.overflow]},
            "warnings": list(self.warnings),
        }


def _lines(plan: InputPlan) -> list[PreviewLine]:
    out = []
    timed = plan.kind in TIMED_KINDS
    for g in plan.segments:
        voice = plan.voice_map[_voice_key(plan, plan.voice_name(g))]
        out.append(PreviewLine(
            idx=g.idx, text=g.text, chapter=g.chapter if g.chapter >= 0 else None, speaker=g.speaker,
            voice=voice or None, emotion=g.emotion, intensity=g.intensity,
            start_s=g.start if timed else None, end_s=g.end if timed else None,
            max_end_s=g.max_end if timed else None, source_line=g.source_line, clip=g.clip,
            language=g.language or plan.language,
        ))
    return out


def _voice_key(plan: InputPlan, name: str) -> str:
    return next(k for k in plan.voice_map if k.casefold() == name)


def _predict(settings: Settings, plan: InputPlan, lines: list[PreviewLine],
             dispatcher: Dispatcher) -> tuple[list[PreviewLine], list[str], bool]:
    """Lines with their predicted lengths and fit; notes for the warnings; whether any was predicted."""
    import dataclasses

    facts = dispatcher.facts()
    lookups: dict[str, VoiceLookup] = {}
    by_voice: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(plan.segments):
        given = plan.voice_map[_voice_key(plan, plan.voice_name(g))]
        if given not in lookups:
            lookups[given] = lookup_voice(settings, given, facts)
        by_voice[given].append(i)
    notes = [v.note for v in lookups.values() if v.note]
    out = list(lines)
    any_predicted = False
    skipped_like = 0
    for given, idxs in by_voice.items():
        found = lookups[given]
        if found.note:
            continue
        asked = [i for i in idxs if plan.segments[i].emotion != "like"]
        skipped_like += len(idxs) - len(asked)
        slots = [LineSlot(text=plan.segments[i].text, emotion=plan.segments[i].emotion,
                          intensity=plan.segments[i].intensity,
                          slot_s=max(0.0, plan.segments[i].end - plan.segments[i].start),
                          max_s=max(0.0, plan.segments[i].max_end - plan.segments[i].start))
                 for i in asked]
        if not slots:
            continue
        answers = dispatcher.predict(found.profile_key, found.builtin, slots)
        for i, p in zip(asked, answers, strict=True):
            any_predicted = any_predicted or p.natural_s is not None
            out[i] = dataclasses.replace(out[i], **_fields(p))
    if skipped_like:
        notes.append(f"{skipped_like} line(s) with emotion by example ([like:CLIP]): their length "
                     "is known only once rendered; not predicted")
    return out, notes, any_predicted


def _fields(p: LinePrediction) -> dict[str, Any]:
    if p.natural_s is None:
        return {}
    return {"predicted_s": round(p.natural_s, 4),
            "rate": round(p.rate, 4) if p.rate is not None else None,
            "target_s": round(p.target_s, 4) if p.target_s is not None else None,
            "borrowed_s": round(p.borrowed_s, 4), "overflow": p.overflow,
            "overflow_s": round(p.overflow_s, 4), "fast": p.fast}


def preview(settings: Settings, input_path: Path, options: RenderOptions,
            dispatcher: Dispatcher) -> Preview:
    """Plan ``input_path`` as a render with ``options`` would, storing nothing;
    with a voice, predict each line's length and fit. Raises the render's user errors."""
    plan = plan_input(settings, input_path, options, dispatcher, need_voices=False, preview=True)
    lines = _lines(plan)
    warnings = list(plan.warnings)
    result = Preview(kind=plan.kind, input=str(input_path), segments=lines,
                     duration_s=plan.duration if plan.kind != "audiobook" else None,
                     voices=dict(plan.voice_map) if plan.voice_map.get(NARRATOR) else {},
                     language=plan.language)
    if plan.book is not None:
        book, bplan = plan.book
        book_cover(book, options, input_path)  # an unusable cover fails here as in a render
        result.title = options.title or book.title
        result.author = options.author or book.author
        result.chapters = [PreviewChapter(title=c.title, segments=c.count, first=c.first, source=c.source,
                                          line=c.line) for c in bplan.chapters]
    if result.voices:
        result.segments, notes, result.predicted = _predict(settings, plan, lines, dispatcher)
        warnings += notes
    result.warnings = warnings
    return result
