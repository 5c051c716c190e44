"""The `null` engine's tone and identity (no model: nothing here predicts)."""

from __future__ import annotations

import numpy as np

import workers.engines as engines
from voicecast.settings import EngineSettings
from workers.engines.kokoro import EDGE_SILENCE_S, SAMPLE_RATE, KokoroEngine
from workers.engines.null import TONE_PEAK, NullEngine, tone


def test_tone_has_the_asked_length_and_kokoro_like_edges() -> None:
    n = 3 * SAMPLE_RATE
    x = tone(n)
    assert x.dtype == np.float32 and len(x) == n
    edge = round(EDGE_SILENCE_S / 2 * SAMPLE_RATE)
    assert not x[:edge].any() and not x[-edge:].any()
    body = x[edge:-edge]
    assert 0.9 * TONE_PEAK < np.max(np.abs(body)) <= TONE_PEAK
    # Loud enough to survive the fitting's trim (-40 dBFS), quiet enough to be harmless.
    assert -40 < 20 * np.log10(np.max(np.abs(body))) <= -20


def test_tone_of_short_or_empty_lengths() -> None:
    assert len(tone(0)) == 0
    assert len(tone(100)) == 100


def test_null_is_registered_with_its_own_identity_and_kokoros_capabilities() -> None:
    assert "null" in engines.names()
    engine = NullEngine(EngineSettings())
    assert engine.name == "null" and engine.name != KokoroEngine.name
    assert engine.version.startswith("null") and "kokoro" in engine.version
    assert engine.capabilities == KokoroEngine.capabilities
    assert engine.edge_silence_s == KokoroEngine.edge_silence_s
