"""Audio utilities for the synthesis role: mono ``float32`` numpy arrays.

Everything here is pure numpy/scipy/soundfile except :func:`stretch`, which runs
the ``rubberband`` command-line tool (R3 engine) in a temporary folder.

Conventions:

* Audio is a 1-D ``float32`` array in [-1, 1] (nothing here clips it).
* Levels are dBFS: a full-scale sine peaks at 0 dBFS. Silence (or an empty
  array) reads as :data:`SILENCE_DB` rather than ``-inf`` so that figures stay
  finite and JSON-serialisable.
"""

from __future__ import annotations

import io
import logging
import math
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from voicecast.media import MediaError, run_tool

log = logging.getLogger(__name__)

#: Level reported for digital silence and empty arrays.
SILENCE_DB = -120.0
#: |ratio - 1| below which :func:`stretch` does not run the time-stretcher.
STRETCH_SKIP = 0.002

_EPS = 10.0 ** (SILENCE_DB / 20.0)


def _mono(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 1:
        raise ValueError(f"expected mono audio (1-D array), got shape {a.shape}")
    return a


def _db(amplitude: float) -> float:
    return 20.0 * math.log10(max(float(amplitude), _EPS))


def rms_db(x: np.ndarray) -> float:
    """Root-mean-square level in dBFS (:data:`SILENCE_DB` for silence/empty)."""
    a = _mono(x)
    if a.size == 0:
        return SILENCE_DB
    return _db(math.sqrt(float(np.mean(np.square(a, dtype=np.float64)))))


def peak_db(x: np.ndarray) -> float:
    """Sample peak in dBFS (:data:`SILENCE_DB` for silence/empty)."""
    a = _mono(x)
    if a.size == 0:
        return SILENCE_DB
    return _db(float(np.max(np.abs(a))))


def frame_energy_db(x: np.ndarray, sr: int, frame_ms: float = 10.0) -> np.ndarray:
    """RMS level (dBFS) of consecutive, non-overlapping frames of ``frame_ms``.

    The last, partial frame is included (its RMS is over the samples it has).
    Returns an empty array for empty input.
    """
    a = _mono(x)
    n = max(1, int(round(sr * frame_ms / 1000.0)))
    if a.size == 0:
        return np.zeros(0, dtype=np.float64)
    frames = -(-a.size // n)
    sq = np.zeros(frames * n, dtype=np.float64)
    sq[: a.size] = np.square(a, dtype=np.float64)
    power = sq.reshape(frames, n).sum(axis=1)
    counts = np.full(frames, n, dtype=np.float64)
    counts[-1] = a.size - (frames - 1) * n
    rms = np.sqrt(power / counts)
    return 20.0 * np.log10(np.maximum(rms, _EPS))


def speech_bounds(
    x: np.ndarray,
    sr: int,
    threshold_db: float = -40.0,
    *,
    relative: bool = False,
    min_run_ms: float = 5.0,
    gap_ms: float = 30.0,
) -> tuple[int, int] | None:
    """First and last sample (inclusive) of activity, or ``None`` if there is none.

    A sample is *hot* when ``|x| >= threshold``. ``threshold_db`` is absolute
    dBFS by default; with ``relative=True`` it is relative to the peak of ``x``
    (``-40`` then means 40 dB under the loudest sample).

    Hot samples less than ``gap_ms`` apart form one burst; bursts spanning less
    than ``min_run_ms`` (clicks, single-sample glitches) are ignored. The bounds
    are sample-exact, so the same measurement before and after a time-stretch
    gives comparable lengths.
    """
    a = _mono(x)
    if a.size == 0:
        return None
    level = threshold_db + (peak_db(a) if relative else 0.0)
    amp = 10.0 ** (level / 20.0)
    hot = np.flatnonzero(np.abs(a) >= amp)
    if hot.size == 0:
        return None
    gap = max(1, int(round(sr * gap_ms / 1000.0)))
    min_run = int(round(sr * min_run_ms / 1000.0))
    breaks = np.flatnonzero(np.diff(hot) > gap)
    starts = hot[np.concatenate(([0], breaks + 1))]
    ends = hot[np.concatenate((breaks, [hot.size - 1]))]
    keep = (ends - starts + 1) >= min_run
    if not keep.any():
        return None
    return int(starts[keep][0]), int(ends[keep][-1])


def trim_silence(
    x: np.ndarray, sr: int, threshold_db: float = -40.0, keep_ms: float = 0.0
) -> tuple[np.ndarray, tuple[int, int]]:
    """Cut leading and trailing audio quieter than ``threshold_db`` (absolute dBFS).

    ``keep_ms`` of the quiet audio is kept on each side where available (to keep
    soft onsets and decays). Returns the trimmed array and ``(lead, trail)``: the
    numbers of samples removed at the start and at the end. Audio with no
    activity at all trims to an empty array (``lead = len(x)``, ``trail = 0``).
    """
    a = _mono(x)
    bounds = speech_bounds(a, sr, threshold_db)
    if bounds is None:
        return a[:0].copy(), (a.size, 0)
    keep = int(round(sr * keep_ms / 1000.0))
    first = max(0, bounds[0] - keep)
    last = min(a.size - 1, bounds[1] + keep)
    return a[first : last + 1].copy(), (first, a.size - 1 - last)


def activity_mask(
    x: np.ndarray,
    sr: int,
    threshold_db: float = -30.0,
    *,
    floor_db: float = -55.0,
    frame_ms: float = 10.0,
) -> np.ndarray:
    """Per-frame voice-activity decisions (``frame_ms`` frames) by frame energy.

    The threshold adapts to the recording: a frame is active when its level is
    at least ``max(loud + threshold_db, min(noise + 6, loud - 20), floor_db)``,
    where *loud* is the 99th percentile of frame levels (the loudest speech,
    robust to a single click), *noise* the 5th percentile (the pauses), and
    ``floor_db`` an absolute floor in dBFS so that very quiet noise never counts.
    """
    db = frame_energy_db(x, sr, frame_ms)
    if db.size == 0:
        return np.zeros(0, dtype=bool)
    loud = float(np.percentile(db, 99)) if db.size >= 100 else float(db.max())
    noise = float(np.percentile(db, 5))
    thr = max(loud + threshold_db, min(noise + 6.0, loud - 20.0), floor_db)
    mask: np.ndarray = db >= thr
    return mask


def active_speech_seconds(
    x: np.ndarray,
    sr: int,
    threshold_db: float = -30.0,
    *,
    floor_db: float = -55.0,
    frame_ms: float = 10.0,
) -> float:
    """Seconds of active frames by :func:`activity_mask` (pauses are not counted)."""
    a = _mono(x)
    mask = activity_mask(a, sr, threshold_db, floor_db=floor_db, frame_ms=frame_ms)
    n = max(1, int(round(sr * frame_ms / 1000.0)))
    if not mask.any():
        return 0.0
    active = int(mask.sum()) * n
    if mask[-1]:  # the last frame may be partial
        active -= mask.size * n - a.size
    return active / float(sr)


def fade(x: np.ndarray, sr: int, in_ms: float = 0.0, out_ms: float = 0.0) -> np.ndarray:
    """Linear fade-in over the first ``in_ms`` and fade-out over the last ``out_ms``.

    Returns a new array; fades longer than the audio are shortened to fit.
    """
    y = _mono(x).copy()
    n_in = min(y.size, int(round(sr * in_ms / 1000.0)))
    n_out = min(y.size, int(round(sr * out_ms / 1000.0)))
    if n_in > 0:
        y[:n_in] *= np.linspace(0.0, 1.0, n_in, endpoint=False, dtype=np.float32)
    if n_out > 0:
        y[y.size - n_out :] *= np.linspace(1.0, 0.0, n_out, endpoint=True, dtype=np.float32)
    return y


def pad_or_cut(
    x: np.ndarray, n_samples: int, fade_ms: float = 10.0, *, sr: int = 24000
) -> np.ndarray:
    """Make ``x`` exactly ``n_samples`` long.

    Longer audio is cut, with a linear fade-out over the last ``fade_ms`` of what
    is kept (so the cut does not click); ``sr`` converts ``fade_ms`` to samples.
    Shorter audio is padded with zeros at the end.
    """
    if n_samples < 0:
        raise ValueError("n_samples must be >= 0")
    a = _mono(x)
    if a.size == n_samples:
        return a.copy()
    if a.size > n_samples:
        return fade(a[:n_samples], sr, 0.0, fade_ms)
    out = np.zeros(n_samples, dtype=np.float32)
    out[: a.size] = a
    return out


def resample(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Band-limited resampling by a rational factor (``scipy.signal.resample_poly``)."""
    a = _mono(x)
    if sr_from <= 0 or sr_to <= 0:
        raise ValueError("sample rates must be positive")
    if sr_from == sr_to or a.size == 0:
        return a.copy()
    g = gcd(int(sr_from), int(sr_to))
    from scipy import signal  # imported here: it takes over a second, and the CLI rarely needs it

    y = signal.resample_poly(a, int(sr_to) // g, int(sr_from) // g)
    return np.asarray(y, dtype=np.float32)


def _varispeed(x: np.ndarray, n_samples: int) -> np.ndarray:
    """Resample ``x`` to exactly ``n_samples`` (FFT method): length and pitch move
    together, by less than :data:`STRETCH_SKIP` where this is used (< 3.5 cents)."""
    if x.size == 0 or n_samples == 0:
        return np.zeros(n_samples, dtype=np.float32)
    from scipy import signal

    return np.asarray(signal.resample(x.astype(np.float64), n_samples), dtype=np.float32)


def stretch(x: np.ndarray, sr: int, target_samples: int) -> np.ndarray:
    """Time-stretch ``x`` to exactly ``target_samples``, keeping pitch and formants.

    Runs ``rubberband -3 -D <seconds>`` (the R3 "fine" engine) on temporary WAV
    files; a remaining difference of a few samples is padded/cut without a fade.
    When the ratio is within :data:`STRETCH_SKIP` of 1 the tool is not run: the
    audio is resampled to the exact length instead (a pitch change under 3.5
    cents, inaudible), so the speech length is still exact.

    Raises :class:`~voicecast.media.MediaError` (a ``RuntimeError``) when
    rubberband is missing or fails (with its stderr), and its subclass
    :class:`~voicecast.media.ToolTimeout` when it hangs past
    ``limits.tool_timeout_s`` twice (see :func:`voicecast.media.run_tool`).
    """
    a = _mono(x)
    if target_samples < 0:
        raise ValueError("target_samples must be >= 0")
    if a.size == 0 or target_samples == 0:
        return np.zeros(target_samples, dtype=np.float32)
    if target_samples == a.size:
        return a.copy()
    ratio = target_samples / a.size
    if abs(ratio - 1.0) < STRETCH_SKIP:
        return _varispeed(a, target_samples)
    with tempfile.TemporaryDirectory(prefix="voicecast-stretch-") as tmp:
        src = Path(tmp) / "in.wav"
        dst = Path(tmp) / "out.wav"
        sf.write(src, a, sr, subtype="FLOAT")
        # Float WAV in and out plus --ignore-clipping: R3 would otherwise restart the
        # whole file at reduced gain when a peak exceeds full scale.
        args = ["-3", "-q", "--ignore-clipping", "-D", repr(target_samples / float(sr)), str(src), str(dst)]
        proc = run_tool("rubberband", args)
        if proc.returncode != 0 or not dst.exists():
            err = proc.stderr.decode("utf-8", "replace")[-2000:]
            raise MediaError(f"rubberband exited with {proc.returncode}: {err.strip()}")
        y, out_sr = sf.read(dst, dtype="float32", always_2d=True)
    if out_sr != sr:
        raise RuntimeError(f"rubberband wrote {out_sr} Hz, expected {sr} Hz")
    y = y[:, 0]
    if abs(y.size - target_samples) > max(8, target_samples // 200):
        log.warning("rubberband gave %d samples for %d requested", y.size, target_samples)
    # Only a few samples differ here: no fade, which would shorten the speech.
    return pad_or_cut(y, target_samples, fade_ms=0.0, sr=sr)


def write_wav(path: str | Path, x: np.ndarray, sr: int, *, subtype: str = "PCM_16") -> None:
    """Write mono WAV; ``subtype`` ``"PCM_16"`` (default) or ``"FLOAT"``."""
    sf.write(str(path), _mono(x), sr, subtype=subtype, format="WAV")


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a sound file as mono ``float32`` (channels averaged) and its rate."""
    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return _downmix(y), int(sr)


def _downmix(y: np.ndarray) -> np.ndarray:
    if y.shape[1] == 1:
        return np.ascontiguousarray(y[:, 0])
    return np.asarray(y.mean(axis=1), dtype=np.float32)


def to_wav_bytes(x: np.ndarray, sr: int, *, subtype: str = "PCM_16") -> bytes:
    """Encode mono audio as WAV bytes in memory."""
    buf = io.BytesIO()
    sf.write(buf, _mono(x), sr, subtype=subtype, format="WAV")
    return buf.getvalue()


def from_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Decode WAV (or any libsndfile format) bytes to mono ``float32`` and its rate."""
    y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return _downmix(y), int(sr)
