"""Reading one cue or script line: markup out, tags and speaker read, the
words to speak cleaned, the emotion chosen.

Text cleaning (:func:`clean_text`)
----------------------------------
Subtitles are written to be read; the planner keeps only what is to be spoken.
In order:

0. Control characters left in the text (see
   :mod:`orchestrator.inputs.textfix`, which every reader applies) are removed.
1. ASS override and comment blocks (``{\\an8}``, ``{\\i1}``, ``{note}``) are
   removed; ``\\N`` and ``\\n`` become line breaks and ``\\h`` a space.
2. HTML-like tags are removed: ``<i>``, ``<b>``, ``<u>``, ``<font ...>``,
   WebVTT ``<v Name>``, ``<c.class>``, ``<lang en>``, ``<ruby>`` and inline
   timestamps such as ``<00:00:01.000>``; the text inside them stays.
   HTML entities (``&amp;``, ``&nbsp;``) are decoded afterwards, so an escaped
   ``&lt;i&gt;`` stays as literal text.
   A line that is wholly in italics and names only sounds
   (``<i>Laughter</i>``, ``<i>Applause and cheering</i>``; the words in
   :data:`SOUND_WORDS`) is a sound description, as if written in parentheses.
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

What rules 3-4 removed is reported once per file, grouped
(:class:`MarkupLog`): ``skipped 37 sound descriptions ([Music] ×20,
(laughs) ×9, ...)``.

Brackets and errors
-------------------
An unknown bracketed word at the start of a cue (``[Intro] Welcome back``) is a
sound description, dropped like any other (see :mod:`voicecast.emotions`,
"Brackets that are not tags"); with ``--strict-tags`` it is an error. A
misspelt tag (``[hapy] Hello``) is an error saying "did you mean [happy]?"
unless ``--ignore-unknown-tags`` is set. Errors are collected over the whole
file and reported together (:func:`raise_collected`): one
:class:`~voicecast.errors.InputError` listing each ``file:line: message``
(the first :data:`MAX_REPORTED`, then how many more).

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
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

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
    "MAX_REPORTED",
    "SOUND_WORDS",
    "EmotionRules",
    "LineWords",
    "MarkupLog",
    "clean_cue",
    "clean_text",
    "cue_words",
    "emotion_fields",
    "raise_collected",
    "read_line",
    "split_label",
]

# --------------------------------------------------------------------------- cleaning

# Controls a reader left (see orchestrator.inputs.textfix): ESC sequences, C0 but
# tab/LF/CR, DEL, C1. Cues built in code (tests, other callers) pass here too.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ASS_BLOCK = re.compile(r"\{[^{}]*\}")
_TAG = re.compile(r"</?(?:[A-Za-z][^<>]*|\d[\d:.]*)>")
_MUSIC = re.compile(r"[♪♫♬♩]")
_SDH_SPAN = re.compile(r"\[[^\[\]]*\]|\([^()]*\)")
_LEAD_DASH = re.compile(r"^[-‐‑–—]+\s*(?!\d)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?…])")
_WS = re.compile(r"\s+")
_SPEAKABLE = re.compile(r"[^\W_]")


#: Words that make a line wholly in italics a sound description (``<i>Laughter</i>``):
#: every word of the line is one of these (or a joining word such as "and").
SOUND_WORDS: frozenset[str] = frozenset("""
    applause applauding beep beeping bell bells birds chatter chattering cheering cheers chuckle
    chuckles chuckling clapping coughing coughs crowd crying dramatic explosion footsteps gasp gasps
    groans grunts gunfire gunshot gunshots humming inaudible indistinct intro knocking laugh laughing
    laughs laughter music murmuring noise outro ringing screaming screams sigh sighs silence sirens
    sniffles sobbing static thunder upbeat whistling
""".split())
_JOINING_WORDS = frozenset("and continues continuing in the of loud soft distant distance".split())
_ITALIC_LINE = re.compile(r"^[ \t]*<i>([^<>\n]*)</i>[ \t]*$", re.MULTILINE | re.IGNORECASE)


def _italic_sound(m: re.Match[str]) -> str:
    words = re.findall(r"[^\W\d_]+", m.group(1).lower())
    if words and len(words) <= 5 and all(w in SOUND_WORDS or w in _JOINING_WORDS for w in words) \
            and any(w in SOUND_WORDS for w in words):
        return f"({m.group(1).strip()})"
    return m.group(0)


def _strip_markup(raw: str) -> str:
    """Rules 0-2: controls, ASS blocks and HTML-like tags out, entities decoded."""
    text = _ASS_BLOCK.sub("", _CONTROL.sub("", _ESCAPE.sub("", raw)))
    text = text.replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    if "<" in text:
        text = _ITALIC_LINE.sub(_italic_sound, text.replace("\r", "\n"))
    text = _TAG.sub("", text)
    return html.unescape(text).replace("\r", "\n")


# Stands for a span removed by rule 4 while nested spans are still being removed.
_HOLE = re.compile(r"\ue000(\d+)\ue001")


def _strip_spoken(text: str, skipped: list[str] | None = None) -> str:
    """Rules 3-7 on markup-free text; what rules 3-4 removed goes to ``skipped``."""
    lines = []
    for ln in text.split("\n"):
        if _MUSIC.search(ln):
            if skipped is not None and ln.strip():
                skipped.append(ln.strip())
        else:
            lines.append(ln)
    text = "\n".join(lines)
    # Repeat so nested spans ("[man (whispering)]") go from the inside out. Each
    # removed span is held as a numbered hole, so that what is reported is the
    # span as written; the holes become spaces at the end.
    spans: list[str] = []

    def hole(m: re.Match[str]) -> str:
        spans.append(m.group(0))
        return f"\ue000{len(spans) - 1}\ue001"

    text = text.replace("\ue000", "").replace("\ue001", "")
    while True:
        stripped = _SDH_SPAN.sub(hole, text)
        if stripped == text:
            break
        text = stripped
    if spans:
        if skipped is not None:
            def written(k: int) -> str:
                return _HOLE.sub(lambda m: written(int(m.group(1))), spans[k])

            skipped.extend(written(int(m.group(1))) for m in _HOLE.finditer(text))
        text = _HOLE.sub(" ", text)
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
    (and a label); ``skipped`` are the sound descriptions and music lines
    removed, as written (rules 3-4).
    """

    emotion: Emotion | None
    speaker: str | None
    text: str
    pause_before: float = 0.0
    pause_after: float = 0.0
    bare: bool = False
    skipped: tuple[str, ...] = ()
    #: ``[lang:CODE]``: the line's language (None: the job's).
    lang: str | None = None


def _merge(first: Directives, second: Directives, what: str) -> Directives:
    """Tags before and after a speaker label are one set of leading tags."""
    if first.voice is not None and second.voice is not None:
        raise TagError(f"{what}: more than one [voice:] tag ([voice:{first.voice}] and "
                       f"[voice:{second.voice}])")
    if first.emotion is not None and second.emotion is not None:
        raise TagError(f"{what}: more than one emotion tag ({first.emotion.tag()} and "
                       f"{second.emotion.tag()})")
    if first.lang is not None and second.lang is not None:
        raise TagError(f"{what}: more than one [lang:] tag ([lang:{first.lang}] and [lang:{second.lang}])")
    return Directives(first.voice or second.voice, first.emotion or second.emotion,
                      first.pause_before + second.pause_before,
                      first.pause_after + second.pause_after, second.rest, first.lang or second.lang)


def read_line(raw: str, *, what: str, ignore_unknown: bool = False, pauses: bool = False,
              characters: Collection[str] = (), strict: bool = False) -> LineWords:
    """Read one subtitle cue (``pauses=False``) or script line (``pauses=True``).

    In order: markup out (rules 1-2), a leading dialogue dash, the leading tags
    (:func:`voicecast.emotions.split_directives`), a speaker label
    (:func:`split_label`; tags may also follow it: ``FOX: [sad] No.``), then
    the words cleaned (rules 3-7). ``[voice:NAME]`` wins over a label.
    ``ignore_unknown`` and ``strict`` are
    :func:`~voicecast.emotions.split_directives`'. Raises
    :class:`~voicecast.emotions.TagError`.
    """
    text = _strip_markup(raw).lstrip()
    dash = _LEAD_DASH.match(text)
    head = dash.group(0) if dash else ""
    d = split_directives(text[len(head):], what=what, ignore_unknown=ignore_unknown, pauses=pauses,
                         check_rest=False, strict=strict)
    label, rest = split_label(d.rest, characters)
    if label is not None:
        # Tags may follow a label. Unknown spans there were mid-line before
        # labels existed ("FOX: [laughs] Stop it"): sound descriptions, not errors.
        d = _merge(d, split_directives(rest, what=what, ignore_unknown=True, pauses=pauses), what)
    else:
        reject_stray_tags(d.rest, what=what, pauses=pauses)
    skipped: list[str] = []
    spoken = _strip_spoken(head + d.rest, skipped)
    return LineWords(d.emotion, d.voice or label, spoken, d.pause_before, d.pause_after,
                     bare=not d.rest.strip(), skipped=tuple(skipped), lang=d.lang)


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

    It also carries how the job's markup is read (:mod:`voicecast.emotions`,
    "Brackets that are not tags"): ``ignore_unknown`` (``--ignore-unknown-tags``)
    reads misspelt tags as text too; ``strict`` (``--strict-tags``) makes an
    unknown bracketed word at the start of a line an error; ``brackets``
    (``--brackets``, books only) skips or speaks bracketed text that is not a tag.
    """

    default: Emotion = field(default_factory=lambda: Emotion("neutral", 0.0))
    by_name: dict[str, Emotion] = field(default_factory=dict)
    ignore_unknown: bool = False
    strict: bool = False
    brackets: Literal["skip", "speak"] = "skip"

    @classmethod
    def from_options(cls, default: str | None = None, mapping: Sequence[str] = (),
                     ignore_unknown: bool = False, strict: bool = False,
                     brackets: Literal["skip", "speak"] = "skip") -> EmotionRules:
        """Build from CLI/job options: ``default`` like ``sad:0.6``, ``mapping``
        items like ``NAME=happy:0.8``. Raises :class:`InputError` naming the option."""
        if strict and ignore_unknown:
            raise InputError("--strict-tags and --ignore-unknown-tags contradict each other; give one",
                             field="--strict-tags")
        try:
            dflt = parse_emotion(default, what="--emotion") if default else Emotion("neutral", 0.0)
            by_name: dict[str, Emotion] = {}
            for item in mapping:
                name, sep, spec = item.partition("=")
                if not sep or not name.strip() or not spec.strip():
                    raise TagError(f"--emotion-map: {item!r} is not NAME=EMOTION[:INTENSITY]")
                by_name[name.strip().casefold()] = parse_emotion(spec, what=f"--emotion-map {name.strip()}")
        except TagError as e:
            raise InputError(e.message) from None  # the message names the option
        return cls(dflt, by_name, ignore_unknown, strict, brackets)

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
              characters: Collection[str], log: MarkupLog | None = None,
              ) -> tuple[Emotion, str | None, LineWords]:
    """A cue's words, its speaker (tag, label, then the cue's own) and its emotion.

    Without ``log`` a markup error raises :class:`InputError` at the cue's
    line. With it, the error is recorded there (raised with the others by
    :meth:`MarkupLog.check`) and the cue comes back with no words; the sound
    descriptions removed are recorded too.
    """
    try:
        words = read_line(cue.text, what=what, ignore_unknown=rules.ignore_unknown, pauses=pauses,
                          characters=characters, strict=rules.strict)
    except TagError as e:
        error = InputError(str(e), file=source, line=cue.line or None)
        if log is None:
            raise error from None
        log.fail(error)
        words = LineWords(None, None, "")
    if log is not None:
        log.skip("sound", words.skipped)
    speaker = words.speaker or cue.speaker
    return rules.resolve(words.emotion, speaker, cue.style), speaker, words


# --------------------------------------------------------------------------- reporting

#: At most this many errors are listed in one report; the rest are counted.
MAX_REPORTED = 20
#: How each kind of skipped text is reported (:meth:`MarkupLog.warnings`).
_SKIP_MESSAGES: dict[str, str] = {
    "sound": "skipped {n} sound description(s) and music line(s)",
    "brackets": "skipped {n} bracketed span(s) that are not tags (citation keys, notes, "
                "stage directions; --brackets speak reads them)",
    "directions": "read {n} emotion name(s) in the middle of a paragraph as stage directions, "
                  "not tags (an emotion tag applies at the start of a paragraph or before a "
                  "quotation; write it in lower case there)",
}


def raise_collected(errors: Sequence[InputError], source: str) -> None:
    """Raise the errors found in one input together: the error itself when
    there is one, else one :class:`InputError` naming ``source`` that lists
    each (``file:line: message``, the first :data:`MAX_REPORTED`, then "and
    N more"). Returns when there are none."""
    if not errors:
        return
    if len(errors) == 1:
        raise errors[0]
    shown = "\n  ".join(str(e) for e in errors[:MAX_REPORTED])
    more = f"\n  and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
    raise InputError(f"{len(errors)} markup errors:\n  {shown}{more}", file=source)


@dataclass
class MarkupLog:
    """What reading one input's lines found, collected so that the user hears
    it once: markup errors (raised together by :meth:`check`) and the text
    skipped by kind (``sound``: sound descriptions and music; ``brackets``:
    bracketed text in books; ``directions``: emotion names read as stage
    directions), as written, for one grouped warning per kind."""

    source: str
    errors: list[InputError] = field(default_factory=list)
    skipped: dict[str, Counter[str]] = field(default_factory=dict)

    def fail(self, error: InputError) -> None:
        self.errors.append(error)

    def skip(self, kind: str, spans: Iterable[str]) -> None:
        for span in spans:
            self.skipped.setdefault(kind, Counter())[" ".join(span.split())] += 1

    def merge(self, other: MarkupLog) -> None:
        """Add what ``other`` collected (a trial reading that was kept)."""
        self.errors.extend(other.errors)
        for kind, counts in other.skipped.items():
            self.skipped.setdefault(kind, Counter()).update(counts)

    def check(self) -> None:
        """Raise the collected errors (:func:`raise_collected`), if any."""
        raise_collected(self.errors, self.source)

    def warnings(self) -> list[str]:
        """One line per kind of skipped text: how many, and the most frequent
        (up to five, each shortened to 40 characters, with its count)."""
        out = []
        for kind, counts in self.skipped.items():
            n = sum(counts.values())
            if not n:
                continue
            examples = [f"{_short(span)} ×{k}" if k > 1 else _short(span)
                        for span, k in counts.most_common(5)]
            more = ", ..." if len(counts) > 5 else ""
            message = _SKIP_MESSAGES.get(kind, "skipped {n} " + kind).format(n=n)
            out.append(f"{self.source}: {message}: {', '.join(examples)}{more}")
        return out


def _short(span: str, limit: int = 40) -> str:
    return span if len(span) <= limit else span[: limit - 1].rstrip() + "…"
