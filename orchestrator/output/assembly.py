"""Assembly: place every rendered segment at its start time, normalise loudness,
encode, and publish the output and the fit report.

The timeline is built by ffmpeg's concat demuxer from a list of segment files
and exact-length silences, so a job of thousands of segments is one input list,
not a filter graph with thousands of inputs; the list is read by both loudness
passes directly (no track-length file), and silence is copies of one short
file, so a track's length costs neither memory nor disk. Loudness is two-pass EBU R128
``loudnorm`` (measure, then apply linearly with the measured values).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg  # ffmpeg-python: builds argument lists; voicecast.media runs them

from voicecast.audio import pad_or_cut, read_wav, write_wav
from voicecast.media import run_ffmpeg_stderr, run_stream
from voicecast.settings import LoudnessSettings
from voicecast.timing import STAGES

log = logging.getLogger(__name__)

#: Output container/codec by file extension.
OUTPUT_FORMATS: dict[str, dict[str, Any]] = {
    ".wav": {"acodec": "pcm_s16le"},
    ".flac": {"acodec": "flac"},
    ".mp3": {"acodec": "libmp3lame", "audio_bitrate": "192k"},
    ".m4a": {"acodec": "aac", "audio_bitrate": "192k", "movflags": "+faststart"},
    ".aac": {"acodec": "aac", "audio_bitrate": "192k", "f": "adts"},
}


@dataclass(frozen=True)
class Clip:
    """One rendered segment to place: where it may start and how far it may run."""

    idx: int
    key: str
    start_s: float
    limit_s: float  # absolute time it must not pass (next cue start / track end)


@dataclass(frozen=True)
class Placement:
    idx: int
    key: str
    start: int  # samples
    limit: int  # samples: the clip is cut to end here at the latest


def plan_timeline(clips: Sequence[Clip], sample_rate: int, total_s: float) -> tuple[list[Placement], int]:
    """Sample positions for every clip, in order, none overlapping the next.

    Raises ValueError when clips are out of order or start past the track end:
    assembly must never guess.
    """
    total = round(total_s * sample_rate)
    out: list[Placement] = []
    ordered = sorted(clips, key=lambda c: (c.start_s, c.idx))
    for i, c in enumerate(ordered):
        start = round(c.start_s * sample_rate)
        nxt = round(ordered[i + 1].start_s * sample_rate) if i + 1 < len(ordered) else total
        limit = min(round(c.limit_s * sample_rate), nxt, total)
        if start >= total:
            raise ValueError(f"segment {c.idx + 1} starts at {c.start_s:.3f}s, past the track end")
        if out and start < out[-1].start:
            raise ValueError(f"segment {c.idx + 1} is out of order")
        out.append(Placement(c.idx, c.key, start, max(limit, start)))
    return out, total


def sequential_clips(segments: Sequence[Any], head_s: float, pause_s: float,
                     tail_s: float) -> tuple[list[Clip], float]:
    """Clips for slot-less lines (a plain script), one after another: ``head_s``
    of silence, each line at its rendered length (``final_s``) followed by
    ``pause_s`` plus its own extra pause (``pause_after_s``, from a script's
    ``[pause:S]``), and ``tail_s`` after the last. Returns the clips and the
    track length in seconds. Starts are rounded to whole samples by the
    timeline, so they never drift."""
    clips: list[Clip] = []
    t = head_s
    extra = 0.0
    for k, g in enumerate(sorted(segments, key=lambda g: g.idx)):
        if g.final_s is None:
            raise ValueError(f"segment {g.idx + 1} has no rendered length")
        if k:
            t += pause_s + extra
        clips.append(Clip(g.idx, g.audio_key, t, t + float(g.final_s)))
        t += float(g.final_s)
        extra = float(getattr(g, "pause_after_s", 0.0) or 0.0)
    return clips, t + extra + tail_s


#: Silence is written as whole copies of one file of this many seconds, plus
#: one short file for the rest, so a gap of hours costs a line per copy in the
#: concat list and never a buffer or a file of its length.
SILENCE_CHUNK_S = 10


def _silence_file(path: Path, n: int, sr: int) -> Path:
    import numpy as np

    write_wav(path, np.zeros(n, np.float32), sr)
    return path


class _Silences:
    """Exact-length silences for the concat list, from one shared chunk file."""

    def __init__(self, workdir: Path, sample_rate: int) -> None:
        self.workdir, self.sr = workdir, sample_rate
        self.chunk = SILENCE_CHUNK_S * sample_rate
        self._chunk_file: Path | None = None

    def entries(self, name: str, n: int) -> list[Path]:
        """Files that play ``n`` samples of silence in a row."""
        whole, rest = divmod(n, self.chunk)
        out: list[Path] = []
        if whole:
            if self._chunk_file is None:
                self._chunk_file = _silence_file(self.workdir / "silence.wav", self.chunk, self.sr)
            out += [self._chunk_file] * whole
        if rest:
            out.append(_silence_file(self.workdir / f"{name}.wav", rest, self.sr))
        return out


def build_timeline(
    placements: Sequence[Placement], total: int, sample_rate: int,
    fetch: Callable[[str, Path], None], workdir: Path,
) -> Path:
    """Lay out the whole track and return it as an ffmpeg concat list (an
    ``.ffconcat`` file that :func:`measure_loudness` and :func:`encode` read
    as one input): each segment's WAV and exact-length silences between them.

    Nothing of the track's length is held in memory or written whole: a gap
    is copies of one short silence file (:data:`SILENCE_CHUNK_S`), so a cue
    ten hours in costs a few thousand lines of the list, not gigabytes.
    Clips longer than their room are cut with a short fade (the fit already
    flagged them as overflows); nothing ever overlaps the next clip.
    """
    silences = _Silences(workdir, sample_rate)
    entries: list[Path] = []
    cursor = 0
    for p in placements:
        if p.start > cursor:
            entries += silences.entries(f"gap{p.idx:06d}", p.start - cursor)
        clip = workdir / f"seg{p.idx:06d}.wav"
        fetch(p.key, clip)
        audio, sr = read_wav(clip)
        if sr != sample_rate:
            raise ValueError(f"segment {p.idx + 1} has sample rate {sr}, expected {sample_rate}")
        room = p.limit - max(p.start, cursor)
        if len(audio) > room:
            write_wav(clip, pad_or_cut(audio, room, sr=sample_rate), sample_rate)
        n = min(len(audio), room)
        entries.append(clip)
        cursor = max(p.start, cursor) + n
    if total > cursor:
        entries += silences.entries("tail", total - cursor)
    listing = workdir / "timeline.ffconcat"
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{e.name}'\n" for e in entries))
    return listing


def _input_args(path: Path) -> list[str]:
    """ffmpeg's arguments to read a track: a concat list (:func:`build_timeline`) or a file."""
    if path.suffix == ".ffconcat":
        return ["-f", "concat", "-safe", "0", "-i", str(path)]
    return ["-i", str(path)]


#: The ``ebur128`` filter's summary: integrated loudness and its gate, the
#: loudness range, the true peak.
_EBUR128 = re.compile(
    r"Integrated loudness:\s*I:\s*(?P<i>\S+) LUFS\s*Threshold:\s*(?P<thresh>\S+) LUFS.*?"
    r"Loudness range:\s*LRA:\s*(?P<lra>\S+) LU.*?True peak:\s*Peak:\s*(?P<tp>\S+) dBFS", re.S)


def measure_loudness(path: Path, target: LoudnessSettings) -> dict[str, str]:
    """Pass one: the track's integrated loudness, its gate, loudness range and
    true peak (EBU R128 / ITU-R BS.1770), in ``loudnorm``'s own names
    (``input_i``, ``input_thresh``, ``input_lra``, ``input_tp``), ready for its
    second, linear pass.

    Measured with ffmpeg's ``ebur128`` filter (true peak by 4x oversampling),
    not ``loudnorm``'s first pass: the same standard and figures (they agree
    to 0.05 LU and 0.05 dB here), about four times faster, since ``loudnorm``
    resamples the whole track to 192 kHz to measure it. ``target_offset`` is
    0: the linear pass applies one gain, with no dynamic first pass to correct.
    A track with nothing above the absolute gate (-70 LUFS, the filter's
    floor) reads as ``-inf``: not measurable.
    """
    err = run_ffmpeg_stderr(["-v", "info", "-nostats", *_input_args(path), "-af",
                             "ebur128=peak=true", "-f", "null", "-"])
    return parse_ebur128(err)


def parse_ebur128(err: str) -> dict[str, str]:
    """The summary an ``ebur128=peak=true`` filter printed (ffmpeg's stderr),
    in ``loudnorm``'s names (see :func:`measure_loudness`)."""
    match = _EBUR128.search(err[err.rfind("Summary:"):] if "Summary:" in err else err)
    if not match:
        raise RuntimeError("ebur128 printed no measurement")
    m = match.groupdict()
    if float(m["i"]) <= -70.0:  # the filter's floor: no block above the absolute gate
        m["i"] = "-inf"
    return {"input_i": m["i"], "input_tp": m["tp"], "input_lra": m["lra"],
            "input_thresh": m["thresh"], "target_offset": "0.0"}


def encode(
    timeline: Path, out: Path, total_s: float, target: LoudnessSettings,
    metadata: dict[str, str],
) -> dict[str, str]:
    """Pass two: normalise with the measured values and encode by ``out``'s extension."""
    with STAGES.stage("level"):
        m = measure_loudness(timeline, target)
    fmt = OUTPUT_FORMATS[out.suffix.lower()]
    src = (ffmpeg.input(str(timeline), f="concat", safe=0) if timeline.suffix == ".ffconcat"
           else ffmpeg.input(str(timeline)))
    audio = src.audio
    if all(math.isfinite(float(m[k])) for k in ("input_i", "input_tp", "input_lra", "input_thresh")):
        audio = audio.filter(
            "loudnorm", I=target.integrated_lufs, TP=target.true_peak_db, LRA=target.lra,
            measured_I=m["input_i"], measured_TP=m["input_tp"], measured_LRA=m["input_lra"],
            measured_thresh=m["input_thresh"], offset=m["target_offset"], linear="true",
        )
    else:  # nothing loud enough to measure (a very short track): leave the level alone
        log.warning("loudness not measurable (%s); not normalised", m.get("input_i"))
    audio = audio.filter("aresample", target.sample_rate).filter("apad").filter("atrim", duration=total_s)
    meta_args = {f"metadata:g:{i}": f"{k}={v}" for i, (k, v) in enumerate(metadata.items())}
    stream = ffmpeg.output(audio, str(out), ac=1, ar=target.sample_rate, **fmt, **meta_args)
    with STAGES.stage("encode"):
        run_stream(stream)
    return m


#: Bumped whenever a track's recipe (timeline, loudness, encode) changes meaning.
DELIVERABLE_SCHEMA = 1


def deliverable_keys(placements: Sequence[Placement], total_samples: int, sample_rate: int,
                     total_s: float, target: LoudnessSettings, ext: str,
                     metadata: dict[str, str]) -> tuple[str, str]:
    """Storage keys of a track and of its manifest, named by a hash of
    everything that shapes the file: each clip's content key, start and limit
    in samples, the track length, the loudness profile, the format and the
    tags. A render whose track would come out the same (a no-op re-render of
    an unchanged input) finds it stored and skips assembly and encoding.
    The manifest (JSON: the output key and the loudness measured) is written
    after the track, so its presence marks the track complete."""
    payload = {
        "schema": DELIVERABLE_SCHEMA, "sr": sample_rate, "samples": total_samples,
        "total_s": round(total_s, 6), "clips": [[p.key, p.start, p.limit] for p in placements],
        "loudness": target.model_dump(mode="json"), "format": ext.lower(),
        "codec": OUTPUT_FORMATS[ext.lower()], "tags": metadata,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return f"deliverables/{digest}{ext.lower()}", f"deliverables/{digest}.json"


def fit_report_rows(segments: Sequence[Any], placements: Sequence[Placement] = (),
                    sample_rate: int = 0) -> list[dict[str, Any]]:
    """One row per segment: its slot, the fit figures, its emotion and language, and where it
    was placed in the track (``placed_start_s``/``placed_end_s``: the audio's
    first and last+1 sample after any cut at the next cue)."""
    where = {p.idx: p for p in placements}
    rows = []
    for s in segments:
        row = {
            "segment": s.idx + 1, "line": s.source_line, "start_s": round(s.start_s, 3),
            "end_s": round(s.end_s, 3), "slot_s": round(s.end_s - s.start_s, 3),
            "natural_s": s.natural_s, "target_s": s.target_s, "final_s": s.final_s,
            "rate": s.rate, "engine_rate": s.engine_rate, "stretch": s.stretch,
            "borrowed_s": s.borrowed_s, "overflow": bool(s.overflow), "overflow_s": s.overflow_s,
            "error_ms": s.error_ms, "engine_calls": s.engine_calls, "cache_hit": bool(s.cache_hit),
            "emotion": s.emotion, "intensity": s.intensity, "lang": s.language or "en",
            "text": s.text,
        }
        p = where.get(s.idx)
        if p is not None and sample_rate and s.final_s is not None:
            end = min(p.start + round(float(s.final_s) * sample_rate), p.limit)
            row["placed_start_s"] = round(p.start / sample_rate, 6)
            row["placed_end_s"] = round(end / sample_rate, 6)
        rows.append(row)
    return rows


#: Control characters (C0 but tab/newlines, DEL, C1): never meant for a spreadsheet or a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _csv_cell(value: Any) -> Any:
    """A report cell safe to open in a spreadsheet: user text (a line, a speaker
    name) loses control characters and line breaks, and text that a spreadsheet
    would run as a formula (leading ``= + - @``, or a tab/CR before one) is
    quoted with a leading apostrophe (OWASP's advice). Numbers pass unchanged."""
    if not isinstance(value, str):
        return value
    text = _CONTROL.sub("", value).replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def fit_report_csv(rows: list[dict[str, Any]]) -> bytes:
    """The fit report as CSV (every cell through :func:`_csv_cell`)."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows({k: _csv_cell(v) for k, v in r.items()} for r in rows)
    return buf.getvalue().encode()


def workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="voicecast-assemble-")
