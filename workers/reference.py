"""Checks on a voice profile's reference recording.

:func:`load_reference` reads any file ffmpeg can decode, checks that it holds
enough clean speech, and returns it as 16 kHz mono ``float32`` trimmed of its
leading and trailing silence and limited to the first ``max_speech_s`` seconds
of speech. Every rejection is a :class:`voicecast.errors.ReferenceAudioError`
naming the file, with a message a user can act on.

Checks, in order:

* the file exists and ffmpeg can read an audio stream from it, with samples;
* not silent: peak at least ``-50 dBFS``;
* not clipped: at most 0.1 % of the samples sit at full scale
  (``|x| >= 0.999``) in runs of 3 or more consecutive samples. Clipping is
  judged per channel at the file's own sample rate (resampling or down-mixing
  would round off the flat tops). A peak-normalised recording touches full
  scale in a few short runs and passes; a hard-clipped one fails;
* not a steady sound: loud and quiet 10 ms frames differ by at least
  :data:`MIN_RANGE_DB` (a hum, tone or steady noise does not);
* someone speaks: silero-vad (:func:`voicecast.audio.voice_mask`) finds speech;
* at least ``min_speech_s`` seconds of speech (the spans silero-vad marks,
  pauses under 0.1 s included).

The audio is trimmed to the detected speech (plus :data:`TRIM_MARGIN_S`).
:func:`load_references` joins several clips of one speaker and also rejects
a reference in which two different voices speak (:func:`check_one_speaker`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from voicecast import audio
from voicecast.errors import ReferenceAudioError
from voicecast.media import MediaError, decode_audio, probe, run_ffmpeg
from workers import vad

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
#: Frame length of the speech mask (see voicecast.audio.voice_mask).
VAD_FRAME_MS = 10.0
#: Frame-energy thresholds of the gaps between words where a long recording
#: may be cut (see voicecast.audio.activity_mask).
PAUSE_RELATIVE_DB = -30.0
PAUSE_FLOOR_DB = -55.0
#: Frame-level dynamic range (dB, loudest vs quietest frames) below which a
#: recording is a steady sound rather than speech.
MIN_RANGE_DB = 12.0
#: Silence put between the clips of a several-clip reference.
CLIP_GAP_S = 0.2
#: A clip cut at the speech limit is left out if less than this is left of it.
MIN_PART_S = 0.5
#: Several-speakers check (:func:`check_one_speaker`): the speech is cut into
#: windows of this length, each embedded with the speaker encoder (at most
#: SPEAKER_MAX_WINDOWS, evenly spread; with fewer than SPEAKER_MIN_WINDOWS there
#: is too little speech to tell and the check passes) ...
SPEAKER_WINDOW_S = 1.6
SPEAKER_MAX_WINDOWS = 20
SPEAKER_MIN_WINDOWS = 5
#: ... and split in two groups, each holding at least SPEAKER_MIN_SHARE of the
#: windows. It is rejected when windows across the groups are less similar
#: than these ratios times windows within a group: for a split into a first
#: and a last part (one voice after the other), or into any two groups (voices
#: taking turns). Calibrated on real speakers (docs/voices.md): one speaker
#: 0.89-1.05 in turn and 0.87-0.99 in any order; a woman and a man 0.62-0.75;
#: two women 0.67-0.86.
SPEAKER_MAX_RATIO_TURN = 0.83
SPEAKER_MAX_RATIO_ANY = 0.78
SPEAKER_MIN_SHARE = 0.2


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
class ClipInfo:
    """One source clip of a :class:`Reference`: its hash and quality figures.

    ``speech_s`` is the speech kept from this clip (after the overall limit);
    ``duration_s`` is the length of the clip; levels are of the whole clip.
    """

    file: str
    sha256: str
    speech_s: float
    duration_s: float
    peak_db: float
    rms_db: float
    clipped_ratio: float

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file, "sha256": self.sha256, "speech_s": round(self.speech_s, 3),
            "duration_s": round(self.duration_s, 3), "peak_db": round(self.peak_db, 2),
            "rms_db": round(self.rms_db, 2), "clipped_ratio": self.clipped_ratio,
        }


@dataclass(frozen=True)
class Reference:
    """A usable reference recording (one clip, or several joined).

    ``audio`` is 16 kHz mono ``float32``, trimmed, at most ``max_speech_s`` of
    speech; ``speech_s`` is the active speech in it; ``duration_s`` is the length
    of the source recording(s); ``sha256`` is of the source file's bytes (for
    several clips: of their hashes, see :func:`load_references`); the levels
    (dBFS) and ``clipped_ratio`` are of the source recording (for several
    clips: the loudest peak, the mean RMS, the largest ratio). ``clips`` lists
    each source clip (empty for a :class:`Reference` built by hand).
    """

    audio: np.ndarray
    sample_rate: int
    speech_s: float
    duration_s: float
    sha256: str
    peak_db: float
    clipped_ratio: float
    rms_db: float
    clips: tuple[ClipInfo, ...] = ()


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
    levels = audio.frame_energy_db(y, REFERENCE_SR, VAD_FRAME_MS)
    if levels.size >= 20 and np.percentile(levels, 99) - np.percentile(levels, 5) < MIN_RANGE_DB:
        # Speech always has pauses or closures far quieter than its vowels; a
        # steady hum, tone or noise does not.
        raise ReferenceAudioError(
            "has no speech, only a steady sound (hum, tone or noise)", file=source
        )
    mask = vad.voice_mask(y, REFERENCE_SR, VAD_FRAME_MS)
    if not mask.any():
        raise ReferenceAudioError(
            "has no speech (the voice detector found no one speaking)", file=source
        )
    frame = int(round(REFERENCE_SR * VAD_FRAME_MS / 1000.0))
    total_speech = float(mask.sum()) * frame / REFERENCE_SR
    if total_speech < min_speech_s:
        raise ReferenceAudioError(
            f"has {total_speech:.1f} s of speech; at least {min_speech_s:.1f} s needed",
            file=source,
        )

    quiet = ~audio.activity_mask(y, REFERENCE_SR, PAUSE_RELATIVE_DB, floor_db=PAUSE_FLOOR_DB,
                                 frame_ms=VAD_FRAME_MS)
    trimmed, kept_mask = _trim_and_limit(y, mask, frame, max_speech_s, quiet[: mask.size])
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
    y: np.ndarray, mask: np.ndarray, frame: int, max_speech_s: float, quiet: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut to the speech (plus a margin) and to at most ``max_speech_s`` of it.

    The limit is applied at a pause (a frame outside the speech ``mask`` or in
    ``quiet``, the energy detector's gaps between words) where one lies within
    the last 5 s of speech before it (so no word is cut); otherwise at the frame
    boundary, with a fade. Returns the audio and the speech mask of the frames kept.
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
        gaps = ~mask if quiet is None else ~mask | quiet
        pauses = np.flatnonzero(gaps[earliest : reach + 1])
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
    path: Path | str, *, min_speech_s: float = 3.0, max_speech_s: float = 30.0,
    check_speakers: bool = True,
) -> Reference:
    """Read, check and prepare a reference recording (see the module docstring).

    Only the first :data:`MAX_READ_S` seconds of a longer file are read.
    Raises :class:`ReferenceAudioError` (naming ``path``) for any unusable file,
    including one in which two voices speak (unless ``check_speakers`` is false).
    """
    checked, clip = _load_clip(Path(path), min_speech_s=min_speech_s, max_speech_s=max_speech_s)
    if check_speakers:
        check_one_speaker(checked.audio, checked.sample_rate, source=str(path))
    return Reference(
        audio=checked.audio,
        sample_rate=checked.sample_rate,
        speech_s=checked.speech_s,
        duration_s=clip.duration_s,
        sha256=clip.sha256,
        peak_db=checked.peak_db,
        clipped_ratio=checked.clipped_ratio,
        rms_db=checked.rms_db,
        clips=(clip,),
    )


@dataclass(frozen=True)
class SpeakerSplit:
    """Speech windows split into two groups (see :func:`split_in_turn`, :func:`split_by_voice`).

    ``ratio`` is the mean similarity of two windows of different groups over
    that of two windows of the same group: near 1 for one speaker (the groups
    are noise), well under 1 for two. ``minor_share`` is the share of windows
    in the smaller group, ``labels`` the group (0/1) of each window.
    """

    ratio: float
    minor_share: float
    labels: np.ndarray


def _split(sim: np.ndarray, labels: np.ndarray) -> SpeakerSplit:
    same = labels[:, None] == labels[None, :]
    pairs = same & ~np.eye(len(labels), dtype=bool)
    within = float(sim[pairs].mean()) if pairs.any() else 1.0
    cross = float(sim[~same].mean()) if (~same).any() else within
    share = float(min(labels.mean(), 1.0 - labels.mean()))
    return SpeakerSplit(cross / within if within > 0 else 1.0, share, labels)


def _similarities(embeddings: np.ndarray) -> np.ndarray:
    e = np.asarray(embeddings, dtype=np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-9)
    sim: np.ndarray = e @ e.T
    return sim


def split_in_turn(embeddings: np.ndarray, min_share: float = SPEAKER_MIN_SHARE) -> SpeakerSplit:
    """The most distinct split of the windows, in order, into a first and a last
    part (one speaker after the other), each at least ``min_share`` of them."""
    sim = _similarities(embeddings)
    n = len(sim)
    edge = max(1, int(np.ceil(min_share * n)))
    splits = [_split(sim, (np.arange(n) >= k).astype(int)) for k in range(edge, n - edge + 1)]
    return min(splits, key=lambda sp: sp.ratio) if splits else _split(sim, np.zeros(n, dtype=int))


def split_by_voice(embeddings: np.ndarray, iterations: int = 20) -> SpeakerSplit:
    """The two most distinct groups of windows in any order (spherical 2-means
    started from the two least similar windows), e.g. two voices taking turns."""
    sim = _similarities(embeddings)
    e = np.asarray(embeddings, dtype=np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-9)
    i, j = np.unravel_index(np.argmin(sim), sim.shape)
    centres = e[[i, j]]
    labels = np.zeros(len(e), dtype=int)
    for _ in range(iterations):
        labels = np.argmax(e @ centres.T, axis=1)
        if labels.min() == labels.max():
            break
        new = np.stack([e[labels == k].mean(axis=0) for k in (0, 1)])
        new /= np.linalg.norm(new, axis=1, keepdims=True)
        if np.allclose(new, centres):
            break
        centres = new
    return _split(sim, labels)


def speech_windows(
    y: np.ndarray, sr: int = REFERENCE_SR, window_s: float = SPEAKER_WINDOW_S,
    max_windows: int = SPEAKER_MAX_WINDOWS,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Windows of ``window_s`` of speech only (silero-vad spans joined), at most
    ``max_windows`` evenly spread, and each window's start sample in ``y``."""
    spans = vad.voice_segments(y, sr)
    if not spans:
        return [], np.zeros(0, dtype=int)
    speech = np.concatenate([y[a:b] for a, b in spans])
    where = np.concatenate([np.arange(a, b) for a, b in spans])
    w = int(round(window_s * sr))
    starts = np.arange(0, speech.size - w + 1, w)
    if starts.size > max_windows:
        starts = starts[np.linspace(0, starts.size - 1, max_windows).round().astype(int)]
    return [speech[k : k + w] for k in starts], where[starts] if starts.size else starts


def check_one_speaker(
    y: np.ndarray, sr: int = REFERENCE_SR, *, source: str, bounds: Sequence[tuple[str, int]] = (),
) -> SpeakerSplit | None:
    """Reject (``ReferenceAudioError`` naming ``source``) speech in which two voices speak.

    The speech is cut into :data:`SPEAKER_WINDOW_S` windows, each embedded with
    Resemblyzer. Two voices one after the other (:func:`split_in_turn`, ratio
    under :data:`SPEAKER_MAX_RATIO_TURN`) or in any order (:func:`split_by_voice`,
    ratio under :data:`SPEAKER_MAX_RATIO_ANY`), the smaller group holding at
    least :data:`SPEAKER_MIN_SHARE` of the windows, are rejected. ``bounds``
    (``(clip name, first sample)`` in order) lets the message say which clips
    hold the other voice. Returns the split found (``None`` when too short to tell).
    """
    from voicecast.evaluation import speaker_embedding

    windows, starts = speech_windows(y, sr)
    if len(windows) < SPEAKER_MIN_WINDOWS:
        return None
    embeddings = np.stack([speaker_embedding(w, sr) for w in windows])
    turn, any_order = split_in_turn(embeddings), split_by_voice(embeddings)
    log.debug("speakers in %s: ratio %.3f in turn, %.3f in any order (minor share %.2f)",
              source, turn.ratio, any_order.ratio, any_order.minor_share)
    if turn.ratio < SPEAKER_MAX_RATIO_TURN:
        split, limit = turn, SPEAKER_MAX_RATIO_TURN
    elif any_order.ratio < SPEAKER_MAX_RATIO_ANY and any_order.minor_share >= SPEAKER_MIN_SHARE:
        split, limit = any_order, SPEAKER_MAX_RATIO_ANY
    else:
        return turn
    where = ""
    if bounds:
        minor = int(split.labels.mean() < 0.5)  # label of the smaller group
        firsts = np.array([b for _, b in bounds])
        clip_of = np.searchsorted(firsts, starts, side="right") - 1
        names = [bounds[k][0] for k in sorted(set(clip_of[split.labels == minor].tolist()))]
        where = f" (in {', '.join(names)})"
    raise ReferenceAudioError(
        f"holds more than one voice: {split.minor_share:.0%} of the speech{where} sounds like "
        f"a different speaker (similarity across the two voices {split.ratio:.2f} of that within "
        f"each, under {limit:.2f}); give clips of one speaker only",
        file=source,
    )


def load_references(
    paths: Sequence[Path | str], *, min_speech_s: float = 3.0, max_speech_s: float = 30.0,
    check_speakers: bool = True,
) -> Reference:
    """Read, check and join several clips of one speaker into one reference.

    Each clip gets the checks of :func:`load_reference` (any problem names that
    clip) except the minimum length, which applies to the speech of all clips
    together. The clips' trimmed speech is joined in order with
    :data:`CLIP_GAP_S` of silence between them, keeping only the first
    ``max_speech_s`` seconds of speech overall (later clips are still checked).

    With ``check_speakers`` (the default), a joined reference in which two
    different voices speak is rejected (:func:`check_one_speaker`).

    ``sha256`` is the SHA-256 of the clips' hex digests joined by newlines, in
    order; for a single clip it is that clip's own hash, so one file gives the
    same reference (and cached profile) here as with :func:`load_reference`.
    """
    if not paths:
        raise ReferenceAudioError("no reference clip given", field="reference")
    if len(paths) == 1:
        return load_reference(paths[0], min_speech_s=min_speech_s, max_speech_s=max_speech_s,
                              check_speakers=check_speakers)
    parts: list[np.ndarray] = []
    clips: list[ClipInfo] = []
    bounds: list[tuple[str, int]] = []  # (clip name, first sample in the joined audio)
    used, at, full = 0.0, 0, False
    gap = np.zeros(int(round(CLIP_GAP_S * REFERENCE_SR)), np.float32)
    for path in paths:
        checked, clip = _load_clip(Path(path), min_speech_s=0.0, max_speech_s=max_speech_s)
        remaining = max_speech_s - used
        if full:  # the limit was reached: checked, not used
            kept = 0.0
        elif checked.speech_s <= remaining:
            kept = checked.speech_s
        else:  # the limit falls in this clip: cut it there (at a pause)
            full = True
            if remaining >= MIN_PART_S:
                checked = check_reference(checked.audio, REFERENCE_SR, source=str(path),
                                          min_speech_s=0.0, max_speech_s=remaining)
            kept = checked.speech_s if min(remaining, checked.speech_s) >= MIN_PART_S else 0.0
        clips.append(replace(clip, speech_s=kept))
        if kept:
            if parts:
                parts.append(gap)
                at += gap.size
            bounds.append((clip.file, at))
            parts.append(checked.audio)
            at += checked.audio.size
            used += kept
    names = ", ".join(c.file for c in clips)
    if used < min_speech_s:
        raise ReferenceAudioError(
            f"have {used:.1f} s of speech together; at least {min_speech_s:.1f} s needed",
            file=names,
        )
    digest = hashlib.sha256("\n".join(c.sha256 for c in clips).encode()).hexdigest()
    joined = np.concatenate(parts).astype(np.float32)
    if check_speakers:
        check_one_speaker(joined, REFERENCE_SR, source=names, bounds=bounds)
    return Reference(
        audio=joined,
        sample_rate=REFERENCE_SR,
        speech_s=used,
        duration_s=sum(c.duration_s for c in clips),
        sha256=digest,
        peak_db=max(c.peak_db for c in clips),
        clipped_ratio=max(c.clipped_ratio for c in clips),
        rms_db=float(np.mean([c.rms_db for c in clips])),
        clips=tuple(clips),
    )


def _load_clip(
    p: Path, *, min_speech_s: float, max_speech_s: float
) -> tuple[ReferenceCheck, ClipInfo]:
    """Read and check one file: the prepared audio and the clip's figures."""
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
    clip = ClipInfo(
        file=p.name, sha256=digest, speech_s=checked.speech_s, duration_s=duration,
        peak_db=checked.peak_db, rms_db=checked.rms_db, clipped_ratio=checked.clipped_ratio,
    )
    return checked, clip
