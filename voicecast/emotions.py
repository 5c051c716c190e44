"""Emotion names, the tag syntax users write, and what each emotion promises.

Pure code: no audio, no model. The orchestrator uses it to read tags from
scripts and subtitle lines; workers and the emotion benchmark use the names and
the stated directions.

Tag syntax
----------
Tags are square-bracketed words at the **start** of a line (a subtitle cue, a
script line); they apply to that segment and are never spoken::

    [happy] We made it!
    [sad:0.6] I never saw her again.
    [whisper] Over here.
    [like:clips/angry_take.wav] Get out of my house.

* ``[NAME]`` or ``[NAME:INTENSITY]``: one of :data:`EMOTIONS`; intensity is a
  number from 0 to 1 (default :data:`DEFAULT_INTENSITY`).
* ``[like:PATH]``: emotion by example: the prosody (pitch level and range,
  rate, energy) of a recorded clip is transferred onto the line, in the target
  voice. ``PATH`` is relative to the script's folder. ``[like:PATH:0.5]``
  transfers half of it.

Names are case-insensitive; spaces around ``:`` are allowed. A bracketed span
that is not a tag (it contains a space, like ``[door slams]``) is not a tag:
the subtitle cleaner treats it as a sound description and drops it. A
tag-shaped span at the start of a line with an unknown name and words after
it (``[hapy] Hello``) is an error listing the allowed tags, unless the job
asks to treat such spans as sound descriptions (``--ignore-unknown-tags``, for
subtitles for the hard of hearing); a cue that is only ``[MUSIC]`` is a sound
description. More than one emotion tag on a line is an error, and so is a
known tag in the middle of a line (where it would otherwise be silently lost).

Speakers and pauses
-------------------
Two more tags direct the reading rather than the emotion::

    [voice:Fox] [sad] I never liked grapes.
    [pause:1.5]

* ``[voice:NAME]``: the segment is spoken by character ``NAME`` (letters,
  digits, spaces and ``_ - . '``; trimmed; matched to the job's voice map
  case-insensitively). In subtitles and scripts it goes at the start of the
  line, like an emotion tag, and overrides the ASS actor or WebVTT ``<v>``
  speaker; two ``[voice:]`` tags on a line are an error. In audiobooks it may
  also come right before a quotation mark, to give that quotation to
  ``NAME`` (see :mod:`orchestrator.planning.prose`).
* ``[pause:SECONDS]``: silence, a number above 0 and at most
  :data:`MAX_PAUSE_S`. In a script, at the start of a line (or on a line of
  its own) it adds silence before that line; at the end of a line, after it.
  In audiobooks it works anywhere. Subtitles have their timing from the file,
  so there it is an error.

Leading tags may come in any order: ``[voice:Fox] [sad] Hi`` is
``[sad][voice:Fox] Hi``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from voicecast.errors import InputError

__all__ = [
    "DEFAULT_INTENSITY",
    "EMOTIONS",
    "EXPECTED",
    "FEATURES",
    "LIKE",
    "MAX_PAUSE_S",
    "PAUSE",
    "VOICE",
    "WHISPER_MAX_VOICED",
    "Directives",
    "Emotion",
    "Pause",
    "TagError",
    "Voice",
    "allowed_tags",
    "find_tag",
    "is_known_tag_name",
    "parse_emotion",
    "parse_tag",
    "reject_stray_tags",
    "split_directives",
    "split_tags",
]

#: Every emotion the tag syntax accepts, neutral first.
EMOTIONS: tuple[str, ...] = (
    "neutral", "happy", "sad", "angry", "fearful", "surprised", "calm", "excited", "whisper",
)
DEFAULT_INTENSITY = 0.7

#: The prosodic features the emotion benchmark measures against neutral:
#: median F0 (semitones), F0 range (5-95 %, semitones), speech rate
#: (syllables per second of speech), RMS energy (dB) and voiced ratio.
FEATURES: tuple[str, ...] = ("f0_median", "f0_range", "rate", "rms", "voiced_ratio")

#: The direction each emotion moves each feature versus neutral (+1 up, -1
#: down). A feature not listed is not promised either way. Following the
#: vocal-expression literature (Scherer 1986; Juslin & Laukka 2003): joy and
#: excitement raise pitch, widen its range, speed up and get louder; sadness
#: and calm do the opposite; anger is loud, fast and wide with a raised pitch;
#: fear is high, fast and narrow but not loud; surprise is a high, wide pitch.
EXPECTED: dict[str, dict[str, int]] = {
    "neutral": {},
    "happy": {"f0_median": +1, "f0_range": +1, "rate": +1, "rms": +1},
    "sad": {"f0_median": -1, "f0_range": -1, "rate": -1, "rms": -1},
    "angry": {"f0_median": +1, "f0_range": +1, "rate": +1, "rms": +1},
    "fearful": {"f0_median": +1, "f0_range": -1, "rate": +1, "rms": -1},
    "surprised": {"f0_median": +1, "f0_range": +1, "rms": +1},
    "calm": {"f0_median": -1, "f0_range": -1, "rate": -1, "rms": -1},
    "excited": {"f0_median": +1, "f0_range": +1, "rate": +1, "rms": +1},
    "whisper": {"voiced_ratio": -1, "rms": -1, "rate": -1},
}
#: A whispered line (at the default intensity or more) is this voiced at most.
WHISPER_MAX_VOICED = 0.2

#: The emotion-by-example pseudo-emotion (``[like:PATH]``).
LIKE = "like"
#: The speaker tag (``[voice:NAME]``) and the pause tag (``[pause:SECONDS]``).
VOICE = "voice"
PAUSE = "pause"
#: The longest pause one ``[pause:]`` tag may ask for, in seconds.
MAX_PAUSE_S = 30.0


class TagError(InputError, ValueError):
    """A tag that cannot be used; the message says why and lists the allowed tags.

    An :class:`~voicecast.errors.InputError` (bad user text, exit 2) wherever it
    surfaces; callers that know the file and line re-raise it with them. Still a
    ``ValueError`` for callers that catch that."""


@dataclass(frozen=True)
class Emotion:
    """How one segment is to be spoken: an emotion and its intensity, or the
    prosody of a clip (``name == "like"``, ``clip`` the path as written)."""

    name: str = "neutral"
    intensity: float = DEFAULT_INTENSITY
    clip: str | None = None

    @property
    def is_neutral(self) -> bool:
        return self.name == "neutral" or self.intensity == 0.0

    def tag(self) -> str:
        """The tag that spells this emotion (``[sad:0.6]``)."""
        if self.name == LIKE:
            return f"[like:{self.clip}:{self.intensity:g}]"
        return f"[{self.name}:{self.intensity:g}]"


def allowed_tags() -> str:
    """One line listing the tags, for error messages."""
    names = ", ".join(f"[{e}]" for e in EMOTIONS)
    return f"{names} (each optionally [NAME:0-1]), [like:CLIP.wav], [voice:NAME], [pause:SECONDS]"


# A tag-shaped span: one word (letters, digits, "_" or "-"), optionally
# ":value". "[door slams]" (a space in the name) is not tag-shaped, and
# neither is "[1]" (a footnote mark). Group 1 is the name, group 2 the value.
_TAG = re.compile(r"\[\s*([A-Za-z][\w-]*)\s*(?::([^\]]*))?\]")
_TRAILING_TAG = re.compile(r"\[[^\[\]]*\]\s*$")
# Characters a character name may use (see the module docstring).
_VOICE_NAME = re.compile(r"[^\W_][\w .'’-]*")


def _intensity(raw: str, what: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise TagError(f"{what}: intensity {raw!r} is not a number from 0 to 1") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise TagError(f"{what}: intensity {raw!r} is outside 0-1")
    return value


def parse_emotion(spec: str, *, what: str = "emotion") -> Emotion:
    """Read ``NAME`` or ``NAME:INTENSITY`` (a job default, a style mapping).

    ``like:PATH[:INTENSITY]`` is accepted too. Raises :class:`TagError`.
    """
    body = spec.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1].strip()
    name, _, value = body.partition(":")
    name, value = name.strip().lower(), value.strip()
    if name == LIKE:
        clip, intensity = value, 1.0
        head, sep, tail = value.rpartition(":")
        if sep and re.fullmatch(r"\s*[0-9.]+\s*", tail):
            clip, intensity = head.strip(), _intensity(tail.strip(), what)
        if not clip:
            raise TagError(f"{what}: [like:...] needs a clip path, e.g. [like:take.wav]")
        return Emotion(LIKE, intensity, clip)
    if name not in EMOTIONS:
        raise TagError(f"{what}: unknown tag [{body}]; allowed: {allowed_tags()}")
    intensity = _intensity(value, what) if value else DEFAULT_INTENSITY
    if name == "neutral":
        intensity = 0.0
    return Emotion(name, intensity)


@dataclass(frozen=True)
class Voice:
    """A ``[voice:NAME]`` tag: ``name`` trimmed, inner spaces collapsed, case as written."""

    name: str


@dataclass(frozen=True)
class Pause:
    """A ``[pause:SECONDS]`` tag."""

    seconds: float


def _voice(raw: str, what: str) -> Voice:
    name = " ".join(raw.split())
    if not name:
        raise TagError(f"{what}: [voice:] needs a character name, e.g. [voice:Fox]")
    if not _VOICE_NAME.fullmatch(name):
        raise TagError(f"{what}: [voice:{name}]: a character name may use letters, digits, "
                       "spaces and _ - . ' only")
    return Voice(name)


def _pause(raw: str, what: str) -> Pause:
    text = raw.strip()
    # "[pause:2s]" reads naturally; accept the unit.
    number = text[:-1].rstrip() if text.lower().endswith("s") else text
    try:
        value = float(number)
    except ValueError:
        raise TagError(f"{what}: [pause:{text}]: the pause is not a number of seconds, "
                       "e.g. [pause:1.5]") from None
    if not math.isfinite(value) or not 0.0 < value <= MAX_PAUSE_S:
        raise TagError(f"{what}: [pause:{text}]: a pause is more than 0 and at most "
                       f"{MAX_PAUSE_S:g} seconds")
    return Pause(value)


def parse_tag(spec: str, *, what: str = "tag") -> Emotion | Voice | Pause:
    """Read one tag, with or without its brackets: an :class:`Emotion` (also
    ``[like:...]``), a :class:`Voice` or a :class:`Pause`.

    Raises :class:`TagError` for an unknown name or a bad value.
    """
    body = spec.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    name, _, value = body.partition(":")
    key = name.strip().lower()
    if key == VOICE:
        return _voice(value, what)
    if key == PAUSE:
        return _pause(value, what)
    return parse_emotion(body, what=what)


def is_known_tag_name(name: str) -> bool:
    """Whether ``name`` (case-insensitive) names a tag: an emotion, ``like``,
    ``voice`` or ``pause``. A known name with a bad value is an error, never
    a sound description."""
    return name.strip().lower() in (*EMOTIONS, LIKE, VOICE, PAUSE)


def find_tag(text: str, pos: int = 0) -> re.Match[str] | None:
    """The tag-shaped span starting exactly at ``pos`` (``[word]`` or
    ``[word:value]``), or None. Group 1 is the name, group 2 the value."""
    return _TAG.match(text, pos)


@dataclass(frozen=True)
class Directives:
    """What the tags of one line ask for, and the line without them.

    ``voice`` is the ``[voice:]`` name (None: the line's default speaker),
    ``emotion`` the emotion tag (None: none given), ``pause_before`` the
    seconds of the leading ``[pause:]`` tags and ``pause_after`` those of the
    trailing ones; ``rest`` is the text left (unknown leading spans kept when
    allowed, see :func:`split_directives`).
    """

    voice: str | None = None
    emotion: Emotion | None = None
    pause_before: float = 0.0
    pause_after: float = 0.0
    rest: str = ""


def _no_pauses(what: str) -> TagError:
    return TagError(f"{what}: [pause:] works in scripts and audiobooks, not in subtitles "
                    "(their timing comes from the file)")


def split_directives(text: str, *, what: str = "line", ignore_unknown: bool = False,
                     pauses: bool = True, check_rest: bool = True) -> Directives:
    """Split a line's leading tags (emotion, ``[voice:]``, ``[pause:]``, in any
    order) and its trailing ``[pause:]`` tags off its words.

    ``pauses`` is False for subtitles, where any ``[pause:]`` is an error.
    Raises :class:`TagError` for an unknown tag followed by words, a known tag
    with a bad value, two emotion tags, two ``[voice:]`` tags, or a known tag
    in the middle of the line (a ``[pause:]`` too: in a script it goes at the
    start or the end of a line). An unknown tag-shaped span with no words
    after it (a cue that is only ``[MUSIC]``), or any unknown leading span
    when ``ignore_unknown`` is set (``[LAUGHS] Stop it.`` in subtitles for the
    hard of hearing), is left in the text, where the subtitle cleaner drops it
    as a sound description; so is an unknown span in the middle of the line.
    ``check_rest=False`` leaves the check of the rest for known tags to the
    caller (:func:`reject_stray_tags`), e.g. after it has read a speaker label.
    """
    rest = text.lstrip()
    voice: str | None = None
    emotion: Emotion | None = None
    before = after = 0.0
    kept: list[str] = []
    while m := _TAG.match(rest):
        try:
            found = parse_tag(m.group(0), what=what)
        except TagError as e:
            alone = not _TAG.sub("", rest).strip()
            if is_known_tag_name(m.group(1)) or not (ignore_unknown or alone):
                hint = ("" if is_known_tag_name(m.group(1)) else
                        " (for sound descriptions such as [LAUGHS] in subtitles "
                        "for the hard of hearing, use --ignore-unknown-tags)")
                raise TagError(f"{e}{hint}") from None
            kept.append(m.group(0))
            rest = rest[m.end():].lstrip()
            continue
        if isinstance(found, Voice):
            if voice is not None:
                raise TagError(f"{what}: more than one [voice:] tag ([voice:{voice}] and {m.group(0)})")
            voice = found.name
        elif isinstance(found, Pause):
            if not pauses:
                raise _no_pauses(what)
            before += found.seconds
        else:
            if emotion is not None:
                raise TagError(f"{what}: more than one emotion tag ({emotion.tag()} and {m.group(0)})")
            emotion = found
        rest = rest[m.end():].lstrip()
    while pauses and (t := _TRAILING_TAG.search(rest)) and (m := _TAG.fullmatch(t.group(0).rstrip())):
        # Only [pause:] tags end a line; anything else is left to the check below.
        if m.group(1).lower() != PAUSE:
            break
        after += _pause(m.group(2) or "", what).seconds
        rest = rest[:t.start()].rstrip()
    if kept:
        rest = " ".join([*kept, rest]).strip()
    if check_rest:
        reject_stray_tags(rest, what=what, pauses=pauses)
    return Directives(voice, emotion, before, after, rest)


def reject_stray_tags(rest: str, *, what: str = "line", pauses: bool = True) -> None:
    """Raise :class:`TagError` for a known tag in ``rest``, the words after a
    line's leading tags (where it would otherwise be silently lost); unknown
    tag-shaped spans are left alone (sound descriptions, for the cleaner)."""
    for stray in _TAG.finditer(rest):
        if not is_known_tag_name(stray.group(1)):
            # "[Music]"-like captions are sound descriptions, for the cleaner.
            continue
        found = parse_tag(stray.group(0), what=what)  # a bad value raises here
        if isinstance(found, Pause):
            if not pauses:
                raise _no_pauses(what)
            raise TagError(f"{what}: {stray.group(0)} goes at the start or the end of a line, "
                           "or on a line of its own")
        raise TagError(
            f"{what}: tag {stray.group(0)} must come at the start of the line "
            "(it applies to the whole segment)"
        )


def split_tags(text: str, *, what: str = "line", ignore_unknown: bool = False) -> tuple[Emotion | None, str]:
    """Split the leading emotion tag off a line: ``(emotion or None, rest)``.

    :func:`split_directives` for lines without speakers or pauses (it raises
    :class:`TagError` for a ``[voice:]`` or ``[pause:]`` tag, and for what
    :func:`split_directives` rejects).
    """
    d = split_directives(text, what=what, ignore_unknown=ignore_unknown, pauses=False)
    if d.voice is not None:
        raise TagError(f"{what}: [voice:] is not supported here")
    return d.emotion, d.rest
