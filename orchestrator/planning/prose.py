"""Books into a plan: chapters of paragraphs into the segments of an audiobook.

Pure code: no audio, no model. :mod:`orchestrator.inputs.books` reads the files; this
module decides what is spoken, by whom, how, and with how much silence after
it. The rules below are the user reference for audiobook markup.

Segments
--------
* With ``announce`` on (the default, ``VOICECAST_BOOK__ANNOUNCE``), the book
  opens as audiobooks do, with its title and author read by the narrator as
  the first segment of the first chapter, followed by ``title_pause_s``:
  ``Alice's Adventures in Wonderland, by Lewis Carroll.`` (``by`` in English,
  French ``de``, German ``von``, Spanish and Portuguese ``de``, Italian
  ``di``; in other languages ``Title. Author.``); ``Title.`` when the author is
  unknown. The title and author are the book's (EPUB metadata, front matter,
  a Markdown or text header), or ``--title``/``--author``. A book whose title
  is only its file name and which has no author is not announced. When the
  first chapter is titled with the book's title (the text before the first
  chapter heading), its title is not spoken again after the announcement.
* With ``speak_titles`` on (the default), each chapter starts with its title,
  spoken by the narrator, followed by ``title_pause_s`` of silence.
* Each paragraph is split into sentences (pysbd, for the book's language).
  **One sentence is one segment**, so editing one sentence re-renders exactly
  that segment: every other segment keeps its text, and its audio is reused.
* A sentence longer than ``max_segment_chars`` is cut into pieces, each a
  segment. The cut goes at clause punctuation, preferring ``;`` then ``:``
  then ``—`` then a spaced ``–`` then ``,`` (``;``, ``:`` and ``,`` only when
  followed by a space, so ``1,000`` and ``10:30`` stay whole), choosing among
  the marks in the middle half of the sentence the most preferred one nearest
  the middle; with none there, the mark nearest the middle; with no mark at
  all, the space nearest the middle (a last resort). The pieces are cut again
  until each fits.
* A sentence is also cut where the voice changes (a quotation inside
  narration, below) and at a ``[pause:]`` tag.
* Text is kept as written except that runs of whitespace become one space
  and the markup tags are removed. Parentheses are read (``(he said)``): a
  book is not a subtitle file. **Square brackets that are not tags**
  (citation keys ``[GIF]``, ``[1]``, ``[Smith 2001]``, editorial ``[sic]``,
  stage directions ``[Listens]``, ``[Pause]``; see :mod:`voicecast.emotions`,
  "Brackets that are not tags") are skipped by default, with one warning
  counting them, because a listener expects neither citation keys nor
  editorial marks read aloud; ``--brackets speak``
  (:class:`~orchestrator.planning.markup.EmotionRules` ``brackets``) reads
  them as written. An emotion name written as a stage direction in the middle
  of a paragraph (``[Excited]``, capitalised) is such text too, with a
  warning; at the start of a paragraph it is an emotion tag.
  Quotation marks are kept in the text (the engine does not pronounce them).
  A piece with no letter or digit (``* * *``, a lone dash) is not spoken.

Pauses
------
Each segment is followed by silence (``PlannedSegment.pause_after``):

* ``sentence_pause_s`` after a sentence inside a paragraph;
* ``clause_pause_s`` between the pieces of one sentence (a cut long
  sentence, a voice change in the middle of a sentence). Where the voice
  changes, the piece before counts as a sentence when it ends with ``. ! ? …``
  (closing quotes and brackets aside): ``“But sour.”`` does, ``“What fine
  grapes,”`` does not;
* ``paragraph_pause_s`` after a paragraph's last segment;
* ``0`` after a chapter's last segment: the assembler adds the chapter's tail.

``[pause:S]`` (S seconds, more than 0, at most 30) works anywhere in a
paragraph and adds S seconds at that point, on top of the pause above; in the
middle of a sentence it cuts the sentence there. At the start of a paragraph
it adds to the silence after the previous segment, and before a chapter's
first segment it goes into ``ChapterPlan.lead_s``. A paragraph that is only
``[pause:3]`` is a three-second scene break.

Speakers
--------
Everything is the narrator's (speaker None) unless marked:

* ``[voice:NAME]`` at the start of a paragraph gives the whole paragraph to
  character NAME.
* A speaker label ``NAME: text`` at the start of a paragraph does the same and
  is not spoken, when NAME is one to three ALL CAPS words (``FOX:``, ``MR.
  SMITH:``) or one to three capitalized words naming a character the job maps
  to a voice (``Fox:``). ``Note: this is read`` is read. (The same rule as in
  scripts: :func:`orchestrator.planning.markup.split_label`.) Leading tags may come
  before or after the label; a ``[voice:]`` tag wins over it.
* **Quotations**: ``[voice:NAME]`` right before an opening quotation mark
  (``“ " ‘ ' « „ ‚ ‹``; spaces and emotion or pause tags may come between)
  gives that quotation, up to its closing mark (``” " ’ ' » “ ‘ ›``; a ``’`` or ``'``
  followed by a letter is an apostrophe, not a closing mark), to NAME.
  Punctuation right after the closing mark (``”,``) goes with it. The
  narration around it stays the narrator's (or the paragraph's voice). A
  quotation with no ``[voice:]`` before it stays with the paragraph's voice:
  nothing is guessed. A quotation whose closing mark is missing runs to the end
  of the paragraph (with a warning). ``[voice:Crow] [voice:Fox]“Hi,” I said.``
  at the start of a paragraph is Crow's paragraph with Fox's quotation.

* **Plays** (a Markdown play, see :mod:`orchestrator.inputs.books.markdown`):
  a paragraph's speaker (:attr:`Paragraph.speaker`, from its speech label)
  speaks it, as a label would; a ``[voice:]`` tag wins over it. Its **stage
  directions** (:attr:`Paragraph.directions`) are the narrator's, read
  without their brackets (``[Blows out candle]`` → ``Blows out candle``),
  each ending a sentence -- or skipped, with one grouped warning, when the
  job's ``--brackets`` is ``skip`` (:class:`~orchestrator.planning.markup.EmotionRules`).
  A direction that only asks for a pause (``[Pause]``, ``[A long pause.]``)
  is :data:`DIRECTION_PAUSE_S` seconds of silence either way. A direction is
  words, never a tag: ``_[Excited]_`` is not the emotion.

Example::

    [voice:Fox]“What fine grapes,” said the Fox. [voice:Fox][sad]“But sour.”

is three segments: the Fox says ``“What fine grapes,”``, the narrator says
``said the Fox.``, and the Fox says ``“But sour.”``, sadly.

Names match the voice map case-insensitively; ``BookPlan.speakers`` lists each
name as first written with its first line, for the service to check.

Emotions
--------
An emotion tag (``[sad]``, ``[happy:0.9]``, ``[like:take.wav]``; see
:mod:`voicecast.emotions`) at the start of a paragraph applies to all its
segments, quotations included; right after a ``[voice:NAME]`` before a
quotation, to that quotation only. Tags at the start of a paragraph come in
any order. Otherwise a segment's emotion is the job's mapping for its speaker,
then the job's default (:class:`~orchestrator.planning.markup.EmotionRules`).

Errors
------
An :class:`~voicecast.errors.InputError` naming the chapter's file and the
paragraph's line (in an EPUB document, which has no lines worth naming, the
paragraph's number): a misspelt tag (``[hapy] Hello``, ``[vocie:Fox]“Hi”``:
"did you mean [happy]?"; unless ``--ignore-unknown-tags``), a bad value
(``[pause:0]``, ``[voice:]``), two ``[voice:]`` or two emotion tags for one
paragraph or quotation, a ``[voice:]`` in the middle of a paragraph that is
not before a quotation, an emotion tag written as a tag (lower case, or with
a value) in the middle of a paragraph, or a ``[voice:]`` or emotion tag inside
a quotation. Any other bracketed word is text, never an error, unless
``--strict-tags`` is set: then an unknown one at the start of a paragraph or
before a quotation is an error. The errors of the whole book are reported
together (:func:`~orchestrator.planning.markup.raise_collected`). A book with
nothing to speak is an error too.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

from orchestrator.inputs.books import Book, Chapter, Paragraph
from orchestrator.planning.markup import EmotionRules, MarkupLog, emotion_fields, split_label
from orchestrator.planning.segments import PlannedSegment
from voicecast.emotions import (
    PAUSE,
    VOICE,
    Emotion,
    Lang,
    Pause,
    TagError,
    Voice,
    find_tag,
    parse_tag,
    tag_kind,
    written_as_markup,
)
from voicecast.errors import InputError
from voicecast.settings import BookSettings

__all__ = ["BookPlan", "ChapterPlan", "announcement", "plan_book", "split_sentences"]

#: Opening quotation marks and the marks that close each.
QUOTES: dict[str, str] = {
    "“": "”", '"': '"', "‘": "’", "'": "'", "«": "»", "„": "“”", "‚": "‘’", "‹": "›",
}

_WS = re.compile(r"\s+")
_SPEAKABLE = re.compile(r"[^\W_]")
# Punctuation that belongs with the quotation it follows: “Hi”, said ...
_AFTER_QUOTE = re.compile(r"[.,;:!?…]+")
# What may close a sentence, and what may trail after it ("end.” ) ]").
_CLOSERS = "”\"’'»›)]}"
_TERMINAL = ".!?…"
# Cut points for long sentences, most preferred first; the cut goes after the
# match (the mark stays with the piece before it).
_CUTS: tuple[re.Pattern[str], ...] = (
    re.compile(r";(?=\s)"),
    re.compile(r":(?=\s)"),
    re.compile(r"—"),
    re.compile(r"(?<=\s)–|–(?=\s)"),
    re.compile(r",(?=\s)"),
)


@dataclass(frozen=True)
class ChapterPlan:
    """One chapter of the plan: its segments are ``segments[first:first + count]``.

    ``lead_s`` is silence asked for (``[pause:]``) before its first segment;
    ``source`` and ``line`` say where the chapter came from.
    """

    index: int
    title: str
    first: int
    count: int
    lead_s: float
    source: str
    line: int


@dataclass
class BookPlan:
    """The segments of a book in reading order, its chapters, what the planner
    had to warn about, and every character named (as first written -> first
    source line, 0 for EPUB)."""

    segments: list[PlannedSegment]
    chapters: list[ChapterPlan]
    warnings: list[str] = field(default_factory=list)
    speakers: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- sentences


@lru_cache(maxsize=8)
def _segmenter(language: str) -> Any:
    import pysbd  # imported here: only audiobooks need it

    return pysbd.Segmenter(language=language, clean=False)


def _pysbd_language(language: str | None) -> str:
    from pysbd.languages import LANGUAGE_CODES

    code = (language or "en").replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGE_CODES else "en"


def _no_lang_tags(what: str, tag: str) -> TagError:
    return TagError(f"{what}: {tag}: a book is read in its own language (its dc:language or front "
                    "matter, or --lang); [lang:] tags work in subtitles and scripts")


def _rejoin_titles(parts: list[str], language: str) -> list[str]:
    """pysbd's sentences, with a cut after a title that never ends a sentence
    in ``language`` (Spanish ``Sr.``, French ``M.``: pysbd's lists lack some)
    undone. The pieces are joined exactly as they were written."""
    from voicecast.textnorm_intl import ends_with_title

    out: list[str] = []
    for part in parts:
        if out and ends_with_title(out[-1], language):
            out[-1] += part
        else:
            out.append(part)
    return out


def split_sentences(text: str, language: str = "en") -> list[str]:
    """The sentences of ``text`` (pysbd, ``clean=False``), each stripped of
    surrounding whitespace and otherwise exactly as written.

    ``language`` is a BCP 47 tag or ISO 639-1 code (``en``, ``en-GB``, ``fr``);
    one pysbd does not know falls back to English. A fragment with no letter
    or digit (a stray closing quote) joins the sentence before it. If pysbd
    ever returned text that does not add up to the input, the whole text is
    one sentence.
    """
    if not text.strip():
        return []
    parts = _rejoin_titles(_segmenter(_pysbd_language(language)).segment(text), language)
    if "".join(parts) != text:
        return [text.strip()]
    merged: list[str] = []
    for part in parts:
        # pysbd may leave a closing quote or bracket on its own ("left.", "”"):
        # it belongs to the sentence before it.
        if merged and not _SPEAKABLE.search(part):
            merged[-1] += part
        else:
            merged.append(part)
    return [p.strip() for p in merged if p.strip()]


def _cut(text: str) -> int:
    """Where to cut a long sentence (see the module docstring), as an index."""
    n = len(text)
    mid = n / 2

    def ok(pos: int) -> bool:
        return bool(_SPEAKABLE.search(text, 0, pos)) and bool(_SPEAKABLE.search(text, pos))

    marks = [(rank, m.end()) for rank, rx in enumerate(_CUTS) for m in rx.finditer(text) if ok(m.end())]
    central = [(rank, abs(pos - mid), pos) for rank, pos in marks if n / 4 <= pos <= 3 * n / 4]
    if central:
        return min(central)[2]
    if marks:
        return min(marks, key=lambda rp: abs(rp[1] - mid))[1]
    spaces = [m.start() for m in re.finditer(r"\s", text) if ok(m.start())]
    if spaces:
        return min(spaces, key=lambda p: abs(p - mid))
    return 0


def _split_long(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters where possible."""
    if len(text) <= limit or limit <= 0:
        return [text]
    pos = _cut(text)
    if pos <= 0:
        # One unbroken word longer than the limit: cut it hard.
        pos = limit
    left, right = text[:pos].rstrip(), text[pos:].lstrip()
    if not left or not right:
        return [text]
    return _split_long(left, limit) + _split_long(right, limit)


def _ends_sentence(text: str) -> bool:
    body = text.rstrip().rstrip(_CLOSERS)
    return bool(body) and body[-1] in _TERMINAL


# --------------------------------------------------------------------------- paragraphs


@dataclass
class _Run:
    """Text spoken by one voice with one emotion tag (None: none given);
    ``direction``: a play's stage direction (the narrator's)."""

    text: str
    speaker: str | None
    tag: Emotion | None
    direction: bool = False


@dataclass
class _Gap:
    """A ``[pause:]``: seconds of silence at this point."""

    seconds: float


# What separates a piece from the next, which sets the pause after it.
_SENTENCE, _CLAUSE, _PARAGRAPH, _TITLE = "sentence", "clause", "paragraph", "title"


@dataclass
class _Piece:
    """A segment under construction."""

    text: str
    speaker: str | None
    tag: Emotion | None
    boundary: str
    extra: float = 0.0
    line: int = 0


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _after_tags(text: str, pos: int) -> int:
    """The first position from ``pos`` that is neither space nor a tag-shaped
    span other than ``[voice:]`` (which starts an attribution of its own)."""
    pos = _skip_ws(text, pos)
    while (m := find_tag(text, pos)) and m.group(1).lower() != VOICE:
        pos = _skip_ws(text, m.end())
    return pos


def _quote_follows(text: str, pos: int) -> bool:
    """Whether an opening quotation mark follows, past spaces and tags (but
    not past another ``[voice:]``: ``[voice:Crow] [voice:Fox]“Hi”`` is Crow's
    paragraph with Fox's quotation)."""
    pos = _after_tags(text, pos)
    return pos < len(text) and text[pos] in QUOTES


def _closing(text: str, open_at: int) -> int | None:
    """Index of the mark closing the quotation opened at ``open_at``."""
    closers = QUOTES[text[open_at]]
    for i in range(open_at + 1, len(text)):
        ch = text[i]
        if ch not in closers:
            continue
        # "don’t", "'tis": a single mark followed by a letter is an apostrophe.
        if ch in "’'" and i + 1 < len(text) and text[i + 1].isalpha():
            continue
        return i
    return None


def _collapse_spans(text: str, spans: tuple[tuple[int, int], ...]) -> tuple[str, dict[int, int]]:
    """``text`` with runs of whitespace as one space and stripped, and
    ``spans`` moved to match, as ``start -> end``."""
    out: list[str] = []
    at: list[int] = []  # index in the output of each input index
    space = True  # at the start: leading whitespace is dropped
    for ch in text:
        at.append(len(out))
        if ch.isspace():
            if not space:
                out.append(" ")
            space = True
        else:
            out.append(ch)
            space = False
    at.append(len(out))
    collapsed = "".join(out).rstrip()
    moved = {at[a]: min(at[b], len(collapsed)) for a, b in spans if 0 <= a < b <= len(text)}
    return collapsed, {a: b for a, b in moved.items() if a < b}


#: Stage directions that only ask for a pause: a second of silence, not words.
_PAUSE_DIRECTION = re.compile(r"\(?(?:a\s+)?(?:(?:long|short|brief|slight)\s+)?pause\)?[.!]?",
                              re.IGNORECASE)
#: Seconds of silence for a ``[Pause]`` stage direction.
DIRECTION_PAUSE_S = 1.0


def _bracket_end(text: str, start: int, end: int) -> int | None:
    """Where the bracketed span opened at ``start`` ends (after its ``]``;
    brackets inside it nest), or None when it is not closed before ``end``."""
    depth = 0
    for k in range(start, end):
        if text[k] == "[":
            depth += 1
        elif text[k] == "]":
            depth -= 1
            if depth == 0:
                return k + 1
    return None


# What may follow a skipped span with no space before it ("word [1].").
_CLOSING_PUNCT = frozenset(",.;:!?…)]}”’»›\"'")


def _skip_bracket(buf: list[str], text: str, close: int, end: int) -> int:
    """Skip a bracketed span ending at ``close`` without leaving two spaces or
    a space before punctuation: returns where reading goes on."""
    nxt = text[close] if close < end else ""
    if nxt == " " and (not buf or buf[-1] == " "):
        return close + 1  # "wrote [sic] it" -> "wrote it"
    if buf and buf[-1] == " " and (not nxt or nxt in _CLOSING_PUNCT):
        buf.pop()  # "a word [1]." -> "a word."
    return close


class _Paragraph:
    """Reads one paragraph's markup into runs of text and pauses."""

    def __init__(self, text: str, *, what: str, characters: Collection[str], speaker: str | None = None,
                 directions: tuple[tuple[int, int], ...] = (), speak_directions: bool = True,
                 rules: EmotionRules | None = None) -> None:
        self.text, self.directions = _collapse_spans(text, directions)
        self.what = what
        self.characters = characters
        self.speak_directions = speak_directions
        self.rules = rules or EmotionRules()
        self.skipped: list[str] = []
        # Bracketed text that is not a tag, skipped (--brackets skip); emotion
        # names written as stage directions in the middle of the paragraph.
        self.brackets: list[str] = []
        self.named: list[str] = []
        self.voice: str | None = None
        # A play's speech label, read by the book's reader (never spoken).
        self.label: str | None = speaker
        self.emotion: Emotion | None = None
        self.items: list[_Run | _Gap] = []
        self.unclosed: list[str] = []

    def read(self) -> list[_Run | _Gap]:
        pos = self._head()
        # A [voice:] tag wins over a label; the label is not spoken either way.
        self.voice = self.voice or self.label
        self._body(pos, len(self.text), self.voice, self.emotion, quoted=False)
        return self.items

    def _head(self) -> int:
        """Leading tags and a speaker label; returns where the words start."""
        text, pos, labelled = self.text, 0, self.label is not None
        while True:
            pos = _skip_ws(text, pos)
            if pos in self.directions:
                return pos  # a stage direction is words, never a tag
            m = find_tag(text, pos)
            if m:
                if m.group(1).lower() == VOICE and _quote_follows(text, m.end()):
                    break  # a quotation's attribution: the body reads it
                kind = tag_kind(m)
                if kind == "text" or (kind == "typo" and self.rules.ignore_unknown):
                    if self.rules.strict:
                        self._unknown(m.group(0))
                    return pos  # a bracketed word ("[GIF]", "[Listens]"): text, for the body
                found = parse_tag(m.group(0), what=self.what)  # a misspelt tag: "did you mean"
                if isinstance(found, Lang):
                    raise _no_lang_tags(self.what, m.group(0))
                if isinstance(found, Voice):
                    if self.voice is not None:
                        raise TagError(f"{self.what}: more than one [voice:] tag "
                                       f"([voice:{self.voice}] and {m.group(0)})")
                    self.voice = found.name
                elif isinstance(found, Pause):
                    self.items.append(_Gap(found.seconds))
                else:
                    if self.emotion is not None:
                        raise TagError(f"{self.what}: more than one emotion tag "
                                       f"({self.emotion.tag()} and {m.group(0)})")
                    self.emotion = found
                pos = m.end()
                continue
            if not labelled:
                label, rest = split_label(text[pos:], self.characters)
                labelled = True
                if label is not None:
                    self.label = label
                    text = self.text = text[:pos] + rest
                    continue
            return pos
        return pos

    def _body(self, start: int, end: int, speaker: str | None, tag: Emotion | None, *,
              quoted: bool) -> None:
        text = self.text
        buf: list[str] = []

        def flush() -> None:
            if buf:
                self.items.append(_Run("".join(buf), speaker, tag))
                buf.clear()

        i = start
        while i < end:
            if i in self.directions and self.directions[i] <= end:
                flush()
                self._direction(text[i:self.directions[i]])
                i = self.directions[i]
                continue
            m = find_tag(text, i) if text[i] == "[" else None
            if text[i] != "[" or (m is not None and m.end() > end):
                buf.append(text[i])
                i += 1
                continue
            kind = tag_kind(m) if m is not None else "text"
            name = m.group(1).lower() if m is not None else ""
            if m is not None and kind == "tag" and name == PAUSE:
                flush()
                found = parse_tag(m.group(0), what=self.what)
                assert isinstance(found, Pause)
                self.items.append(_Gap(found.seconds))
                i = m.end()
                continue
            if m is not None and kind == "tag" and name == VOICE:
                if quoted:
                    raise TagError(f"{self.what}: {m.group(0)} inside a quotation (is the quotation "
                                   "before it closed?)")
                flush()
                i = self._quotation(m, end)
                continue
            if m is not None and kind == "tag" and written_as_markup(m):
                if isinstance(parse_tag(m.group(0), what=self.what), Lang):  # a bad value says so first
                    raise _no_lang_tags(self.what, m.group(0))
                where = "inside a quotation" if quoted else "in the middle of a paragraph"
                raise TagError(f"{self.what}: {m.group(0)} {where}: an emotion tag goes at the start "
                               "of a paragraph, or right after [voice:NAME] before a quotation")
            if m is not None and kind == "tag":
                # An emotion name written as a stage direction ("[Excited]"): words.
                self.named.append(m.group(0))
            elif m is not None and not self.rules.ignore_unknown and (
                    kind == "typo" or (self.rules.strict and not quoted and _quote_follows(text, m.end()))):
                self._unknown(m.group(0))  # "[hapy]", a misspelt [voice:] before a quotation
            close = _bracket_end(text, i, end)
            if close is None:
                buf.append(text[i])  # a "[" never closed: a character like any other
                i += 1
            elif self.rules.brackets == "speak":
                buf.append(text[i:close])  # bracketed text that is not a tag ("[sic]"), read
                i = close
            else:
                self.brackets.append(text[i:close])
                i = _skip_bracket(buf, text, close, end)
        flush()

    def _direction(self, span: str) -> None:
        """A stage direction (``[Exit.]``, brackets included): the narrator's
        words without the brackets, a pause, or nothing when they are skipped."""
        words = span.strip()
        if words.startswith("[") and words.endswith("]"):
            words = words[1:-1].strip()
        if _PAUSE_DIRECTION.fullmatch(words):
            self.items.append(_Gap(DIRECTION_PAUSE_S))
        elif not self.speak_directions:
            self.skipped.append(span)
        elif _SPEAKABLE.search(words):
            self.items.append(_Run(words, None, None, direction=True))

    def _unknown(self, spec: str) -> NoReturn:
        parse_tag(spec, what=self.what)  # raises, listing the allowed tags
        raise TagError(f"{self.what}: unknown tag {spec}")  # pragma: no cover

    def _quotation(self, voice_tag: re.Match[str], end: int) -> int:
        """``[voice:NAME]`` (+ tags) + a quotation; returns where it ends."""
        text = self.text
        voice = parse_tag(voice_tag.group(0), what=self.what)
        assert isinstance(voice, Voice)
        pos = _skip_ws(text, voice_tag.end())
        tag: Emotion | None = None
        while m := find_tag(text, pos):
            found = parse_tag(m.group(0), what=self.what)
            if isinstance(found, Lang):
                raise _no_lang_tags(self.what, m.group(0))
            if isinstance(found, Voice):
                raise TagError(f"{self.what}: more than one [voice:] tag ({voice_tag.group(0)} and "
                               f"{m.group(0)})")
            if isinstance(found, Pause):
                self.items.append(_Gap(found.seconds))
            else:
                if tag is not None:
                    raise TagError(f"{self.what}: more than one emotion tag ({tag.tag()} and "
                                   f"{m.group(0)})")
                tag = found
            pos = _skip_ws(text, m.end())
        if pos >= end or text[pos] not in QUOTES:
            raise TagError(f"{self.what}: {voice_tag.group(0)} in the middle of a paragraph must come "
                           "right before a quotation mark (“ \" ‘ «); for the whole paragraph, "
                           "put it at the start")
        close = _closing(text, pos)
        if close is None or close >= end:
            self.unclosed.append(voice.name)
            stop = end
        else:
            after = _AFTER_QUOTE.match(text, close + 1)
            stop = after.end() if after else close + 1
        self._body(pos, stop, voice.name, tag or self.emotion, quoted=True)
        return stop


# --------------------------------------------------------------------------- book


def _pause_for(boundary: str, settings: BookSettings) -> float:
    return {
        _SENTENCE: settings.sentence_pause_s,
        _CLAUSE: settings.clause_pause_s,
        _PARAGRAPH: settings.paragraph_pause_s,
        _TITLE: settings.title_pause_s,
    }[boundary]


def _pieces(items: list[_Run | _Gap], language: str, limit: int) -> tuple[float, list[_Piece]]:
    """Runs into segments-to-be: (seconds of pause before the first, pieces)."""
    before = 0.0
    pieces: list[_Piece] = []
    for item in items:
        if isinstance(item, _Gap):
            if pieces:
                pieces[-1].extra += item.seconds
            else:
                before += item.seconds
            continue
        sentences = split_sentences(item.text.strip(), language)
        for k, sentence in enumerate(sentences):
            parts = _split_long(sentence, limit)
            for j, part in enumerate(parts):
                if not _SPEAKABLE.search(part):
                    continue
                if j < len(parts) - 1:
                    boundary = _CLAUSE
                elif k < len(sentences) - 1 or _ends_sentence(part) or item.direction:
                    boundary = _SENTENCE
                else:
                    boundary = _CLAUSE  # the voice changes mid-sentence, or a [pause:] cut it
                pieces.append(_Piece(part, item.speaker, item.tag, boundary))
    if pieces:
        pieces[-1].boundary = _PARAGRAPH
    return before, pieces


#: "by" in an announcement ("Emma, by Jane Austen."), by the book's language;
#: in other languages the announcement is "Title. Author."
_BY = {"en": "by", "fr": "de", "de": "von", "es": "de", "it": "di", "pt": "de"}


def announcement(book: Book, source: str) -> str | None:
    """What opens the book (module docstring): ``"Title, by Author."``, or
    None when the book's title is only its file name and it has no author."""
    title = _WS.sub(" ", book.title).strip()
    author = _WS.sub(" ", book.author or "").strip()
    if not _SPEAKABLE.search(title) or (not author and title == Path(source).stem):
        return None
    if not author:
        return title if _ends_sentence(title) else f"{title}."
    by = _BY.get((book.language or "en").replace("_", "-").split("-")[0].lower())
    end = "" if _ends_sentence(author) else "."
    if _ends_sentence(title):
        return f"{title} {by.capitalize()} {author}{end}" if by else f"{title} {author}{end}"
    return f"{title}, {by} {author}{end}" if by else f"{title}. {author}{end}"


def _same_title(a: str, b: str) -> bool:
    def norm(text: str) -> str:
        return " ".join(re.sub(r"[^\w\s]", " ", text).casefold().split())

    return norm(a) == norm(b)


def plan_book(book: Book, *, source: str, settings: BookSettings, emotions: EmotionRules | None = None,
              characters: Collection[str] = ()) -> BookPlan:
    """Plan a book's segments by the rules in the module docstring.

    ``source`` names the book in messages (a chapter's own ``source`` wins);
    ``characters`` are the job's mapped character names (for speaker labels);
    a play's stage directions are read (by the narrator) or skipped as
    ``emotions.brackets`` says (``--brackets``).
    Segments have no slot (``start == end == max_end == 0``); ``idx`` runs
    across the book in reading order; ``source_line`` is the paragraph's line
    (0 for EPUB) and ``chapter`` the 0-based chapter index.

    Raises :class:`~voicecast.errors.InputError` naming the file and line for
    bad markup, and naming ``source`` when nothing at all is speakable.
    """
    rules = emotions or EmotionRules()
    language = book.language or "en"
    limit = settings.max_segment_chars
    warnings: list[str] = []
    speakers: dict[str, str] = {}  # casefolded -> as first written
    first_line: dict[str, int] = {}
    pieces: list[tuple[int, _Piece]] = []  # (chapter index, piece)
    chapters: list[tuple[Chapter, int, int, float]] = []  # chapter, first, count, lead

    def speaker_name(name: str | None, line: int) -> str | None:
        if name is None:
            return None
        key = name.casefold()
        if key not in speakers:
            speakers[key] = name
            first_line[name] = line
        return speakers[key]

    log = MarkupLog(source)
    opening = announcement(book, source) if settings.announce else None
    skipped: list[str] = []
    for ci, chapter in enumerate(book.chapters):
        file = chapter.source or source
        first, lead = len(pieces), 0.0
        title = _WS.sub(" ", chapter.title).strip()
        if ci == 0 and opening:
            pieces.append((ci, _Piece(opening, None, None, _TITLE)))
        # A first chapter titled with the book's title (its foreword) was just announced.
        said = ci == 0 and opening is not None and _same_title(title, book.title)
        if settings.speak_titles and _SPEAKABLE.search(title) and not said:
            pieces.append((ci, _Piece(title, None, None, _TITLE, line=chapter.line)))
        for pk, para in enumerate(chapter.paragraphs):
            what = "paragraph" if para.line else f"paragraph {pk + 1}"
            try:
                before, found = _plan_paragraph(para, what=what, file=file, language=language,
                                                limit=limit, characters=characters, warnings=warnings,
                                                speak_directions=rules.brackets == "speak",
                                                skipped=skipped, rules=rules, log=log)
            except InputError as e:
                log.fail(e)  # every markup error of the book is reported at once
                continue
            if len(pieces) > first:
                pieces[-1][1].extra += before
            else:
                lead += before
            for piece in found:
                piece.speaker = speaker_name(piece.speaker, para.line)
                piece.line = para.line
                pieces.append((ci, piece))
        if len(pieces) == first:
            warnings.append(f"{file}: chapter {ci + 1} ({title or 'untitled'}) has no speakable text")
        chapters.append((chapter, first, len(pieces) - first, lead))

    log.check()
    warnings.extend(log.warnings())
    if not pieces:
        raise InputError("no speakable text in the book", file=source)
    if skipped:
        shown = ", ".join(x if len(x) <= 40 else x[:37] + "...]" for x in skipped[:3])
        shown += ", ..." if len(skipped) > 3 else ""
        warnings.append(f"{source}: skipped {len(skipped)} stage direction(s) ({shown}); "
                        "--brackets speak reads them")

    segments: list[PlannedSegment] = []
    for idx, (ci, piece) in enumerate(pieces):
        chapter_ends = idx + 1 == len(pieces) or pieces[idx + 1][0] != ci
        # The chapter's last segment: only asked-for silence; the tail is the assembler's.
        pause = piece.extra + (0.0 if chapter_ends else _pause_for(piece.boundary, settings))
        emotion = rules.resolve(piece.tag, piece.speaker, None)
        segments.append(PlannedSegment(
            idx=idx, text=piece.text, start=0.0, end=0.0, max_end=0.0, speaker=piece.speaker,
            source_line=piece.line, chapter=ci, pause_after=round(pause, 6),
            **emotion_fields(emotion),
        ))
    plans = [
        ChapterPlan(index=ci, title=ch.title, first=first, count=count, lead_s=lead,
                    source=ch.source or source, line=ch.line)
        for ci, (ch, first, count, lead) in enumerate(chapters)
    ]
    return BookPlan(segments=segments, chapters=plans, warnings=warnings,
                    speakers={name: first_line[name] for name in speakers.values()})


def _plan_paragraph(para: Paragraph, *, what: str, file: str, language: str, limit: int,
                    characters: Collection[str], warnings: list[str], speak_directions: bool = True,
                    skipped: list[str] | None = None, rules: EmotionRules | None = None,
                    log: MarkupLog | None = None) -> tuple[float, list[_Piece]]:
    """One paragraph's pieces, with tag errors as :class:`InputError` at its line;
    stage directions not spoken are added to ``skipped``."""
    reader = _Paragraph(para.text, what=what, characters=characters, speaker=para.speaker,
                        directions=para.directions, speak_directions=speak_directions, rules=rules)
    try:
        items = reader.read()
    except TagError as e:
        raise InputError(str(e), file=file, line=para.line or None) from None
    if skipped is not None:
        skipped.extend(reader.skipped)
    if log is not None:
        log.skip("brackets", reader.brackets)
        log.skip("directions", reader.named)
    where = f"{file}:{para.line}" if para.line else f"{file} ({what})"
    for name in reader.unclosed:
        warnings.append(f"{where}: the quotation after [voice:{name}] is not closed; "
                        "it runs to the end of the paragraph")
    return _pieces(items, language, limit)
