"""workers.reference: reference-recording checks, on real files decoded by ffmpeg."""

from __future__ import annotations

import hashlib
import subprocess

import numpy as np
import pytest
import soundfile as sf

from voicecast.errors import ReferenceAudioError
from workers import audio
from workers.reference import REFERENCE_SR, check_reference, clipped_ratio, load_reference


def speechlike(
    seconds: float, sr: int, *, lead: float = 0.3, trail: float = 0.3,
    syl: float = 0.25, gap: float = 0.1, peak: float = 0.5, seed: int = 0,
) -> tuple[np.ndarray, float]:
    """Amplitude-modulated harmonics in syllables with pauses, faint noise throughout.

    Returns the audio and the seconds of syllables in it (the expected speech).
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)  # a moving pitch
    ph = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum((1.0 / k) * np.sin(k * ph) for k in range(1, 8))
    env = np.zeros(n)
    ramp = int(0.015 * sr)
    start, voiced_s = lead, 0.0
    while start + syl <= seconds - trail + 1e-9:
        a, b = int(start * sr), int((start + syl) * sr)
        w = np.ones(b - a)
        w[:ramp] = np.linspace(0, 1, ramp)
        w[-ramp:] = np.linspace(1, 0, ramp)
        env[a:b] = w * (0.6 + 0.4 * rng.random())
        voiced_s += syl
        start += syl + gap
    x = voiced * env
    x = peak * x / np.max(np.abs(x))
    x += 10 ** (-70 / 20) * rng.standard_normal(n)
    return x.astype(np.float32), voiced_s


def write(path, x: np.ndarray, sr: int, subtype: str = "PCM_16"):
    sf.write(path, x, sr, subtype=subtype)
    return path


def test_good_stereo_44k_clip_is_accepted_and_resampled(tmp_path) -> None:
    mono, voiced = speechlike(5.0, 44100)
    stereo = np.stack([mono, 0.9 * mono], axis=1)
    path = write(tmp_path / "voice.wav", stereo, 44100)
    ref = load_reference(path)
    assert ref.sample_rate == REFERENCE_SR == 16000
    assert ref.audio.dtype == np.float32 and ref.audio.ndim == 1
    assert ref.speech_s == pytest.approx(voiced, rel=0.08)
    assert ref.duration_s == pytest.approx(5.0, abs=0.01)
    # trimmed to the syllables (0.3 s to 4.4 s) plus a 0.1 s margin each side
    assert ref.audio.size / 16000 == pytest.approx(4.1 + 0.2, abs=0.03)
    assert ref.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ref.peak_db == pytest.approx(20 * np.log10(0.5 * 0.95), abs=0.3)  # mean of L, R
    assert ref.clipped_ratio == 0.0 and -40 < ref.rms_db < -6


def test_compressed_formats_are_read(tmp_path) -> None:
    mono, voiced = speechlike(5.0, 48000, seed=3)
    wav = write(tmp_path / "v.wav", mono, 48000)
    for ext in ("flac", "mp3"):
        out = tmp_path / f"v.{ext}"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(wav), str(out)], check=True
        )
        ref = load_reference(out)
        assert ref.speech_s == pytest.approx(voiced, rel=0.1)


def test_quiet_but_usable_recording_passes(tmp_path) -> None:
    mono, voiced = speechlike(5.0, 16000, peak=10 ** (-32 / 20))
    ref = load_reference(write(tmp_path / "quiet.wav", mono, 16000))
    assert ref.speech_s == pytest.approx(voiced, rel=0.1)


def test_peak_normalised_loud_speech_is_not_clipped(tmp_path) -> None:
    mono, _ = speechlike(5.0, 44100, peak=1.0, seed=5)
    ref = load_reference(write(tmp_path / "loud.wav", mono, 44100, "FLOAT"))
    assert ref.clipped_ratio < 0.001


def test_hard_clipped_recording_is_rejected(tmp_path) -> None:
    mono, _ = speechlike(5.0, 44100, peak=1.0)
    clipped = np.clip(mono * 3.0, -1.0, 1.0)
    path = write(tmp_path / "clipped.wav", clipped, 44100)
    with pytest.raises(ReferenceAudioError, match="is clipped") as exc:
        load_reference(path)
    assert exc.value.file == str(path) and str(path) in str(exc.value)


def test_one_second_of_speech_is_too_short(tmp_path) -> None:
    burst, voiced = speechlike(1.6, 22050, lead=0.3, trail=0.3, syl=0.25, gap=0.0)
    assert voiced == pytest.approx(1.0)
    path = write(tmp_path / "short.wav", burst, 22050)
    with pytest.raises(ReferenceAudioError, match=r"has 1\.0 s of speech; at least 3\.0 s needed"):
        load_reference(path)
    # the threshold is the caller's
    assert load_reference(path, min_speech_s=0.5).speech_s == pytest.approx(1.0, rel=0.1)


def test_all_zeros_is_silent(tmp_path) -> None:
    path = write(tmp_path / "zeros.wav", np.zeros(5 * 16000, np.float32), 16000)
    with pytest.raises(ReferenceAudioError, match="silent"):
        load_reference(path)


def test_steady_hum_is_not_speech(tmp_path) -> None:
    t = np.arange(5 * 16000) / 16000
    hum = (0.3 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    with pytest.raises(ReferenceAudioError, match="no speech"):
        load_reference(write(tmp_path / "hum.wav", hum, 16000))


def test_text_file_named_wav_is_not_audio(tmp_path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio at all\n" * 20)
    with pytest.raises(ReferenceAudioError, match="is not an audio file ffmpeg can read") as exc:
        load_reference(path)
    assert exc.value.file == str(path)


def test_missing_empty_and_directory(tmp_path) -> None:
    with pytest.raises(ReferenceAudioError, match="not found") as exc:
        load_reference(tmp_path / "nope.wav")
    assert exc.value.file == str(tmp_path / "nope.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ReferenceAudioError, match="empty"):
        load_reference(tmp_path / "empty.wav")
    with pytest.raises(ReferenceAudioError, match="not a file"):
        load_reference(tmp_path)


def test_video_without_audio_stream(tmp_path) -> None:
    path = tmp_path / "silent_video.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10",
         "-t", "1", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    with pytest.raises(ReferenceAudioError, match="has no audio stream"):
        load_reference(path)


def test_zero_length_audio(tmp_path) -> None:
    path = write(tmp_path / "nothing.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(ReferenceAudioError, match="zero length|no audio"):
        load_reference(path)


def test_long_recording_keeps_at_most_max_speech(tmp_path) -> None:
    mono, voiced = speechlike(14.0, 16000, seed=7)
    ref = load_reference(write(tmp_path / "long.wav", mono, 16000), max_speech_s=6.0)
    assert voiced > 9 and 5.0 <= ref.speech_s <= 6.0
    # cut at a pause: the last kept 10 ms are quiet
    assert audio.rms_db(ref.audio[-160:]) < -50
    assert ref.duration_s == pytest.approx(14.0, abs=0.01)


def test_check_reference_is_pure() -> None:
    mono, voiced = speechlike(5.0, 16000)
    chk = check_reference(mono, 16000, source="mem", min_speech_s=3.0, max_speech_s=30.0)
    assert chk.speech_s == pytest.approx(voiced, rel=0.08) and chk.sample_rate == 16000
    with pytest.raises(ReferenceAudioError) as exc:
        check_reference(mono[:16000], 16000, source="mem", min_speech_s=3.0, max_speech_s=30.0)
    assert exc.value.file == "mem"


def test_clipped_ratio_counts_runs_only() -> None:
    x = np.zeros(1000, np.float32)
    x[10] = 1.0  # a lone peak
    x[20:22] = 1.0  # a run of two
    assert clipped_ratio(x) == 0.0
    x[100:110] = -1.0  # a run of ten
    assert clipped_ratio(x) == pytest.approx(0.01)
    st = np.stack([x, np.zeros_like(x)], axis=1)
    assert clipped_ratio(st) == pytest.approx(0.005)
