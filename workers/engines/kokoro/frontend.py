"""Kokoro's G2P frontend: text to phonemes to token chunks, no model involved.

Text goes through :func:`voicecast.textnorm.normalize`, then espeak-ng (through
``kokoro_onnx``'s tokenizer, offline via ``espeakng-loader``), then a mapping of
espeak's diphthongs and affricates onto the single symbols of the phoneme set
Kokoro v1.0 was trained on (misaki's; see :func:`espeak_to_kokoro` for why no
more than that). Tokens use the model vocabulary (``vocab.json`` of the
package, identical to ``kokoro_onnx``'s default vocabulary).

Inline phonemes: a span ``⟦wˈɪn⟧`` in the text (U+27E6/U+27E7, what a
:mod:`voicecast.lexicon` phoneme entry puts there) is spoken as given instead of
through espeak: normalization and sentence splitting leave it whole, and its
symbols (espeak's diphthongs and affricates mapped as for espeak's own output;
spaces separate words) take the place of G2P for that piece of the sentence.
The text around it is phonemized piece by piece; ``'s`` glued to a span is
spoken /z/, /s/ or /ɪz/ after the span's last sound. A symbol outside the
vocabulary is an :class:`InputError`. Text without spans goes through exactly
the path it always did.

Long text is phonemized a sentence at a time; sentences are packed into chunks
of at most :data:`CHUNK_TOKENS` tokens, one model call each; a longer sentence is
cut at clause punctuation (and a clause beyond the model context,
:data:`MAX_TOKENS`, between words). Each chunk carries the pause to put after
it: :data:`SENTENCE_PAUSE_S` (between sentences), :data:`CLAUSE_PAUSE_S` (a
sentence cut at a comma or other clause mark) or :data:`WORD_PAUSE_S` (cut
between words).

espeak loads on first use.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from voicecast import textnorm
from voicecast.errors import InputError
from voicecast.lexicon import PHONEME_CLOSE, PHONEME_OPEN, split_phonemes
from workers.engines.kokoro.runtime import _package_data

#: Tokens per model call at most (the graph takes n + 2 with the padding).
MAX_TOKENS = 510
#: Sentences are packed into one call up to this many tokens (fewer calls, and
#: the model phrases across sentence ends itself), and longer sentences are cut
#: at clause marks down to it: Kokoro speaks faster as its input grows (measured
#: with jm_kumo: 14.3 phonemes/s at 120 tokens, 14.4 at 250, 15.7 at 400, 18.9
#: at 510), so short calls keep one pace through a book.
CHUNK_TOKENS = 250
#: Pauses inserted where the text was cut into separate model calls (seconds).
SENTENCE_PAUSE_S = 0.35
CLAUSE_PAUSE_S = 0.2
WORD_PAUSE_S = 0.05
#: Bump whenever what is spoken or how it is cut can change: ``voicecast.textnorm``,
#: the phoneme mapping, the chunk sizes or the pauses (it is part of ``version``).
G2P_VERSION = 1
LANGUAGES = ("en-us", "en-gb")
#: Texts whose chunks are kept per engine (fitting predicts and renders the same
#: text, often at two speeds).
_CHUNKS_CACHE = 1024


# --------------------------------------------------------------------------- phonemes

# espeak-ng writes diphthongs and affricates as two symbols; Kokoro v1.0's
# vocabulary (misaki's set) has one symbol for each, which it was trained on.
# Only these are mapped. A fuller misaki mapping (no length marks, ɚ -> əɹ,
# flap -> T, ...) measured worse with Whisper tiny.en on 50 plain sentences
# (WER jf_alpha 12.4 %, jm_kumo 2.9 %, jf_gongitsune 4.6 %) than raw espeak
# (8.7, 2.4, 3.2 %); this light mapping with the stressed "I" below measured
# 7.8 and 1.7 %.
_DIPHTHONGS = (
    ("dʒ", "ʤ"),
    ("tʃ", "ʧ"),
    ("aɪ", "I"),
    ("aʊ", "W"),
    ("eɪ", "A"),
    ("ɔɪ", "Y"),
)
_US_DIPHTHONGS = (("oʊ", "O"),)
_GB_DIPHTHONGS = (("əʊ", "Q"),)


# A word that is one unstressed diphthong, in practice the pronoun "I": espeak
# leaves it unstressed, and as a bare "I" token Kokoro swallowed it at the start
# of a sentence ("I would rather..." heard as "would rather..." for both
# jf_alpha and jm_kumo); stressed, as misaki writes it, it is heard every time.
_RE_BARE_DIPHTHONG = re.compile(r"(?<![^\s\"(])([AIOQWY])(?=$|[\s.,;:!?\u2026\"\u2014)])")


def espeak_to_kokoro(phonemes: str, language: str = "en-us") -> str:
    """Write espeak-ng's English diphthongs and affricates as Kokoro's single
    symbols, and stress a word that is a lone diphthong (the pronoun "I")."""
    table = _DIPHTHONGS + (_US_DIPHTHONGS if language == "en-us" else _GB_DIPHTHONGS)
    for src, dst in table:
        phonemes = phonemes.replace(src, dst)
    return _RE_BARE_DIPHTHONG.sub("\u02c8\\1", phonemes)


# A sentence ends at . ! ? or …, possibly followed by a closing quote or bracket.
_RE_SENTENCE = re.compile(r"(?:(?<=[.!?\u2026])|(?<=[.!?\u2026][\"')\]]))\s+")
_RE_CLAUSE_CUT = re.compile(r"(?<=[,;:\u2014])\s+")


# --------------------------------------------------------------------------- inline phonemes

_RE_SPAN = re.compile(f"{PHONEME_OPEN}[^{PHONEME_OPEN}{PHONEME_CLOSE}]*{PHONEME_CLOSE}")
_PLACEHOLDER_DIGITS = 4  # letters per span index: 26**4 spans per text at most


@lru_cache(maxsize=1)
def phoneme_symbols() -> frozenset[str]:
    """The symbols Kokoro's vocabulary knows (what inline phonemes may use)."""
    vocab = json.loads((_package_data() / "vocab.json").read_text(encoding="utf-8"))
    return frozenset(vocab["vocab"])


def _placeholder_mark(text: str) -> str:
    """A capitalised word absent from ``text``, to stand for its spans while it
    is normalized."""
    mark = "Qxzphonemes"
    while mark.lower() in text.lower():
        mark += "q"
    return mark


def _index_letters(i: int) -> str:
    out = ""
    for _ in range(_PLACEHOLDER_DIGITS):
        i, r = divmod(i, 26)
        out = chr(ord("a") + r) + out
    return out


def _normalize(text: str) -> str:
    """:func:`textnorm.normalize` that leaves ``⟦phoneme⟧`` spans as they are.

    Each span stands in as a capitalised placeholder word while the text is
    normalized: the rules around it then read it as the name it usually
    replaces ("Dr. ⟦wˈɪn⟧" still becomes "Doctor ⟦wˈɪn⟧"), and nothing inside it
    (digits, periods, spaces) can be rewritten.
    """
    if PHONEME_OPEN not in text:
        return textnorm.normalize(text)
    spans = [m.group(0) for m in _RE_SPAN.finditer(text)]
    if not spans or len(spans) > 26**_PLACEHOLDER_DIGITS:
        return textnorm.normalize(text)
    mark = _placeholder_mark(text)
    parts = _RE_SPAN.split(text)  # the text around the spans: len(spans) + 1 parts
    masked = parts[0] + "".join(mark + _index_letters(i) + part for i, part in enumerate(parts[1:]))
    normalized = textnorm.normalize(masked)
    # Fixed-width indices: a word glued to a span ("⟦wˈɪn⟧ish") is not mistaken for the index.
    restore = re.compile(re.escape(mark) + f"([a-z]{{{_PLACEHOLDER_DIGITS}}})")

    def span(m: re.Match[str]) -> str:
        i = 0
        for c in m.group(1):
            i = i * 26 + ord(c) - ord("a")
        return spans[i] if i < len(spans) else m.group(0)

    return restore.sub(span, normalized)


def _split_sentences(text: str) -> list[str]:
    """Sentences of normalized text; never cut inside a ``⟦phoneme⟧`` span."""
    if PHONEME_OPEN not in text:
        return _RE_SENTENCE.split(text)
    # Cut where the text with each span blanked out (same length, no spaces or
    # marks) would be cut.
    masked = _RE_SPAN.sub(lambda m: "x" * len(m.group(0)), text)
    out, pos = [], 0
    for m in _RE_SENTENCE.finditer(masked):
        out.append(text[pos : m.start()])
        pos = m.end()
    out.append(text[pos:])
    return out


_SIBILANTS = frozenset("szʃʒʧʤ")
_VOICELESS = frozenset("ptkfθ")
# Marks after a span's last sound that say nothing about its voicing.
_NOT_A_SOUND = "ˈˌːʰʲ\u0303 .,;:!?\"()—…"
_RE_GLUED_S = re.compile(r"'s(?!\w)")


def _suffix_s(phonemes: str) -> str:
    """The "'s" after a word ending in ``phonemes``: /ɪz/ after a sibilant,
    /s/ after another voiceless sound, /z/ otherwise (English's rule)."""
    last = phonemes.rstrip(_NOT_A_SOUND)[-1:]
    if last in _SIBILANTS:
        return "ɪz"
    return "s" if last in _VOICELESS else "z"


@dataclass(frozen=True)
class _Chunk:
    phonemes: str
    tokens: list[int]
    #: Seconds of silence to put after this chunk (when another follows).
    pause_after: float


def _split_long(phonemes: str, soft: int = CHUNK_TOKENS, hard: int = MAX_TOKENS) -> list[tuple[str, float]]:
    """Cut one sentence's phonemes (one character per token) into model calls.

    A sentence within ``soft`` stays whole. A longer one is cut at clause marks
    and the clauses packed back together up to ``soft`` (a single clause may
    run up to ``hard``); a clause beyond ``hard`` is cut between words. Each
    piece carries the pause to put after it.
    """
    if len(phonemes) <= soft:
        return [(phonemes, SENTENCE_PAUSE_S)]
    atoms: list[tuple[str, float]] = []
    for clause in _RE_CLAUSE_CUT.split(phonemes):
        if len(clause) <= hard:
            atoms.append((clause, CLAUSE_PAUSE_S))
            continue
        piece = ""
        for word in clause.split(" "):
            while len(word) > soft:  # one unbroken run longer than a call
                if piece:
                    atoms.append((piece, WORD_PAUSE_S))
                    piece = ""
                atoms.append((word[:soft], 0.0))
                word = word[soft:]
            if piece and len(piece) + 1 + len(word) > soft:
                atoms.append((piece, WORD_PAUSE_S))
                piece = word
            else:
                piece = f"{piece} {word}" if piece else word
        if piece:
            atoms.append((piece, CLAUSE_PAUSE_S))
    packed: list[tuple[str, float]] = []
    for text, pause in atoms:
        if packed and len(packed[-1][0]) + 1 + len(text) <= soft:
            packed[-1] = (f"{packed[-1][0]} {text}", pause)
        else:
            packed.append((text, pause))
    packed[-1] = (packed[-1][0], SENTENCE_PAUSE_S)
    return packed


class KokoroFrontend:
    """Normalization, G2P and chunking of one engine (espeak loaded once)."""

    def __init__(self) -> None:
        self._g2p_lock = threading.Lock()
        self._tokenizer: Any = None
        self._vocab: dict[str, int] | None = None
        self._cache_lock = threading.Lock()
        self._chunks_cache: OrderedDict[tuple[str, str], list[_Chunk]] = OrderedDict()

    def _load_g2p(self) -> Any:
        with self._g2p_lock:
            if self._tokenizer is None:
                vocab = json.loads((_package_data() / "vocab.json").read_text(encoding="utf-8"))
                # Sets espeak-ng's library and data paths from espeakng-loader.
                from kokoro_onnx.tokenizer import Tokenizer

                self._vocab = vocab["vocab"]
                self._tokenizer = Tokenizer(vocab=self._vocab)
            return self._tokenizer

    @staticmethod
    def language(language: str) -> str:
        """``language`` as one of :data:`LANGUAGES` ("en" is "en-us"); else an :class:`InputError`."""
        lang = (language or "en-us").lower().replace("_", "-")
        lang = {"en": "en-us", "en-uk": "en-gb"}.get(lang, lang)
        if lang not in LANGUAGES:
            raise InputError(
                f"the Kokoro engine speaks {', '.join(LANGUAGES)}, not {language!r}",
                field="language",
            )
        return lang

    def phoneme_symbols(self) -> frozenset[str]:
        """The phoneme symbols this engine speaks (for lexicon validation:
        :meth:`voicecast.lexicon.Lexicon.check_phonemes`)."""
        return phoneme_symbols()

    def _sentence_phonemes(self, text: str, language: str) -> list[str]:
        """Phonemes of each sentence of already normalized ``text``."""
        tokenizer = self._load_g2p()
        out = []
        for sentence in _split_sentences(text):
            if not sentence.strip():
                continue
            if PHONEME_OPEN in sentence:
                ps = self._mixed_phonemes(sentence, language)
            else:
                ps = espeak_to_kokoro(tokenizer.phonemize(sentence, language), language)
            ps = tokenizer.known(" ".join(ps.split()))
            if any(c.isalpha() for c in ps):  # a lone "…" or quote says nothing
                out.append(ps)
        return out

    def _span_phonemes(self, content: str, language: str) -> str:
        """A ``⟦...⟧`` span's content as spoken: espeak's two-letter diphthongs
        mapped as for G2P output (no other change), spaces collapsed."""
        table = _DIPHTHONGS + (_US_DIPHTHONGS if language == "en-us" else _GB_DIPHTHONGS)
        ps = " ".join(content.split())
        for src, dst in table:
            ps = ps.replace(src, dst)
        unknown = sorted({c for c in ps if c != " " and c not in phoneme_symbols()})
        if unknown:
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in unknown)
            raise InputError(
                f"phonemes {PHONEME_OPEN}{content}{PHONEME_CLOSE} use symbols Kokoro does not know: {shown}",
                field="text",
            )
        return ps

    def _mixed_phonemes(self, sentence: str, language: str) -> str:
        """Phonemes of a sentence holding ``⟦phoneme⟧`` spans: each span as given,
        each run of text between them through espeak on its own. Whitespace in
        the text decides where words part; text glued to a span stays glued."""
        tokenizer = self._load_g2p()
        out = ""
        after_span = False  # the previous piece was a span (nothing between)
        space = False  # whitespace before the next piece
        for piece, is_phonemes in split_phonemes(sentence):
            if is_phonemes:
                ps = self._span_phonemes(piece, language)
                if ps:
                    out += (" " if space and out else "") + ps
                after_span, space = True, False
                continue
            space = space or piece[:1].isspace()
            if after_span and not space:
                glued = _RE_GLUED_S.match(piece)
                if glued:  # "⟦wˈɪn⟧'s": espeak alone reads "'s" as the letter S
                    out += _suffix_s(out)
                    piece = piece[glued.end() :]
                    space = piece[:1].isspace()
            if piece.strip():
                ps = espeak_to_kokoro(tokenizer.phonemize(piece, language), language)
                ps = " ".join(ps.split())
                if ps:
                    out += (" " if space and out else "") + ps
            after_span, space = False, piece[-1:].isspace() or (space and not piece.strip())
        return out

    def phonemize(self, text: str, language: str = "en-us") -> str:
        """The phonemes Kokoro would speak for ``text`` (normalized first; inline
        ``⟦phoneme⟧`` spans in place); no model load."""
        return " ".join(self._sentence_phonemes(_normalize(text), self.language(language)))

    def chunks(self, text: str, language: str) -> list[_Chunk]:
        """``text`` as model calls: normalized, phonemized a sentence at a time,
        cut and packed into chunks of at most :data:`CHUNK_TOKENS` tokens.
        ``language`` is already checked (:meth:`language`)."""
        normalized = _normalize(text)
        if not normalized:
            raise InputError("nothing to say: the text is empty after normalization")
        pieces: list[tuple[str, float]] = []
        for ps in self._sentence_phonemes(normalized, language):
            pieces.extend(_split_long(ps))
        if not pieces:
            raise InputError(f"nothing to say: no speakable words in {text[:80]!r}")
        # Pack consecutive sentences into one call while within CHUNK_TOKENS.
        packed: list[tuple[str, float]] = []
        for ps, pause in pieces:
            if (
                packed
                and packed[-1][1] == SENTENCE_PAUSE_S
                and len(packed[-1][0]) + 1 + len(ps) <= CHUNK_TOKENS
            ):
                packed[-1] = (f"{packed[-1][0]} {ps}", pause)
            else:
                packed.append((ps, pause))
        tokenizer = self._load_g2p()
        return [_Chunk(ps, tokenizer.tokenize(ps, limit=None), pause) for ps, pause in packed]

    def cached_chunks(self, text: str, language: str) -> list[_Chunk]:
        """:meth:`chunks`, kept for the last texts (the list is shared: do not change it)."""
        key = (text, language)
        with self._cache_lock:
            hit = self._chunks_cache.get(key)
            if hit is not None:
                self._chunks_cache.move_to_end(key)
                return hit
        chunks = self.chunks(text, language)
        with self._cache_lock:
            self._chunks_cache[key] = chunks
            while len(self._chunks_cache) > _CHUNKS_CACHE:
                self._chunks_cache.popitem(last=False)
        return chunks
