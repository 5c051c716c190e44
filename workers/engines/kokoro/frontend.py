"""Kokoro's G2P frontend: text to phonemes to token chunks, no model involved.

Text goes through :func:`voicecast.textnorm_intl.normalize_for` in its language
(:mod:`voicecast.textnorm`'s rules for English), then espeak-ng (offline via
``espeakng-loader``), then a mapping of espeak's diphthongs and affricates onto
the single symbols of the phoneme set Kokoro v1.0 was trained on (misaki's).
Tokens use the model vocabulary (``vocab.json`` of the package, identical to
``kokoro_onnx``'s default vocabulary).

Languages (:data:`LANGUAGES`, BCP 47 tags; :meth:`KokoroFrontend.language` takes
any tag and gives the espeak voice): American and British English go through
``kokoro_onnx``'s tokenizer and the light mapping of :func:`espeak_to_kokoro`,
unchanged since it was measured. Spanish, French, Italian, Brazilian Portuguese
and Hindi go through espeak as Kokoro's reference frontend (misaki) fed them
when the model was trained: tied phonemes, language-switch flags removed, and
only the tied diphthongs and affricates rewritten (see :func:`espeak_intl`).
Japanese and Mandarin, which the model also learned, need G2P this package does
not carry (misaki's ja and zh frontends and their dictionaries): refused.

Inline phonemes: a span ``⟦wˈɪn⟧`` in the text (U+27E6/U+27E7, what a
:mod:`voicecast.lexicon` phoneme entry puts there) is spoken as given instead of
through espeak: normalization and sentence splitting leave it whole, and its
symbols (espeak's diphthongs and affricates mapped as for espeak's own output;
spaces separate words) take the place of G2P for that piece of the sentence.
The text around it is phonemized piece by piece; in English, ``'s`` glued to a
span is spoken /z/, /s/ or /ɪz/ after the span's last sound. A symbol outside the
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

from voicecast.errors import InputError
from voicecast.lexicon import PHONEME_CLOSE, PHONEME_OPEN, split_phonemes
from voicecast.textnorm_intl import normalize_for
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
#: Bump whenever what is spoken or how it is cut can change: ``voicecast.textnorm``
#: or ``voicecast.textnorm_intl``, the phoneme mapping, the languages, the chunk
#: sizes or the pauses (it is part of ``version``).
#: 2: Spanish, French, Italian, Brazilian Portuguese and Hindi.
#: 3: a count takes its noun's gender in es, pt, it and fr ("una casa").
G2P_VERSION = 3
#: Each language the engine speaks (a BCP 47 tag): its espeak-ng voice (what
#: :meth:`KokoroFrontend.language` returns) and English name.
_VOICES = {
    "en-US": ("en-us", "American English"),
    "en-GB": ("en-gb", "British English"),
    "es": ("es", "Spanish"),
    "fr": ("fr-fr", "French"),
    "it": ("it", "Italian"),
    "pt-BR": ("pt-br", "Brazilian Portuguese"),
    "hi": ("hi", "Hindi"),
}
#: The languages the engine speaks, as BCP 47 tags (``Capabilities.languages``).
LANGUAGES = tuple(_VOICES)
#: Languages spoken in any region, in their first form (``Capabilities.any_region``).
ANY_REGION = ("en",)
_ENGLISH = tuple(voice for tag, (voice, _name) in _VOICES.items() if tag.startswith("en"))
#: Languages Kokoro v1.0 learned that this frontend cannot phonemize, and why.
_NO_G2P = {
    "ja": ("Japanese", "its G2P (misaki's Japanese frontend: pyopenjtalk or cutlet with a UniDic "
                       "dictionary) is not installed"),
    "zh": ("Mandarin Chinese", "its G2P (misaki's Mandarin frontend: jieba, pypinyin and cn2an) "
                               "is not installed"),
}
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


# Other languages, as Kokoro's reference frontend fed them to espeak (misaki's
# EspeakG2P, read for its mapping; written here anew): phonemes asked for with
# ties ("t^ʃ"), so that only a real affricate or diphthong is merged, never two
# sounds that happen to meet ("ts" of two syllables); the tied pairs below become
# Kokoro's single symbols, any other tie and espeak's hyphens (French "lə-") are
# dropped, and no other symbol is touched (no length marks removed, no r -> ɹ):
# that is the phoneme set the model learned for these languages.
_TIED = (
    ("a^ɪ", "I"),
    ("a^ʊ", "W"),
    ("e^ɪ", "A"),
    ("o^ʊ", "O"),
    ("ə^ʊ", "Q"),
    ("ɔ^ɪ", "Y"),
    ("d^z", "ʣ"),
    ("d^ʒ", "ʤ"),
    ("s^s", "S"),
    ("t^s", "ʦ"),
    ("t^ʃ", "ʧ"),
)
# The untied forms a ⟦phoneme⟧ span may use in another language (a lexicon entry
# cannot hold a tie): the diphthongs and the two affricates English writes so.
# "ts" and "dz" stay two sounds there; ʦ and ʣ can be written as such.
_SPAN_INTL = (*_DIPHTHONGS, *_US_DIPHTHONGS, *_GB_DIPHTHONGS)
# Punctuation espeak would drop but Kokoro knows: guillemets as curly quotes (as
# misaki does), the Devanagari danda and double danda as a full stop (espeak's
# Hindi voice reads them as nothing, and the sentence lost its final fall).
_RE_DANDA = re.compile("[\u0964\u0965]+")
_GUILLEMETS = str.maketrans({"\u00ab": "\u201c", "\u00bb": "\u201d"})


def espeak_intl(phonemes: str) -> str:
    """espeak-ng's output for a language other than English (asked for with
    ``^`` ties) in Kokoro's symbols: tied diphthongs and affricates as single
    symbols, other ties and hyphens dropped, everything else as espeak wrote it."""
    for src, dst in _TIED:
        phonemes = phonemes.replace(src, dst)
    return phonemes.replace("^", "").replace("-", "")


# A sentence ends at . ! ? or …, possibly followed by a closing quote or bracket.
_RE_SENTENCE = re.compile(r"(?:(?<=[.!?\u2026])|(?<=[.!?\u2026][\"')\]]))\s+")
# In the other languages also at the Devanagari danda and double danda (Hindi),
# even with no space after them; closing guillemets and curly quotes count as
# closers, French's spaced "» " too (the cut goes after it, never before it).
_END = ".!?\u2026\u0964\u0965"
_CLOSE = "\"')\\]\u00bb\u201d\u2019"
_RE_SENTENCE_INTL = re.compile(
    f"(?:(?<=[{_END}])|(?<=[{_END}][{_CLOSE}])|(?<=[{_END}]\\s\u00bb))\\s+(?![\\s\u00bb])"
    f"|(?<=[\u0964\u0965])(?![\\s{_CLOSE}\u0964\u0965]|$)"
)
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


def _normalize(text: str, language: str = "en-US") -> str:
    """:func:`normalize_for` in ``language`` (a tag of :data:`LANGUAGES`) that
    leaves ``⟦phoneme⟧`` spans as they are.

    Each span stands in as a capitalised placeholder word while the text is
    normalized: the rules around it then read it as the name it usually
    replaces ("Dr. ⟦wˈɪn⟧" still becomes "Doctor ⟦wˈɪn⟧"), and nothing inside it
    (digits, periods, spaces) can be rewritten.
    """
    if PHONEME_OPEN not in text:
        return normalize_for(text, language)
    spans = [m.group(0) for m in _RE_SPAN.finditer(text)]
    if not spans or len(spans) > 26**_PLACEHOLDER_DIGITS:
        return normalize_for(text, language)
    mark = _placeholder_mark(text)
    parts = _RE_SPAN.split(text)  # the text around the spans: len(spans) + 1 parts
    masked = parts[0] + "".join(mark + _index_letters(i) + part for i, part in enumerate(parts[1:]))
    normalized = normalize_for(masked, language)
    # Fixed-width indices: a word glued to a span ("⟦wˈɪn⟧ish") is not mistaken for the index.
    restore = re.compile(re.escape(mark) + f"([a-z]{{{_PLACEHOLDER_DIGITS}}})")

    def span(m: re.Match[str]) -> str:
        i = 0
        for c in m.group(1):
            i = i * 26 + ord(c) - ord("a")
        return spans[i] if i < len(spans) else m.group(0)

    return restore.sub(span, normalized)


def _split_sentences(text: str, language: str = "en-us") -> list[str]:
    """Sentences of normalized text (``language``: an espeak voice of
    :data:`_VOICES`); never cut inside a ``⟦phoneme⟧`` span."""
    pattern = _RE_SENTENCE if language in _ENGLISH else _RE_SENTENCE_INTL
    if PHONEME_OPEN not in text:
        return pattern.split(text)
    # Cut where the text with each span blanked out (same length, no spaces or
    # marks) would be cut.
    masked = _RE_SPAN.sub(lambda m: "x" * len(m.group(0)), text)
    out, pos = [], 0
    for m in pattern.finditer(masked):
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


# --------------------------------------------------------------------------- languages

#: espeak voice -> the tag of :data:`LANGUAGES` it speaks (for normalization).
_TAGS = {voice: tag for tag, (voice, _name) in _VOICES.items()}


def _spoken() -> str:
    return ", ".join(f"{name} ({tag})" for tag, (_voice, name) in _VOICES.items())


@lru_cache(maxsize=256)
def _espeak_voice(language: str) -> str:
    """:meth:`KokoroFrontend.language` (cached: it is asked for every request)."""
    key = language.lower().replace("_", "-")
    if key in _TAGS:  # a voice itself: en-us, en-gb, es, fr-fr, it, pt-br, hi
        return key
    from voicecast.languages import parse_language, spoken_form

    try:
        lang = parse_language(language, field="--lang")
    except InputError:
        raise InputError(f"{language!r} is not a language code; the Kokoro engine speaks {_spoken()}",
                         field="--lang") from None
    form = spoken_form(lang, LANGUAGES, ANY_REGION)  # the rule the control role refuses by
    if form is not None:
        return _VOICES[form][0]
    base = {"cmn": "zh"}.get(lang.base, lang.base)
    others = [f"{name} ({tag})" for tag, (_voice, name) in _VOICES.items() if tag.split("-")[0] == base]
    if others:  # the language in another region only (pt-BR, not pt-PT)
        raise InputError(f"the Kokoro engine speaks only {' and '.join(others)}, not "
                         f"{lang.name} ({lang.tag})", field="--lang")
    if base in _NO_G2P:
        name, why = _NO_G2P[base]
        raise InputError(f"the Kokoro engine here cannot speak {name} ({lang.tag}): {why}; it "
                         f"speaks {_spoken()}", field="--lang")
    raise InputError(f"the Kokoro engine does not speak {lang.name} ({lang.tag}); it speaks {_spoken()}",
                     field="--lang")


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
        """The espeak-ng voice for ``language``, a BCP 47 tag (``en``, ``en-GB``,
        ``es-MX``, ``fr-CA``, ``pt-BR``, ``hi``; the voices themselves, ``en-us``
        or ``fr-fr``, too): English is American but for ``en-GB``, any Spanish
        is ``es``, any French ``fr-fr``, Portuguese only Brazilian. Anything else
        is an :class:`InputError` (``field="--lang"``) naming the languages
        spoken; Japanese and Mandarin, which the model learned, say why not."""
        return _espeak_voice((language or "en-us").strip())

    def phoneme_symbols(self) -> frozenset[str]:
        """The phoneme symbols this engine speaks (for lexicon validation:
        :meth:`voicecast.lexicon.Lexicon.check_phonemes`)."""
        return phoneme_symbols()

    def _sentence_phonemes(self, text: str, language: str) -> list[str]:
        """Phonemes of each sentence of already normalized ``text``."""
        tokenizer = self._load_g2p()
        out = []
        for sentence in _split_sentences(text, language):
            if not sentence.strip():
                continue
            if PHONEME_OPEN in sentence:
                ps = self._mixed_phonemes(sentence, language)
            else:
                ps = self._g2p(sentence, language)
            ps = tokenizer.known(" ".join(ps.split()))
            if any(c.isalpha() for c in ps):  # a lone "…" or quote says nothing
                out.append(ps)
        return out

    def _g2p(self, text: str, language: str) -> str:
        """espeak's phonemes for a piece of normalized text, in Kokoro's symbols
        (symbols outside the vocabulary are left for the caller to drop)."""
        tokenizer = self._load_g2p()
        if language in _ENGLISH:  # exactly the path English was measured on
            return espeak_to_kokoro(tokenizer.phonemize(text, language), language)
        text = _RE_DANDA.sub(".", text.strip()).translate(_GUILLEMETS)
        if not text:
            return ""
        # Ties mark real affricates and diphthongs; a word espeak reads in
        # another language ("week-end" as English) would otherwise come back
        # wrapped in "(en)...(fr)" flags, spoken as letters.
        import phonemizer
        from kokoro_onnx.tokenizer import _espeak_lock  # espeak's state is process-wide

        with _espeak_lock:
            ps = phonemizer.phonemize(text, language, preserve_punctuation=True, with_stress=True,
                                      tie="^", language_switch="remove-flags")
        return espeak_intl(ps.strip())

    def _span_phonemes(self, content: str, language: str) -> str:
        """A ``⟦...⟧`` span's content as spoken: espeak's two-letter diphthongs
        (and ʤ, ʧ) mapped as for G2P output (no other change), spaces collapsed."""
        table: tuple[tuple[str, str], ...] = _SPAN_INTL
        if language in _ENGLISH:
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
            if after_span and not space and language in _ENGLISH:
                glued = _RE_GLUED_S.match(piece)
                if glued:  # "⟦wˈɪn⟧'s": espeak alone reads "'s" as the letter S
                    out += _suffix_s(out)
                    piece = piece[glued.end() :]
                    space = piece[:1].isspace()
            if piece.strip():
                ps = self._g2p(piece, language)
                ps = " ".join(ps.split())
                if ps:
                    out += (" " if space and out else "") + ps
            after_span, space = False, piece[-1:].isspace() or (space and not piece.strip())
        return out

    def phonemize(self, text: str, language: str = "en-us") -> str:
        """The phonemes Kokoro would speak for ``text`` (normalized first; inline
        ``⟦phoneme⟧`` spans in place); no model load."""
        voice = self.language(language)
        return " ".join(self._sentence_phonemes(_normalize(text, _TAGS[voice]), voice))

    def chunks(self, text: str, language: str) -> list[_Chunk]:
        """``text`` as model calls: normalized, phonemized a sentence at a time,
        cut and packed into chunks of at most :data:`CHUNK_TOKENS` tokens.
        ``language`` as for :meth:`language` (an espeak voice, usually)."""
        language = self.language(language)
        normalized = _normalize(text, _TAGS[language])
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
