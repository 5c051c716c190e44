"""workers.reference: reference-recording checks, on real recordings decoded by ffmpeg.

Real speech comes from examples/reference.wav and Debian's asterisk-core-sounds
prompts (scripts/setup.sh installs them): the voice detector (silero-vad) and
the speaker encoder judge real voices, not synthetic tones.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicecast import audio
from voicecast.errors import ReferenceAudioError
from workers.reference import (
    CLIP_GAP_S,
    REFERENCE_SR,
    SPEAKER_MAX_RATIO_TURN,
    check_reference,
    clipped_ratio,
    load_reference,
    load_references,
)

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "examples" / "reference.wav"  # Allison, 13 s of speech, 16 kHz
SOUNDS = Path("/usr/share/asterisk/sounds")
ALLISON, JUNE = SOUNDS / "en_US_f_Allison", SOUNDS / "fr_CA_f_June"
CARLO, IVR_RU = SOUNDS / "it_IT_m_Carlo", SOUNDS / "ru_RU_f_IvrvoiceRU"


def speech(sr: int = 16000) -> np.ndarray:
    """examples/reference.wav (real speech) at ``sr``."""
    x, file_sr = sf.read(REFERENCE, dtype="float32")
    return audio.resample(x, file_sr, sr)


def clips(folder: Path, seconds: float) -> list[Path]:
    """The first prompts (by name) of one asterisk speaker adding up to ``seconds``
    of audio; single-word folders are not used."""
    out, total = [], 0.0
    for p in sorted(folder.glob("*.g722")):
        if total >= seconds:
            break
        n = p.stat().st_size * 2  # G.722: 4 bits a sample at 16 kHz
        if n / 16000 >= 1.5:
            out.append(p)
            total += n / 16000
    return out


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
    base = load_reference(REFERENCE, check_speakers=False)
    assert 12.0 < base.speech_s < 14.0 and base.clips[0].file == "reference.wav"
    mono = speech(44100)
    stereo = np.stack([mono, 0.9 * mono], axis=1)
    path = write(tmp_path / "voice.wav", stereo, 44100)
    ref = load_reference(path, check_speakers=False)
    assert ref.sample_rate == REFERENCE_SR == 16000
    assert ref.audio.dtype == np.float32 and ref.audio.ndim == 1
    assert ref.speech_s == pytest.approx(base.speech_s, rel=0.03)
    assert ref.duration_s == pytest.approx(base.duration_s, abs=0.01)
    assert ref.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == ref.clips[0].sha256
    assert ref.peak_db == pytest.approx(base.peak_db + 20 * np.log10(0.95), abs=0.3)  # mean of L, R
    assert ref.clipped_ratio == 0.0 and -40 < ref.rms_db < -6


def test_compressed_formats_are_read(tmp_path) -> None:
    wav = write(tmp_path / "v.wav", speech(48000), 48000)
    base = load_reference(wav, check_speakers=False).speech_s
    for ext in ("flac", "mp3"):
        out = tmp_path / f"v.{ext}"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(wav), str(out)], check=True
        )
        ref = load_reference(out, check_speakers=False)
        assert ref.speech_s == pytest.approx(base, rel=0.05)
    # Debian's prompts are raw G.722, read as they are
    assert load_reference(ALLISON / "vm-intro.g722", check_speakers=False).speech_s > 4.5


def test_leading_and_trailing_silence_is_trimmed(tmp_path) -> None:
    x = speech()
    pad = np.zeros(2 * 16000, np.float32)
    ref = load_reference(write(tmp_path / "padded.wav", np.concatenate([pad, x, pad]), 16000),
                         check_speakers=False)
    plain = load_reference(REFERENCE, check_speakers=False)
    assert ref.audio.size == pytest.approx(plain.audio.size, abs=0.25 * 16000)
    assert ref.duration_s == pytest.approx(plain.duration_s + 4.0, abs=0.01)


def test_quiet_but_usable_recording_passes(tmp_path) -> None:
    x = speech()
    quiet = x * (10 ** (-32 / 20) / np.max(np.abs(x)))
    ref = load_reference(write(tmp_path / "quiet.wav", quiet, 16000), check_speakers=False)
    assert ref.speech_s == pytest.approx(load_reference(REFERENCE, check_speakers=False).speech_s,
                                         rel=0.05)


def test_peak_normalised_loud_speech_is_not_clipped(tmp_path) -> None:
    x = speech(44100)
    loud = x / np.max(np.abs(x))
    ref = load_reference(write(tmp_path / "loud.wav", loud, 44100, "FLOAT"), check_speakers=False)
    assert ref.clipped_ratio < 0.001


def test_hard_clipped_recording_is_rejected(tmp_path) -> None:
    mono, _ = speechlike(5.0, 44100, peak=1.0)
    clipped = np.clip(mono * 3.0, -1.0, 1.0)
    path = write(tmp_path / "clipped.wav", clipped, 44100)
    with pytest.raises(ReferenceAudioError, match="is clipped") as exc:
        load_reference(path)
    assert exc.value.file == str(path) and str(path) in str(exc.value)


def test_one_second_of_speech_is_too_short(tmp_path) -> None:
    path = ALLISON / "vm-goodbye.g722"  # "Goodbye!"
    with pytest.raises(ReferenceAudioError, match=r"has 0\.\d s of speech; at least 3\.0 s needed"):
        load_reference(path)
    # the threshold is the caller's
    assert 0.5 < load_reference(path, min_speech_s=0.5).speech_s < 1.0


def test_tones_in_syllables_are_not_speech(tmp_path) -> None:
    """Harmonic syllables with pauses pass the energy checks; the voice detector
    still hears no one speaking."""
    mono, _ = speechlike(5.0, 16000)
    with pytest.raises(ReferenceAudioError, match="has no speech"):
        load_reference(write(tmp_path / "beeps.wav", mono, 16000))
    noise = np.random.default_rng(1).standard_normal(5 * 16000).astype(np.float32) * 0.1
    noise *= np.repeat(np.random.default_rng(2).random(50) > 0.5, 1600)  # bursts
    with pytest.raises(ReferenceAudioError, match="has no speech"):
        load_reference(write(tmp_path / "noise.wav", noise, 16000))


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
    ref = load_reference(REFERENCE, max_speech_s=6.0, check_speakers=False)
    assert 5.0 <= ref.speech_s <= 6.0
    # cut in a pause: the last kept 10 ms are 30 dB under the speech
    assert audio.rms_db(ref.audio[-160:]) < audio.peak_db(ref.audio) - 30
    assert ref.duration_s == pytest.approx(14.21, abs=0.01)


def test_check_reference_is_pure() -> None:
    x = speech()
    chk = check_reference(x, 16000, source="mem", min_speech_s=3.0, max_speech_s=30.0)
    assert 12.0 < chk.speech_s < 14.0 and chk.sample_rate == 16000
    with pytest.raises(ReferenceAudioError) as exc:
        check_reference(x[:16000], 16000, source="mem", min_speech_s=3.0, max_speech_s=30.0)
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


# --------------------------------------------------------------------------- several clips


def test_several_clips_are_joined_in_order_with_their_figures() -> None:
    paths = [ALLISON / "vm-intro.g722", ALLISON / "vm-login.g722", ALLISON / "vm-password.g722"]
    ones = [load_reference(p, min_speech_s=0.5, check_speakers=False) for p in paths]
    ref = load_references(paths)
    assert [c.file for c in ref.clips] == [p.name for p in paths]
    assert [c.sha256 for c in ref.clips] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert ref.sha256 == hashlib.sha256("\n".join(c.sha256 for c in ref.clips).encode()).hexdigest()
    assert ref.speech_s == pytest.approx(sum(o.speech_s for o in ones), abs=0.01)
    assert [c.speech_s for c in ref.clips] == pytest.approx([o.speech_s for o in ones], abs=0.01)
    assert [c.peak_db for c in ref.clips] == pytest.approx([o.peak_db for o in ones])
    gaps = (len(paths) - 1) * int(CLIP_GAP_S * REFERENCE_SR)
    assert ref.audio.size == sum(o.audio.size for o in ones) + gaps
    assert ref.duration_s == pytest.approx(sum(o.duration_s for o in ones))
    assert ref.clips[0].as_dict()["file"] == "vm-intro.g722"
    # one clip: the same reference (and hash) as load_reference
    assert load_references([REFERENCE]).sha256 == load_reference(REFERENCE).sha256


def test_several_clips_keep_the_first_max_speech_seconds() -> None:
    paths = [ALLISON / "vm-intro.g722", ALLISON / "vm-login.g722", REFERENCE]
    ref = load_references(paths, max_speech_s=6.0, check_speakers=False)
    assert 5.0 <= ref.speech_s <= 6.0
    assert ref.clips[0].speech_s > 4.5 and ref.clips[2].speech_s == 0.0  # checked, not used
    assert ref.speech_s == pytest.approx(sum(c.speech_s for c in ref.clips))


def test_several_clips_name_the_bad_one_and_need_enough_speech_together(tmp_path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 20)
    with pytest.raises(ReferenceAudioError, match="is not an audio file") as exc:
        load_references([ALLISON / "vm-intro.g722", text])
    assert exc.value.file == str(text)
    silent = write(tmp_path / "silent.wav", np.zeros(3 * 16000, np.float32), 16000)
    with pytest.raises(ReferenceAudioError, match="is silent") as exc:
        load_references([REFERENCE, silent])
    assert exc.value.file == str(silent)
    clipped = write(tmp_path / "clipped.wav", np.clip(speech() * 4, -1, 1), 16000)
    with pytest.raises(ReferenceAudioError, match="is clipped") as exc:
        load_references([REFERENCE, clipped])
    assert exc.value.file == str(clipped)
    short = [ALLISON / "vm-goodbye.g722", ALLISON / "vm-password.g722"]
    with pytest.raises(ReferenceAudioError, match=r"have 1\.\d s of speech together; at least 3\.0"):
        load_references(short)
    with pytest.raises(ReferenceAudioError, match="no reference clip"):
        load_references([])


# --------------------------------------------------------------------------- one speaker


@pytest.mark.parametrize("folder", [ALLISON, JUNE, CARLO, IVR_RU], ids=lambda p: p.name)
def test_one_speaker_passes(folder) -> None:
    ref = load_references(clips(folder, 20.0))
    assert ref.speech_s > 12


def test_two_speakers_are_rejected_naming_the_other_voice() -> None:
    allison, carlo = clips(ALLISON, 10.0), clips(CARLO, 8.0)
    with pytest.raises(ReferenceAudioError, match="holds more than one voice") as exc:
        load_references(allison + carlo)
    msg = str(exc.value)
    assert f"(in {', '.join(p.name for p in carlo)})" in msg
    assert f"under {SPEAKER_MAX_RATIO_TURN:.2f}" in msg


def test_two_women_one_after_the_other_are_rejected() -> None:
    with pytest.raises(ReferenceAudioError, match="holds more than one voice"):
        load_references(clips(ALLISON, 15.0) + clips(JUNE, 15.0))


def test_two_voices_taking_turns_in_one_file_are_rejected(tmp_path) -> None:
    a = load_references(clips(ALLISON, 12.0), check_speakers=False).audio
    b = load_references(clips(CARLO, 12.0), check_speakers=False).audio
    turn = 6 * 16000
    parts = [x[k : k + turn] for k in range(0, 2 * turn, turn) for x in (a, b)]
    interview = write(tmp_path / "interview.wav", np.concatenate(parts), 16000)
    with pytest.raises(ReferenceAudioError, match="holds more than one voice") as exc:
        load_reference(interview)
    assert exc.value.file == str(interview)


def test_importing_loads_no_model() -> None:
    """The voice detector and the speaker encoder load on first use only."""
    code = ("import sys, workers.tasks, workers.reference, orchestrator.cli; "
            "print(sorted(m for m in ('torch', 'silero_vad', 'resemblyzer') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.strip() == "[]"
