"""voicecast.audio: levels, trimming, VAD, padding, resampling, WAV I/O, time-stretch."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from audiocheck import dominant_hz, syllables

from voicecast import audio, media

SR = 24000


def tone(freq: float, seconds: float, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- levels ---------------------------------------------------------------------------


def test_levels_of_a_sine() -> None:
    x = tone(440, 1.0, amp=0.5)
    assert audio.peak_db(x) == pytest.approx(-6.02, abs=0.05)
    assert audio.rms_db(x) == pytest.approx(-9.03, abs=0.05)


def test_levels_of_silence_and_empty_are_finite() -> None:
    assert audio.peak_db(np.zeros(100, np.float32)) == audio.SILENCE_DB
    assert audio.rms_db(np.zeros(0, np.float32)) == audio.SILENCE_DB


def test_rejects_multichannel() -> None:
    with pytest.raises(ValueError):
        audio.rms_db(np.zeros((10, 2), np.float32))


def test_frame_energy_db_frames_and_partial_last_frame() -> None:
    x = np.concatenate([np.zeros(SR // 10, np.float32), tone(300, 0.105, amp=0.5)])
    db = audio.frame_energy_db(x, SR, frame_ms=10)
    assert db.size == 21  # 10 silent frames, 10 full tone frames, one partial
    assert np.all(db[:10] == audio.SILENCE_DB)
    assert np.all(np.abs(db[10:] + 9.03) < 0.6)


# --- bounds and trimming --------------------------------------------------------------


def test_speech_bounds_absolute_and_relative() -> None:
    lead, body, trail = SR // 5, tone(200, 0.5, amp=0.5), SR // 4
    x = np.concatenate([np.zeros(lead, np.float32), body, np.zeros(trail, np.float32)])
    first, last = audio.speech_bounds(x, SR, -40.0)
    assert first <= lead + 2 and last >= lead + body.size - 3
    # -3 dB below a 0.5 peak (-9 dBFS absolute): only the crests count, still within the tone
    rel = audio.speech_bounds(x, SR, -3.0, relative=True)
    assert rel is not None and lead <= rel[0] < lead + SR // 200
    assert audio.speech_bounds(x * 0.001, SR, -40.0) is None  # all below -40 dBFS


def test_speech_bounds_ignores_clicks() -> None:
    x = np.zeros(SR, np.float32)
    x[100] = 0.9  # one-sample click well before the speech
    x[SR // 2 : SR // 2 + SR // 5] = tone(200, 0.2)
    first, last = audio.speech_bounds(x, SR, -40.0)
    assert first >= SR // 2
    assert audio.speech_bounds(x, SR, -40.0, min_run_ms=0) == (100, last)


def test_trim_silence_counts_and_keep() -> None:
    lead, trail = 4800, 7200
    body = tone(200, 0.5)
    x = np.concatenate([np.zeros(lead, np.float32), body, np.zeros(trail, np.float32)])
    y, (cut_lead, cut_trail) = audio.trim_silence(x, SR, -40.0)
    assert cut_lead + y.size + cut_trail == x.size
    assert abs(cut_lead - lead) <= 2 and abs(cut_trail - trail) <= 2
    y2, (l2, t2) = audio.trim_silence(x, SR, -40.0, keep_ms=10)
    assert y2.size == y.size + 2 * 240 and l2 == cut_lead - 240 and t2 == cut_trail - 240
    empty, (l3, t3) = audio.trim_silence(np.zeros(50, np.float32), SR)
    assert empty.size == 0 and (l3, t3) == (50, 0)


def test_active_speech_seconds_counts_bursts_not_pauses() -> None:
    # three 0.5 s bursts separated by 0.5 s of faint noise
    rng = np.random.default_rng(1)
    parts = []
    for _ in range(3):
        parts += [0.001 * rng.standard_normal(SR // 2).astype(np.float32), tone(180, 0.5, amp=0.3)]
    x = np.concatenate(parts)
    assert audio.active_speech_seconds(x, SR) == pytest.approx(1.5, abs=0.03)
    assert audio.active_speech_seconds(np.zeros(SR, np.float32), SR) == 0.0
    # quieter than the absolute floor: nothing, however it is scaled relative to itself
    assert audio.active_speech_seconds(x * 1e-3, SR) == 0.0


# --- pad, cut, fade ---------------------------------------------------------------------


def test_pad_or_cut() -> None:
    x = np.ones(1000, np.float32)
    padded = audio.pad_or_cut(x, 1500)
    assert padded.size == 1500 and padded[:1000].min() == 1 and not padded[1000:].any()
    cut = audio.pad_or_cut(x, 600, fade_ms=10, sr=SR)  # 240-sample fade-out
    assert cut.size == 600
    assert cut[0] == 1 and cut[-1] == 0 and cut[359] == 1 and 0 < cut[480] < 1
    assert np.array_equal(audio.pad_or_cut(x, 1000), x)
    assert audio.pad_or_cut(x, 10, fade_ms=0).min() == 1
    with pytest.raises(ValueError):
        audio.pad_or_cut(x, -1)


def test_fade_in_and_out() -> None:
    y = audio.fade(np.ones(SR, np.float32), SR, in_ms=10, out_ms=20)
    assert y[0] == 0 and y[-1] == 0 and y[240] == 1 and y[SR - 481] == 1
    assert np.all(np.diff(y[:240]) > 0)
    assert audio.fade(np.ones(10, np.float32), SR, in_ms=100).size == 10  # fade shortened


# --- resampling and WAV I/O ---------------------------------------------------------------


def test_resample_keeps_frequency() -> None:
    x = tone(1000, 1.0, sr=44100)
    y = audio.resample(x, 44100, 16000)
    assert y.dtype == np.float32 and y.size == 16000
    assert dominant_hz(y, 16000) == pytest.approx(1000, abs=2)
    assert audio.resample(x, 44100, 44100).size == x.size


@pytest.mark.parametrize("subtype,tol", [("PCM_16", 1e-4), ("FLOAT", 0.0)])
def test_wav_roundtrip(tmp_path, subtype: str, tol: float) -> None:
    x = tone(300, 0.25)
    path = tmp_path / "x.wav"
    audio.write_wav(path, x, SR, subtype=subtype)
    y, sr = audio.read_wav(path)
    assert sr == SR and y.dtype == np.float32 and y.size == x.size
    assert np.max(np.abs(y - x)) <= tol


def test_wav_bytes_roundtrip() -> None:
    x = tone(300, 0.25)
    data = audio.to_wav_bytes(x, SR)
    assert data[:4] == b"RIFF"
    y, sr = audio.from_wav_bytes(data)
    assert sr == SR and y.size == x.size and np.max(np.abs(y - x)) < 1e-4
    y2, _ = audio.from_wav_bytes(audio.to_wav_bytes(x, SR, subtype="FLOAT"))
    assert np.array_equal(y2, x)


def test_read_wav_downmixes_stereo(tmp_path) -> None:
    import soundfile as sf

    st = np.stack([tone(300, 0.1), np.zeros(2400, np.float32)], axis=1)
    sf.write(tmp_path / "s.wav", st, SR, subtype="FLOAT")
    y, _ = audio.read_wav(tmp_path / "s.wav")
    assert y.ndim == 1 and np.allclose(y, st[:, 0] / 2)


# --- time-stretch ---------------------------------------------------------------------------


# Real stretches (Rubber Band runs): tests/integration/test_stretch.py.


def test_stretch_near_one_does_not_run_the_tool(monkeypatch) -> None:
    def boom(*a, **k):  # pragma: no cover - must not be called
        raise AssertionError("rubberband should not run")

    monkeypatch.setattr(subprocess, "run", boom)
    x = syllables(1.0)
    y = audio.stretch(x, SR, x.size + 20)  # ratio 1.0008
    assert y.size == x.size + 20
    b = audio.speech_bounds(y, SR, -40.0)
    bx = audio.speech_bounds(x, SR, -40.0)
    # the speech itself got longer (varispeed), not just padded
    assert (b[1] - b[0]) - (bx[1] - bx[0]) >= 15
    assert audio.stretch(x, SR, x.size).size == x.size
    assert np.array_equal(audio.stretch(x[:0], SR, 50), np.zeros(50, np.float32))


def test_stretch_failure_is_a_clear_error(monkeypatch, tmp_path) -> None:
    fake = tmp_path / "rubberband"
    fake.write_text("#!/bin/sh\necho 'bad things' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(media.shutil, "which", lambda name: str(fake))
    with pytest.raises(RuntimeError, match="rubberband exited with 3: bad things"):
        audio.stretch(syllables(0.5), SR, SR)
    monkeypatch.setattr(media.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="not found"):
        audio.stretch(syllables(0.5), SR, SR)


def _stand_in(tmp_path, monkeypatch, body: str) -> None:
    """A ``rubberband`` script first on PATH (looked up at each call)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "rubberband"
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_a_hung_tool_is_killed_retried_once_then_named(monkeypatch, tmp_path) -> None:
    runs = tmp_path / "runs"
    _stand_in(tmp_path, monkeypatch, f"echo run >> {runs}\nsleep 30\n")  # a child of the script: killed too
    with pytest.raises(media.ToolTimeout, match=r"rubberband did not finish within 0.5 s \(2 attempts\)"):
        media.run_tool("rubberband", ["x"], timeout_s=0.5)
    assert runs.read_text().count("run") == media.TOOL_ATTEMPTS == 2


def test_a_tool_that_hangs_once_succeeds_on_its_second_run(monkeypatch, tmp_path) -> None:
    mark = tmp_path / "hung-once"
    _stand_in(tmp_path, monkeypatch,
              f"if [ ! -e {mark} ]; then touch {mark}; sleep 30; fi\necho done\n")
    proc = media.run_tool("rubberband", [], timeout_s=0.5)
    assert proc.returncode == 0 and proc.stdout == b"done\n"
