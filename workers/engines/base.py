"""The engine contract: typed requests and results behind one Protocol.

An engine turns (text, voice style, emotion, rate) into mono float32 audio. It
is loaded lazily, once per worker process, by :func:`workers.engines.get_engine`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Capabilities:
    sample_rate: int
    languages: tuple[str, ...]
    #: The engine scales speaking rate itself (``SynthesisRequest.speed``).
    native_rate: bool
    emotions: tuple[str, ...] = ("neutral",)
    #: How a voice is cloned: "style-search" (search the engine's style space),
    #: "zero-shot" (reference clip at inference), or "none".
    cloning: str = "none"
    #: The engine speaks inline phoneme spans ``⟦...⟧`` in the text as given
    #: (:mod:`voicecast.lexicon` phoneme entries); an engine without it would
    #: read the span's symbols as letters.
    phoneme_input: bool = False
    #: Languages spoken in any region, in the first form ``languages`` lists
    #: (:func:`voicecast.languages.spoken_form`): Kokoro speaks ``en-AU`` as ``en-US``.
    any_region: tuple[str, ...] = ()


@dataclass(frozen=True)
class SynthesisRequest:
    text: str
    #: Engine-specific voice style (Kokoro: a 510x256 style pack, one row per
    #: phoneme count, or a single 256-dim vector).
    style: np.ndarray
    #: Speaking rate: 1.0 natural, >1 faster (shorter audio).
    speed: float = 1.0
    emotion: str = "neutral"
    intensity: float = 0.0
    language: str = "en-us"


@dataclass
class SynthesisResult:
    audio: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    #: The phoneme string actually spoken (for debugging and lexicon work).
    phonemes: str = ""
    meta: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """What every engine provides.

    Optional, looked up with ``getattr`` (not part of this Protocol, so engines
    without them still satisfy it):

    ``predict_duration(request: SynthesisRequest) -> float``
        The length in seconds of the audio ``synthesize(request)`` would
        return, without rendering it (Kokoro: its duration predictor, a few ms).
        Slot fitting then calls the engine once per line instead of first at
        natural speed (:func:`workers.fitting.fit_to_slot`,
        :func:`workers.voices.predict`).
    ``edge_silence_s: float``
        The leading plus trailing silence of a render at speed 1.0, as the
        fitting trims it: the prior of its first estimate of the speech length
        from ``predict_duration`` (0 if absent).
    """

    name: str
    #: Changes whenever the same request could produce different audio
    #: (weights, frontend); part of every segment's content hash.
    version: str
    capabilities: Capabilities

    def synthesize(self, request: SynthesisRequest) -> SynthesisResult: ...

    def bundled_voices(self) -> dict[str, np.ndarray]:
        """Named style packs shipped with the engine."""
        ...
