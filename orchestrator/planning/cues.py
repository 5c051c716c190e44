"""Subtitle cues into a plan: the timeline of segments a dubbing job will render.

Each cue's text is read and cleaned by :mod:`orchestrator.planning.markup`
(:func:`~orchestrator.planning.markup.clean_text`); cues left with no
speakable text are dropped with a warning.

Overlap rule (:func:`plan_cues`)
--------------------------------
After cleaning and a stable sort by start time, cues are taken in order and
compared with the segment built so far (the previous one):

* **Simultaneous cues** — starting within 10 ms of the previous segment's start
  — are merged into that segment: texts joined in order, the slot extended to
  the later end. (Subtitle files split two-line captions or two speakers'
  lines this way; one voice speaks them in order.) If the speakers differ, the
  first one is kept and a warning says so.
* **Overlapping cues** — starting before the previous segment ends — clip the
  previous segment's slot to end where the later cue starts, with a warning
  naming both cues' source lines. If that would leave the earlier slot shorter
  than 0.25 s, the earlier text is merged into the later cue instead: one
  segment from the earlier start to the later of both ends, texts in order,
  spoken by the later cue's speaker if it has one (warning too).
  A cue that starts and ends inside the previous one still clips it at its
  start: the earlier line's remaining time is given up rather than spoken
  over.

After this, segments never overlap, and each one's ``max_end`` (the latest it
may borrow up to when its speech runs long) is the next segment's start, or
the track duration for the last.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from orchestrator.inputs.subtitles import Cue
from orchestrator.planning.markup import EmotionRules, cue_words, emotion_fields
from orchestrator.planning.segments import Plan, PlannedSegment
from voicecast.emotions import Emotion
from voicecast.errors import InputError

__all__ = ["MERGE_WINDOW_S", "MIN_CLIPPED_SLOT_S", "plan_cues"]

#: Cues starting within this many seconds of each other are one segment.
MERGE_WINDOW_S = 0.010
#: A slot clipped shorter than this is merged into the cue that clipped it.
MIN_CLIPPED_SLOT_S = 0.25


@dataclass
class _Group:
    """A segment under construction (mutable while overlaps are resolved)."""

    start: float
    end: float
    texts: list[str]
    speaker: str | None
    line: int
    indices: list[int]
    emotion: Emotion = field(default_factory=Emotion)

    def absorb(self, other: _Group) -> None:
        self.start = min(self.start, other.start)
        self.end = max(self.end, other.end)
        self.texts.extend(other.texts)
        self.indices.extend(other.indices)
        if self.speaker is None:
            self.speaker = other.speaker


def _where(cue_line: int, index: int) -> str:
    return f"line {cue_line}" if cue_line else f"cue {index}"


def plan_cues(cues: Sequence[Cue], *, source: str, track_end: float | None = None,
              emotions: EmotionRules | None = None, characters: Collection[str] = ()) -> Plan:
    """Turn parsed cues into a plan of non-overlapping segments.

    In steps: each cue read and cleaned
    (:func:`~orchestrator.planning.markup.clean_text`), cues left empty dropped
    (one warning with their count), the rest sorted by start (stable) and their
    overlaps resolved by the rule in the module docstring, the track's length
    set, the segments laid out. The track lasts ``track_end`` seconds if given
    (e.g. the video's length), else until the last cue ends. Speakers come from
    ``[voice:]`` tags, speaker labels (``characters``: the job's mapped
    character names, see :func:`~orchestrator.planning.markup.split_label`) and
    the cues' own.

    Raises :class:`~voicecast.errors.InputError` for a spoken cue whose end is
    not after its start (naming its line), a ``track_end`` before the last
    spoken cue ends (naming the field ``duration``), or no speakable text at
    all (naming ``source``).
    """
    rules = emotions or EmotionRules()
    groups, dropped, timeline_end = _read_cues(cues, source, rules, characters)
    warnings = _dropped_warnings(source, dropped)
    if not groups:
        raise InputError(
            f"no speakable text: all {len(dropped)} cue(s) are empty, sound descriptions or music",
            file=source,
        )
    resolved = _resolve_overlaps(groups, source, warnings)
    duration = _track_duration(resolved, track_end, timeline_end)
    return Plan(segments=_segments(resolved, duration), warnings=warnings, duration=duration)


def _read_cues(cues: Sequence[Cue], source: str, rules: EmotionRules,
               characters: Collection[str]) -> tuple[list[_Group], list[Cue], float]:
    """Each spoken cue as a group of its own, in file order; the cues left with
    no speakable text; and the latest finite cue end (spoken or not)."""
    groups: list[_Group] = []
    dropped: list[Cue] = []
    timeline_end = 0.0
    for cue in cues:
        if math.isfinite(cue.end):
            timeline_end = max(timeline_end, cue.end)
        emotion, speaker, words = cue_words(cue, source, rules, what=f"cue {cue.index}", pauses=False,
                                            characters=characters)
        text = words.text
        if not text:
            dropped.append(cue)
            continue
        _check_times(cue, source)
        groups.append(_Group(cue.start, cue.end, [text], speaker, cue.line, [cue.index], emotion))
    return groups, dropped, timeline_end


def _check_times(cue: Cue, source: str) -> None:
    """A spoken cue needs finite times, a start >= 0 and an end after its start."""
    if not (math.isfinite(cue.start) and math.isfinite(cue.end)) or cue.start < 0:
        raise InputError(
            f"cue {cue.index} has an invalid time ({cue.start} --> {cue.end})",
            file=source,
            line=cue.line or None,
        )
    if cue.end <= cue.start:
        raise InputError(
            f"cue {cue.index} has zero or negative length "
            f"({_fmt_time(cue.start)} --> {_fmt_time(cue.end)})",
            file=source,
            line=cue.line or None,
        )


def _dropped_warnings(source: str, dropped: list[Cue]) -> list[str]:
    """One warning naming (the first ten of) the cues dropped as unspeakable."""
    if not dropped:
        return []
    shown = ", ".join(_where(c.line, c.index) for c in dropped[:10])
    more = f" and {len(dropped) - 10} more" if len(dropped) > 10 else ""
    return [
        f"{source}: dropped {len(dropped)} cue(s) with no speakable text "
        f"(empty, sound descriptions or music): {shown}{more}"
    ]


def _resolve_overlaps(groups: list[_Group], source: str, warnings: list[str]) -> list[_Group]:
    """The overlap rule of the module docstring: groups sorted by start
    (stable), simultaneous ones merged, overlapping ones clipped or merged."""
    groups.sort(key=lambda g: g.start)  # stable: equal starts keep file order
    resolved: list[_Group] = []
    for g in groups:
        prev = resolved[-1] if resolved else None
        if prev is None:
            resolved.append(g)
        # The epsilon keeps "exactly 10 ms apart" inside the window despite float error.
        elif g.start - prev.start <= MERGE_WINDOW_S + 1e-9:
            _merge_simultaneous(prev, g, source, warnings)
        elif g.start < prev.end:
            if _clip_or_merge(prev, g, source, warnings):
                resolved.append(g)
        else:
            resolved.append(g)
    return resolved


def _merge_simultaneous(prev: _Group, g: _Group, source: str, warnings: list[str]) -> None:
    """``g`` starts with ``prev``: one line, spoken by ``prev``'s speaker."""
    here, there = _where(prev.line, prev.indices[0]), _where(g.line, g.indices[0])
    if g.speaker is not None and prev.speaker is not None and g.speaker != prev.speaker:
        warnings.append(
            f"{source}: cues at {here} ({prev.speaker}) and {there} ({g.speaker}) "
            f"start together; merged and spoken by {prev.speaker}"
        )
    else:
        warnings.append(
            f"{source}: cues at {here} and {there} start together; merged into one line"
        )
    prev.absorb(g)
    _merged_emotion(prev, g, source, warnings)


def _clip_or_merge(prev: _Group, g: _Group, source: str, warnings: list[str]) -> bool:
    """``g`` starts inside ``prev``: clip ``prev`` at ``g``'s start (True: ``g``
    stays a segment of its own), or, when that leaves ``prev`` too short, merge
    ``prev`` into ``g``'s line (False: ``prev`` now holds both)."""
    here, there = _where(prev.line, prev.indices[0]), _where(g.line, g.indices[0])
    if g.start - prev.start >= MIN_CLIPPED_SLOT_S:
        warnings.append(
            f"{source}: cue at {here} overlaps the cue at {there}; "
            f"its slot now ends at {_fmt_time(g.start)} instead of {_fmt_time(prev.end)}"
        )
        prev.end = g.start
        return True
    warnings.append(
        f"{source}: cue at {here} overlaps the cue at {there} and would keep only "
        f"{g.start - prev.start:.3f} s; merged its text into the later cue"
    )
    # Earliest start, latest end, texts in order; the later cue is
    # the one really spoken here, so its speaker wins.
    later_speaker = g.speaker
    prev.absorb(g)
    _merged_emotion(prev, g, source, warnings)
    prev.speaker = later_speaker or prev.speaker
    return False


def _track_duration(resolved: list[_Group], track_end: float | None, timeline_end: float) -> float:
    """``track_end`` if given (checked against the last spoken cue), else the
    latest cue end."""
    last_end = max(g.end for g in resolved)
    if track_end is None:
        return max(timeline_end, last_end)
    if not math.isfinite(track_end) or track_end + 1e-6 < last_end:
        raise InputError(
            f"track duration {track_end} s ends before the last spoken cue "
            f"(ends at {_fmt_time(last_end)}, {last_end:.3f} s)",
            field="duration",
        )
    return float(track_end)


def _segments(resolved: list[_Group], duration: float) -> list[PlannedSegment]:
    """The resolved groups as segments; each may borrow up to the next one's
    start (the last: up to the track's end)."""
    segments: list[PlannedSegment] = []
    for k, g in enumerate(resolved):
        max_end = resolved[k + 1].start if k + 1 < len(resolved) else duration
        segments.append(
            PlannedSegment(
                idx=k,
                text=" ".join(g.texts),
                start=g.start,
                end=g.end,
                max_end=max(max_end, g.end),
                speaker=g.speaker,
                source_line=g.line,
                cue_indices=tuple(g.indices),
                **emotion_fields(g.emotion),
            )
        )
    return segments


def _merged_emotion(kept: _Group, other: _Group, source: str, warnings: list[str]) -> None:
    """Merged cues keep the first one's emotion; say so when they differ."""
    if other.emotion != kept.emotion:
        warnings.append(
            f"{source}: cues at {_where(kept.line, kept.indices[0])} and "
            f"{_where(other.line, other.indices[0])} were merged with different emotions; "
            f"spoken as {kept.emotion.tag()}"
        )


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds * 1000):  # e.g. 1e306 s: no clock can show it
        return f"{seconds} s"
    ms = int(round(seconds * 1000))
    sign = "-" if ms < 0 else ""
    h, rem = divmod(abs(ms), 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{sign}{h}:{m:02d}:{s:02d}.{ms:03d}"
