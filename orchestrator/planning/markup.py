"""Reading one cue or script line: markup out, tags and speaker read, the
words to speak cleaned, the emotion chosen.

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
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
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
    "EmotionRules",
    "LineWords",
    "clean_cue",
    "clean_text",
    "cue_words",
    "emotion_fields",
    "read_line",
    "split_label",
]

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


# --------------------------------------------------------------------------- emotions


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


def emotion_fields(emotion: Emotion) -> dict[str, Any]:
    """A resolved emotion as :class:`PlannedSegment` keyword arguments
    (``emotion``, ``intensity`` and, for ``[like:]``, ``clip``)."""
    if emotion.name == "like":
        return {"emotion": "like", "intensity": emotion.intensity, "clip": emotion.clip}
    return {"emotion": emotion.name, "intensity": emotion.intensity if emotion.name != "neutral" else 0.0}


def cue_words(cue: Cue, source: str, rules: EmotionRules, *, what: str, pauses: bool,
               characters: Collection[str]) -> tuple[Emotion, str | None, LineWords]:
    """A cue's words, its speaker (tag, label, then the cue's own) and its emotion."""
    try:
        words = read_line(cue.text, what=what, ignore_unknown=rules.ignore_unknown, pauses=pauses,
                          characters=characters)
    except TagError as e:
        raise InputError(str(e), file=source, line=cue.line or None) from None
    speaker = words.speaker or cue.speaker
    return rules.resolve(words.emotion, speaker, cue.style), speaker, words
