"""The emotion DSP on synthetic voiced signals, measured by voicecast.prosody (Praat)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from voicecast import prosody
from voicecast.emotions import EMOTIONS, EXPECTED
from workers.emotion import (
    EMOTION_PROSODY,
    LIKE_LIMITS,
    PEAK_LIMIT_DB,
    Measured,
    Prosody,
    apply_gain,
    post_process,
    prosody_for,
    shift_pitch,
    transfer,
    whisper,
)

SR = 24000


def vowel(f0_hz: np.ndarray, sr: int = SR) -> np.ndarray:
    """A buzzy vowel-like signal following an F0 track (one value per sample)."""
    phase = 2 * np.pi * np.cumsum(f0_hz) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 25))
    env = np.ones_like(x)
    ramp = int(0.02 * sr)
    env[:ramp] = np.linspace(0, 1, ramp)
    env[-ramp:] = np.linspace(1, 0, ramp)
    return (0.2 * x * env).astype(np.float32)


def glide(lo: float = 150.0, hi: float = 240.0, seconds: float = 1.5) -> np.ndarray:
    n = int(seconds * SR)
    t = np.arange(n) / n
    return vowel(lo * (hi / lo) ** (0.5 - 0.5 * np.cos(2 * np.pi * t)))


def test_every_emotion_has_a_prosody_pointing_the_documented_way() -> None:
    assert set(EMOTION_PROSODY) == set(EMOTIONS)
    sign = {"f0_median": lambda p: p.f0_shift_st, "f0_range": lambda p: math.log(p.f0_range),
            "rate": lambda p: math.log(p.rate), "rms": lambda p: p.gain_db,
            "voiced_ratio": lambda p: -p.whisper}
    for emotion, wanted in EXPECTED.items():
        p = EMOTION_PROSODY[emotion]
        for feature, direction in wanted.items():
            assert sign[feature](p) * direction > 0, (emotion, feature)


def test_intensity_scales_every_control() -> None:
    full = prosody_for("excited", 1.0)
    half = prosody_for("excited", 0.5)
    assert prosody_for("excited", 0.0) == Prosody(rate=1.0, f0_range=1.0)
    assert half.f0_shift_st == pytest.approx(full.f0_shift_st / 2)
    assert half.rate == pytest.approx(math.sqrt(full.rate))
    assert half.gain_db == pytest.approx(full.gain_db / 2)
    assert prosody_for("whisper", 0.3).whisper == pytest.approx(0.5)
    assert prosody_for("whisper", 0.7).whisper == 1.0
    with pytest.raises(ValueError):
        prosody_for("grumpy")
    with pytest.raises(ValueError):
        prosody_for("sad", 1.2)


def test_shift_pitch_moves_level_and_range_and_keeps_length() -> None:
    x = glide()
    before = prosody.features(x, SR)
    y = shift_pitch(x, SR, 3.0, 1.5)
    after = prosody.features(y, SR)
    assert y.size == x.size
    assert after["f0_median"] - before["f0_median"] == pytest.approx(3.0, abs=0.4)
    assert after["f0_range"] / before["f0_range"] == pytest.approx(1.5, rel=0.12)
    down = prosody.features(shift_pitch(x, SR, -2.0, 0.5), SR)
    assert down["f0_median"] - before["f0_median"] == pytest.approx(-2.0, abs=0.4)
    assert down["f0_range"] / before["f0_range"] == pytest.approx(0.5, rel=0.15)
    assert shift_pitch(x, SR, 0.0, 1.0) is x


def test_whisper_removes_voicing_and_breathy_keeps_some() -> None:
    x = glide()
    assert prosody.features(x, SR)["voiced_ratio"] > 0.9
    full = whisper(x, SR, 1.0)
    assert full.size == x.size
    assert prosody.features(full, SR)["voiced_ratio"] < 0.1
    # the spectral envelope survives: most energy stays below 4 kHz like the original's
    spec_x, spec_w = np.abs(np.fft.rfft(x)) ** 2, np.abs(np.fft.rfft(full)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    assert spec_w[f < 4000].sum() / spec_w.sum() > 0.8 * spec_x[f < 4000].sum() / spec_x.sum()
    breathy = whisper(x, SR, 0.3)
    assert prosody.features(breathy, SR)["voiced_ratio"] > 0.5
    assert whisper(x, SR, 0.0) is x


def test_gain_raises_rms_and_the_limiter_holds_the_ceiling() -> None:
    x = glide()
    y = apply_gain(x, 6.0, SR)
    assert prosody.features(y, SR)["rms"] - prosody.features(x, SR)["rms"] == pytest.approx(6.0, abs=0.1)
    loud = np.concatenate([x, 4.0 * x])  # the second half would clip after +6 dB
    z = apply_gain(loud, 6.0, SR)
    assert 20 * np.log10(np.max(np.abs(z))) <= PEAK_LIMIT_DB + 1e-3
    # the limiter only touches the loud half (its reach is a few ms)
    half = x.size
    assert np.allclose(z[: half - SR // 50], 10 ** (6 / 20) * x[: half - SR // 50], atol=1e-5)
    # no steps: the gain actually applied changes smoothly from sample to sample
    ok = np.abs(loud) > 0.05
    g = np.where(ok, z / np.where(ok, 10 ** (6 / 20) * loud, 1.0), np.nan)
    assert np.nanmin(g) < 0.6  # it did limit
    steps = np.abs(np.diff(g))[ok[1:] & ok[:-1]]
    assert np.max(steps) < 0.01


def test_post_process_leaves_silence_alone() -> None:
    silence = np.zeros(SR, np.float32)
    assert not np.any(post_process(silence, SR, prosody_for("excited")))


def test_transfer_follows_the_clip_within_limits() -> None:
    neutral = Measured(f0_st=15.0, range_st=8.0, rate=5.0, rms_db=-20.0)
    clip = Measured(f0_st=17.0, range_st=12.0, rate=6.0, rms_db=-16.0)
    p = transfer(clip, neutral)
    assert (p.f0_shift_st, p.f0_range, p.rate, p.gain_db) == pytest.approx((2.0, 1.5, 1.2, 4.0))
    half = transfer(clip, neutral, 0.5)
    assert half.f0_shift_st == pytest.approx(1.0) and half.rate == pytest.approx(math.sqrt(1.2))
    far = transfer(Measured(f0_st=30.0, range_st=40.0, rate=20.0, rms_db=10.0), neutral)
    assert far.f0_shift_st == LIKE_LIMITS["f0_shift_st"][1]
    assert far.rate == LIKE_LIMITS["rate"][1] and far.gain_db == LIKE_LIMITS["gain_db"][1]
    # a whispered clip has no pitch: pitch is left alone, the rest still transfers
    whispered = transfer(Measured(f0_st=None, range_st=None, rate=4.0, rms_db=-26.0), neutral)
    assert (whispered.f0_shift_st, whispered.f0_range) == (0.0, 1.0)
    assert whispered.rate == pytest.approx(0.8) and whispered.gain_db == pytest.approx(-6.0)


class _Engine:
    """Just enough of an engine for :func:`workers.voices.styled`."""

    def __init__(self, directions: dict[str, np.ndarray] | None) -> None:
        if directions is not None:
            self.prosody_directions = lambda: directions


def test_styled_moves_the_style_or_hands_the_shift_to_psola() -> None:
    from workers.voices import styled

    style = np.zeros((4, 256), np.float32)
    dirs = {"f0_median": np.full(256, 0.1, np.float32), "f0_range": np.full(256, 0.01, np.float32)}
    p = Prosody(style_f0_st=2.0, style_range_st=1.0, f0_shift_st=0.5, f0_range=1.2)
    moved, left = styled(_Engine(dirs), style, p)  # type: ignore[arg-type]
    assert np.allclose(moved, 0.21) and left == p
    same, psola = styled(_Engine(None), style, p)  # type: ignore[arg-type]
    assert same is style
    assert (psola.style_f0_st, psola.style_range_st) == (0.0, 0.0)
    assert psola.f0_shift_st == pytest.approx(2.5) and psola.f0_range == pytest.approx(1.2 * 1.1)
