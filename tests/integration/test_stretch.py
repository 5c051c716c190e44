"""voicecast.audio.stretch with the real Rubber Band tool (so not a unit test)."""

from __future__ import annotations

import numpy as np
import pytest

from voicecast import audio

SR = 24000


def syllables(seconds: float, sr: int = SR, f0: float = 140.0) -> np.ndarray:
    """Speech-like audio: harmonic syllables of ~180 ms with short pauses."""
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    voiced = sum((0.6 / k) * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 6))
    syl = 0.22
    phase = (t % syl) / syl
    env = np.where(phase < 0.8, np.sin(np.pi * np.clip(phase / 0.8, 0, 1)) ** 2, 0.0)
    return (0.5 * voiced * env).astype(np.float32)


def dominant_hz(x: np.ndarray, sr: int) -> float:
    n = 1 << 20  # zero-padded: fine frequency grid whatever the length
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size), n=n))
    return float(np.fft.rfftfreq(n, 1 / sr)[np.argmax(spec)])


@pytest.mark.parametrize("ratio", [0.7, 0.8, 1.25, 1.4])
def test_stretch_exact_length_and_pitch_kept(ratio: float) -> None:
    pause = np.zeros(SR // 10, np.float32)
    x = np.concatenate([pause, syllables(8 * 0.22), pause])
    target = int(round(x.size * ratio))
    y = audio.stretch(x, SR, target)
    assert y.dtype == np.float32 and y.size == target
    assert dominant_hz(y, SR) == pytest.approx(dominant_hz(x, SR), abs=3)
    # the speech itself is stretched (to within a few ms), not cut or padded
    fy, ly = audio.speech_bounds(y, SR, -40.0)
    fx, lx = audio.speech_bounds(x, SR, -40.0)
    assert (ly - fy) == pytest.approx((lx - fx) * ratio, abs=0.005 * SR)
