"""Pure audiobook DSP: segment levelling, room tone, chapter-master sample arithmetic,
and the MP3 frame walker of voicecast.acx (no ffmpeg)."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from audiocheck import speech_like
from scipy.signal import resample_poly

from orchestrator.output.audiobook import chapter_master, level_segment, limit_peaks, room_tone
from voicecast.acx import AcxReport, Check, format_report, mp3_is_cbr

SR = 24000


def active_rms_db(x: np.ndarray, sr: int = SR) -> float:
    """The documented definition, re-implemented: 20 ms frames within 30 dB of the
    95th-percentile frame level and above -70 dBFS; RMS over their samples."""
    n = round(sr * 0.02)
    frames = x.size // n
    sq = np.square(x[: frames * n].astype(np.float64)).reshape(frames, n)
    db = 10 * np.log10(np.maximum(sq.mean(axis=1), 1e-20))
    keep = db >= max(np.percentile(db, 95) - 30, -70)
    return 10 * math.log10(sq[keep].mean())


def peak_dbfs(x: np.ndarray) -> float:
    return 20 * math.log10(float(np.max(np.abs(x))))


# --------------------------------------------------------------------------- level_segment


@pytest.mark.parametrize("scale_db", [-30.0, -12.0, 0.0, 6.0])
def test_level_segment_hits_rms_and_respects_peak(scale_db: float) -> None:
    x = speech_like(3.0, seed=1) * np.float32(10 ** (scale_db / 20))
    y = level_segment(x, SR, -18.5, -3.5)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert abs(active_rms_db(y) - (-18.5)) < 0.1
    assert peak_dbfs(y) <= -3.5
    # inter-sample peaks too, as a resampler to 44.1 kHz reconstructs them (scipy's
    # Kaiser filter keeps a slightly different band than the delivery one: 0.2 dB slack)
    assert peak_dbfs(resample_poly(y.astype(np.float64), 147, 80)) <= -3.3


def test_level_segment_limits_transients_and_keeps_rms() -> None:
    x = speech_like(3.0, seed=2)
    rng = np.random.default_rng(3)
    for at in rng.integers(0, x.size - 200, 12):  # plosive-like spikes, far above the speech
        x[at : at + 40] += np.float32(0.9) * np.hanning(40).astype(np.float32)
    gain_only = x * np.float32(10 ** ((-18.5 - active_rms_db(x)) / 20))
    assert peak_dbfs(gain_only) > -3.5  # the limiter has work to do
    y = level_segment(x, SR, -18.5, -3.5)
    assert peak_dbfs(y) <= -3.5
    assert peak_dbfs(resample_poly(y.astype(np.float64), 147, 80)) <= -3.3
    assert abs(active_rms_db(y) - (-18.5)) < 0.1


def test_level_segment_is_deterministic_and_level_independent() -> None:
    x = speech_like(2.0, seed=4)
    a = level_segment(x, SR, -18.5, -3.5)
    assert np.array_equal(a, level_segment(x.copy(), SR, -18.5, -3.5))
    b = level_segment(x * np.float32(0.1), SR, -18.5, -3.5)
    np.testing.assert_allclose(a, b, atol=2e-5)


def test_level_segment_leaves_silence_alone() -> None:
    z = np.zeros(SR, np.float32)
    assert np.array_equal(level_segment(z, SR, -18.5, -3.5), z)


def test_limit_peaks_touches_only_the_neighbourhood_of_peaks() -> None:
    x = (0.1 * np.sin(2 * np.pi * 200 * np.arange(SR) / SR)).astype(np.float32)
    x[SR // 2] = 0.9
    y = limit_peaks(x, -6.0, SR)
    assert np.max(np.abs(y)) <= 10 ** (-6 / 20)
    far = np.r_[0 : SR // 2 - 600, SR // 2 + 600 : SR]
    assert np.array_equal(y[far], x[far])
    assert np.max(np.abs(np.diff(y[SR // 2 - 600 : SR // 2 - 1]))) < 0.05  # no step before the peak


# --------------------------------------------------------------------------- room tone


def test_room_tone_level_and_determinism() -> None:
    n = 3 * SR
    a = room_tone(n, SR, -72.0)
    assert a.dtype == np.float32 and a.size == n
    assert abs(10 * math.log10(np.mean(np.square(a.astype(np.float64)))) + 72.0) < 1.5
    assert np.array_equal(a, room_tone(n, SR, -72.0))
    assert np.array_equal(room_tone(1234, SR, -72.0), a[:1234])  # prefix property
    assert room_tone(0, SR, -72.0).size == 0
    assert np.max(np.abs(a)) < 10 ** (-55 / 20)  # no crackles


def test_room_tone_longer_than_its_loop_is_seamless_and_prefix_stable() -> None:
    long = room_tone(40 * SR, SR, -72.0)
    assert np.array_equal(room_tone(20 * SR, SR, -72.0), long[: 20 * SR])
    full_db = 10 * math.log10(np.mean(np.square(long.astype(np.float64))))
    assert abs(full_db + 72.0) < 0.2
    # no jump at any loop seam: the largest step is like the steps elsewhere
    steps = np.abs(np.diff(long))
    assert steps.max() < 8 * np.percentile(steps, 99.9)


def test_room_tone_sounds_like_a_room_not_hiss() -> None:
    a = room_tone(10 * SR, SR, -72.0).astype(np.float64)
    spec = np.abs(np.fft.rfft(a)) ** 2
    f = np.fft.rfftfreq(a.size, 1 / SR)
    low = spec[(f > 100) & (f < 1000)].mean()
    high = spec[(f > 6000) & (f < 10000)].mean()
    assert 10 * math.log10(low / high) > 25


# --------------------------------------------------------------------------- chapter_master


def test_chapter_master_sample_arithmetic() -> None:
    segs = [np.full(n, 0.1, np.float32) for n in (1000, 2501, 777)]
    # pauses of fractional samples: each rounded on its own
    pauses = [0.35 + 1.4 / SR, 0.9 + 0.6 / SR, 0.35 + 0.4 / SR]
    m, starts = chapter_master(segs, pauses, SR, head_s=0.75, tail_s=2.5, lead_s=0.25, tone_db=-72)
    head = round(1.0 * SR)
    assert starts[0] == head
    for i in range(2):
        assert starts[i + 1] == starts[i] + segs[i].size + round(pauses[i] * SR)
    assert m.size == starts[-1] + segs[-1].size + round(pauses[-1] * SR) + round(2.5 * SR)
    for s, seg in zip(starts, segs, strict=True):
        assert np.array_equal(m[s : s + seg.size], seg)
    assert np.array_equal(m[:head], room_tone(head, SR, -72))
    # cumulative rounding would have drifted by a sample; per-pause rounding does not
    assert starts[2] - starts[0] == 1000 + 2501 + round(pauses[0] * SR) + round(pauses[1] * SR)
    with pytest.raises(ValueError):
        chapter_master(segs, pauses[:2], SR, head_s=0.75, tail_s=2.5, tone_db=-72)


def test_editing_one_segment_leaves_the_rest_identical_shifted() -> None:
    segs = [level_segment(speech_like(d, seed=s), SR, -18.5, -3.5)
            for s, d in ((10, 1.3), (11, 2.1), (12, 0.9), (13, 1.7))]
    pauses = [0.35, 0.9, 0.35, 0.2]
    kw = {"head_s": 0.75, "tail_s": 2.5, "tone_db": -72.0}
    m1, s1 = chapter_master(segs, pauses, SR, **kw)  # type: ignore[arg-type]
    edited = list(segs)
    edited[1] = level_segment(speech_like(2.6137, seed=99), SR, -18.5, -3.5)  # longer line
    m2, s2 = chapter_master(edited, pauses, SR, **kw)  # type: ignore[arg-type]
    shift = edited[1].size - segs[1].size
    assert shift != 0
    assert s2[:2] == s1[:2]
    assert [b - a for a, b in zip(s1[2:], s2[2:], strict=True)] == [shift, shift]
    assert np.array_equal(m2[: s1[1]], m1[: s1[1]])  # before the edit: identical
    assert np.array_equal(m2[s2[2] :], m1[s1[2] :])  # after it: identical, shifted
    assert m2.size - m1.size == shift
    # the pause after the edited segment is the same tone
    gap = round(0.9 * SR)
    assert np.array_equal(m2[s2[2] - gap : s2[2]], m1[s1[2] - gap : s1[2]])


# --------------------------------------------------------------------------- acx helpers


def _frame(kbps: int, *, pad: int = 0, payload: bytes = b"") -> bytes:
    """One MPEG-1 Layer III mono 44.1 kHz frame header plus filler to its length."""
    idx = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320).index(kbps)
    h = (0x7FF << 21) | (3 << 19) | (1 << 17) | (1 << 16) | (idx << 12) | (0 << 10) | (pad << 9) | (3 << 6)
    length = 144 * kbps * 1000 // 44100 + pad
    body = payload + bytes(length - 4 - len(payload))
    return struct.pack(">I", h) + body


def test_mp3_frame_walker() -> None:
    info = _frame(192, payload=bytes(17) + b"Info")
    xing = _frame(192, payload=bytes(17) + b"Xing")
    cbr = info + b"".join(_frame(192, pad=k % 2) for k in range(20))
    assert mp3_is_cbr(cbr) is True
    assert mp3_is_cbr(cbr + b"TAG" + bytes(125)) is True
    assert mp3_is_cbr(xing + _frame(192) * 5) is False
    assert mp3_is_cbr(_frame(192) * 3 + _frame(128) + _frame(192)) is False
    assert mp3_is_cbr(_frame(192) * 3 + b"garbage" + _frame(192)) is None
    assert mp3_is_cbr(b"") is None
    id3 = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(10)
    assert mp3_is_cbr(id3 + cbr) is True


def test_report_verdict_and_table() -> None:
    checks = (Check("rms", -20.0, "-23 to -18 dB", True), Check("peak", -1.2, "<= -3 dB", False))
    r = AcxReport("x.mp3", 10.0, 44100, 1, "mp3", 192000, True, -20.0, -1.2, -70.0, 0.7, 2.0, checks)
    assert not r.ok and r.failed == ("peak",)
    d = r.as_dict()
    assert d["ok"] is False and d["checks"][1]["name"] == "peak"
    text = format_report(r)
    assert "PASS" in text and "FAIL: peak" in text and "-1.2 dB" in text
