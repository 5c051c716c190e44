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
    match the empty string is refused.

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

Applying
========

:meth:`Lexicon.apply` makes one pass over the text, left to right: at each
point the match that starts first wins; among matches that start at the same
place the longest wins (so a phrase before its own words); at equal length a
plain key wins over a pattern, and patterns go in file order. The replaced text
is not looked at again, so each character is replaced at most once and a
respelling is never itself respelled. Phoneme spans already in the text
(``⟦...⟧``) are left alone. The result depends only on the text and the
entries, never on the file's order of plain keys, its comments or line numbers
(:meth:`Lexicon.digest` is built the same way).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from voicecast.errors import InputError

__all__ = [
    "PHONEME_CLOSE",
    "PHONEME_OPEN",
    "Entry",
    "Lexicon",
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
_PATTERN_PREFIX = "re:"


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


@dataclass(frozen=True)
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

    @property
    def replacement(self) -> str:
        """What a plain key's match becomes (a pattern's respelling is a template)."""
        return f"{PHONEME_OPEN}{self.value}{PHONEME_CLOSE}" if self.phonemes else self.value

    def canonical(self) -> tuple[str, str, bool, bool]:
        """The entry as it behaves: case and spacing of a plain key do not matter."""
        key = self.key if self.pattern else self.key.lower()
        return (key, self.value, self.phonemes, self.pattern)


def _literal_regex(key: str) -> str:
    """A plain key as a whole-word, whitespace-tolerant regular expression."""
    body = r"\s+".join(re.escape(word) for word in key.split())
    # Boundaries only where the key has word characters at its edge: "C++"
    # must still match before a space.
    head = r"(?<!\w)" if re.match(r"\w", key) else ""
    tail = r"(?!\w)" if re.search(r"\w$", key) else ""
    return head + body + tail


def _pattern_regex(pattern: str) -> str:
    return rf"(?<!\w)(?:{pattern})(?!\w)"


@dataclass(frozen=True)
class Lexicon:
    """Entries read from one source, and the text rewriting they define.

    Immutable and safe to share between threads; :meth:`apply` is a pure
    function of the text.
    """

    entries: tuple[Entry, ...]
    #: Where the entries came from (a path, or a name given to :func:`parse_lexicon`).
    source: str
    _literals: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _literal_entries: dict[str, Entry] = field(init=False, repr=False, compare=False, default_factory=dict)
    _patterns: tuple[tuple[re.Pattern[str], Entry], ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        literals = sorted(
            (e for e in self.entries if not e.pattern),
            # Longest first: the alternation takes its first alternative that
            # matches, so this makes a phrase win over its own first word.
            key=lambda e: (-len(e.key), e.key.lower()),
        )
        groups = {f"k{i}": e for i, e in enumerate(literals)}
        combined = None
        if literals:
            combined = re.compile(
                "|".join(f"(?P<{name}>{_literal_regex(e.key)})" for name, e in groups.items()),
                re.IGNORECASE,
            )
        patterns = tuple(
            (re.compile(_pattern_regex(e.key), re.IGNORECASE), e) for e in self.entries if e.pattern
        )
        object.__setattr__(self, "_literals", combined)
        object.__setattr__(self, "_literal_entries", groups)
        object.__setattr__(self, "_patterns", patterns)

    # -- matching -------------------------------------------------------------

    def _scan(self, text: str) -> Iterator[tuple[int, int, Entry, str]]:
        """(start, end, entry, replacement) of each replacement in a text
        without phoneme spans, left to right, non-overlapping."""
        matchers: list[tuple[re.Pattern[str], Entry | None]] = []
        if self._literals is not None:
            matchers.append((self._literals, None))
        matchers.extend(self._patterns)
        # The next match of each matcher at or after ``pos``: a match found from
        # an earlier position stays the next one as long as it starts at or
        # after ``pos``, so each matcher searches again only when overtaken.
        nexts: list[re.Match[str] | None] = [None] * len(matchers)
        pos = 0
        while pos <= len(text):
            best: tuple[int, int, int] | None = None  # (start, -length, matcher index)
            for i, (regex, _) in enumerate(matchers):
                m = nexts[i]
                if m is None or m.start() < pos:
                    m = regex.search(text, pos)
                    # A zero-width match (a lookaround-only pattern) replaces nothing.
                    while m is not None and m.end() == m.start():
                        m = regex.search(text, m.start() + 1) if m.start() < len(text) else None
                    nexts[i] = m
                if m is not None:
                    rank = (m.start(), -(m.end() - m.start()), i)
                    if best is None or rank < best:
                        best = rank
            if best is None:
                return
            i = best[2]
            m = nexts[i]
            assert m is not None
            entry = matchers[i][1]
            if entry is None:  # the combined plain keys: which one matched
                assert m.lastgroup is not None
                entry = self._literal_entries[m.lastgroup]
                replacement = entry.replacement
            elif entry.phonemes:
                replacement = entry.replacement
            else:
                replacement = m.expand(entry.value)
            yield m.start(), m.end(), entry, replacement
            pos = m.end()

    def apply(self, text: str) -> str:
        """``text`` with every entry's matches replaced by its respelling or its
        ``⟦phonemes⟧`` span (see the module docstring for the order). Text
        without matches comes back unchanged; spans already there are kept."""
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

    def matches(self, text: str) -> list[Entry]:
        """The entries :meth:`apply` uses on ``text``, each once, in order of first use."""
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
        blob = json.dumps([plain, patterns], ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    # -- validation -----------------------------------------------------------

    def check_phonemes(self, allowed: set[str] | frozenset[str]) -> None:
        """Raise :class:`InputError` (file and line of the entry) for the first
        phoneme entry using a symbol outside ``allowed`` (an engine's phoneme
        vocabulary; a space, the word boundary, is always allowed)."""
        for entry in self.entries:
            if not entry.phonemes:
                continue
            unknown = sorted({c for c in entry.value if c != " " and c not in allowed})
            if unknown:
                shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in unknown)
                raise InputError(
                    f"phonemes /{entry.value}/ of {entry.key!r} use symbols the engine "
                    f"does not know: {shown}",
                    file=self.source,
                    line=entry.line,
                )


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


def parse_lexicon(text: str, *, source: str) -> Lexicon:
    """Read lexicon ``text`` (the file format of the module docstring).

    ``source`` names it in errors and in :attr:`Lexicon.source`. Raises
    :class:`InputError` with the line for a line without ``=``, an empty key or
    value, a bad regular expression or template, unclosed ``/phonemes``, and
    a key given twice (naming both lines).
    """
    entries: list[Entry] = []
    seen: dict[tuple[bool, str], Entry] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = _parse_line(raw, source=source, line=number)
        if entry is None:
            continue
        ident = (entry.pattern, entry.key if entry.pattern else entry.key.lower())
        first = seen.get(ident)
        if first is not None:
            shown = (_PATTERN_PREFIX if entry.pattern else "") + entry.key
            raise InputError(
                f"duplicate key {shown!r}: already on line {first.line} (keys ignore case)",
                file=source,
                line=number,
            )
        seen[ident] = entry
        entries.append(entry)
    return Lexicon(entries=tuple(entries), source=source)


def load_lexicon(path: Path, *, allowed: set[str] | frozenset[str] | None = None) -> Lexicon:
    """Read the lexicon file at ``path`` (UTF-8); with ``allowed``, also check
    its phonemes against that vocabulary (:meth:`Lexicon.check_phonemes`).
    Raises :class:`InputError` for an unreadable file or a bad entry."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"lexicon is not UTF-8 text: {exc}", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read lexicon: {exc.strerror or exc}", file=path) from None
    lexicon = parse_lexicon(text, source=str(path))
    if allowed is not None:
        lexicon.check_phonemes(allowed)
    return lexicon
