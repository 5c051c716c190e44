"""Audiobook deliverables with real ffmpeg: chapter MP3s and an M4B built from synthetic
speech-like chapter masters, checked with ffprobe and ffmpeg's own analysis filters
(astats, silencedetect) as an independent measurement next to voicecast.acx."""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from audiocheck import speech_like

from orchestrator.output.audiobook import (
    audiobook_tags,
    chapter_master,
    encode_chapter_mp3,
    has_soxr,
    level_segment,
    resample_filter,
    write_m4b,
)
from voicecast.acx import format_report, measure_acx
from voicecast.errors import InputError
from voicecast.level import DELIVERY_CUTOFF
from voicecast.media import run_ffmpeg

log = logging.getLogger(__name__)

SR = 24000
TITLES = ["Chapter One", "Chapter Two: The Return", "Chapter Three; Endings"]


def book_tags(**kw: Any) -> dict[str, str]:
    return audiobook_tags(book_title="A Synthetic Test Book", author="Ada Author", narrator="af_heart", **kw)


def tiny_png() -> bytes:
    """An 8x8 red PNG, built by hand (no image library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def ffprobe(path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-show_streams",
         "-of", "json", str(path)], capture_output=True, check=True)
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def ffmpeg_stderr(*args: str) -> str:
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", *args], capture_output=True, check=True)
    return proc.stderr.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("book")
    masters: list[Path] = []
    mp3s: list[Path] = []
    for c, title in enumerate(TITLES):
        # lengths that are not whole milliseconds, so chapter starts fall between ticks
        durations = [1.61237, 2.40411, 1.10093, 2.91717, 1.80029, 2.20361][: 4 + c]
        segs = [level_segment(speech_like(s, seed=100 * c + k, level=0.05 * (k + 1)), SR, -18.5, -3.5)
                for k, s in enumerate(durations)]
        pauses = [0.9 if k % 3 == 2 else 0.35 for k in range(len(segs))]
        master, _ = chapter_master(segs, pauses, SR, head_s=0.75, tail_s=2.5, tone_db=-72.0)
        wav = d / f"chapter{c + 1:02d}.wav"
        sf.write(wav, master, SR, subtype="FLOAT")
        masters.append(wav)
        mp3 = d / f"chapter{c + 1:02d}.mp3"
        encode_chapter_mp3(wav, mp3, tags=book_tags(
            chapter_title=title, track=c + 1, total=len(TITLES)))
        mp3s.append(mp3)
    m4b = d / "book.m4b"
    starts = write_m4b(masters, TITLES, m4b, sample_rate=44100, bitrate="96k",
                       tags=book_tags(), cover=tiny_png(), cover_type="image/png")
    return {"dir": d, "masters": masters, "mp3s": mp3s, "m4b": m4b, "starts": starts}


def _ffmpeg_built_with_soxr() -> bool:
    """Independently of has_soxr(): ffmpeg's own build configuration."""
    conf = subprocess.run(["ffmpeg", "-hide_banner", "-buildconf"], capture_output=True, text=True,
                          check=True).stdout
    return "--enable-libsoxr" in conf


def _resample(wav: Path, filt: str) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(wav), "-af", filt,
                          "-f", "f32le", "-ac", "1", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4")


def test_soxr_is_used_when_available(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    available = _ffmpeg_built_with_soxr()
    has_soxr.cache_clear()
    try:
        # Detection agrees with the build, and the delivery filter follows it.
        assert has_soxr() is available
        used = resample_filter(44100)
        assert ("resampler=soxr" in used) is available
        # What is delivered is soxr's output, not the fallback's: resampling white noise
        # with the delivery filter gives exactly what soxr gives and differs from swr.
        wav = tmp_path / "noise.wav"
        sf.write(wav, np.random.default_rng(7).uniform(-0.5, 0.5, SR).astype(np.float32), SR,
                 subtype="FLOAT")
        out = _resample(wav, used)
        swr = _resample(wav, f"aresample=44100:filter_size=128:phase_shift=12:cutoff={DELIVERY_CUTOFF}")
        if available:
            soxr = _resample(wav, f"aresample=44100:resampler=soxr:precision=28:cutoff={DELIVERY_CUTOFF}")
            assert np.array_equal(out, soxr)
            assert out.size == swr.size and np.abs(out - swr).max() > 1e-4
        else:
            assert np.array_equal(out, swr)
        # An ffmpeg without soxr (a stand-in first on PATH that refuses it) gets the fallback.
        real = subprocess.run(["which", "ffmpeg"], capture_output=True, text=True, check=True).stdout.strip()
        stand_in = tmp_path / "bin" / "ffmpeg"
        stand_in.parent.mkdir()
        stand_in.write_text(f'#!/bin/sh\ncase "$*" in *resampler=soxr*) echo "no soxr" >&2; exit 1;; esac\n'
                            f'exec {real} "$@"\n')
        stand_in.chmod(0o755)
        monkeypatch.setenv("PATH", f"{stand_in.parent}:{os.environ['PATH']}")
        has_soxr.cache_clear()
        assert has_soxr() is False
        assert "soxr" not in resample_filter(44100)
    finally:
        monkeypatch.undo()
        has_soxr.cache_clear()


def test_mp3_format_and_tags(book: dict[str, Any]) -> None:
    for n, mp3 in enumerate(book["mp3s"], start=1):
        info = ffprobe(mp3)
        (stream,) = info["streams"]
        assert stream["codec_name"] == "mp3"
        assert stream["sample_rate"] == "44100"
        assert stream["channels"] == 1
        assert stream["bit_rate"] == "192000"
        tags = info["format"]["tags"]
        assert tags["title"] == TITLES[n - 1]
        assert tags["artist"] == tags["album_artist"] == "Ada Author"
        assert tags["album"] == "A Synthetic Test Book"
        assert tags["composer"] == "af_heart"
        assert tags["genre"] == "Audiobook"
        assert tags["track"] == f"{n}/3"
        assert "synthetic" in tags["comment"].lower()
        assert tags["SYNTHETIC_SPEECH"] == "true"
        head = mp3.read_bytes()[:2048]
        assert head.startswith(b"ID3\x03")
        assert b"COMM" in head and b"TXXX" in head and b"SYNTHETIC_SPEECH" in head
    assert not list(book["dir"].glob(".*part"))  # no half-written files left behind


def test_m4b_chapters_tags_and_cover(book: dict[str, Any]) -> None:
    info = ffprobe(book["m4b"])
    frames = [sf.info(str(p)).frames for p in book["masters"]]
    cumulative = np.concatenate(([0], np.cumsum(frames)))[:-1] / SR
    chapters = info["chapters"]
    assert [c["tags"]["title"] for c in chapters] == TITLES
    probed = np.array([float(c["start_time"]) for c in chapters])
    err_returned = np.abs(probed - np.array(book["starts"]))
    # Each join adds the chapter's padding to whole AAC frames and the next chapter's
    # priming frame: under two frames (2048 samples at 44.1 kHz) of silence per join.
    added = probed - cumulative
    log.info("chapter starts %s; max error vs returned %.6f s; silence added before each %s s",
             probed.tolist(), err_returned.max(), added.tolist())
    assert err_returned.max() <= 1e-6
    assert added[0] == 0 and np.all(np.diff(added) > 0) and np.all(np.diff(added) < 2048 / 44100)
    # The audio is all there: the last chapter ends where the decoded audio does.
    decoded = len(run_ffmpeg(["-v", "error", "-i", str(book["m4b"]), "-f", "s16le", "-ac", "1", "-"])) // 2
    assert round(float(chapters[-1]["end_time"]) * 44100) == decoded
    assert 0 < decoded / 44100 - sum(frames) / SR < len(frames) * 2048 / 44100
    assert abs(float(info["format"]["duration"]) - decoded / 44100) <= 0.001

    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 1
    assert audio[0]["codec_name"] == "aac" and audio[0]["profile"] == "LC"
    assert audio[0]["sample_rate"] == "44100" and audio[0]["channels"] == 1
    pics = [s for s in info["streams"] if s.get("disposition", {}).get("attached_pic")]
    assert len(pics) == 1 and pics[0]["codec_name"] == "png"

    tags = info["format"]["tags"]
    assert tags["title"] == tags["album"] == "A Synthetic Test Book"
    assert tags["artist"] == "Ada Author"
    assert tags["genre"] == "Audiobook"
    assert "synthetic" in tags["comment"].lower()
    assert info["format"]["format_name"].startswith("mov")


def _astats(path: Path) -> tuple[float, float]:
    err = ffmpeg_stderr("-i", str(path), "-af",
                        "astats=measure_overall=RMS_level+Peak_level:measure_perchannel=none",
                        "-f", "null", "-")
    overall = err[err.rindex("Overall"):]
    rms = float(re.search(r"RMS level dB: (-?[\d.]+)", overall).group(1))  # type: ignore[union-attr]
    peak = float(re.search(r"Peak level dB: (-?[\d.]+)", overall).group(1))  # type: ignore[union-attr]
    return rms, peak


def _silences(path: Path) -> tuple[float, float]:
    """Leading and trailing silence (s) by silencedetect at -50 dB, 0.3 s."""
    err = ffmpeg_stderr("-i", str(path), "-af", "silencedetect=noise=-50dB:d=0.3", "-f", "null", "-")
    starts = [float(x) for x in re.findall(r"silence_start: (-?[\d.]+)", err)]
    ends = [float(x) for x in re.findall(r"silence_end: (-?[\d.]+)", err)]
    assert starts and abs(starts[0]) < 0.05, "no leading silence"
    # silencedetect closes a silence that runs to the end of the file at EOF
    assert len(ends) == len(starts), "no trailing silence"
    lead = ends[0]
    trail = ends[-1] - starts[-1]
    return lead, trail


def test_mp3s_pass_acx_and_an_independent_measurement_agrees(book: dict[str, Any]) -> None:
    for mp3 in book["mp3s"]:
        r = measure_acx(mp3)
        log.info("%s", format_report(r))
        assert r.ok, format_report(r)
        assert r.cbr is True and r.bitrate == 192000 and r.sample_rate == 44100
        json.dumps(r.as_dict())  # JSON-ready: plain Python numbers, no numpy scalars

        rms, peak = _astats(mp3)
        lead, trail = _silences(mp3)
        log.info("%s: astats RMS %.2f dB peak %.2f dB; silencedetect lead %.3f s trail %.3f s "
                 "(acx: rms %.2f peak %.2f head %.3f tail %.3f noise %.2f)", mp3.name, rms, peak,
                 lead, trail, r.rms_db, r.peak_db, r.head_s, r.tail_s, r.noise_floor_db)
        assert -23.0 <= rms <= -18.0 and peak <= -3.0
        assert abs(rms - r.rms_db) < 0.2 and abs(peak - r.peak_db) < 0.2
        assert 0.5 <= lead <= 1.0 and 1.0 <= trail <= 5.0
        assert abs(lead - r.head_s) < 0.05 and abs(trail - r.tail_s) < 0.1


def test_acx_fails_a_bad_file_naming_the_checks(tmp_path: Path) -> None:
    loud = level_segment(speech_like(4.0, seed=7), SR, -9.0, -0.1)  # too loud, no head tone
    master = np.concatenate([loud, np.zeros(SR * 2, np.float32)])  # and a digital-silence tail
    wav = tmp_path / "bad.wav"
    sf.write(wav, master, SR, subtype="FLOAT")
    mp3 = tmp_path / "bad.mp3"
    encode_chapter_mp3(wav, mp3, tags=book_tags(chapter_title="Bad"))
    r = measure_acx(mp3)
    text = format_report(r)
    assert not r.ok
    assert {"rms", "peak", "head_room_tone"} <= set(r.failed), text
    assert "noise_floor" not in r.failed and "cbr" not in r.failed
    assert "FAIL" in text and "head_room_tone" in text.split("FAIL:")[-1]

    vbr = tmp_path / "vbr.mp3"
    run_ffmpeg(["-v", "error", "-i", str(wav), "-ar", "44100", "-c:a", "libmp3lame", "-q:a", "4", str(vbr)])
    rv = measure_acx(vbr)
    assert rv.cbr is False and "cbr" in rv.failed

    wav_report = measure_acx(wav)
    assert "format" in wav_report.failed


def test_measure_acx_rejects_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        measure_acx(tmp_path / "missing.mp3")
    assert e.value.file == str(tmp_path / "missing.mp3")
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(InputError) as e2:
        measure_acx(junk)
    assert e2.value.file == str(junk)
