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

Names are case-insensitive; spaces around ``:`` are allowed.

Brackets that are not tags
--------------------------
Square brackets are text unless they are tags (:func:`tag_kind`):

* a bracketed span that is not tag-shaped (``[door slams]``, ``[1]``) or is
  tag-shaped with an unknown name (``[GIF]``, ``[Intro]``, ``[Listens]``) is
  text: the subtitle cleaner drops it as a sound description, the audiobook
  planner skips or reads it (``--brackets``);
* ``[Pause]``, ``[Voice]`` and ``[Like]`` without a value, capitalised or in
  capitals, are words too (a stage direction), while ``[pause]`` is a pause
  missing its seconds (an error);
* a **misspelt tag** is an error that says "did you mean": a name one typing
  slip away from a tag name (``[hapy]``, ``[vocie:Fox]``, ``[Pasue:1]``;
  :func:`suggest_tag`) written the way tags are written, in lower case or with
  a ``:value``. Stage directions and sound descriptions are capitalised
  (``[Hapy]`` is a word) and derived words are not slips (``[Angrily]``,
  ``[Whispering]``). ``--ignore-unknown-tags`` makes misspellings text too;
* ``--strict-tags`` (for scripts written only for voicecast) makes any unknown
  tag-shaped span at the start of a line, with words after it, an error.

More than one emotion tag on a line is an error, and so is a known tag in the
middle of a line written as a tag (``Hi [sad] there``, where it would
otherwise be silently lost); an emotion name written like a stage direction
in the middle of a line (``[Excited]``) is text.

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

import difflib
import math
import re
from dataclasses import dataclass
from typing import Literal

from voicecast.errors import InputError

__all__ = [
    "DEFAULT_INTENSITY",
    "EMOTIONS",
    "EXPECTED",
    "FEATURES",
    "LIKE",
    "MAX_PAUSE_S",
    "LANG",
    "PAUSE",
    "VOICE",
    "WHISPER_MAX_VOICED",
    "Directives",
    "Emotion",
    "Lang",
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
    "suggest_tag",
    "tag_kind",
    "written_as_markup",
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
#: The language tag (``[lang:fr]``): the line is spoken in that language.
LANG = "lang"
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
    return (f"{names} (each optionally [NAME:0-1]), [like:CLIP.wav], [voice:NAME], [pause:SECONDS], "
            "[lang:CODE]")


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
        near = suggest_tag(name)
        if near:
            meant = f"[{near}:{value}]" if value else f"[{near}]"
            raise TagError(f"{what}: unknown tag [{body}]: did you mean {meant}?")
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


@dataclass(frozen=True)
class Lang:
    """A ``[lang:CODE]`` tag: ``tag`` the BCP 47 tag, normalised (``fr``, ``pt-BR``)."""

    tag: str


def _lang(raw: str, what: str) -> Lang:
    from voicecast.languages import parse_language

    code = raw.strip()
    try:
        return Lang(parse_language(code, field=None).tag)
    except InputError:
        raise TagError(f"{what}: [lang:{code}]: not a language code; give a BCP 47 tag such as es, fr "
                       "or pt-BR") from None


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


def parse_tag(spec: str, *, what: str = "tag") -> Emotion | Voice | Pause | Lang:
    """Read one tag, with or without its brackets: an :class:`Emotion` (also
    ``[like:...]``), a :class:`Voice`, a :class:`Pause` or a :class:`Lang`.

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
    if key == LANG:
        return _lang(value, what)
    return parse_emotion(body, what=what)


#: Tags that take a value (``[like:CLIP]``, ``[voice:NAME]``, ``[pause:S]``, ``[lang:TAG]``).
_VALUED: tuple[str, ...] = (LIKE, VOICE, PAUSE, LANG)
_TAG_NAMES: tuple[str, ...] = (*EMOTIONS, *_VALUED)


def is_known_tag_name(name: str) -> bool:
    """Whether ``name`` (case-insensitive) names a tag: an emotion, ``like``,
    ``voice``, ``pause`` or ``lang``. A known name with a bad value is an
    error, never a sound description."""
    return name.strip().lower() in _TAG_NAMES


def _distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``a`` to ``b``."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, prev2[j - 2] + 1)
            row.append(cost)
        prev2, prev = prev, row
    return prev[-1]


def suggest_tag(name: str) -> str | None:
    """The tag name that ``name`` looks like a misspelling of (``hapy`` ->
    ``happy``, ``vocie`` -> ``voice``, ``pasue`` -> ``pause``), or None.

    A misspelling is one typing slip away from a tag name (a letter left out,
    added, changed, or two swapped; two slips for names of seven letters or
    more) and at least three letters long. A longer word that starts like the
    tag name is a word of its own, not a slip: ``Angrily``, ``Sadly``,
    ``Whispering``, ``Paused`` are stage directions.
    """
    key = name.strip().lower()
    if len(key) < 3 or key in _TAG_NAMES:
        return None
    found = []
    for cand in _TAG_NAMES:
        if len(key) > len(cand) and key.startswith(cand[:-1]):
            continue  # a derived word ("happily", "whispers")
        dist = _distance(key, cand)
        if dist <= (2 if len(cand) >= 7 else 1):
            found.append((dist, -difflib.SequenceMatcher(None, key, cand).ratio(), cand))
    return min(found)[2] if found else None


def written_as_markup(m: re.Match[str]) -> bool:
    """Whether a tag-shaped span (a :func:`find_tag` match) is written the way
    tags are: its name in lower case (``[sad]``, ``[hapy]``) or with a value
    (``[Sad:0.5]``, ``[Vocie:Fox]``). ``[Excited]``, ``[Pause]``, ``[MUSIC]``
    are written the way stage directions and sound descriptions are."""
    name = m.group(1)
    return name == name.lower() or m.group(2) is not None


def tag_kind(m: re.Match[str]) -> Literal["tag", "typo", "text"]:
    """What a tag-shaped span (a :func:`find_tag` match) is.

    * ``"tag"``: an emotion name (any case, with or without a value), or
      ``like``, ``voice`` or ``pause`` written as markup (see
      :func:`written_as_markup`): ``[Pause]`` and ``[Voice]`` with no value are
      stage directions, while ``[pause]`` is a pause missing its seconds;
    * ``"typo"``: written as markup and a misspelt tag name
      (:func:`suggest_tag`): ``[hapy]``, ``[vocie:Fox]``, ``[Pasue:1]``;
    * ``"text"``: anything else: ``[GIF]``, ``[Intro]``, ``[Listens]``, ``[Hapy]``.

    Parsing a ``"tag"`` may still fail on its value (``[pause:0]``).
    """
    key = m.group(1).lower()
    if key in EMOTIONS:
        return "tag"
    markup = written_as_markup(m)
    if key in _VALUED:
        return "tag" if markup else "text"
    return "typo" if markup and suggest_tag(key) else "text"


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
    #: The ``[lang:]`` tag's language (None: the job's).
    lang: str | None = None


def _no_pauses(what: str) -> TagError:
    return TagError(f"{what}: [pause:] works in scripts and audiobooks, not in subtitles "
                    "(their timing comes from the file)")


def split_directives(text: str, *, what: str = "line", ignore_unknown: bool = False,
                     pauses: bool = True, check_rest: bool = True, strict: bool = False) -> Directives:
    """Split a line's leading tags (emotion, ``[voice:]``, ``[pause:]``, in any
    order) and its trailing ``[pause:]`` tags off its words.

    ``pauses`` is False for subtitles, where any ``[pause:]`` is an error.
    Raises :class:`TagError` for a known tag with a bad value, two emotion
    tags, two ``[voice:]`` tags, a known tag in the middle of the line (a
    ``[pause:]`` too: in a script it goes at the start or the end of a line),
    and a misspelt tag at the start (``[hapy] Hello``: "did you mean
    [happy]?", see :func:`tag_kind`). Any other leading span (``[LAUGHS] Stop
    it.``, ``[Intro]``) is left in the text, where the subtitle cleaner drops it
    as a sound description; so is an unknown span in the middle of the line.
    ``ignore_unknown`` leaves misspelt tags too; ``strict`` makes any unknown
    tag-shaped span at the start of a line with words after it an error (a
    script written only for voicecast). ``check_rest=False`` leaves the check
    of the rest for known tags to the caller (:func:`reject_stray_tags`), e.g.
    after it has read a speaker label.
    """
    rest = text.lstrip()
    voice: str | None = None
    lang: str | None = None
    emotion: Emotion | None = None
    before = after = 0.0
    kept: list[str] = []
    while m := _TAG.match(rest):
        kind = tag_kind(m)
        if kind != "tag":
            alone = not _TAG.sub("", rest).strip()
            if not ignore_unknown and (kind == "typo" or (strict and not alone)):
                hint = "" if kind == "typo" else (
                    " (--strict-tags is set; without it, such spans are skipped as sound "
                    "descriptions)")
                try:
                    parse_tag(m.group(0), what=what)
                except TagError as e:
                    raise TagError(f"{e}{hint}") from None
            kept.append(m.group(0))
            rest = rest[m.end():].lstrip()
            continue
        found = parse_tag(m.group(0), what=what)
        if isinstance(found, Voice):
            if voice is not None:
                raise TagError(f"{what}: more than one [voice:] tag ([voice:{voice}] and {m.group(0)})")
            voice = found.name
        elif isinstance(found, Pause):
            if not pauses:
                raise _no_pauses(what)
            before += found.seconds
        elif isinstance(found, Lang):
            if lang is not None:
                raise TagError(f"{what}: more than one [lang:] tag ([lang:{lang}] and {m.group(0)})")
            lang = found.tag
        else:
            if emotion is not None:
                raise TagError(f"{what}: more than one emotion tag ({emotion.tag()} and {m.group(0)})")
            emotion = found
        rest = rest[m.end():].lstrip()
    while pauses and (t := _TRAILING_TAG.search(rest)) and (m := _TAG.fullmatch(t.group(0).rstrip())):
        # Only [pause:] tags end a line; anything else is left to the check below.
        if m.group(1).lower() != PAUSE or tag_kind(m) != "tag":
            break
        after += _pause(m.group(2) or "", what).seconds
        rest = rest[:t.start()].rstrip()
    if kept:
        rest = " ".join([*kept, rest]).strip()
    if check_rest:
        reject_stray_tags(rest, what=what, pauses=pauses)
    return Directives(voice, emotion, before, after, rest, lang)


def reject_stray_tags(rest: str, *, what: str = "line", pauses: bool = True) -> None:
    """Raise :class:`TagError` for a known tag in ``rest``, the words after a
    line's leading tags (where it would otherwise be silently lost). Unknown
    tag-shaped spans are left alone (sound descriptions, for the cleaner), and
    so are emotion names written like a sound description (``[Excited]``,
    ``[ANGRY]``: see :func:`written_as_markup`)."""
    for stray in _TAG.finditer(rest):
        if tag_kind(stray) != "tag" or not written_as_markup(stray):
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


def split_tags(text: str, *, what: str = "line", ignore_unknown: bool = False,
               strict: bool = False) -> tuple[Emotion | None, str]:
    """Split the leading emotion tag off a line: ``(emotion or None, rest)``.

    :func:`split_directives` for lines without speakers or pauses (it raises
    :class:`TagError` for a ``[voice:]`` or ``[pause:]`` tag, and for what
    :func:`split_directives` rejects).
    """
    d = split_directives(text, what=what, ignore_unknown=ignore_unknown, pauses=False, strict=strict)
    if d.voice is not None:
        raise TagError(f"{what}: [voice:] is not supported here")
    return d.emotion, d.rest
