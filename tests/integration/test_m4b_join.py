"""The M4B joined from per-chapter AAC streams, with real ffmpeg.

- Chapter markers are sample-accurate: each chapter's audio, found in the
  decoded M4B by cross-correlation with its own master, begins exactly at the
  marker ffprobe reads.
- Joins are clean: around every join the joined M4B is as faithful to the
  lossless masters as the old single-pass encode (concatenated masters,
  resampled, one AAC encode), the silence a join adds is silence, and no join
  has a step larger than the single-pass encode's or the source's own.
- In a book job, an edit encodes only its chapter's AAC stream (the others'
  objects are not rewritten) and an unchanged book reuses its M4B: no encode,
  no object written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from audiocheck import speech_like

from orchestrator.output.audiobook import (
    AAC_FRAME,
    audiobook_tags,
    chapter_master,
    level_segment,
    resample_filter,
    write_m4b,
)
from orchestrator.output.bookjob import assemble_book
from orchestrator.output.outline import BookOutline, ChapterOutline
from voicecast.audio import to_wav_bytes
from voicecast.settings import Settings
from voicecast.storage import LocalStore, segment_audio_key

log = logging.getLogger(__name__)

SR = 24000
BITRATE = "64k"
#: (head, tail) room tone of each chapter (s). Short, so that speech is inside the
#: windows looked at around each join; at the last join the third chapter ends
#: mid-word. (Chapters start on room tone: the first frame of any AAC stream codes a
#: word cut at its first sample worse than mid-stream, join or not.)
EDGES = [(0.05, 0.08), (0.05, 0.08), (0.05, 0.0), (0.05, 0.08)]
WINDOW_S = 0.1


def _master(c: int, head_s: float, tail_s: float) -> np.ndarray:
    durations = [0.9 + 0.37 * c, 1.3, 0.8 + 0.11 * c][: 2 + c % 2]
    segs = [level_segment(speech_like(s, seed=10 * c + k, level=0.1), SR, -18.0, -3.5)
            for k, s in enumerate(durations)]
    if tail_s == 0.0:  # ends mid-word, at a zero crossing in its loudest word
        segs[-1] = segs[-1][:_loud_zero_crossing(segs[-1]) + 1]
    master, _ = chapter_master(segs, [0.3] * (len(segs) - 1) + [0.0], SR, head_s=head_s,
                               tail_s=tail_s, tone_db=-72.0)
    return master


def _loud_zero_crossing(x: np.ndarray) -> int:
    """The last sample before a sign change, nearest to ``x``'s largest one."""
    crossings = np.nonzero(np.signbit(x[:-1]) != np.signbit(x[1:]))[0]
    return int(crossings[np.argmin(np.abs(crossings - np.argmax(np.abs(x))))])


def _decode(path: Path, af: str | None = None) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path),
                          *(["-af", af] if af else []), "-ac", "1", "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<f4").astype(np.float64)


def _chapters(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(path)],
                         capture_output=True, check=True).stdout
    chapters: list[dict[str, Any]] = json.loads(out)["chapters"]
    return chapters


def _samples(chapter: dict[str, Any], field: str, rate: int) -> int:
    """A chapter's start or end in samples at ``rate``, from ffprobe's integer and time base."""
    num, den = (int(x) for x in chapter["time_base"].split("/"))
    value = int(chapter[field]) * num * rate
    assert value % den == 0, (chapter, rate)
    return value // den


def _db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x))) + 1e-12))


def _find(haystack: np.ndarray, needle: np.ndarray, around: int, reach: int) -> int:
    """Where ``needle`` sits in ``haystack``: the lag, within ``around`` +- ``reach``,
    of the largest cross-correlation."""
    lo = max(0, around - reach)
    window = haystack[lo:around + reach + needle.size]
    n = 1 << int(np.ceil(np.log2(window.size + needle.size)))
    corr = np.fft.irfft(np.fft.rfft(window, n) * np.conj(np.fft.rfft(needle, n)), n)
    return lo + int(np.argmax(corr[:window.size - needle.size + 1]))


@pytest.fixture(scope="module", params=[24000, 44100], ids=["24k", "44k1"])
def joined(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rate: int = request.param
    d = tmp_path_factory.mktemp(f"join{rate}")
    masters = []
    for c, (head, tail) in enumerate(EDGES):
        masters.append(d / f"master{c}.flac")
        sf.write(masters[-1], _master(c, head, tail), SR, subtype="PCM_24")
    m4b = d / "joined.m4b"
    tags = audiobook_tags(book_title="Joins", author="A. Author", narrator="af_heart")
    starts = write_m4b(masters, [f"Chapter {c + 1}" for c in range(len(masters))], m4b,
                       sample_rate=rate, bitrate=BITRATE, tags=tags)
    # The old way: the whole timeline through one resampler and one AAC encode.
    single = d / "single.m4b"
    listing = d / "masters.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in masters))
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-af", resample_filter(rate), "-ac", "1", "-ar", str(rate), "-c:a", "aac",
                    "-aac_coder", "fast", "-profile:a", "aac_low", "-b:a", BITRATE, "-f", "ipod",
                    str(single)], check=True)
    # Lossless references: each master resampled on its own, and the timeline they make.
    refs = [_decode(p, resample_filter(rate)) for p in masters]
    return {"rate": rate, "m4b": m4b, "starts": starts, "chapters": _chapters(m4b), "joined": _decode(m4b),
            "single": _decode(single), "refs": refs,
            "offsets": np.concatenate(([0], np.cumsum([r.size for r in refs]))).astype(int).tolist()}


def test_markers_are_where_each_chapter_begins(joined: dict[str, Any]) -> None:
    rate, audio, refs = joined["rate"], joined["joined"], joined["refs"]
    markers = [_samples(c, "start", rate) for c in joined["chapters"]]
    assert [c["tags"]["title"] for c in joined["chapters"]] == [f"Chapter {k + 1}" for k in range(4)]
    # What write_m4b returned is what the file says.
    assert [round(s * rate) for s in joined["starts"]] == markers
    # Each chapter ends where the next begins, the last at the end of the decoded audio.
    ends = [_samples(c, "end", rate) for c in joined["chapters"]]
    assert ends[:-1] == markers[1:] and ends[-1] == audio.size
    found = []
    for k, (marker, ref) in enumerate(zip(markers, refs, strict=True)):
        # The chapter's first second (its head and first words), searched for +- 4 frames.
        found.append(_find(audio, ref[:rate], marker, 4 * AAC_FRAME))
        # Nothing of the chapter is lost: it is all there, after its marker, before the next.
        nxt = markers[k + 1] if k + 1 < len(markers) else audio.size
        assert marker + ref.size <= nxt
    log.info("%d Hz: markers %s, chapter audio found at %s", rate, markers, found)
    assert all(abs(f - m) <= 1 for f, m in zip(found, markers, strict=True)), (found, markers)
    # A join adds its padding and one frame of priming: under two frames each.
    added = [m - o for m, o in zip(markers, joined["offsets"], strict=False)]
    assert added[0] == 0
    assert all(0 < b - a < 2 * AAC_FRAME for a, b in zip(added, added[1:], strict=False)), added


def test_joins_are_as_clean_as_a_single_pass_encode(joined: dict[str, Any]) -> None:
    """Around every join (100 ms either side, and the silence the join adds), the
    joined M4B is compared with the lossless timeline, and so is the single-pass
    encode around the same place. The two AAC encodes cannot be compared with each
    other sample by sample: their frames fall at different places, so each carries
    its own coding noise (about -25 dB of the speech here, at 64 kb/s). A join's
    defect (a lost overlap, a frame too many or too few, a misplaced chapter) is an
    error near the speech's own level, or a step."""
    rate, audio, single, refs = joined["rate"], joined["joined"], joined["single"], joined["refs"]
    offsets = joined["offsets"]
    timeline = np.concatenate(refs)
    speech = _db(timeline)
    # The single-pass encode's coding error over the whole book, relative to the speech.
    assert single.size >= timeline.size
    overall = _db(single[:timeline.size] - timeline) - speech
    markers = [_samples(c, "start", rate) for c in joined["chapters"]]
    w = round(WINDOW_S * rate)
    for k in range(1, len(refs)):
        at, end = offsets[k], markers[k - 1] + refs[k - 1].size  # the join; the previous chapter's end
        gap = markers[k] - end
        # What the joined M4B should hold there: the previous chapter's end, silence, the next's start.
        expected = np.concatenate([timeline[at - w:at], np.zeros(gap), timeline[at:at + w]])
        joined_err = _db(audio[end - w:markers[k] + w] - expected) - speech
        single_err = _db(single[at - w:at + w] - timeline[at - w:at + w]) - speech
        silence = _db(audio[end:markers[k]])
        steps = {
            "joined": float(np.abs(np.diff(audio[end - w:markers[k] + w])).max()),
            "single": float(np.abs(np.diff(single[at - w:at + w])).max()),
            "source": float(np.abs(np.diff(timeline[at - w:at + w])).max()),
        }
        log.info("%d Hz join %d: error vs lossless %.1f dB re speech (single pass: %.1f there, %.1f "
                 "overall); %d samples of silence added, at %.1f dBFS; largest steps %s", rate, k,
                 joined_err, single_err, overall, gap, silence, {n: round(v, 4) for n, v in steps.items()})
        # As faithful as the single-pass encode, there or over the whole book (3 dB margin).
        assert joined_err <= max(single_err, overall) + 3.0, (k, joined_err, single_err, overall)
        # No click: no step larger than the single-pass encode's or the source's own,
        # give or take coding noise (0.005, -46 dBFS; a click is tens of times that).
        assert steps["joined"] <= max(steps["single"], steps["source"]) + 0.005, (k, steps)


# --------------------------------------------------------------------------- in a book job


def _segment(store: LocalStore, seconds: float, seed: int) -> str:
    audio = level_segment(speech_like(seconds, seed=seed, level=0.1), SR, -18.0, -3.5)
    data = to_wav_bytes(audio, SR, subtype="FLOAT")
    digest = hashlib.sha256(data).hexdigest()
    store.put_bytes(segment_audio_key(digest), data)
    return digest


def _objects(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_an_edit_encodes_its_chapter_only_and_an_unchanged_book_reuses_its_m4b(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator.output")
    settings = Settings(data_dir=tmp_path / "data")
    store = LocalStore(tmp_path / "objects")
    segments = [SimpleNamespace(idx=i, content_hash=_segment(store, 0.8 + 0.1 * i, seed=i),
                                pause_after_s=0.35) for i in range(9)]
    outline = BookOutline(title="An Edited Book", author="A. Author", chapters=[
        ChapterOutline(title=f"Chapter {c + 1}", first=3 * c, count=3) for c in range(3)])

    def assemble(job: str) -> dict[str, Any]:
        caplog.clear()
        return assemble_book(settings, job, segments, outline, store, "voice profile x v1", SR)

    def lines(text: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if text in r.getMessage()]

    first = assemble("job1")
    assert not first["m4b_reused"] and not any(c["reused"] for c in first["chapters"])
    assert len(lines("encoded chapter AAC")) == 3
    assert first["output"].startswith("deliverables/") and first["output"].endswith(".m4b")
    m4b = tmp_path / "first.m4b"
    store.get_file(first["output"], m4b)
    probed = _chapters(m4b)
    assert [_samples(c, "start", SR) for c in probed] == [round(c["marker_s"] * SR)
                                                          for c in first["chapters"]]

    # The same book again: the M4B is reused, nothing is encoded or written.
    before = _objects(store.root)
    again = assemble("job2")
    assert again["m4b_reused"] and again["output"] == first["output"]
    assert all(c["reused"] for c in again["chapters"])
    assert [c["marker_s"] for c in again["chapters"]] == [c["marker_s"] for c in first["chapters"]]
    assert [c["frames"] for c in again["chapters"]] == [c["frames"] for c in first["chapters"]]
    assert len(lines("reused book.m4b")) == 1
    assert not lines("encoded") and not lines("wrote")
    assert _objects(store.root) == before

    # One sentence of the second chapter edited: only that chapter is encoded.
    segments[4] = SimpleNamespace(idx=4, content_hash=_segment(store, 1.37, seed=99), pause_after_s=0.35)
    before = _objects(store.root)
    edited = assemble("job3")
    assert not edited["m4b_reused"] and edited["output"] != first["output"]
    assert [c["reused"] for c in edited["chapters"]] == [True, False, True]
    kept = [0, 2]
    assert [edited["chapters"][k]["aac"] for k in kept] == [first["chapters"][k]["aac"] for k in kept]
    assert edited["chapters"][1]["aac"] != first["chapters"][1]["aac"]
    [encoded] = lines("encoded chapter AAC")
    assert "ch0001.aac" in encoded  # the second chapter's
    assert len(lines("reused chapter AAC")) == 2
    assert len(lines("wrote")) == 2  # the edited chapter's MP3, and the M4B joined
    after = _objects(store.root)
    for k in kept:  # the unchanged chapters' files were not written again
        for kind in ("master", "mp3", "aac"):
            key = first["chapters"][k][kind]
            assert after[key] == before[key], (k, kind)
    m4b = tmp_path / "edited.m4b"
    store.get_file(edited["output"], m4b)
    probed = _chapters(m4b)
    markers = [_samples(c, "start", SR) for c in probed]
    assert markers == [round(c["marker_s"] * SR) for c in edited["chapters"]]
    # The chapter after the edit moved by whole frames, and is where its marker says.
    shift = markers[2] - round(first["chapters"][2]["marker_s"] * SR)
    assert shift % AAC_FRAME == 0 and shift > 0
    audio = _decode(m4b)
    master = tmp_path / "ch3.flac"
    store.get_file(edited["chapters"][2]["master"], master)
    ref, _ = sf.read(str(master), dtype="float64")
    assert abs(_find(audio, ref[:SR], markers[2], 4 * AAC_FRAME) - markers[2]) <= 1
