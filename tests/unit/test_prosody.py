"""voicecast.prosody on synthetic signals whose answers are known."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from voicecast import prosody
from voicecast.evaluation import EVAL_SENTENCES

SR = 24000


def harmonic(f0: np.ndarray | float, seconds: float = 2.0, sr: int = SR, amp: float = 0.3) -> np.ndarray:
    """A glottal-like tone: ten harmonics at 1/k amplitude following ``f0`` (Hz)."""
    n = int(seconds * sr)
    f = np.broadcast_to(np.asarray(f0, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f) / sr
    tone = np.zeros(n)
    for k in range(1, 11):
        tone += np.sin(k * phase) / k
    return (amp * tone / 1.5).astype(np.float32)


def silence(seconds: float, sr: int = SR) -> np.ndarray:
    return np.zeros(int(seconds * sr), dtype=np.float32)


def test_steady_tone_median_f0() -> None:
    for hz in (110.0, 220.0, 330.0):
        f = prosody.features(harmonic(hz), SR)
        assert f["f0_median_hz"] == pytest.approx(hz, rel=0.01)
        assert f["f0_median"] == pytest.approx(12 * math.log2(hz / 100), abs=0.1)
        assert f["f0_range"] < 0.2  # a steady tone has no range
        assert f["voiced_ratio"] > 0.95


def test_glide_range_and_median() -> None:
    # Exponential glide 120 -> 240 Hz over 2 s: linear in semitones, 12 st in all,
    # so the 5-95 % range is 0.9 * 12 = 10.8 st and the median is at 1 s (6 st up).
    t = np.arange(2 * SR) / SR
    f = prosody.features(harmonic(120.0 * 2 ** (t / 2.0)), SR)
    assert f["f0_range"] == pytest.approx(10.8, rel=0.04)
    assert f["f0_median"] == pytest.approx(12 * math.log2(1.2) + 6.0, abs=0.2)
    assert f["f0_median_hz"] == pytest.approx(120.0 * math.sqrt(2), rel=0.02)
    # A falling glide over the same span has the same range and median.
    g = prosody.features(harmonic(240.0 * 2 ** (-t / 2.0)), SR)
    assert g["f0_range"] == pytest.approx(f["f0_range"], abs=0.2)


def test_low_and_high_voices_inside_the_pitch_range() -> None:
    assert prosody.features(harmonic(70.0), SR)["f0_median_hz"] == pytest.approx(70.0, rel=0.02)
    assert prosody.features(harmonic(520.0), SR)["f0_median_hz"] == pytest.approx(520.0, rel=0.02)


def test_white_noise_is_unvoiced() -> None:
    noise = np.random.default_rng(1).standard_normal(2 * SR).astype(np.float32) * 0.1
    f = prosody.features(noise, SR)
    assert f["active_s"] > 1.9
    assert f["voiced_ratio"] < 0.05
    tone = prosody.features(harmonic(200.0) + 0.01 * noise, SR)
    assert tone["voiced_ratio"] > 0.95


def test_rms_follows_gain_and_ignores_silence() -> None:
    # Two tones 10 dB apart: the level is of the mean power, not the mean of frame levels in dB.
    x = np.concatenate([silence(0.5), harmonic(180.0, 1.0), silence(1.0), harmonic(150.0, 1.0, amp=0.095)])
    base = prosody.features(x, SR)
    louder = prosody.features(x * np.float32(10 ** (6 / 20)), SR)
    assert louder["rms"] - base["rms"] == pytest.approx(6.0, abs=0.01)
    # The level is over the active frames only: the 1.5 s of silence does not dilute it.
    tones_only = np.concatenate([harmonic(180.0, 1.0), harmonic(150.0, 1.0, amp=0.095)])
    expected = 10 * math.log10(float(np.mean(np.square(tones_only, dtype=np.float64))))
    assert base["rms"] == pytest.approx(expected, abs=0.1)
    # dBFS with a full-scale square at 0 dB: a sine of amplitude 0.5 is -9.03 dBFS.
    sine = 0.5 * np.sin(2 * np.pi * 200 * np.arange(SR) / SR)
    assert prosody.features(sine, SR)["rms"] == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.01)


def test_active_speech_skips_pauses_but_bridges_short_gaps() -> None:
    # 0.5 s lead, 0.8 s tone, 0.1 s gap (bridged), 0.6 s tone, 0.6 s pause (not), 0.6 s tone, 0.4 s tail.
    x = np.concatenate([silence(0.5), harmonic(200.0, 0.8), silence(0.1), harmonic(200.0, 0.6),
                        silence(0.6), harmonic(200.0, 0.6), silence(0.4)])
    f = prosody.features(x, SR, text="one two three four five six")
    assert f["duration_s"] == pytest.approx(3.6)
    assert f["active_s"] == pytest.approx(0.8 + 0.1 + 0.6 + 0.6, abs=0.03)
    assert f["rate"] == pytest.approx(6 / 2.1, rel=0.02)
    assert f["syllables"] == f["syllables_text"] == 6


def test_syllable_nuclei_counts_voiced_bursts() -> None:
    # Five voiced "syllables" (raised-cosine bursts of 180 ms), a long vowel whose level
    # ripples by +-0.4 dB (one syllable, not one per ripple), and a noise burst (none).
    burst = harmonic(200.0, 0.18) * np.hanning(int(0.18 * SR)).astype(np.float32)
    t = np.arange(int(0.6 * SR)) / SR
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.05)
    vowel = (harmonic(200.0, 0.6) * (1 + 0.05 * np.sin(2 * np.pi * 8 * t)) * ramp).astype(np.float32)
    noise = np.random.default_rng(2).standard_normal(int(0.18 * SR)).astype(np.float32) * 0.05
    parts = [silence(0.3)]
    for _ in range(5):
        parts += [burst, silence(0.08)]
    parts += [vowel, silence(0.3), noise, silence(0.3)]
    x = np.concatenate(parts)
    f = prosody.features(x, SR)
    assert f["syllables_nuclei"] == 6
    assert math.isnan(f["syllables_text"])
    assert f["rate"] == f["nuclei_rate"] == pytest.approx(6 / f["active_s"])
    # With the words given, the rate counts them, and the nuclei rate is still the audio's.
    g = prosody.features(x, SR, text="one two three")
    assert g["rate"] == pytest.approx(3 / f["active_s"]) and g["nuclei_rate"] == f["nuclei_rate"]


def test_syllable_nuclei_of_a_whisper() -> None:
    # Four noise "syllables" and nothing voiced: a whisper's nuclei are unvoiced peaks.
    rng = np.random.default_rng(5)
    env = np.hanning(int(0.2 * SR)).astype(np.float32)
    parts = [silence(0.3)]
    for _ in range(4):
        parts += [rng.standard_normal(env.size).astype(np.float32) * 0.05 * env, silence(0.1)]
    f = prosody.features(np.concatenate(parts + [silence(0.2)]), SR, text="a whispered word")
    assert f["voiced_ratio"] < 0.05
    assert f["syllables_nuclei"] == 4
    assert f["syllables"] == f["syllables_text"] == 4


def test_silence_and_short_input() -> None:
    f = prosody.features(silence(1.0), SR)
    assert f["active_s"] == 0.0 and f["voiced_s"] == 0.0
    assert all(math.isnan(f[k]) for k in ("f0_median", "f0_range", "rate", "rms", "voiced_ratio"))
    # Noise under -55 dBFS is no speech either.
    hiss = np.random.default_rng(3).standard_normal(SR).astype(np.float32) * 1e-4
    assert prosody.features(hiss, SR)["active_s"] == 0.0
    empty = prosody.features(np.zeros(0, np.float32), SR)
    assert all(math.isnan(empty[k]) for k in ("f0_median", "rate", "rms", "voiced_ratio"))
    tiny = prosody.features(harmonic(200.0, 0.02), SR)
    assert math.isnan(tiny["f0_median"])
    # F0 needs 0.2 s of voiced speech: 0.15 s of tone inside noise is too little, 0.4 s is enough.
    hiss = np.random.default_rng(4).standard_normal(2 * SR).astype(np.float32) * 0.05
    for seconds, measured in ((0.15, False), (0.4, True)):
        x = hiss.copy()
        tone = harmonic(200.0, seconds)
        x[SR : SR + tone.size] += tone
        f = prosody.features(x, SR)
        assert f["voiced_ratio"] < 0.25
        assert math.isnan(f["f0_median"]) != measured, seconds
        if measured:
            assert f["f0_median_hz"] == pytest.approx(200.0, rel=0.02)


def test_other_sample_rates_agree() -> None:
    x = harmonic(160.0, 1.5, sr=16000)
    f16 = prosody.features(x, 16000)
    f24 = prosody.features(harmonic(160.0, 1.5), SR)
    assert f16["f0_median_hz"] == pytest.approx(160.0, rel=0.01)
    assert f16["rms"] == pytest.approx(f24["rms"], abs=0.1)


@pytest.mark.parametrize(
    ("word", "n"),
    [
        ("the", 1), ("table", 2), ("little", 2), ("quiet", 2), ("museum", 3), ("tomatoes", 3),
        ("roses", 2), ("stones", 1), ("mailed", 1), ("planted", 2), ("fixed", 1), ("coffee", 2),
        ("bicycle", 3), ("library", 3), ("yellow", 2), ("player", 2), ("going", 2), ("lovely", 2),
        ("radio", 3), ("actual", 3), ("language", 2), ("happier", 3), ("applause", 2), ("people", 2),
        ("nobody", 3), ("expected", 3), ("Saturdays", 3), ("don't", 1), ("", 0),
    ],
)
def test_word_syllables(word: str, n: int) -> None:
    assert prosody.word_syllables(word) == n


def test_count_syllables_sentences() -> None:
    # Counted by hand.
    by_hand = [9, 10, 14, 11, 9, 10, 11, 9, 9, 12, 10, 9, 12, 10, 11, 10, 11, 12, 10, 11]
    assert [prosody.count_syllables(s) for s in EVAL_SENTENCES] == by_hand
    # Numbers are counted as spoken: "twenty-one cats" = 2 + 1 + 1.
    assert prosody.count_syllables("21 cats") == 4


def test_independent_of_world() -> None:
    """The measurement never loads the renderer's vocoder (pyworld)."""
    code = (
        "import sys, numpy as np\n"
        "from voicecast.prosody import features\n"
        "features(np.sin(np.arange(24000) * 0.05).astype('float32'), 24000, 'a test')\n"
        "assert 'pyworld' not in sys.modules, 'pyworld was imported'\n"
        "assert 'parselmouth' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
