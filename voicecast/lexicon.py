"""Per-project pronunciation lexicon, applied to the text before G2P.

A lexicon says how to speak the words a phonemizer gets wrong (names, coined
words, foreign words). It is plain code: no engine, no model.

File format
===========

UTF-8 text (a leading byte order mark is ignored), one entry per line::

    # comment lines and blank lines are ignored
    Aesop = ee-sop                 # a respelling: spoken as if the text said "ee-sop"
    Hermione = her-my-oh-nee
    Nguyen = /wˈɪn/                # phonemes (Kokoro/espeak IPA) between slashes
    live wire = lyve wire          # a phrase (several words) works too
    re:colou?r(s?) = kuller\\1      # a regular expression; \\1 refers to its group 1

Lines
    ``KEY = VALUE``. The separator is the first ``=`` with whitespace on both
    sides; a line without one is split at its first ``=``. So a key that
    contains ``=`` itself (a pattern with a lookahead ``(?=...)``) needs the
    spaced ``" = "``. Key and value are stripped; neither may be empty.
Comments
    A line whose first non-blank character is ``#`` is a comment, and so is
    everything from a ``#`` that follows whitespace to the end of a line. A
    ``#`` not preceded by whitespace is kept (inside a pattern, write ``\\#``
    for a literal ``#`` after a space).
Keys
    A plain key is a word or a phrase. Runs of whitespace inside it match any
    run of whitespace in the text (a line break included). It matches whole
    words only: where the key starts (ends) with a letter, digit or ``_``, the
    text must not continue with one there; so ``Aesop`` matches in
    ``Aesop's`` and ``Aesop-like`` (the possessive or the suffix stays as
    written after the replacement) but not in ``Aesopian``.

    A key written ``re:PATTERN`` is a Python regular expression
    (:mod:`re` syntax), matched as a whole word: it must neither start right
    after nor end right before a letter, digit or ``_``. A pattern that can
    match the empty string is refused, and so is one that repeats a part that
    repeats itself (``(a+)+``: catastrophic backtracking; an atomic group
    ``(?>a+)+`` is fine). Patterns run on the :mod:`regex`
    engine with a time limit (:attr:`Lexicon.timeout_s`, the setting
    ``VOICECAST_INPUTS__LEXICON_TIMEOUT_S``, for all the searches on one line
    of text): a pattern that backtracks catastrophically (``(a+)+b``) fails
    planning naming its line (:class:`LexiconTimeout`) instead of hanging it.

    All keys match case-insensitively (``aesop``, ``AESOP`` and ``Aesop`` are
    one key, a second one is a duplicate); a pattern can use ``(?-i:...)`` for
    a case-sensitive part. The same key twice is an error.
Values
    A *respelling* replaces the matched text as written: the engine reads it
    like any other text (it is normalized, so digits and abbreviations in it
    are read out). In a pattern entry the respelling is a :mod:`re` template:
    ``\\1`` or ``\\g<name>`` insert the pattern's groups, and ``\\\\`` is a
    backslash. A respelling must not contain ``⟦`` or ``⟧``.

    Write respellings in lower case. Capitals do not mark stress: Kokoro's
    G2P (espeak-ng) spells a short all-capital word out as letters, so
    ``EE-sop`` is read "E E sop" while ``ee-sop`` is read /ˈiːsˈɑːp/. Parts
    joined by hyphens are read as separate words, each with its own stress;
    ``KokoroEngine.phonemize`` shows what a respelling will sound like.

    *Phonemes* are written between slashes, ``/wˈɪn/``, in the phoneme set of
    the engine (Kokoro: espeak-ng IPA with Kokoro's single-letter diphthongs;
    see :func:`workers.engines.kokoro.espeak_to_kokoro`). Spaces inside
    separate words; runs of them count as one. The matched text is replaced by
    an inline phoneme span ``⟦wˈɪn⟧`` (U+27E6, U+27E7) that an engine able to
    take phonemes (``Capabilities.phoneme_input``) speaks as given, without
    G2P. Groups (``\\1``) are not expanded in phonemes. Which symbols are
    allowed depends on the engine: :meth:`Lexicon.check_phonemes` checks them
    against its vocabulary.

Languages
    A line ``[lang:TAG]`` (BCP 47: ``fr``, ``es``, ``pt-BR``) starts a section
    whose entries apply only to text in that language; ``[lang:*]`` goes back
    to entries for every language, which is also where a file starts::

        Aesop = ee-sop
        [lang:fr]
        Aesop = ézope                  # French lines say it the French way
        Genève = /ʒənˈɛv/

    A section for a language (``pt``) covers its regional forms (``pt-BR``); a
    section with a region (``pt-BR``) covers that form only. For text in one
    language, an entry of its section replaces an entry for every language
    with the same key (a regional section's replaces a language's), so a
    section holds only the words that differ; the same key twice within one
    section is an error. A whole file can be one language's
    (:func:`load_lexicon` with ``language``; ``--lexicon fr=FILE``): it then has
    no sections of its own. :func:`combine` joins several files into one
    lexicon (a key twice in one language, across files, is an error naming
    both).

Applying
========

:meth:`Lexicon.apply` makes one pass over the text, left to right: at each
point the match that starts first wins; among matches that start at the same
place the longest wins (so a phrase before its own words); at equal length a
plain key wins over a pattern, and patterns go in file order. The replaced text
is not looked at again, so each character is replaced at most once and a
respelling is never itself respelled. Plain keys are looked up in one pass,
however many there are: keys are filed by their first word, and each word of
the text is looked up once (a lexicon of 300,000 names costs what a small one
does per line; patterns each cost a search). Phoneme spans already in the text
(``⟦...⟧``) are left alone. The result depends only on the text and the
entries, never on the file's order of plain keys, its comments or line numbers
(:meth:`Lexicon.digest` is built the same way).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicecast.errors import InputError
from voicecast.languages import Language, parse_language

__all__ = [
    "PHONEME_CLOSE",
    "PHONEME_OPEN",
    "Entry",
    "Lexicon",
    "LexiconTimeout",
    "combine",
    "load_lexicon",
    "parse_lexicon",
    "split_phonemes",
]

#: Brackets of an inline phoneme span in text: ``⟦wˈɪn⟧``.
PHONEME_OPEN = "\u27e6"
PHONEME_CLOSE = "\u27e7"

_RE_SPAN = re.compile(f"{PHONEME_OPEN}([^{PHONEME_OPEN}{PHONEME_CLOSE}]*){PHONEME_CLOSE}")
# A comment starts at "#" after whitespace; "#" elsewhere (a pattern's "\#") is kept.
_RE_COMMENT = re.compile(r"\s#.*$")
_RE_SEPARATOR = re.compile(r"\s=\s")
_RE_SECTION = re.compile(r"\[\s*lang\s*:\s*([^\]]*?)\s*\]", re.IGNORECASE)
_PATTERN_PREFIX = "re:"
_ALL_LANGUAGES = "*"


def split_phonemes(text: str) -> list[tuple[str, bool]]:
    """Cut ``text`` at its inline phoneme spans: ``[(piece, is_phonemes)]`` in order.

    A span is ``⟦...⟧`` with no bracket inside; its piece is the content without
    the brackets (possibly ``""``). Text pieces are returned as they are,
    whitespace included, and empty ones are left out, so
    ``"".join(p if not ph else f"⟦{p}⟧" for p, ph in pieces) == text``. A stray
    ``⟦`` or ``⟧`` that closes no span stays in the text piece.
    """
    out: list[tuple[str, bool]] = []
    pos = 0
    for m in _RE_SPAN.finditer(text):
        if m.start() > pos:
            out.append((text[pos : m.start()], False))
        out.append((m.group(1), True))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a lexicon."""

    #: A plain key (whitespace runs collapsed to one space) or, for a pattern,
    #: the regular expression without its ``re:`` prefix.
    key: str
    #: The respelling (for a pattern, a :mod:`re` template), or the phonemes
    #: without their slashes (whitespace runs collapsed to one space).
    value: str
    #: ``value`` is phonemes, put into the text as a ``⟦...⟧`` span.
    phonemes: bool
    #: ``key`` is a regular expression.
    pattern: bool
    #: 1-based line in the source file (0 for entries not read from a file).
    line: int
    #: The language the entry is for (a normalised BCP 47 tag); None: every language.
    language: str | None = None
    #: The file the entry was read from, for errors ("": the lexicon's own source).
    source: str = field(default="", compare=False)

    @property
    def replacement(self) -> str:
        """What a plain key's match becomes (a pattern's respelling is a template)."""
        return f"{PHONEME_OPEN}{self.value}{PHONEME_CLOSE}" if self.phonemes else self.value

    @property
    def ident(self) -> tuple[bool, str]:
        """What makes two entries the same key: a pattern as written, a plain key
        whatever its case."""
        return (self.pattern, self.key if self.pattern else self.key.lower())

    def canonical(self) -> tuple[Any, ...]:
        """The entry as it behaves: case and spacing of a plain key do not matter.
        An entry for every language has the four fields it always had (so the
        digest of a lexicon without sections is what it was)."""
        key = self.key if self.pattern else self.key.lower()
        if self.language is None:
            return (key, self.value, self.phonemes, self.pattern)
        return (key, self.value, self.phonemes, self.pattern, self.language)

    def shown(self) -> str:
        """The key as a user writes it (``re:`` before a pattern)."""
        return (_PATTERN_PREFIX if self.pattern else "") + self.key


def _pattern_regex(pattern: str) -> str:
    return rf"(?<!\w)(?:{pattern})(?!\w)"


def _compile_pattern(pattern: str) -> Any:
    """A pattern as the bounded engine runs it: the :mod:`regex` module (the
    same syntax as :mod:`re`, which validates it first) with a timeout per
    search, so a pattern that backtracks catastrophically fails instead of
    hanging the planner. Imported here: only the control role matches patterns."""
    import regex

    return regex.compile(_pattern_regex(pattern), regex.IGNORECASE | regex.VERSION0)


def _nested_repeat(pattern: str) -> bool:
    """Whether ``pattern`` repeats a part that repeats itself (``(a+)+``,
    ``(\\w+\\s?)*``): the shape of catastrophic backtracking, refused when the
    lexicon is read. Atomic groups and possessive repeats (``(?>a+)+``,
    ``(a++)+``) do not backtrack and are allowed."""
    try:
        from re import _constants as c  # type: ignore[attr-defined]
        from re import _parser  # type: ignore[attr-defined]
    except ImportError:  # another Python's internals: the time limit still bounds it
        return False
    repeats = (c.MAX_REPEAT, c.MIN_REPEAT)

    def walk(items: Any, inside: bool) -> bool:
        for op, av in items:
            if op in repeats:
                many = av[1] is c.MAXREPEAT or av[1] > 1
                if (many and inside) or walk(av[2], inside or many):
                    return True
            elif op is c.SUBPATTERN and walk(av[-1], inside):
                return True
            elif op is c.BRANCH and any(walk(alt, inside) for alt in av[1]):
                return True
            elif op in (c.ASSERT, c.ASSERT_NOT) and walk(av[1], inside):
                return True
            elif op is c.GROUPREF_EXISTS and any(walk(x, inside) for x in av[1:] if x):
                return True
        return False

    return walk(_parser.parse(pattern, re.IGNORECASE), False)


def _fold_char(c: str) -> str:
    # Case-insensitive comparison one character for one, as the regular
    # expression engines compare (a fold that changes the length, "ß" -> "ss",
    # is not one of theirs): positions in the folded text are the text's.
    f = c.casefold()
    if len(f) == 1:
        return f
    f = c.lower()
    return f if len(f) == 1 else c


def _fold(text: str) -> str:
    """``text`` case-folded character for character (same length, same positions)."""
    folded = text.casefold()
    if len(folded) == len(text):  # casefold maps each character to one or more: one each here
        return folded
    return "".join(map(_fold_char, text))


def _is_word(c: str) -> bool:
    """A character of ``\\w`` (what the whole-word rule looks at)."""
    return c.isalnum() or c == "_"


# Where a plain key can start: at the start of a run of word characters (a key
# starting with one must not continue a word), or at any other non-space
# character (a key such as "+1" or ".NET" has no boundary before it).
_RE_TOKEN = re.compile(r"(?<!\w)\w+|[^\w\s]")
_RE_WORD_RUN = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class _Literal:
    """A plain key as it is matched: its words case-folded, and whether it ends
    with a word character (then the text must not continue with one)."""

    entry: Entry
    words: tuple[str, ...]
    tail: bool


def _first_token(folded_key: str) -> str:
    m = _RE_WORD_RUN.match(folded_key)
    return m.group(0) if m else folded_key[0]


class LexiconTimeout(InputError):
    """A lexicon pattern ran past its time on one text (catastrophic
    backtracking); names the lexicon file and the pattern's line."""


@dataclass(frozen=True)
class Lexicon:
    """Entries read from one source, and the text rewriting they define.

    Immutable and safe to share between threads; :meth:`apply` is a pure
    function of the text. Plain keys are matched in one pass over the text
    whatever their number (a dictionary keyed by each key's first word, looked
    up once per word of the text); patterns each run on the :mod:`regex`
    engine with ``timeout_s`` for the whole text (:class:`LexiconTimeout`).

    ``entries`` apply to text in any language; ``scoped`` are the entries of
    language sections, which apply only where :meth:`apply` is given a
    language they cover (:meth:`for_language`).
    """

    entries: tuple[Entry, ...]
    #: Where the entries came from (a path, or a name given to :func:`parse_lexicon`).
    source: str
    #: Seconds the patterns may run on one text before :class:`LexiconTimeout`.
    timeout_s: float = field(default=1.0, compare=False)
    #: Entries for one language each (``Entry.language``), in file order.
    scoped: tuple[Entry, ...] = ()
    _buckets: dict[str, list[_Literal]] = field(init=False, repr=False, compare=False, default_factory=dict)
    _patterns: tuple[tuple[Any, Entry], ...] = field(init=False, repr=False, compare=False, default=())
    _views: dict[str, Lexicon] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        literals = sorted(
            (e for e in self.entries if not e.pattern),
            # Longest first: among keys starting at the same place the first
            # that matches wins, so a phrase wins over its own first word.
            key=lambda e: (-len(e.key), e.key.lower()),
        )
        buckets: dict[str, list[_Literal]] = {}
        for e in literals:
            words = tuple(_fold(e.key).split())  # the fold keeps the key's single spaces
            buckets.setdefault(_first_token(words[0]), []).append(
                _Literal(e, words, _is_word(e.key[-1])))
        patterns = tuple((_compile_pattern(e.key), e) for e in self.entries if e.pattern)
        object.__setattr__(self, "_buckets", buckets)
        object.__setattr__(self, "_patterns", patterns)

    # -- languages ------------------------------------------------------------

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the lexicon has sections for, in the order first seen."""
        return tuple(dict.fromkeys(e.language for e in self.scoped if e.language))

    def for_language(self, language: str | None) -> Lexicon:
        """The lexicon as it applies to text in ``language`` (a BCP 47 tag;
        None: the entries for every language only): the entries for every
        language, each replaced by the entry with its key in a section covering
        ``language`` (a regional section's over a language's), and the
        sections' other entries after them. Built once per language."""
        if not self.scoped:
            return self
        if not language:
            return self._view("", ())
        known = self._views.get(language)  # by the tag as given: a book asks once per line
        if known is not None:
            return known
        want = parse_language(language, field=None)
        sections = {tag: parse_language(tag, field=None) for tag in self.languages}
        covering = [e for e in self.scoped if _covers(sections[e.language or ""], want)]
        # Language-wide sections first, then regional ones: a later entry replaces an earlier one.
        covering.sort(key=lambda e: sections[e.language or ""].tag != want.base)
        view = self._view(want.tag, tuple(covering))
        self._views[language] = view
        return view

    def _view(self, tag: str, covering: tuple[Entry, ...]) -> Lexicon:
        view = self._views.get(tag)
        if view is None:
            chosen: dict[tuple[bool, str], Entry] = {e.ident: e for e in self.entries}
            for e in covering:
                chosen.pop(e.ident, None)  # a replaced pattern moves to the section's place
                chosen[e.ident] = e
            view = Lexicon(entries=tuple(chosen.values()), source=self.source, timeout_s=self.timeout_s)
            self._views[tag] = view
        return view

    # -- matching -------------------------------------------------------------

    @staticmethod
    def _literal_at(lit: _Literal, text: str, folded: str, p: int) -> int | None:
        """End of ``lit`` matched at ``p`` (whitespace runs between its words), or None."""
        q, n = p, len(text)
        for k, w in enumerate(lit.words):
            if k:
                r = q
                while r < n and text[r].isspace():
                    r += 1
                if r == q:
                    return None
                q = r
            if folded[q:q + len(w)] != w:
                return None
            q += len(w)
        if lit.tail and q < n and _is_word(text[q]):
            return None
        return q

    def _next_literal(self, text: str, folded: str, pos: int) -> tuple[int, int, Entry] | None:
        """The first plain key's match starting at or after ``pos``."""
        if not self._buckets:
            return None
        for tok in _RE_TOKEN.finditer(text, pos):
            for lit in self._buckets.get(folded[tok.start():tok.end()], ()):
                end = self._literal_at(lit, text, folded, tok.start())
                if end is not None:
                    return tok.start(), end, lit.entry
        return None

    def _scan(self, text: str) -> Iterator[tuple[int, int, Entry, str]]:
        """(start, end, entry, replacement) of each replacement in a text
        without phoneme spans, left to right, non-overlapping."""
        folded = _fold(text) if self._buckets else text
        deadline = time.monotonic() + self.timeout_s
        # The next match of each matcher (0: the plain keys; 1...: the patterns)
        # at or after ``pos``, as (start, end, entry, regex match or None): one
        # found from an earlier position stays the next one as long as it
        # starts at or after ``pos``, so each searches again only when overtaken.
        count = 1 + len(self._patterns)
        nexts: list[tuple[int, int, Entry, Any] | None] = [None] * count
        done = [False] * count
        pos = 0
        while pos <= len(text):
            best: tuple[int, int, int] | None = None  # (start, -length, matcher index)
            for i in range(count):
                found = nexts[i]
                if not done[i] and (found is None or found[0] < pos):
                    found = self._search(i, text, folded, pos, deadline)
                    nexts[i] = found
                    done[i] = found is None
                if found is not None and not done[i]:
                    rank = (found[0], found[0] - found[1], i)
                    if best is None or rank < best:
                        best = rank
            if best is None:
                return
            start, end, entry, m = nexts[best[2]]  # type: ignore[misc]
            if m is None or entry.phonemes:
                replacement = entry.replacement
            else:
                replacement = m.expand(entry.value)
            yield start, end, entry, replacement
            pos = end

    def _search(self, i: int, text: str, folded: str, pos: int,
                deadline: float) -> tuple[int, int, Entry, Any] | None:
        if i == 0:
            lit = self._next_literal(text, folded, pos)
            return None if lit is None else (*lit, None)
        regex, entry = self._patterns[i - 1]
        try:
            m = regex.search(text, pos, timeout=max(deadline - time.monotonic(), 1e-3))
            # A zero-width match (a lookaround-only pattern) replaces nothing.
            while m is not None and m.end() == m.start():
                m = (regex.search(text, m.start() + 1, timeout=max(deadline - time.monotonic(), 1e-3))
                     if m.start() < len(text) else None)
        except TimeoutError:
            raise LexiconTimeout(
                f"pattern 're:{entry.key}' ran longer than {self.timeout_s:g} s on one line of text "
                "(catastrophic backtracking: nested repeats such as (a+)+ or (a|aa)*); simplify it",
                file=entry.source or self.source, line=entry.line) from None
        return None if m is None else (m.start(), m.end(), entry, m)

    def apply(self, text: str, language: str | None = None) -> str:
        """``text`` with every entry's matches replaced by its respelling or its
        ``⟦phonemes⟧`` span (see the module docstring for the order). Text
        without matches comes back unchanged; spans already there are kept.
        ``language`` (BCP 47) is the text's: the entries of the sections that
        cover it apply too (:meth:`for_language`)."""
        if self.scoped:
            return self.for_language(language).apply(text)
        if not self.entries:
            return text
        out: list[str] = []
        for piece, is_phonemes in split_phonemes(text):
            if is_phonemes:
                out.append(f"{PHONEME_OPEN}{piece}{PHONEME_CLOSE}")
                continue
            pos = 0
            for start, end, _, replacement in self._scan(piece):
                out.append(piece[pos:start])
                out.append(replacement)
                pos = end
            out.append(piece[pos:])
        return "".join(out)

    def matches(self, text: str, language: str | None = None) -> list[Entry]:
        """The entries :meth:`apply` uses on ``text`` (in ``language``), each
        once, in order of first use."""
        if self.scoped:
            return self.for_language(language).matches(text)
        used: dict[Entry, None] = {}
        for piece, is_phonemes in split_phonemes(text):
            if not is_phonemes:
                for _, _, entry, _ in self._scan(piece):
                    used.setdefault(entry)
        return list(used)

    def digest(self) -> str:
        """sha256 (hex) of the entries as they behave: plain keys sorted and
        lowercased, patterns in file order; comments, line numbers and the
        order of plain keys do not change it."""
        plain = sorted(e.canonical() for e in self.entries if not e.pattern)
        patterns = [e.canonical() for e in self.entries if e.pattern]
        parts: list[Any] = [plain, patterns]
        if self.scoped:  # left out when there are none: a lexicon without sections keeps its digest
            parts.append(sorted(e.canonical() for e in self.scoped if not e.pattern))
            parts.append([e.canonical() for e in self.scoped if e.pattern])
        blob = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    # -- validation -----------------------------------------------------------

    def check_phonemes(self, allowed: set[str] | frozenset[str]) -> None:
        """Raise :class:`InputError` (file and line of the entry) for the first
        phoneme entry using a symbol outside ``allowed`` (an engine's phoneme
        vocabulary; a space, the word boundary, is always allowed)."""
        for entry in (*self.entries, *self.scoped):
            if not entry.phonemes:
                continue
            unknown = sorted({c for c in entry.value if c != " " and c not in allowed})
            if unknown:
                shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in unknown)
                raise InputError(
                    f"phonemes /{entry.value}/ of {entry.key!r} use symbols the engine "
                    f"does not know: {shown}",
                    file=entry.source or self.source,
                    line=entry.line,
                )


def _covers(section: Language, text: Language) -> bool:
    """Whether a section for ``section`` applies to text in ``text``: a
    language's section (``pt``) to all its forms, a regional one (``pt-BR``)
    to that form only."""
    if section.tag == section.base:
        return section.base == text.base
    return section.tag.lower() == text.tag.lower()


# --------------------------------------------------------------------------- parsing


def _parse_line(raw: str, *, source: str, line: int) -> Entry | None:
    text = raw.strip()
    if not text or text.startswith("#"):
        return None
    text = _RE_COMMENT.sub("", text).strip()

    def fail(message: str) -> InputError:
        return InputError(message, file=source, line=line)

    sep = _RE_SEPARATOR.search(text)
    if sep is not None:
        key, value = text[: sep.start()], text[sep.end() :]
    elif "=" in text:
        key, _, value = text.partition("=")
    else:
        raise fail(f"expected 'WORD = RESPELLING' or 'WORD = /phonemes/', got {text!r}")
    key, value = key.strip(), value.strip()
    pattern = key.startswith(_PATTERN_PREFIX)
    if pattern:
        key = key[len(_PATTERN_PREFIX) :].strip()
    else:
        key = " ".join(key.split())
    if not key:
        raise fail("empty key before '='")
    if not value:
        raise fail(f"empty value after '=' for {key!r}")

    compiled: re.Pattern[str] | None = None
    if pattern:
        try:
            re.compile(key, re.IGNORECASE)  # first alone: error positions are the user's
            compiled = re.compile(_pattern_regex(key), re.IGNORECASE)
        except (re.error, OverflowError, RecursionError) as exc:
            # OverflowError: a repeat count past the engine's limit ("a{4300000000}");
            # RecursionError: parentheses nested too deep for the parser.
            raise fail(f"bad regular expression {key!r}: {exc}") from None
        if compiled.fullmatch(""):
            raise fail(f"regular expression {key!r} matches the empty string")
        if _nested_repeat(key):
            raise fail(f"regular expression {key!r} repeats a part that repeats itself (such as "
                       "(a+)+): it can take exponential time; write it without the nesting (a+), or "
                       "make the inner part atomic, (?>a+)")
        try:
            _compile_pattern(key)  # the engine that runs it (same syntax; checked all the same)
        except Exception as exc:  # regex.error, OverflowError...
            raise fail(f"bad regular expression {key!r}: {exc}") from None

    phonemes = value.startswith("/")
    if phonemes:
        if len(value) < 2 or not value.endswith("/"):
            raise fail(f"phonemes of {key!r} lack their closing '/': {value!r}")
        value = " ".join(value[1:-1].split())
        if not value:
            raise fail(f"empty phonemes '//' for {key!r}")
    if PHONEME_OPEN in value or PHONEME_CLOSE in value:
        raise fail(
            f"value of {key!r} contains {PHONEME_OPEN} or {PHONEME_CLOSE}; write phonemes as /.../"
        )
    if compiled is not None and not phonemes:
        try:
            compiled.sub(value, "")  # parses the template: group references, escapes
        except (re.error, IndexError) as exc:
            raise fail(f"bad respelling {value!r} for pattern {key!r}: {exc}") from None
    return Entry(key=key, value=value, phonemes=phonemes, pattern=pattern, line=line)


def _section(raw: str, *, source: str, line: int, whole: str | None) -> tuple[bool, str | None]:
    """Whether ``raw`` is a section line, and the language it starts (None:
    every language). ``whole``: the file is that language's alone."""
    text = _RE_COMMENT.sub("", raw.strip()).strip()
    m = _RE_SECTION.fullmatch(text)
    if m is None:
        if text.startswith("[") and text.endswith("]") and "=" not in text:
            raise InputError(f"expected a section '[lang:TAG]' (such as [lang:fr]) or '[lang:*]', "
                             f"got {text!r}", file=source, line=line)
        return False, None
    if whole is not None:
        raise InputError(f"a section {text!r} in the {whole} lexicon: its entries are all for {whole}; "
                         "sections belong in a lexicon for every language", file=source, line=line)
    value = m.group(1)
    if value == _ALL_LANGUAGES:
        return True, None
    try:
        return True, parse_language(value, field=None).tag
    except InputError as e:
        raise InputError(f"section {text!r}: {e.message}", file=source, line=line) from None


def _check_duplicate(seen: dict[tuple[str | None, bool, str], Entry], entry: Entry, source: str) -> None:
    first = seen.setdefault((entry.language, *entry.ident), entry)
    if first is entry:
        return
    where = f"line {first.line}" if (first.source or source) == (entry.source or source) \
        else f"{first.source}:{first.line}"
    scope = f" in the [lang:{entry.language}] entries" if entry.language else ""
    raise InputError(f"duplicate key {entry.shown()!r}{scope}: already on {where} (keys ignore case)",
                     file=entry.source or source, line=entry.line)


def parse_lexicon(text: str, *, source: str, timeout_s: float = 1.0, language: str | None = None) -> Lexicon:
    """Read lexicon ``text`` (the file format of the module docstring).

    ``source`` names it in errors and in :attr:`Lexicon.source`;
    ``timeout_s`` bounds its patterns (:attr:`Lexicon.timeout_s`);
    ``language`` (BCP 47) makes every entry that language's (the file then has
    no sections). Raises :class:`InputError` with the line for a line without
    ``=``, an empty key or value, a bad regular expression or template,
    unclosed ``/phonemes``, a bad section, and a key given twice in one
    language (naming both lines).
    """
    whole = parse_language(language, field=None, file=source).tag if language else None
    entries: list[Entry] = []
    seen: dict[tuple[str | None, bool, str], Entry] = {}
    current = whole
    for number, raw in enumerate(text.splitlines(), start=1):
        is_section, lang = _section(raw, source=source, line=number, whole=whole)
        if is_section:
            current = lang
            continue
        entry = _parse_line(raw, source=source, line=number)
        if entry is None:
            continue
        if current is not None:
            entry = dataclasses.replace(entry, language=current)
        _check_duplicate(seen, entry, source)
        entries.append(entry)
    return _lexicon(entries, source, timeout_s)


def combine(lexicons: list[Lexicon]) -> Lexicon:
    """Several lexicon files as one (``--lexicon FILE --lexicon fr=FILE``): their
    entries in the order given, each keeping its file for errors. A key twice
    in one language across files is an error naming both; the patterns' time
    limit is the first lexicon's."""
    if len(lexicons) == 1:
        return lexicons[0]
    seen: dict[tuple[str | None, bool, str], Entry] = {}
    entries: list[Entry] = []
    for lex in lexicons:
        for e in (*lex.entries, *lex.scoped):
            e = e if e.source else dataclasses.replace(e, source=lex.source)
            _check_duplicate(seen, e, lex.source)
            entries.append(e)
    return _lexicon(entries, " + ".join(lex.source for lex in lexicons),
                    lexicons[0].timeout_s if lexicons else 1.0)


def _lexicon(entries: list[Entry], source: str, timeout_s: float) -> Lexicon:
    """A lexicon of ``entries`` in order: those for every language, and those of one."""
    return Lexicon(entries=tuple(e for e in entries if e.language is None), source=source,
                   timeout_s=timeout_s, scoped=tuple(e for e in entries if e.language is not None))


def load_lexicon(path: Path, *, allowed: set[str] | frozenset[str] | None = None,
                 timeout_s: float = 1.0, language: str | None = None) -> Lexicon:
    """Read the lexicon file at ``path`` (UTF-8); with ``allowed``, also check
    its phonemes against that vocabulary (:meth:`Lexicon.check_phonemes`);
    with ``language``, every entry is that language's. Raises
    :class:`InputError` for an unreadable file or a bad entry."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"lexicon is not UTF-8 text: {exc}", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read lexicon: {exc.strerror or exc}", file=path) from None
    lexicon = parse_lexicon(text, source=str(path), timeout_s=timeout_s, language=language)
    if allowed is not None:
        lexicon.check_phonemes(allowed)
    return lexicon
