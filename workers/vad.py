"""Speech detection with silero-vad (its model ships in the wheel; needs torch).

Kept in the synthesis role: the control process never imports torch.
"""

from __future__ import annotations

import functools

import numpy as np

from voicecast.audio import _mono, resample

#: Sample rate silero-vad runs at.
VAD_SR = 16000


@functools.lru_cache(maxsize=1)
def _silero():  # type: ignore[no-untyped-def]
    """The silero-vad model (bundled in its wheel, ONNX on CPU), loaded once per process.

    Importing ``silero_vad`` sets torch's global thread count to 1; that is undone
    here so other torch users in the process (the speaker encoder) are unaffected.
    """
    import torch

    threads = torch.get_num_threads()
    from silero_vad import get_speech_timestamps, load_silero_vad

    torch.set_num_threads(threads)
    return load_silero_vad(onnx=True), get_speech_timestamps


def voice_segments(
    x: np.ndarray, sr: int = VAD_SR, *, threshold: float = 0.5, min_speech_ms: int = 250,
    min_silence_ms: int = 100, pad_ms: int = 30,
) -> list[tuple[int, int]]:
    """Spans of speech found by silero-vad: ``[(start, end), ...]`` in samples of ``x``.

    ``x`` is mono; it is resampled to 16 kHz for the detector. Speech is where the
    detector's probability is at least ``threshold``; bursts shorter than
    ``min_speech_ms`` are dropped, pauses shorter than ``min_silence_ms`` do not
    split a span, and each span is widened by ``pad_ms`` on both sides.
    """
    a = _mono(x)
    y = resample(a, sr, VAD_SR) if sr != VAD_SR else a
    if y.size < 512:
        return []
    import torch

    model, get_speech_timestamps = _silero()
    model.reset_states()
    spans = get_speech_timestamps(
        torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)), model,
        threshold=threshold, sampling_rate=VAD_SR, min_speech_duration_ms=min_speech_ms,
        min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms,
    )
    scale = sr / VAD_SR
    return [(int(round(s["start"] * scale)), min(a.size, int(round(s["end"] * scale)))) for s in spans]


def voice_mask(x: np.ndarray, sr: int, frame_ms: float = 10.0, **kw: float) -> np.ndarray:
    """:func:`voice_segments` as per-frame decisions (``frame_ms`` frames, like
    :func:`activity_mask`): a frame is speech when most of it lies in a span."""
    a = _mono(x)
    n = max(1, int(round(sr * frame_ms / 1000.0)))
    frames = -(-a.size // n)
    hot = np.zeros(frames * n, dtype=bool)
    for start, end in voice_segments(a, sr, **kw):  # type: ignore[arg-type]
        hot[start:end] = True
    mask: np.ndarray = hot.reshape(frames, n).mean(axis=1) >= 0.5
    return mask
