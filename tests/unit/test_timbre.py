"""Long-term spectrum matching (workers/timbre.py) on synthetic signals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from workers import timbre


def _noise(sr: int, seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(sr * seconds))).astype(np.float32)


def _band_db(audio: np.ndarray, sr: int, lo: float, hi: float) -> float:
    spec = timbre.ltas(audio, sr)
    f = np.linspace(0, timbre.ANALYSIS_SR / 2, len(spec))
    return float(10 * np.log10(spec[(f >= lo) & (f < hi)].mean()))


def test_ltas_has_analysis_bins_and_ignores_silence() -> None:
    sr = 24000
    x = _noise(sr)
    padded = np.concatenate([np.zeros(sr, np.float32), x, np.zeros(sr, np.float32)])
    a, b = timbre.ltas(x, sr), timbre.ltas(padded, sr)
    assert a.shape == (timbre.FFT_SIZE // 2 + 1,)
    assert np.allclose(10 * np.log10(a[5:-5]).mean(), 10 * np.log10(b[5:-5]).mean(), atol=1.0)


def test_matching_eq_moves_the_tilt_of_one_signal_to_another() -> None:
    sr = 24000
    white = _noise(sr, seed=1)
    # A low-passed target at 16 kHz.
    dark = lfilter([1.0], [1.0, -0.9], _noise(16000, seed=2)).astype(np.float32)
    before = _band_db(white, sr, 200, 1000) - _band_db(white, sr, 3000, 7000)
    target = _band_db(dark, 16000, 200, 1000) - _band_db(dark, 16000, 3000, 7000)
    taps = timbre.match_eq(dark, 16000, white, sr)
    after_audio = timbre.apply_eq(white, taps)
    after = _band_db(after_audio, sr, 200, 1000) - _band_db(after_audio, sr, 3000, 7000)
    assert abs(before) < 3  # white noise is flat
    # The correction is clamped to +/- MAX_DB, so the tilt moves toward the
    # target by up to twice that.
    assert after > before + 10
    assert after <= target + 1
    assert len(after_audio) == len(white)


def test_correction_is_level_neutral_and_clamped() -> None:
    src = np.ones(513)
    tgt = np.ones(513)
    tgt[:100] = 1e6  # +60 dB at the bottom
    gain = timbre.correction_db(tgt, src, max_db=12)
    assert gain.max() == pytest.approx(12) and gain.min() >= -12
    mild = np.ones(513)
    mild[:256] = 10 ** 0.6  # +6 dB on the lower half: no clamping
    gain = timbre.correction_db(mild, src, max_db=12)
    assert abs(np.mean(gain)) < 0.05
    assert gain[:200].mean() - gain[300:].mean() == pytest.approx(6, abs=0.2)


def test_identity_eq_keeps_the_signal_and_none_is_a_no_op() -> None:
    sr = 24000
    x = _noise(sr)
    taps = timbre.design_eq(np.zeros(513), sr)
    y = timbre.apply_eq(x, taps)
    assert np.max(np.abs(y - x)) < 0.01 * np.max(np.abs(x))
    assert timbre.apply_eq(x, None) is not None and np.array_equal(timbre.apply_eq(x, None), x)
    assert np.array_equal(timbre.apply_eq(x, np.zeros(0, np.float32)), x)


def test_eq_does_not_delay_the_signal() -> None:
    sr = 24000
    click = np.zeros(sr, np.float32)
    click[12000] = 0.5
    taps = timbre.design_eq(np.linspace(-6, 6, 513), sr)
    y = timbre.apply_eq(click, taps)
    assert int(np.argmax(np.abs(y))) == 12000


def test_boost_is_kept_under_full_scale() -> None:
    sr = 24000
    x = 0.95 * np.sin(2 * np.pi * 3000 * np.arange(sr) / sr).astype(np.float32)
    taps = timbre.design_eq(np.full(513, 12.0), sr)
    y = timbre.apply_eq(x, taps)
    assert np.max(np.abs(y)) <= timbre.HEADROOM + 1e-6


def test_even_taps_are_refused() -> None:
    with pytest.raises(ValueError):
        timbre.design_eq(np.zeros(513), 24000, taps=512)
