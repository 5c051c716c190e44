"""Checks on a voice profile's reference recording.

:func:`load_reference` reads any file ffmpeg can decode, checks that it holds
enough clean speech, and returns it as 16 kHz mono ``float32`` trimmed of its
leading and trailing silence and limited to the first ``max_speech_s`` seconds
of speech. Every rejection is a :class:`voicecast.errors.ReferenceAudioError`
naming the file, with a message a user can act on.

Checks, in order:

* the file exists and ffmpeg can read an audio stream from it, with samples;
* not silent: peak at least ``-50 dBFS`` and some active speech frames;
* not clipped: at most 0.1 % of the samples sit at full scale
  (``|x| >= 0.999``) in runs of 3 or more consecutive samples. Clipping is
  judged per channel at the file's own sample rate (resampling or down-mixing
  would round off the flat tops). A peak-normalised recording touches full
  scale in a few short runs and passes; a hard-clipped one fails;
* at least ``min_speech_s`` seconds of active speech (frame-energy VAD with
  a threshold adaptive to the recording, :func:`workers.audio.activity_mask`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicecast.errors import ReferenceAudioError
from voicecast.media import MediaError, decode_audio, probe, run_ffmpeg
from workers import audio

log = logging.getLogger(__name__)

#: Sample rate of the reference handed to enrollment (speaker encoders use 16 kHz).
REFERENCE_SR = 16000
#: A recording whose peak is under this (dBFS) is silent.
SILENT_PEAK_DB = -50.0
#: Samples at or above this magnitude are at full scale.
CLIP_LEVEL = 0.999
#: A full-scale run shorter than this is a peak, not clipping.
CLIP_RUN = 3
#: Share of samples in full-scale runs above which the recording is rejected.
CLIP_MAX_RATIO = 0.001
#: Only the start of very long files is read (a reference needs seconds, not hours).
MAX_READ_S = 300.0
#: Kept around the speech when trimming, so onsets and decays are not cut.
TRIM_MARGIN_S = 0.1
#: VAD frame length and thresholds (see workers.audio.activity_mask).
VAD_FRAME_MS = 10.0
VAD_RELATIVE_DB = -30.0
VAD_FLOOR_DB = -55.0
#: Frame-level dynamic range (dB, loudest vs quietest frames) below which a
#: recording is a steady sound rather than speech.
MIN_RANGE_DB = 12.0


@dataclass(frozen=True)
class ReferenceCheck:
    """What :func:`check_reference` found (a :class:`Reference` without the file hash)."""

    audio: np.ndarray
    sample_rate: int
    speech_s: float
    duration_s: float
    peak_db: float
    clipped_ratio: float
    rms_db: float


@dataclass(frozen=True)
class Reference:
    """A usable reference recording.

    ``audio`` is 16 kHz mono ``float32``, trimmed, at most ``max_speech_s`` of
    speech; ``speech_s`` is the active speech in it; ``duration_s`` is the length
    of the source recording; ``sha256`` is of the source file's bytes; the
    levels (dBFS) and ``clipped_ratio`` are of the source recording.
    """

    audio: np.ndarray
    sample_rate: int
    speech_s: float
    duration_s: float
    sha256: str
    peak_db: float
    clipped_ratio: float
    rms_db: float


def clipped_ratio(x: np.ndarray, *, level: float = CLIP_LEVEL, min_run: int = CLIP_RUN) -> float:
    """Share of samples at full scale (``|x| >= level``) in runs of ``min_run`` or more.

    ``x`` is ``(n,)`` or ``(n, channels)``; runs are counted per channel.
    """
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[:, None]
    if a.size == 0:
        return 0.0
    total = 0
    for ch in range(a.shape[1]):
        hot = np.abs(a[:, ch]) >= level
        if not hot.any():
            continue
        edges = np.diff(np.concatenate(([0], hot.astype(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        runs = ends - starts
        total += int(runs[runs >= min_run].sum())
    return total / a.size


def check_reference(
    audio_in: np.ndarray,
    sr: int,
    *,
    source: str,
    min_speech_s: float = 3.0,
    max_speech_s: float = 30.0,
    clip_ratio: float | None = None,
) -> ReferenceCheck:
    """Check decoded mono audio and prepare it; raise ``ReferenceAudioError`` naming ``source``.

    ``clip_ratio`` is the full-scale share measured on the original samples
    (see :func:`clipped_ratio`); when ``None`` it is measured on ``audio_in``.
    """
    x = np.asarray(audio_in, dtype=np.float32).reshape(-1)
    if x.size == 0:
        raise ReferenceAudioError("has no audio (zero length)", file=source)
    duration_s = x.size / sr
    peak = audio.peak_db(x)
    if peak < SILENT_PEAK_DB:
        raise ReferenceAudioError(
            f"is silent (peak {peak:.1f} dBFS); record the speaker at a normal level",
            file=source,
        )
    ratio = clipped_ratio(x) if clip_ratio is None else clip_ratio
    if ratio > CLIP_MAX_RATIO:
        raise ReferenceAudioError(
            f"is clipped ({ratio * 100:.2f} % of samples at full scale); "
            "re-record at a lower input level",
            file=source,
        )
    y = audio.resample(x, sr, REFERENCE_SR) if sr != REFERENCE_SR else x
    mask = audio.activity_mask(
        y, REFERENCE_SR, VAD_RELATIVE_DB, floor_db=VAD_FLOOR_DB, frame_ms=VAD_FRAME_MS
    )
    if not mask.any():
        raise ReferenceAudioError("is silent (no speech found)", file=source)
    levels = audio.frame_energy_db(y, REFERENCE_SR, VAD_FRAME_MS)
    if levels.size >= 20 and np.percentile(levels, 99) - np.percentile(levels, 5) < MIN_RANGE_DB:
        # Speech always has pauses or closures far quieter than its vowels; a
        # steady hum, tone or noise does not.
        raise ReferenceAudioError(
            "has no speech, only a steady sound (hum, tone or noise)", file=source
        )
    frame = int(round(REFERENCE_SR * VAD_FRAME_MS / 1000.0))
    total_speech = float(mask.sum()) * frame / REFERENCE_SR
    if total_speech < min_speech_s:
        raise ReferenceAudioError(
            f"has {total_speech:.1f} s of speech; at least {min_speech_s:.1f} s needed",
            file=source,
        )

    trimmed, kept_mask = _trim_and_limit(y, mask, frame, max_speech_s)
    speech_s = float(kept_mask.sum()) * frame / REFERENCE_SR
    return ReferenceCheck(
        audio=trimmed,
        sample_rate=REFERENCE_SR,
        speech_s=min(speech_s, trimmed.size / REFERENCE_SR),
        duration_s=duration_s,
        peak_db=peak,
        clipped_ratio=ratio,
        rms_db=audio.rms_db(x),
    )


def _trim_and_limit(
    y: np.ndarray, mask: np.ndarray, frame: int, max_speech_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cut to the speech (plus a margin) and to at most ``max_speech_s`` of it.

    The limit is applied at a pause where one lies within the last 5 s of speech
    before it (so no word is cut); otherwise at the frame boundary, with a fade.
    Returns the audio and the activity mask of the frames kept.
    """
    active = np.flatnonzero(mask)
    margin = int(round(TRIM_MARGIN_S * REFERENCE_SR / frame))
    first_f = max(0, int(active[0]) - margin)
    last_f = min(mask.size - 1, int(active[-1]) + margin)
    fade_ms = 0.0

    limit_frames = int(round(max_speech_s * REFERENCE_SR / frame))
    cum = np.cumsum(mask[first_f : last_f + 1])
    if cum[-1] > limit_frames:
        reach = first_f + int(np.searchsorted(cum, limit_frames))  # frame where the limit falls
        earliest = max(first_f, reach - int(round(5.0 * REFERENCE_SR / frame)))
        pauses = np.flatnonzero(~mask[earliest : reach + 1])
        if pauses.size:
            last_f = earliest + int(pauses[-1])
        else:
            last_f = reach
            fade_ms = 20.0
    start = first_f * frame
    end = min(y.size, (last_f + 1) * frame)
    out = audio.fade(y[start:end], REFERENCE_SR, 0.0, fade_ms) if fade_ms else y[start:end].copy()
    return np.asarray(out, dtype=np.float32), mask[first_f : last_f + 1]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _decode_native(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream at its own rate, all channels: ``(n, ch)`` float32."""
    try:
        info = probe(path)
    except MediaError as exc:
        raise ReferenceAudioError("is not an audio file ffmpeg can read", file=path) from exc
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        if info.get("streams"):
            raise ReferenceAudioError("has no audio stream", file=path)
        raise ReferenceAudioError("is not an audio file ffmpeg can read", file=path)
    st = streams[0]
    sr = int(st.get("sample_rate") or 0)
    channels = int(st.get("channels") or 0)
    try:
        if sr <= 0 or channels <= 0:  # odd container: let ffmpeg pick, mono at 16 kHz
            return decode_audio(path, REFERENCE_SR)[:, None], REFERENCE_SR
        raw = run_ffmpeg([
            "-v", "error", "-t", str(MAX_READ_S), "-i", str(path), "-map", "0:a:0",
            "-vn", "-ac", str(channels), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1",
        ])
    except MediaError as exc:
        raise ReferenceAudioError("is not an audio file ffmpeg can read", file=path) from exc
    data = np.frombuffer(raw, dtype="<f4")
    usable = data.size - data.size % channels
    return data[:usable].reshape(-1, channels).copy(), sr


def load_reference(
    path: Path | str, *, min_speech_s: float = 3.0, max_speech_s: float = 30.0
) -> Reference:
    """Read, check and prepare a reference recording (see the module docstring).

    Only the first :data:`MAX_READ_S` seconds of a longer file are read.
    Raises :class:`ReferenceAudioError` (naming ``path``) for any unusable file.
    """
    p = Path(path)
    if not p.exists():
        raise ReferenceAudioError("file not found", file=p)
    if not p.is_file():
        raise ReferenceAudioError("is not a file", file=p)
    if p.stat().st_size == 0:
        raise ReferenceAudioError("is empty (0 bytes)", file=p)
    digest = _sha256(p)
    frames, sr = _decode_native(p)
    if frames.size == 0:
        raise ReferenceAudioError("has no audio (zero length)", file=p)
    ratio = clipped_ratio(frames)
    mono = frames[:, 0] if frames.shape[1] == 1 else frames.mean(axis=1, dtype=np.float32)
    checked = check_reference(
        mono, sr, source=str(p), min_speech_s=min_speech_s, max_speech_s=max_speech_s,
        clip_ratio=ratio,
    )
    log.debug(
        "reference %s: %.1f s speech of %.1f s, peak %.1f dBFS, clipped %.4f",
        p, checked.speech_s, checked.duration_s, checked.peak_db, checked.clipped_ratio,
    )
    duration = checked.duration_s
    if duration >= MAX_READ_S - 1.0:  # only the start was read; report the whole file
        try:
            duration = max(duration, float(probe(p)["format"]["duration"]))
        except (MediaError, KeyError, TypeError, ValueError):
            pass
    return Reference(
        audio=checked.audio,
        sample_rate=checked.sample_rate,
        speech_s=checked.speech_s,
        duration_s=duration,
        sha256=digest,
        peak_db=checked.peak_db,
        clipped_ratio=checked.clipped_ratio,
        rms_db=checked.rms_db,
    )
