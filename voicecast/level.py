"""Loudness levelling of one segment: a target RMS over its active speech and a
look-ahead limiter on its (inter-sample) peaks.

Audiobook segments are levelled by the worker that renders them (the profile
is part of their content hash), each on its own, so a chapter is a plain
concatenation of levelled segments and room tone: nothing depends on a
segment's neighbours, and an edit leaves the rest of a chapter
sample-identical. Pure numpy/scipy; no model.
"""

from __future__ import annotations

import math

import numpy as np

#: Active-speech frames for :func:`level_segment` (ms).
LEVEL_FRAME_MS = 20.0
#: A frame is active speech when it is within this many dB of the segment's
#: loud frames (the 95th percentile of frame levels) ...
LEVEL_GATE_REL_DB = -30.0
#: ... and above this absolute level (dBFS), so digital silence and dither never count.
LEVEL_GATE_ABS_DB = -70.0
#: The most gain :func:`level_segment` applies (a near-silent segment is not
#: pulled up to speech level: it is noise, not quiet speech).
MAX_GAIN_DB = 40.0
#: Look-ahead/release of the peak limiter (ms).
LIMITER_MS = 5.0
#: Oversampling for the limiter's inter-sample (true) peak estimate.
TRUE_PEAK_OVERSAMPLE = 8
#: Delivery resamplers keep the band up to this fraction of the master's Nyquist
#: (soxr's 0 dB point; the limiter's peak estimate models the same band).
DELIVERY_CUTOFF = 0.95




def _active_power(audio: np.ndarray, mask: np.ndarray, n: int) -> float:
    """Mean power of the samples in the active frames (``mask`` over frames of ``n``)."""
    frames = mask.size
    sq = np.zeros(frames * n, dtype=np.float64)
    sq[: audio.size] = np.square(audio, dtype=np.float64)
    per_frame = sq.reshape(frames, n).sum(axis=1)
    counts = np.full(frames, n, dtype=np.float64)
    counts[-1] = audio.size - (frames - 1) * n
    return float(per_frame[mask].sum() / max(counts[mask].sum(), 1.0))


def active_speech_mask(audio: np.ndarray, sr: int) -> np.ndarray:
    """Per-frame (:data:`LEVEL_FRAME_MS`) active-speech decisions used by :func:`level_segment`.

    A frame is active when its RMS is at least ``loud + LEVEL_GATE_REL_DB`` and
    at least :data:`LEVEL_GATE_ABS_DB` dBFS, where *loud* is the 95th percentile
    of the segment's frame levels (robust to one click). The gate is relative
    so that the decision does not depend on the input's level: a segment and
    the same segment 10 dB quieter get the same mask and so the same output.
    """
    a = np.asarray(audio, dtype=np.float32)
    n = max(1, round(sr * LEVEL_FRAME_MS / 1000.0))
    if a.size == 0:
        return np.zeros(0, dtype=bool)
    frames = -(-a.size // n)
    sq = np.zeros(frames * n, dtype=np.float64)
    sq[: a.size] = np.square(a, dtype=np.float64)
    counts = np.full(frames, n, dtype=np.float64)
    counts[-1] = a.size - (frames - 1) * n
    db = 10.0 * np.log10(np.maximum(sq.reshape(frames, n).sum(axis=1) / counts, 1e-20))
    loud = float(np.percentile(db, 95))
    mask: np.ndarray = db >= max(loud + LEVEL_GATE_REL_DB, LEVEL_GATE_ABS_DB)
    return mask


def _true_peak_envelope(y: np.ndarray) -> np.ndarray:
    """Per-sample magnitude of the waveform a delivery resampler reconstructs: the
    largest |value| among the sample and the :data:`TRUE_PEAK_OVERSAMPLE` - 1
    points after it.

    The waveform is reconstructed by FFT (sinc interpolation, padded with
    silence so the ends do not wrap) through the delivery band: flat to
    :data:`DELIVERY_CUTOFF` of Nyquist, a raised-cosine roll-off to zero at
    Nyquist, as :func:`orchestrator.output.audiobook.resample_filter` configures the resampler. Short
    polyphase filters (BS.1770's too) roll off early and under-read the peaks
    of fricative energy near Nyquist; and removing the top of the band can
    *raise* peaks, so the estimate must see the band the resampler keeps.
    """
    from scipy import fft

    k = TRUE_PEAK_OVERSAMPLE
    pad = 64
    n = fft.next_fast_len(y.size + 2 * pad, real=True)
    spec = fft.rfft(np.pad(y, (pad, n - y.size - pad)))
    f = np.linspace(0.0, 1.0, spec.size)  # fraction of Nyquist
    roll = np.clip((f - DELIVERY_CUTOFF) / (1.0 - DELIVERY_CUTOFF), 0.0, 1.0)
    spec *= 0.5 * (1.0 + np.cos(np.pi * roll))
    up = fft.irfft(spec, n * k) * k
    seg = np.abs(up[pad * k : (pad + y.size) * k])
    env: np.ndarray = np.maximum(np.abs(y), seg.reshape(y.size, k).max(axis=1))
    return env


def limit_peaks(audio: np.ndarray, ceiling_db: float, sr: int, *, true_peak: bool = True) -> np.ndarray:
    """Smooth look-ahead peak limiter: nothing of the result exceeds ``ceiling_db`` dBFS.

    The same idea as :func:`workers.emotion.apply_gain`, with the ceiling as a
    parameter: where a sample would pass the ceiling, the needed gain reduction
    is spread by a moving minimum over :data:`LIMITER_MS` each side and
    smoothed by a Hann window of the same reach, so the gain starts falling
    before the peak (look-ahead), has no steps (no clicks), and is never above
    what any sample in reach needs. Samples far from peaks are untouched.

    With ``true_peak`` (the default) the limiter works on the inter-sample
    peaks (:data:`TRUE_PEAK_OVERSAMPLE`-times oversampled, ideal
    reconstruction), not just the
    samples: resampling to 44.1 kHz for delivery reconstructs the waveform
    between samples, and sample-peak limiting alone let those overshoot by up
    to a dB on speech-like test signals. The sample peak is then also under
    the ceiling.
    """
    y = np.asarray(audio, dtype=np.float64)
    # A hair under the ceiling so that rounding to float32 cannot land above it.
    ceiling = 10.0 ** (ceiling_db / 20.0) * (1.0 - 1e-6)
    if y.size == 0:
        return y.astype(np.float32)
    from scipy.ndimage import minimum_filter1d
    from scipy.signal import fftconvolve

    width = max(3, int(sr * LIMITER_MS / 1000) | 1)
    win = np.hanning(2 * width + 1)
    out = y
    for _ in range(3):  # the gain change itself moves inter-sample peaks a little: re-check
        mag = _true_peak_envelope(out) if true_peak else np.abs(out)
        if mag.max() <= ceiling:
            break
        need = np.minimum(1.0, ceiling / np.maximum(mag, 1e-12))
        held = minimum_filter1d(need, size=2 * width + 1, mode="nearest")
        smooth = fftconvolve(np.pad(held, width, mode="edge"), win / win.sum(), mode="valid")
        # min() with the exact need: the ceiling holds even where the smoothing leaves a hair over.
        out = out * np.minimum(smooth, need)
    if not true_peak or np.abs(out).max() > ceiling:
        out = out * np.minimum(1.0, ceiling / np.maximum(np.abs(out), 1e-12))
    return out.astype(np.float32)


def level_segment(audio: np.ndarray, sr: int, rms_db: float, peak_db: float) -> np.ndarray:
    """Level one segment: its active-speech RMS to ``rms_db``, no sample above ``peak_db``.

    *Active speech* is the frames chosen by :func:`active_speech_mask` (20 ms
    frames within 30 dB of the segment's loud frames and above -70 dBFS);
    pauses inside the segment do not lower the measured level. A gain (at most
    :data:`MAX_GAIN_DB`) brings that RMS to ``rms_db``; the peak limiter
    (:func:`limit_peaks`) then holds every sample, and the inter-sample peaks
    a resampler will reconstruct, at or under ``peak_db``.
    Limiting lowers the RMS a little, so the gain is corrected and the limiter
    re-run from the original audio (a few rounds; converges to well within
    0.1 dB unless the target crest factor is impossible).

    Deterministic and independent of where the segment will be placed. A
    segment with no active speech (silence) is returned unchanged. Mono
    ``float32`` in, ``float32`` out, same length.
    """
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim != 1:
        raise ValueError(f"expected mono audio (1-D array), got shape {a.shape}")
    mask = active_speech_mask(a, sr)
    if not mask.any():
        return a.copy()
    n = max(1, round(sr * LEVEL_FRAME_MS / 1000.0))
    power = _active_power(a, mask, n)
    if power <= 0.0:
        return a.copy()
    gain_db = min(rms_db - 10.0 * math.log10(power), MAX_GAIN_DB)
    out = a
    for _ in range(6):
        out = limit_peaks(a.astype(np.float64) * 10.0 ** (gain_db / 20.0), peak_db, sr)
        got = 10.0 * math.log10(max(_active_power(out, mask, n), 1e-20))
        err = rms_db - got
        if abs(err) < 0.01 or gain_db >= MAX_GAIN_DB:
            break
        gain_db = min(gain_db + err, MAX_GAIN_DB)
    return out
