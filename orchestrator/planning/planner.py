"""Cues into a plan: the timeline of segments a dubbing job will render.

Text cleaning (:func:`clean_text`)
----------------------------------
Subtitles are written to be read; the planner keeps only what is to be spoken.
In order:

1. ASS override and comment blocks (``{\\an8}``, ``{\\i1}``, ``{note}``) are
   removed; ``\\N`` and ``\\n`` become line breaks and ``\\h`` a space.
2. HTML-like tags are removed: ``<i>``, ``<b>``, ``<u>``, ``<font ...>``,
   WebVTT ``<v Name>``, ``<c.class>``, ``<lang en>``, ``<ruby>`` and inline
   timestamps such as ``<00:00:01.000>``; the text inside them stays.
   HTML entities (``&amp;``, ``&nbsp;``) are decoded afterwards, so an escaped
   ``&lt;i&gt;`` stays as literal text.
3. Any line containing a music note (``♪ ♫ ♬ ♩``) is lyrics or a music cue
   and is removed whole.
4. Sound descriptions for the deaf and hard of hearing are removed: any
   ``[...]`` or ``(...)`` span, also across line breaks and nested. Spoken
   words in parentheses are lost too; that is the usual SDH convention and the
   safer side for a dub (reading "(door slams)" aloud is worse).
5. Leading dialogue dashes (``-``, ``–``, ``—``) are dropped from each line,
   unless followed by a digit (``-5 degrees``), so ``- Hi`` / ``- Hello``
   becomes ``Hi Hello``.
6. Lines are joined with a single space (a line-final hyphen is not treated
   as a hyphenation break), whitespace is collapsed, spaces left before
   punctuation by removed spans are closed up and stray leading ``, ; :`` are
   dropped.
7. Text with no letter or digit left (``...``, ``-``) is empty. A cue whose
   text is empty is dropped from the plan with a warning.

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

Speakers (:func:`read_line`)
----------------------------
A segment's speaker (``PlannedSegment.speaker``; None is the default voice)
is, first found wins:

1. ``[voice:NAME]`` among the line's leading tags (see
   :mod:`voicecast.emotions`), e.g. ``[voice:Fox] [sad] Go away.``;
2. a speaker label ``NAME: text`` at the start of the line (after a dialogue
   dash and any leading tags; tags may also follow it). The label is not
   spoken. ``NAME`` is one to three words of letters (``' ’ . -`` allowed,
   no digits) followed by ``:`` and a space, and it is a label only when
   it is ALL CAPS (``FOX:``, ``MR. SMITH:``: the screenplay and SDH
   convention) or names one of the job's mapped characters (the
   ``characters`` argument, case-insensitive) in capitalized words
   (``Fox:``). Anything else stays text: ``Note: this is spoken`` is spoken;
3. the cue's own speaker: the ASS actor (Name field) or the WebVTT
   ``<v Name>`` span.

Only the start of a cue or line is read; a second speaker inside one cue
(``FOX: Hi`` / ``- BOB: Yo``) stays text. The speaker also picks the emotion
mapping (:class:`EmotionRules`).

Script pauses (:func:`plan_script`)
-----------------------------------
``[pause:S]`` at the start of a script line, or on a line of its own, adds S
seconds of silence after the previous line (before the first line:
``Plan.lead_s``); at the end of a line it adds S after that line
(``PlannedSegment.pause_after``), on top of the usual gap between lines. In the
middle of a line it is an error, and so is any ``[pause:]`` in subtitles
(their timing is the file's).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.inputs.subtitles import Cue
from voicecast.emotions import (
    Directives,
    Emotion,
    TagError,
    parse_emotion,
    reject_stray_tags,
    split_directives,
)
from voicecast.errors import InputError

__all__ = [
    "HASH_SCHEMA_VERSION",
    "MERGE_WINDOW_S",
    "MIN_CLIPPED_SLOT_S",
    "EmotionRules",
    "LineWords",
    "Plan",
    "PlannedSegment",
    "clean_cue",
    "clean_text",
    "emotion_fields",
    "plan_script",
    "plan_cues",
    "read_line",
    "segment_hash",
    "split_label",
]

#: Cues starting within this many seconds of each other are one segment.
MERGE_WINDOW_S = 0.010
#: A slot clipped shorter than this is merged into the cue that clipped it.
MIN_CLIPPED_SLOT_S = 0.25
#: Bumped whenever :func:`segment_hash`'s payload changes meaning.
HASH_SCHEMA_VERSION = 1

# --------------------------------------------------------------------------- cleaning

_ASS_BLOCK = re.compile(r"\{[^{}]*\}")
_TAG = re.compile(r"</?(?:[A-Za-z][^<>]*|\d[\d:.]*)>")
_MUSIC = re.compile(r"[♪♫♬♩]")
_SDH_SPAN = re.compile(r"\[[^\[\]]*\]|\([^()]*\)")
_LEAD_DASH = re.compile(r"^[-‐‑–—]+\s*(?!\d)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?…])")
_WS = re.compile(r"\s+")
_SPEAKABLE = re.compile(r"[^\W_]")


def _strip_markup(raw: str) -> str:
    """Rules 1-2: ASS blocks and HTML-like tags out, entities decoded."""
    text = _ASS_BLOCK.sub("", raw)
    text = text.replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    text = _TAG.sub("", text)
    return html.unescape(text).replace("\r", "\n")


def _strip_spoken(text: str) -> str:
    """Rules 3-7 on markup-free text."""
    lines = [ln for ln in text.split("\n") if not _MUSIC.search(ln)]
    text = "\n".join(lines)
    # Repeat so nested spans ("[man (whispering)]") go from the inside out.
    while True:
        stripped = _SDH_SPAN.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    lines = [_LEAD_DASH.sub("", ln.strip()) for ln in text.split("\n")]
    text = _WS.sub(" ", " ".join(ln for ln in lines if ln)).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text).lstrip(",;: ")
    return text if _SPEAKABLE.search(text) else ""


def clean_text(raw: str) -> str:
    """Return the words of a cue to be spoken, on one line ('' if none).

    See the module docstring for the rules, in the order they apply.
    """
    return _strip_spoken(_strip_markup(raw))


# A speaker label's words: letters, optionally with ' ’ . - inside or after
# ("MR.", "O'BRIEN", "JEAN-LUC"); never digits, so "10: ..." is no label.
_LABEL_WORD = r"[^\W\d_](?:[^\W\d_]|['’.\-])*"
# Leading sound descriptions may come before a label ("[MUSIC] FOX: Hi").
_LABEL = re.compile(rf"((?:\[[^\[\]]*\]\s*)*)({_LABEL_WORD}(?: +{_LABEL_WORD}){{0,2}})[ \t]*:\s+(?=\S)")


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def split_label(text: str, characters: Collection[str] = ()) -> tuple[str | None, str]:
    """Split a speaker label (``FOX: Hello``) off the start of a line:
    ``(name or None, rest)``.

    ``NAME:`` is a label when NAME is one to three words of letters (``' ’ .
    -`` allowed inside) followed by ``:`` and a space, and either ALL CAPS (the
    screenplay / SDH convention: ``FOX:``, ``MR. SMITH:``) or capitalized
    words naming one of ``characters`` (matched case-insensitively). Otherwise
    the text is returned unchanged: ``Note: this is spoken`` is spoken.
    Sound descriptions before the label (``[MUSIC] FOX: Hi``) stay in ``rest``.
    """
    m = _LABEL.match(text)
    if not m:
        return None, text
    name = m.group(2)
    words = name.split()
    caps = name.upper() == name and name.lower() != name
    mapped = (all(w[0].isupper() for w in words)
              and _name_key(name) in {_name_key(c) for c in characters})
    if not (caps or mapped):
        return None, text
    return name, m.group(1) + text[m.end():]


@dataclass(frozen=True)
class LineWords:
    """A cue or script line read: the words to speak and what its markup asks.

    ``speaker`` is from ``[voice:NAME]`` or a speaker label (None: neither);
    ``pause_before``/``pause_after`` are the seconds of its leading/trailing
    ``[pause:]`` tags; ``bare`` is true when the line held nothing but tags
    (and a label).
    """

    emotion: Emotion | None
    speaker: str | None
    text: str
    pause_before: float = 0.0
    pause_after: float = 0.0
    bare: bool = False


def _merge(first: Directives, second: Directives, what: str) -> Directives:
    """Tags before and after a speaker label are one set of leading tags."""
    if first.voice is not None and second.voice is not None:
        raise TagError(f"{what}: more than one [voice:] tag ([voice:{first.voice}] and "
                       f"[voice:{second.voice}])")
    if first.emotion is not None and second.emotion is not None:
        raise TagError(f"{what}: more than one emotion tag ({first.emotion.tag()} and "
                       f"{second.emotion.tag()})")
    return Directives(first.voice or second.voice, first.emotion or second.emotion,
                      first.pause_before + second.pause_before,
                      first.pause_after + second.pause_after, second.rest)


def read_line(raw: str, *, what: str, ignore_unknown: bool = False, pauses: bool = False,
              characters: Collection[str] = ()) -> LineWords:
    """Read one subtitle cue (``pauses=False``) or script line (``pauses=True``).

    In order: markup out (rules 1-2), a leading dialogue dash, the leading tags
    (:func:`voicecast.emotions.split_directives`), a speaker label
    (:func:`split_label`; tags may also follow it: ``FOX: [sad] No.``), then
    the words cleaned (rules 3-7). ``[voice:NAME]`` wins over a label. Raises
    :class:`~voicecast.emotions.TagError`.
    """
    text = _strip_markup(raw).lstrip()
    dash = _LEAD_DASH.match(text)
    head = dash.group(0) if dash else ""
    d = split_directives(text[len(head):], what=what, ignore_unknown=ignore_unknown, pauses=pauses,
                         check_rest=False)
    label, rest = split_label(d.rest, characters)
    if label is not None:
        # Tags may follow a label. Unknown spans there were mid-line before
        # labels existed ("FOX: [laughs] Stop it"): sound descriptions, not errors.
        d = _merge(d, split_directives(rest, what=what, ignore_unknown=True, pauses=pauses), what)
    else:
        reject_stray_tags(d.rest, what=what, pauses=pauses)
    spoken = _strip_spoken(head + d.rest)
    return LineWords(d.emotion, d.voice or label, spoken, d.pause_before, d.pause_after,
                     bare=not d.rest.strip())


def clean_cue(raw: str, *, what: str, ignore_unknown: bool = False) -> tuple[Emotion | None, str]:
    """The emotion tag at the start of a cue (after markup, before the words)
    and the words to speak: ``(emotion or None, clean text)``.

    A leading dialogue dash before the tag is allowed (``- [sad] No.``). A
    speaker (``[voice:]``, label) is read and dropped; :func:`read_line` keeps
    it. Raises :class:`~voicecast.emotions.TagError` (see
    :func:`voicecast.emotions.split_directives`).
    """
    words = read_line(raw, what=what, ignore_unknown=ignore_unknown)
    return words.emotion, words.text


# --------------------------------------------------------------------------- plan


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
    otherwise).
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


@dataclass(frozen=True)
class EmotionRules:
    """How a segment's emotion is chosen when its line has no tag.

    In order: the line's own tag; ``by_name`` looked up with the segment's
    speaker (``[voice:NAME]``, a speaker label, the ASS actor or WebVTT
    ``<v Name>``); ``by_name`` looked up with its ASS style;
    ``default`` (the job's ``--emotion``). Names match case-insensitively.
    ``ignore_unknown`` treats unknown leading tags as sound descriptions.
    """

    default: Emotion = field(default_factory=lambda: Emotion("neutral", 0.0))
    by_name: dict[str, Emotion] = field(default_factory=dict)
    ignore_unknown: bool = False

    @classmethod
    def from_options(cls, default: str | None = None, mapping: Sequence[str] = (),
                     ignore_unknown: bool = False) -> EmotionRules:
        """Build from CLI/job options: ``default`` like ``sad:0.6``, ``mapping``
        items like ``NAME=happy:0.8``. Raises :class:`InputError` naming the option."""
        try:
            dflt = parse_emotion(default, what="--emotion") if default else Emotion("neutral", 0.0)
            by_name: dict[str, Emotion] = {}
            for item in mapping:
                name, sep, spec = item.partition("=")
                if not sep or not name.strip() or not spec.strip():
                    raise TagError(f"--emotion-map: {item!r} is not NAME=EMOTION[:INTENSITY]")
                by_name[name.strip().casefold()] = parse_emotion(spec, what=f"--emotion-map {name.strip()}")
        except TagError as e:
            raise InputError(str(e), field="emotion") from None
        return cls(dflt, by_name, ignore_unknown)

    def resolve(self, tag: Emotion | None, speaker: str | None, style: str | None) -> Emotion:
        """The emotion of a segment with this tag (or None), speaker and style."""
        if tag is not None:
            return tag
        for name in (speaker, style):
            if name and name.strip().casefold() in self.by_name:
                return self.by_name[name.strip().casefold()]
        return self.default


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


def _cue_words(cue: Cue, source: str, rules: EmotionRules, *, what: str, pauses: bool,
               characters: Collection[str]) -> tuple[Emotion, str | None, LineWords]:
    """A cue's words, its speaker (tag, label, then the cue's own) and its emotion."""
    try:
        words = read_line(cue.text, what=what, ignore_unknown=rules.ignore_unknown, pauses=pauses,
                          characters=characters)
    except TagError as e:
        raise InputError(str(e), file=source, line=cue.line or None) from None
    speaker = words.speaker or cue.speaker
    return rules.resolve(words.emotion, speaker, cue.style), speaker, words


def emotion_fields(emotion: Emotion) -> dict[str, Any]:
    """A resolved emotion as :class:`PlannedSegment` keyword arguments
    (``emotion``, ``intensity`` and, for ``[like:]``, ``clip``)."""
    if emotion.name == "like":
        return {"emotion": "like", "intensity": emotion.intensity, "clip": emotion.clip}
    return {"emotion": emotion.name, "intensity": emotion.intensity if emotion.name != "neutral" else 0.0}


def plan_cues(cues: Sequence[Cue], *, source: str, track_end: float | None = None,
              emotions: EmotionRules | None = None, characters: Collection[str] = ()) -> Plan:
    """Turn parsed cues into a plan of non-overlapping segments.

    Cleans each cue's text (:func:`clean_text`), drops cues left empty (one
    warning with their count), sorts by start (stable) and resolves overlaps by
    the rule in the module docstring. The track lasts ``track_end`` seconds if
    given (e.g. the video's length), else until the last cue ends. Speakers
    come from ``[voice:]`` tags, speaker labels (``characters``: the job's
    mapped character names, see :func:`split_label`) and the cues' own.

    Raises :class:`~voicecast.errors.InputError` for a spoken cue whose end is
    not after its start (naming its line), a ``track_end`` before the last
    spoken cue ends (naming the field ``duration``), or no speakable text at
    all (naming ``source``).
    """
    rules = emotions or EmotionRules()
    groups: list[_Group] = []
    dropped: list[Cue] = []
    timeline_end = 0.0
    for cue in cues:
        if math.isfinite(cue.end):
            timeline_end = max(timeline_end, cue.end)
        emotion, speaker, words = _cue_words(cue, source, rules, what=f"cue {cue.index}", pauses=False,
                                             characters=characters)
        text = words.text
        if not text:
            dropped.append(cue)
            continue
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
        groups.append(_Group(cue.start, cue.end, [text], speaker, cue.line, [cue.index], emotion))

    warnings: list[str] = []
    if dropped:
        shown = ", ".join(_where(c.line, c.index) for c in dropped[:10])
        more = f" and {len(dropped) - 10} more" if len(dropped) > 10 else ""
        warnings.append(
            f"{source}: dropped {len(dropped)} cue(s) with no speakable text "
            f"(empty, sound descriptions or music): {shown}{more}"
        )
    if not groups:
        raise InputError(
            f"no speakable text: all {len(dropped)} cue(s) are empty, sound descriptions or music",
            file=source,
        )

    groups.sort(key=lambda g: g.start)  # stable: equal starts keep file order
    resolved: list[_Group] = []
    for g in groups:
        prev = resolved[-1] if resolved else None
        if prev is None:
            resolved.append(g)
            continue
        here, there = _where(prev.line, prev.indices[0]), _where(g.line, g.indices[0])
        # The epsilon keeps "exactly 10 ms apart" inside the window despite float error.
        if g.start - prev.start <= MERGE_WINDOW_S + 1e-9:
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
        elif g.start < prev.end:
            if g.start - prev.start >= MIN_CLIPPED_SLOT_S:
                warnings.append(
                    f"{source}: cue at {here} overlaps the cue at {there}; "
                    f"its slot now ends at {_fmt_time(g.start)} instead of {_fmt_time(prev.end)}"
                )
                prev.end = g.start
                resolved.append(g)
            else:
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
        else:
            resolved.append(g)

    last_end = max(g.end for g in resolved)
    if track_end is not None:
        if not math.isfinite(track_end) or track_end + 1e-6 < last_end:
            raise InputError(
                f"track duration {track_end} s ends before the last spoken cue "
                f"(ends at {_fmt_time(last_end)}, {last_end:.3f} s)",
                field="duration",
            )
        duration = float(track_end)
    else:
        duration = max(timeline_end, last_end)

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
    return Plan(segments=segments, warnings=warnings, duration=duration)


def _merged_emotion(kept: _Group, other: _Group, source: str, warnings: list[str]) -> None:
    """Merged cues keep the first one's emotion; say so when they differ."""
    if other.emotion != kept.emotion:
        warnings.append(
            f"{source}: cues at {_where(kept.line, kept.indices[0])} and "
            f"{_where(other.line, other.indices[0])} were merged with different emotions; "
            f"spoken as {kept.emotion.tag()}"
        )


def plan_script(text: str, *, source: str, emotions: EmotionRules | None = None,
                characters: Collection[str] = ()) -> Plan:
    """A plain script: every non-blank line is one segment, spoken in order.

    Lines have no slot (``start == end == max_end == 0``): each is rendered at
    its natural length and the assembler places them one after another (see
    :mod:`orchestrator.output.assembly`). Leading tags and speaker labels work as in
    subtitle cues; lines starting with ``#`` are comments. ``[pause:S]`` at the
    start of a line, or on a line of its own, adds S seconds after the
    previous line (before the first line: :attr:`Plan.lead_s`); at the end of
    a line, after that line (:attr:`PlannedSegment.pause_after`). A line with
    no speakable words left is dropped with a warning. Raises
    :class:`InputError` naming the line.
    """
    rules = emotions or EmotionRules()
    segments: list[PlannedSegment] = []
    dropped: list[int] = []
    lead = 0.0

    def pause(seconds: float) -> None:
        nonlocal lead
        if not seconds:
            return
        if segments:
            last = segments[-1]
            segments[-1] = replace(last, pause_after=last.pause_after + seconds)
        else:
            lead += seconds

    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        emotion, speaker, words = _cue_words(Cue(len(segments) + 1, 0.0, 0.0, raw, line=n), source,
                                             rules, what="script line", pauses=True,
                                             characters=characters)
        pause(words.pause_before)
        if not words.text:
            # A line of nothing but [pause:] is a pause, not a lost line.
            if not (words.bare and (words.pause_before or words.pause_after)):
                dropped.append(n)
            pause(words.pause_after)
            continue
        segments.append(PlannedSegment(
            idx=len(segments), text=words.text, start=0.0, end=0.0, max_end=0.0, speaker=speaker,
            source_line=n, cue_indices=(n,), pause_after=words.pause_after,
            **emotion_fields(emotion),
        ))
    if not segments:
        raise InputError("no speakable text in the script", file=source)
    warnings = [f"{source}: dropped {len(dropped)} line(s) with no speakable text: "
                + ", ".join(f"line {n}" for n in dropped[:10])] if dropped else []
    return Plan(segments=segments, warnings=warnings, duration=0.0, lead_s=lead)


# --------------------------------------------------------------------------- hashing


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def segment_hash(
    seg: PlannedSegment,
    *,
    voice_id: str,
    voice_version: int,
    engine: str,
    engine_version: str,
    fit: dict[str, Any],
) -> str:
    """Content hash (sha256 hex) of everything that determines a segment's audio.

    The hash names the segment's audio in storage, so a segment is rendered
    once and reused until something that shapes its sound changes. It covers:
    the hash schema version, the spoken text (NFC-normalised), the voice id and
    profile version, emotion and intensity (rounded to 3 places), the slot
    length and the borrowable length (``max_end - start``) in whole
    milliseconds, the engine name and version, and the fit settings.

    It deliberately leaves out the absolute start time, the speaker name and
    the segment's index: where a line sits on the track is the assembler's
    business, so shifting a line (or inserting one before it) without changing
    its length reuses its audio instead of re-rendering it. Lengths are
    rounded to the millisecond so float noise from re-parsing cannot change the
    hash. ``fit`` must be JSON-serialisable; its keys are sorted, so dict order
    does not matter. The JSON is canonical (sorted keys, no spaces, UTF-8).
    """
    payload = {
        "schema": HASH_SCHEMA_VERSION,
        "text": unicodedata.normalize("NFC", seg.text),
        "voice": {"id": voice_id, "version": int(voice_version)},
        "emotion": seg.emotion,
        # "+ 0.0" turns -0.0 into 0.0 so both spell the same.
        "intensity": round(float(seg.intensity), 3) + 0.0,
        "slot_ms": _ms(seg.end - seg.start),
        "borrow_ms": _ms(seg.max_end - seg.start),
        "engine": {"name": engine, "version": engine_version},
        "fit": fit,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _fmt_time(seconds: float) -> str:
    ms = _ms(seconds)
    sign = "-" if ms < 0 else ""
    h, rem = divmod(abs(ms), 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{sign}{h}:{m:02d}:{s:02d}.{ms:03d}"
