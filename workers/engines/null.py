"""The ``null`` engine: for benchmarks and dry runs, never for listening.

It has Kokoro's text frontend, duration predictor, voices and capabilities, and
no acoustic model: :meth:`NullEngine.synthesize` returns a quiet tone of exactly
the length Kokoro's duration predictor gives (between Kokoro's edge silences),
at Kokoro's sample rate. Fitting, ``voicecast plan``'s predicted lengths and the
content hash therefore work as with Kokoro, at the cost of the predictor alone
(the decoder is most of a render's time). Select it with
``VOICECAST_ENGINE__NAME=null``; the voices are Kokoro's bundled names
(``--voice jf_alpha``). ``VOICECAST_ENGINE__NULL_RTF`` makes it spend that
many seconds per second of audio, standing in for a real engine's cost in
queue benchmarks and scheduling tests.

It has its own name and version, so its segments and deliverables never collide
with Kokoro's in storage. Importing this module loads no model (the duration
sub-model is built on the first prediction, as Kokoro's is).
"""

from __future__ import annotations

import time

import numpy as np

from voicecast.settings import EngineSettings
from workers.engines.base import Capabilities, SynthesisRequest, SynthesisResult
from workers.engines.kokoro import EDGE_SILENCE_S, SAMPLE_RATE, KokoroEngine

#: Bumped whenever the same request could give different audio here.
NULL_VERSION = 1
#: The tone: a sine at this frequency and peak (-20 dBFS; above the fitting's
#: trim threshold, so the take's speech is the tone).
TONE_HZ = 220.0
TONE_PEAK = 0.1
_FADE_S = 0.01


def tone(n: int, edge_s: float = EDGE_SILENCE_S, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``n`` samples: half of ``edge_s`` of silence at each end (less when ``n``
    is short) and a faded sine between (float32)."""
    out = np.zeros(max(0, n), dtype=np.float32)
    edge = min(int(round(edge_s / 2 * sample_rate)), len(out) // 4)
    body = len(out) - 2 * edge
    if body <= 0:
        return out
    t = np.arange(body, dtype=np.float32) / np.float32(sample_rate)
    wave = (TONE_PEAK * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    fade = min(int(_FADE_S * sample_rate), body // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        wave[:fade] *= ramp
        wave[-fade:] *= ramp[::-1]
    out[edge:edge + body] = wave
    return out


class NullEngine:
    """Kokoro's frontend and duration predictor behind the engine Protocol; a
    tone of the predicted length instead of speech."""

    name = "null"
    capabilities: Capabilities = KokoroEngine.capabilities
    edge_silence_s = EDGE_SILENCE_S

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        # Kokoro's engine object without its acoustic model: its runtime's ONNX
        # session is only loaded by ``synthesize``, which is never called here.
        self._kokoro = KokoroEngine(settings)
        self.version = f"null{NULL_VERSION}-{self._kokoro.version}"

    def bundled_voices(self) -> dict[str, np.ndarray]:
        return self._kokoro.bundled_voices()

    def prosody_directions(self) -> dict[str, np.ndarray]:
        return self._kokoro.prosody_directions()

    def phoneme_symbols(self) -> frozenset[str]:
        return self._kokoro.phoneme_symbols()

    def phonemize(self, text: str, language: str = "en-us") -> str:
        return self._kokoro.phonemize(text, language)

    def predict_duration(self, request: SynthesisRequest) -> float:
        """Kokoro's predicted length of ``request`` (raises as Kokoro does)."""
        return self._kokoro.predict_duration(request)

    def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """A tone exactly as long as :meth:`predict_duration` says (raises like
        Kokoro for an empty text, a bad style or speed)."""
        t0 = time.perf_counter()
        n = int(round(self.predict_duration(request) * SAMPLE_RATE))
        audio = tone(n)
        seconds = n / SAMPLE_RATE
        if self.settings.null_rtf:  # stands in for an engine of this real-time factor
            time.sleep(max(0.0, self.settings.null_rtf * seconds - (time.perf_counter() - t0)))
        elapsed = time.perf_counter() - t0
        return SynthesisResult(
            audio=audio,
            sample_rate=SAMPLE_RATE,
            phonemes=self.phonemize(request.text, request.language),
            meta={"synth_s": elapsed, "rtf": elapsed / seconds if seconds else 0.0},
        )
