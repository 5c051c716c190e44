"""Measure an audio file against ACX's audio submission requirements.

ACX (Audible's audiobook exchange) rejects files that fail any of these. How
each figure is measured here (the decoded file, at its own sample rate, every
channel; levels in dBFS, a full-scale square wave reads 0 dB):

``rms``
    RMS of the whole file, all channels together (the mean of every sample's
    square, over all channels), as ACX and Audacity's "ACX Check" measure it:
    head/tail room tone and pauses count. Limit: -23 to -18 dB.
``peak``
    Sample peak of the decoded file (largest |sample| on any channel).
    Limit: <= -3 dB. (Not true peak: ACX specifies sample peak.)
``noise_floor``
    RMS of the quietest 500 ms window anywhere in the file (windows on a
    10 ms grid, all channels together); in a well-made chapter this is a
    stretch of room tone. Files shorter than 500 ms: the whole file.
    Limit: <= -60 dB.
``head_room_tone`` / ``tail_room_tone``
    Time before the start of the first, and after the end of the last, 10 ms
    frame whose RMS is above :data:`SPEECH_THRESHOLD_DB` (-50 dBFS, well above
    a -60 dB noise floor and below any speech). Limits: 0.5-1 s head, 1-5 s tail.
``channels``
    Mono or stereo (ACX wants all files of a book alike; that is not checked here).
``duration``
    At most 120 minutes per file.
``format``, ``sample_rate``, ``bitrate``, ``cbr`` (ACX wants MP3 files)
    Codec MP3; 44.1 kHz; at least 192 kb/s (ffprobe's stream ``bit_rate``,
    the nominal rate from the frame headers); constant bit rate. CBR is
    decided by walking every MPEG audio frame header in the file: CBR when
    every audio frame has the same bit rate and there is no ``Xing``/``VBRI``
    VBR header (a LAME ``Info`` header is what CBR files carry). When the
    frames cannot be walked (lost sync in the middle), CBR is reported as
    unknown and the check fails: it is never guessed.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voicecast.errors import InputError
from voicecast.media import MediaError, probe, run_ffmpeg

log = logging.getLogger(__name__)

RMS_RANGE_DB = (-23.0, -18.0)
PEAK_MAX_DB = -3.0
NOISE_FLOOR_MAX_DB = -60.0
HEAD_RANGE_S = (0.5, 1.0)
TAIL_RANGE_S = (1.0, 5.0)
MAX_DURATION_S = 120 * 60.0
MP3_SAMPLE_RATE = 44100
MIN_BITRATE = 192_000
#: A 10 ms frame above this RMS (dBFS) is sound, not room tone (head/tail).
SPEECH_THRESHOLD_DB = -50.0
NOISE_WINDOW_S = 0.5
FRAME_S = 0.010
#: Level reported for digital silence (keeps figures finite).
SILENCE_DB = -120.0


@dataclass(frozen=True)
class Check:
    """One requirement: the measured ``value``, the ``limit`` in words, and whether it passed."""

    name: str
    value: float | str
    limit: str
    ok: bool


@dataclass(frozen=True)
class AcxReport:
    """Every figure of :func:`measure_acx` and the checks made from them."""

    file: str
    duration_s: float
    sample_rate: int
    channels: int
    codec: str
    bitrate: int | None
    cbr: bool | None
    rms_db: float
    peak_db: float
    noise_floor_db: float
    head_s: float
    tail_s: float
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of the checks that failed."""
        return tuple(c.name for c in self.checks if not c.ok)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view: every field, the checks as dicts, and ``ok``."""
        d = dataclasses.asdict(self)
        d["checks"] = [dataclasses.asdict(c) for c in self.checks]
        d["ok"] = self.ok
        return d


def _db_power(power: float) -> float:
    return 10.0 * math.log10(power) if power > 0 else SILENCE_DB


def _decode(path: Path, sample_rate: int, channels: int) -> np.ndarray:
    """Decode to float32 at the file's own rate, channels kept: shape (samples, channels)."""
    raw = run_ffmpeg([
        "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", str(channels),
        "-ar", str(sample_rate), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1",
    ])
    return np.frombuffer(raw, dtype="<f4").reshape(-1, channels)


# MPEG audio Layer III bit rates (kb/s) by version, and sample rates.
_L3_KBPS = {
    "1": (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    "2": (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_is_cbr(data: bytes) -> bool | None:
    """Whether MP3 ``data`` is constant bit rate, by walking its frame headers.

    Skips an ID3v2 tag; stops at an ID3v1 ``TAG`` or ``APETAGEX`` trailer.
    Returns ``False`` for a Xing/VBRI VBR header or differing frame bit rates,
    ``True`` when every audio frame has the same rate, ``None`` when the file
    cannot be walked (not Layer III, free format, lost sync, no frames).
    """
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = sum((b & 0x7F) << s for b, s in zip(data[6:10], (21, 14, 7, 0), strict=True))
        pos = 10 + size + (10 if data[5] & 0x10 else 0)
    while pos < len(data) and data[pos] == 0:  # padding after the tag
        pos += 1
    rates: set[int] = set()
    first = True
    while pos + 4 <= len(data):
        h = int.from_bytes(data[pos:pos + 4], "big")
        if (h >> 21) & 0x7FF != 0x7FF:
            rest = data[pos:]
            if rest.startswith((b"TAG", b"APETAGEX")) or not rest.strip(b"\x00"):
                break
            log.debug("mp3 sync lost at byte %d", pos)
            return None
        version = (h >> 19) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
        layer = (h >> 17) & 3  # 1: Layer III
        br_idx = (h >> 12) & 0xF
        sr_idx = (h >> 10) & 3
        if version == 1 or layer != 1 or br_idx in (0, 15) or sr_idx == 3:
            return None
        kbps = _L3_KBPS["1" if version == 3 else "2"][br_idx]
        sr = _RATES[version][sr_idx]
        padding = (h >> 9) & 1
        length = (144 if version == 3 else 72) * kbps * 1000 // sr + padding
        frame = data[pos:pos + length]
        if first:
            first = False
            if b"Xing" in frame[:64] or frame[36:40] == b"VBRI":
                return False
            if b"Info" in frame[:64]:  # the LAME/Info header frame carries no audio
                pos += length
                continue
        rates.add(kbps)
        pos += length
    if not rates:
        return None
    return len(rates) == 1


def _frame_power(x: np.ndarray, n: int) -> np.ndarray:
    """Mean power of consecutive ``n``-sample frames (all channels; a partial last frame dropped,
    unless it is the only one)."""
    sq = np.square(x, dtype=np.float64).mean(axis=1)
    frames = sq.size // n
    if frames == 0:
        return np.array([float(sq.mean())]) if sq.size else np.zeros(0)
    return sq[: frames * n].reshape(frames, n).mean(axis=1)


def _range(value: float, lo: float, hi: float) -> bool:
    return bool(lo <= value <= hi)


def measure_acx(path: Path) -> AcxReport:
    """Measure ``path`` against ACX's requirements (see the module docstring).

    Raises :class:`~voicecast.errors.InputError` (naming the file) when it is
    missing or ffmpeg cannot read audio from it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such audio file", file=path)
    try:
        info = probe(path)
        stream = next(s for s in info.get("streams", []) if s.get("codec_type") == "audio")
        sample_rate = int(stream["sample_rate"])
        channels = int(stream["channels"])
        x = _decode(path, sample_rate, channels)
    except (MediaError, StopIteration, KeyError, ValueError) as e:
        raise InputError(f"cannot read audio: {str(e).splitlines()[0] if str(e) else 'no audio'}",
                         file=path) from e
    codec = str(stream.get("codec_name", "unknown"))
    raw_rate = stream.get("bit_rate") or info.get("format", {}).get("bit_rate")
    bitrate = int(raw_rate) if raw_rate not in (None, "N/A") else None
    cbr = mp3_is_cbr(path.read_bytes()) if codec == "mp3" else None

    n_samples = x.shape[0]
    duration = n_samples / sample_rate if n_samples else float(info.get("format", {}).get("duration", 0))
    rms = _db_power(float(np.mean(np.square(x, dtype=np.float64)))) if n_samples else SILENCE_DB
    peak_amp = float(np.max(np.abs(x))) if n_samples else 0.0
    peak = 20.0 * math.log10(peak_amp) if peak_amp > 0 else SILENCE_DB

    n = max(1, round(sample_rate * FRAME_S))
    fp = _frame_power(x, n)
    win = max(1, round(NOISE_WINDOW_S / FRAME_S))
    if fp.size >= win:
        c = np.concatenate(([0.0], np.cumsum(fp)))
        noise = _db_power(float(np.min((c[win:] - c[:-win]) / win)))
    else:
        noise = _db_power(float(np.mean(np.square(x, dtype=np.float64)))) if n_samples else SILENCE_DB
    loud = np.flatnonzero(fp > 10.0 ** (SPEECH_THRESHOLD_DB / 10.0))
    if loud.size:
        head = float(loud[0] * n / sample_rate)
        tail = float(max(0.0, duration - (loud[-1] + 1) * n / sample_rate))
    else:
        head = tail = duration

    checks = [
        Check("rms", round(rms, 2), f"{RMS_RANGE_DB[0]:g} to {RMS_RANGE_DB[1]:g} dB",
              _range(rms, *RMS_RANGE_DB)),
        Check("peak", round(peak, 2), f"<= {PEAK_MAX_DB:g} dB", bool(peak <= PEAK_MAX_DB)),
        Check("noise_floor", round(noise, 2), f"<= {NOISE_FLOOR_MAX_DB:g} dB",
              bool(noise <= NOISE_FLOOR_MAX_DB)),
        Check("head_room_tone", round(head, 3), f"{HEAD_RANGE_S[0]:g}-{HEAD_RANGE_S[1]:g} s",
              _range(head, *HEAD_RANGE_S)),
        Check("tail_room_tone", round(tail, 3), f"{TAIL_RANGE_S[0]:g}-{TAIL_RANGE_S[1]:g} s",
              _range(tail, *TAIL_RANGE_S)),
        Check("channels", channels, "1 (mono) or 2 (stereo)", channels in (1, 2)),
        Check("duration", round(duration / 60.0, 2), f"<= {MAX_DURATION_S / 60:g} min",
              duration <= MAX_DURATION_S),
        Check("format", codec, "mp3", codec == "mp3"),
    ]
    if codec == "mp3":
        checks += [
            Check("sample_rate", sample_rate, f"{MP3_SAMPLE_RATE} Hz", sample_rate == MP3_SAMPLE_RATE),
            Check("bitrate", bitrate if bitrate is not None else "unknown",
                  f">= {MIN_BITRATE // 1000} kb/s", bitrate is not None and bitrate >= MIN_BITRATE),
            Check("cbr", "unknown" if cbr is None else ("yes" if cbr else "no (VBR)"),
                  "constant bit rate", cbr is True),
        ]
    report = AcxReport(
        file=str(path), duration_s=duration, sample_rate=sample_rate, channels=channels,
        codec=codec, bitrate=bitrate, cbr=cbr, rms_db=rms, peak_db=peak, noise_floor_db=noise,
        head_s=head, tail_s=tail, checks=tuple(checks),
    )
    log.debug("acx %s: %s", path, "pass" if report.ok else f"fail {report.failed}")
    return report


def format_report(r: AcxReport) -> str:
    """A human-readable table: each figure, its limit, PASS/FAIL, and the verdict."""
    units = {"rms": " dB", "peak": " dB", "noise_floor": " dB", "head_room_tone": " s",
             "tail_room_tone": " s", "duration": " min", "sample_rate": " Hz"}
    rows = []
    for c in r.checks:
        if c.name == "bitrate" and isinstance(c.value, int):
            value = f"{c.value / 1000:g} kb/s"
        else:
            value = f"{c.value}{units.get(c.name, '') if not isinstance(c.value, str) else ''}"
        rows.append((c.name, value, c.limit, "PASS" if c.ok else "FAIL"))
    w = [max(len(row[i]) for row in [("check", "value", "limit", "")] + rows) for i in range(3)]
    lines = [f"ACX check: {r.file}",
             f"{'check':<{w[0]}}  {'value':>{w[1]}}  {'limit':<{w[2]}}  result"]
    lines += [f"{a:<{w[0]}}  {b:>{w[1]}}  {c:<{w[2]}}  {d}" for a, b, c, d in rows]
    lines.append("PASS: meets ACX's audio requirements" if r.ok
                 else f"FAIL: {', '.join(r.failed)}")
    return "\n".join(lines)
