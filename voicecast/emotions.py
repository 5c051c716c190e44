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
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT_INTENSITY",
    "EMOTIONS",
    "EXPECTED",
    "FEATURES",
    "LIKE",
    "WHISPER_MAX_VOICED",
    "Emotion",
    "TagError",
    "allowed_tags",
    "parse_emotion",
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


class TagError(ValueError):
    """A tag that cannot be used; the message says why and lists the allowed tags."""


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
    return f"{names} (each optionally [NAME:0-1]), [like:CLIP.wav]"


_TAG = re.compile(r"\[\s*([A-Za-z][\w-]*)\s*(?::\s*([^\]\s][^\]]*?))?\s*\]")
# A tag-shaped span anywhere: a single word, optionally ":value" without spaces
# in the word part. "[door slams]" (a space in the name) is not tag-shaped.
_TAG_ANYWHERE = re.compile(r"\[\s*[A-Za-z][\w-]*\s*(?::[^\]]*)?\]")


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


def split_tags(text: str, *, what: str = "line", ignore_unknown: bool = False) -> tuple[Emotion | None, str]:
    """Split the leading emotion tag off a line: ``(emotion or None, rest)``.

    Raises :class:`TagError` for an unknown tag followed by words, two emotion
    tags, or a known tag later in the line. An unknown tag-shaped span with no
    words after it (a cue that is only ``[MUSIC]``), or any unknown leading
    span when ``ignore_unknown`` is set (``[LAUGHS] Stop it.`` in subtitles for
    the hard of hearing), is left in the text, where the subtitle cleaner drops
    it as a sound description.
    """
    rest = text.lstrip()
    emotion: Emotion | None = None
    kept: list[str] = []
    while True:
        m = _TAG.match(rest)
        if not m:
            break
        try:
            found = parse_emotion(m.group(0)[1:-1], what=what)
        except TagError as e:
            alone = not _TAG.sub("", rest).strip()
            if m.group(1).lower() == LIKE or not (ignore_unknown or alone):
                raise TagError(f"{e} (for sound descriptions such as [LAUGHS] in subtitles "
                               "for the hard of hearing, use --ignore-unknown-tags)") from None
            kept.append(m.group(0))
            rest = rest[m.end():].lstrip()
            continue
        if emotion is not None:
            raise TagError(f"{what}: more than one emotion tag ({emotion.tag()} and {m.group(0)})")
        emotion = found
        rest = rest[m.end():].lstrip()
    if kept:
        rest = " ".join([*kept, rest]).strip()
    stray = _TAG_ANYWHERE.search(rest)
    if stray:
        try:
            parse_emotion(stray.group(0), what=what)
        except TagError:
            # Tag-shaped but not a known tag: "[Music]"-like captions are
            # sound descriptions unless they spell a known tag's name.
            return emotion, rest
        raise TagError(
            f"{what}: tag {stray.group(0)} must come at the start of the line "
            "(it applies to the whole segment)"
        )
    return emotion, rest
