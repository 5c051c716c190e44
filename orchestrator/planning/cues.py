"""Subtitle cues into a plan: the timeline of segments a dubbing job will render.

First the cues not meant to be spoken are skipped
(:func:`~orchestrator.planning.cue_select.select_cues`: cues never on screen,
ASS karaoke effects, drawings, signs and songs, duplicate layers; see
:mod:`orchestrator.planning.cue_select`). Each remaining cue's text is read and
cleaned by :mod:`orchestrator.planning.markup`
(:func:`~orchestrator.planning.markup.clean_text`); cues left with no
speakable text are dropped with a warning, and so are adverts and credits
(:func:`~orchestrator.planning.cue_select.is_advert`: "Downloaded From
www...", "Subtitles by ...", web addresses).

Several speakers in one cue
---------------------------
A cue holding more than one speaker's turn is split into one segment per
turn, the turns sharing the cue's slot in order: the slot is divided in
proportion to each turn's text length (each turn gets at least 0.25 s where
the slot allows), and each turn is spoken by its own speaker. The turns are

* the ``<v Name>`` voice spans of a WebVTT cue, when it has two or more
  different voices (text before the first span goes with the first voice);
* dash dialogue in any format (``- Hi.`` / ``- Hello.``: each line starting
  with a dash begins a turn; a first line without a dash is a turn too), when
  the speakers can be told apart: split only if the turns have at least two
  different speakers, given by speaker labels (``- FOX: Hi.``),
  ``[voice:NAME]`` tags or voice spans. Dash dialogue whose speakers cannot be
  told apart stays one line for the cue's voice, as before (a grouped warning
  counts those cues: label the turns to split them).

A split cue that is later merged with another cue (simultaneous or heavily
overlapping, below) becomes one line again, spoken by its first speaker.

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
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

from orchestrator.inputs.subtitles import Cue
from orchestrator.planning.cue_select import describe, is_advert, select_cues
from orchestrator.planning.markup import EmotionRules, MarkupLog, cue_words, emotion_fields
from orchestrator.planning.segments import Plan, PlannedSegment
from voicecast.emotions import Emotion
from voicecast.errors import InputError

__all__ = ["MERGE_WINDOW_S", "MIN_CLIPPED_SLOT_S", "plan_cues"]

#: Cues starting within this many seconds of each other are one segment.
MERGE_WINDOW_S = 0.010
#: A slot clipped shorter than this is merged into the cue that clipped it;
#: also the least share of a cue's slot a turn gets when the cue is split.
MIN_CLIPPED_SLOT_S = 0.25

# A WebVTT voice span's opening tag (as the reader's), and a line that opens a
# dash-dialogue turn: one dash (not "--", not "-5") after any leading markup.
_VOICE = re.compile(r"<v(?:\.[^\s>]+)*\s+([^>]+?)\s*>")
_LINE_BREAK = re.compile(r"\n|\\[Nn]")
_DASH_TURN = re.compile(r"^(?:\s|\{[^{}]*\}|<[^<>]*>)*[-‐‑–—](?![-‐‑–—\d])\s*\S")


@dataclass
class _Part:
    """One speaker's turn of a cue split into several segments."""

    text: str
    speaker: str | None
    emotion: Emotion
    #: ``[lang:]``: the turn's language ("": the job's).
    language: str = ""


@dataclass
class _Group:
    """A segment under construction (mutable while overlaps are resolved);
    with two or more ``parts``, a cue whose slot its turns share."""

    start: float
    end: float
    texts: list[str]
    speaker: str | None
    line: int
    indices: list[int]
    emotion: Emotion = field(default_factory=Emotion)
    parts: list[_Part] = field(default_factory=list)
    #: ``[lang:]``: the line's language ("": the job's); a merged cue keeps the first's.
    language: str = ""

    def absorb(self, other: _Group) -> None:
        self.start = min(self.start, other.start)
        self.end = max(self.end, other.end)
        self.texts.extend(other.texts)
        self.indices.extend(other.indices)
        if self.speaker is None:
            self.speaker = other.speaker
        # Merged with another cue: one line again (see the module docstring).
        self.parts = []


def _where(cue_line: int, index: int) -> str:
    return f"line {cue_line}" if cue_line else f"cue {index}"


def plan_cues(cues: Sequence[Cue], *, source: str, track_end: float | None = None,
              emotions: EmotionRules | None = None, characters: Collection[str] = (),
              styles: Sequence[str] = ()) -> Plan:
    """Turn parsed cues into a plan of non-overlapping segments.

    In steps: the cues not meant to be spoken skipped
    (:func:`~orchestrator.planning.cue_select.select_cues`; ``styles`` is the
    ``--styles`` choice of ASS/SSA styles: empty for the default, ``["all"]``,
    or style names), each remaining cue read and cleaned
    (:func:`~orchestrator.planning.markup.clean_text`), cues left empty and
    adverts dropped (one warning per kind), cues with several speakers split
    (module docstring), the rest sorted by start (stable) and their overlaps
    resolved by the rule in the module docstring, the track's length set, the
    segments laid out. The track lasts ``track_end`` seconds if given (e.g. the
    video's length), else until the last cue ends. Speakers come from
    ``[voice:]`` tags, speaker labels (``characters``: the job's mapped
    character names, see :func:`~orchestrator.planning.markup.split_label`) and
    the cues' own.

    Raises :class:`~voicecast.errors.InputError` for a spoken cue with a
    non-finite or negative time (naming its line), a ``track_end`` before the
    last spoken cue ends (naming the field ``duration``), a ``styles`` name no
    cue uses (naming ``--styles``), or no speakable text at all (naming
    ``source``).
    """
    rules = emotions or EmotionRules()
    selection = select_cues(cues, source=source, styles=styles)
    timeline_end = max((c.end for c in cues if math.isfinite(c.end)), default=0.0)
    read = _read_cues(selection.cues, source, rules, characters)
    read.log.check()  # every markup error of the file at once
    groups = read.groups
    warnings = selection.warnings + read.log.warnings() + _read_warnings(source, read)
    if not groups:
        skipped = len(cues) - len(selection.cues)
        why = f"; {skipped} more skipped (see the warnings)" if skipped else ""
        hint = "; choose the styles to speak with --styles" if selection.by_style else ""
        raise InputError(
            f"no speakable text: all {len(read.dropped)} cue(s) read are empty, sound descriptions, "
            f"music or adverts{why}{hint}",
            file=source,
        )
    resolved = _resolve_overlaps(groups, source, warnings)
    duration = _track_duration(resolved, track_end, timeline_end)
    return Plan(segments=_segments(resolved, duration), warnings=warnings, duration=duration)


@dataclass
class _Read:
    """What reading the selected cues gave: the spoken ones as groups (file
    order), and the cues dropped or left whole, by reason."""

    groups: list[_Group] = field(default_factory=list)
    dropped: list[Cue] = field(default_factory=list)
    adverts: list[tuple[Cue, str]] = field(default_factory=list)
    dash_one_voice: list[Cue] = field(default_factory=list)
    #: Markup errors and skipped sound descriptions, reported once per file.
    log: MarkupLog = field(default_factory=lambda: MarkupLog(""))


def _read_cues(cues: Sequence[Cue], source: str, rules: EmotionRules,
               characters: Collection[str]) -> _Read:
    """Each spoken cue as a group of its own (split into turns where it holds
    several speakers), in file order."""
    read = _Read(log=MarkupLog(source))
    for cue in cues:
        turns, dashes = _turns(cue)
        parts: list[_Part] = []
        turn_log = MarkupLog(source)  # kept only if the cue is split into its turns
        for turn in turns:
            emotion, speaker, words = cue_words(turn, source, rules, what=f"cue {cue.index}",
                                                pauses=False, characters=characters, log=turn_log)
            if words.text:
                parts.append(_Part(words.text, speaker, emotion, words.lang or ""))
        if len({p.speaker for p in parts}) >= 2:
            read.log.merge(turn_log)
            text = " ".join(p.text for p in parts)
            if is_advert(text):
                read.adverts.append((cue, text))
                continue
            _check_times(cue, source)
            read.groups.append(_Group(cue.start, cue.end, [p.text for p in parts], parts[0].speaker,
                                      cue.line, [cue.index], parts[0].emotion, parts, parts[0].language))
            continue
        if dashes and len(parts) >= 2:
            read.dash_one_voice.append(cue)
        # One speaker: the cue read whole, exactly as a cue without turns.
        emotion, speaker, words = cue_words(cue, source, rules, what=f"cue {cue.index}", pauses=False,
                                            characters=characters, log=read.log)
        if not words.text:
            read.dropped.append(cue)
            continue
        if is_advert(words.text):
            read.adverts.append((cue, words.text))
            continue
        _check_times(cue, source)
        read.groups.append(_Group(cue.start, cue.end, [words.text], speaker, cue.line, [cue.index],
                                  emotion, language=words.lang or ""))
    return read


def _turns(cue: Cue) -> tuple[list[Cue], bool]:
    """A cue's speaker turns (module docstring) as cues of their own, and
    whether they are dash dialogue; no turns when the cue has at most one."""
    voices = list(_VOICE.finditer(cue.text))
    if len({m.group(1) for m in voices}) >= 2:
        cuts = [0] + [m.start() for m in voices[1:]] + [len(cue.text)]
        return [replace(cue, text=cue.text[a:b], speaker=m.group(1))
                for a, b, m in zip(cuts[:-1], cuts[1:], voices, strict=True)], False
    turns: list[list[str]] = []
    for line in _LINE_BREAK.split(cue.text):
        if not turns or (_DASH_TURN.match(line) and any(ln.strip() for ln in turns[-1])):
            turns.append([line])
        else:
            turns[-1].append(line)
    if len(turns) < 2:
        return [], False
    return [replace(cue, text="\n".join(t)) for t in turns], True


def _check_times(cue: Cue, source: str) -> None:
    """A spoken cue needs finite times and a start >= 0 (cues of zero or
    negative length were skipped before)."""
    if not (math.isfinite(cue.start) and math.isfinite(cue.end)) or cue.start < 0 or cue.end <= cue.start:
        raise InputError(
            f"cue {cue.index} has an invalid time ({cue.start} --> {cue.end})",
            file=source,
            line=cue.line or None,
        )


def _read_warnings(source: str, read: _Read) -> list[str]:
    """One warning per kind of cue dropped or left whole while reading."""
    warnings: list[str] = []
    if read.dropped:
        warnings.append(f"{source}: dropped {len(read.dropped)} cue(s) with no speakable text "
                        f"(empty, sound descriptions or music): {describe(read.dropped)}")
    if read.adverts:
        shown = ", ".join(f"{_clip(text)!r} ({_where(c.line, c.index)})" for c, text in read.adverts[:5])
        more = f" and {len(read.adverts) - 5} more" if len(read.adverts) > 5 else ""
        warnings.append(f"{source}: skipped {len(read.adverts)} advert/credit cue(s): {shown}{more}")
    if read.dash_one_voice:
        warnings.append(f"{source}: {len(read.dash_one_voice)} cue(s) of dash dialogue with speakers that "
                        f"cannot be told apart, each spoken by one voice (label the turns 'NAME: ...' "
                        f"to split them): {describe(read.dash_one_voice)}")
    return warnings


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


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
    """The resolved groups as segments (a split cue's turns as one each); each
    may borrow up to the next one's start (the last: up to the track's end)."""
    segments: list[PlannedSegment] = []
    for k, g in enumerate(resolved):
        max_end = resolved[k + 1].start if k + 1 < len(resolved) else duration
        shares = _shares(g)
        if shares is None:
            pieces = [(g.start, g.end, " ".join(g.texts), g.speaker, g.emotion, g.language)]
        else:
            pieces = [(a, b, p.text, p.speaker, p.emotion, p.language)
                      for (a, b), p in zip(shares, g.parts, strict=True)]
        for j, (start, end, text, speaker, emotion, language) in enumerate(pieces):
            # A turn may not run into the next turn of its cue; the last may borrow.
            last = j == len(pieces) - 1
            segments.append(
                PlannedSegment(
                    idx=len(segments),
                    text=text,
                    start=start,
                    end=end,
                    max_end=max(max_end, end) if last else end,
                    speaker=speaker,
                    source_line=g.line,
                    cue_indices=tuple(g.indices),
                    language=language,
                    **emotion_fields(emotion),
                )
            )
    return segments


def _shares(g: _Group) -> list[tuple[float, float]] | None:
    """The turns' slots of a split cue: its slot divided in proportion to each
    turn's text length, each at least ``MIN_CLIPPED_SLOT_S`` where the slot
    allows. Offsets are whole milliseconds from the cue's start, so a turn's
    length (in the content hash) does not depend on where the cue sits. None:
    not split (one turn, or a slot too short to share)."""
    n = len(g.parts)
    slot = (g.end - g.start) * 1000
    if n < 2 or not math.isfinite(slot):
        return None
    slot_ms = int(round(slot))
    floor = min(int(MIN_CLIPPED_SLOT_S * 1000), slot_ms // n)
    if floor < 1:
        return None
    spare = slot_ms - floor * n
    weights = [len(p.text) for p in g.parts]
    total = sum(weights)
    bounds = [0]
    cum = 0
    for j, w in enumerate(weights[:-1], 1):
        cum += w
        bounds.append(floor * j + round(spare * cum / total))
    times = [g.start + b / 1000 for b in bounds] + [g.end]
    return list(zip(times, times[1:], strict=False))


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
