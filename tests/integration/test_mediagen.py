"""Self-check of tests/mediagen.py: each generator gives what ffprobe says it should,
and its measurements mean what they claim (real ffmpeg, so an integration test)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from audiocheck import make_srt
from mediagen import (
    IMAGE_SUBTITLE_CODEC,
    SOUNDTRACK_SR,
    TEXT_SUBTITLE_CODEC,
    ImageSubtitleKind,
    VideoContainer,
    audio_tracks,
    decode_stream,
    make_image_subtitle_video,
    make_video,
    probe_json,
    speech_and_tone_soundtrack,
    speech_intervals,
    stream_duration,
    tone_level_db,
    video_packet_md5s,
)

HZ = 997.0


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-12))


def test_soundtrack_speech_over_tone(tmp_path: Path) -> None:
    wav = speech_and_tone_soundtrack(tmp_path / "s.wav", 20.0)
    (a,) = audio_tracks(wav)
    assert (a["channels"], a["sample_rate"]) == (2, SOUNDTRACK_SR)
    assert a["duration"] == pytest.approx(20.0, abs=1e-3)
    spans = speech_intervals(20.0)
    assert len(spans) >= 4 and spans[0][0] > 0 and spans[-1][1] < 20.0
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))
    x = decode_stream(wav, sr=16000)
    tone_rms_db = -20.0 - 3.01  # a sine of peak -20 dBFS
    # speech is where the layout says; the pauses hold the tone alone
    for s0, s1 in spans:
        assert _rms_db(x[int(s0 * 16000): int(s1 * 16000)]) > tone_rms_db + 3
    for (_, b), (c, _) in zip(spans, spans[1:], strict=False):
        assert _rms_db(x[int((b + 0.1) * 16000): int((c - 0.1) * 16000)]) == pytest.approx(
            tone_rms_db, abs=0.1)
    alone = decode_stream(speech_and_tone_soundtrack(tmp_path / "t.wav", 5.0, speech=False))
    assert _rms_db(alone) == pytest.approx(tone_rms_db, abs=0.05)


def test_tone_level_is_narrowband(tmp_path: Path) -> None:
    sr = 16000
    mixed = decode_stream(speech_and_tone_soundtrack(tmp_path / "m.wav", 20.0), sr=sr)
    alone = decode_stream(speech_and_tone_soundtrack(tmp_path / "a.wav", 20.0, speech=False), sr=sr)
    half = decode_stream(speech_and_tone_soundtrack(tmp_path / "h.wav", 20.0,
                                                    tone_db=-20.0 - 6.0206), sr=sr)
    assert tone_level_db(alone, sr, HZ, 0.0, 20.0) == pytest.approx(-20.0, abs=0.05)
    for t0, t1 in speech_intervals(20.0):  # windows full of speech
        ref = tone_level_db(alone, sr, HZ, t0, t1)
        assert abs(tone_level_db(mixed, sr, HZ, t0, t1) - ref) < 1.0
        assert ref - tone_level_db(half, sr, HZ, t0, t1) == pytest.approx(6.02, abs=0.5)
    # a tone that is not there reads far below
    assert tone_level_db(mixed, sr, 1500.0, 0.0, 20.0) < -50


@pytest.mark.parametrize("container", ["mp4", "mov", "mkv", "webm"])
def test_make_video(tmp_path: Path, container: VideoContainer) -> None:
    en, es = tmp_path / "en.srt", tmp_path / "es.srt"
    make_srt(en, ["Hello there.", "This is a test."])
    make_srt(es, ["Hola.", "Esto es una prueba."])
    seconds = 40.0 if container == "mp4" else 12.0
    video = make_video(tmp_path / f"v.{container}", seconds=seconds, container=container,
                       subtitle_streams=[(en, "eng"), (es, "spa")], chapters=True, title="Test clip")
    info = probe_json(video)
    streams = info["streams"]
    v = [s for s in streams if s["codec_type"] == "video"]
    subs = [s for s in streams if s["codec_type"] == "subtitle"]
    assert [s["codec_name"] for s in v] == ["vp9" if container == "webm" else "h264"]
    assert stream_duration(v[0], info["format"]) == pytest.approx(seconds, abs=1 / 25)
    (a,) = audio_tracks(video)
    assert a["codec"] == ("opus" if container == "webm" else "aac")
    assert (a["language"], a["default"], a["channels"]) == ("eng", True, 2)
    assert a["duration"] == pytest.approx(seconds, abs=1 / 25)
    expected_sub = {"mkv": "subrip"}.get(container, TEXT_SUBTITLE_CODEC[container])
    assert [s["codec_name"] for s in subs] == [expected_sub] * 2
    assert [s["tags"]["language"] for s in subs] == ["eng", "spa"]
    assert [c["tags"]["title"] for c in info["chapters"]] == ["Opening", "Middle", "Ending"]
    assert float(info["chapters"][-1]["end_time"]) == pytest.approx(seconds, abs=1e-3)
    assert info["format"]["tags"]["title"] == "Test clip"
    # the audio is the default soundtrack: the tone is there at its level
    x = decode_stream(video, sr=16000)
    assert tone_level_db(x, 16000, HZ, 1.0, seconds - 1.0) == pytest.approx(-20.0, abs=0.3)


def test_make_video_without_audio(tmp_path: Path) -> None:
    video = make_video(tmp_path / "silent.mkv", seconds=4.0, container="mkv", with_audio=False)
    info = probe_json(video)
    assert [s["codec_type"] for s in info["streams"]] == ["video"]
    assert info["chapters"] == [] and audio_tracks(video) == []
    # a given soundtrack is used as is
    tone = speech_and_tone_soundtrack(tmp_path / "tone.wav", 4.0, speech=False, tone_db=-30.0)
    video = make_video(tmp_path / "tone.mp4", seconds=4.0, soundtrack=tone)
    level = tone_level_db(decode_stream(video), 16000, HZ, 0.5, 3.5)
    assert level == pytest.approx(-30.0, abs=0.3)


@pytest.mark.parametrize("kind", ["pgs", "dvd", "dvb"])
def test_image_subtitle_video(tmp_path: Path, kind: ImageSubtitleKind) -> None:
    video = make_image_subtitle_video(tmp_path / f"{kind}.mkv", kind, seconds=8.0, language="fre")
    info = probe_json(video)
    (sub,) = [s for s in info["streams"] if s["codec_type"] == "subtitle"]
    assert sub["codec_name"] == IMAGE_SUBTITLE_CODEC[kind]
    assert sub["tags"]["language"] == "fre"
    # ffmpeg decodes bitmaps from it: the two cues (1.0 s, 4.0 s), each one rectangle
    frames = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "s:0", "-show_entries",
         "subtitle=pts_time,num_rects", "-of", "csv=p=0", str(video)],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    shown = [float(f.split(",")[0]) for f in frames if f.split(",")[1] == "1"]
    assert shown == pytest.approx([1.0, 4.0])


def test_video_packet_md5s_follow_stream_copy(tmp_path: Path) -> None:
    src = make_video(tmp_path / "src.mp4", seconds=4.0)
    remux, reencoded = tmp_path / "remux.mkv", tmp_path / "reencoded.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-map", "0", "-c", "copy", str(remux)],
                   check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-map", "0:v", "-c:v", "libx264",
                    "-preset", "ultrafast", "-crf", "30", str(reencoded)], check=True)
    md5s = video_packet_md5s(src)
    assert len(md5s) == 100 and all(len(h) == 32 for h in md5s)
    assert video_packet_md5s(remux) == md5s
    assert video_packet_md5s(reencoded) != md5s
    assert video_packet_md5s(src, "a:0") != md5s
