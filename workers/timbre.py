"""Long-term spectral matching: the timbre/channel part of a voice profile.

A speaker's long-term average spectrum (LTAS) carries much of what a listener,
and a speaker encoder, hears as their timbre and their microphone. After the
style search has found the closest voice the engine can produce, enrollment
measures the LTAS of the reference and of the clone speaking the probe
sentences, and stores the difference as a linear-phase FIR equaliser that
rendering applies to every segment (one FFT convolution; no delay, because
the filter is symmetric and applied centred).

The curve is the log ratio of the two spectra below 8 kHz (the band the
reference and the encoder share), smoothed over third-octave windows, with its
level-weighted mean removed (it changes colour, not loudness) and clamped to
``+/- max_db``; above 8 kHz it holds the 8 kHz gain, so a narrow-band reference
does not make the output narrow-band.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve, firwin2, resample_poly

#: Analysis rate and band: the speaker encoder's rate; references are 16 kHz.
ANALYSIS_SR = 16000
FFT_SIZE = 1024
HOP = 256
#: Frames quieter than this percentile of frame energy are ignored (pauses).
ACTIVE_PERCENTILE = 40.0
#: Default clamp of the correction and FIR length at the render rate.
MAX_DB = 12.0
TAPS = 511
#: Peak ceiling after equalisation (-0.1 dBFS).
HEADROOM = 0.989


def ltas(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean power spectrum of the active frames, ``FFT_SIZE // 2 + 1`` bins over 0-8 kHz."""
    x = np.asarray(audio, dtype=np.float64)
    if sample_rate != ANALYSIS_SR:
        x = resample_poly(x, ANALYSIS_SR, sample_rate)
    if x.size < FFT_SIZE:
        x = np.pad(x, (0, FFT_SIZE - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, FFT_SIZE)[::HOP] * np.hanning(FFT_SIZE)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = power.sum(axis=1)
    active = energy >= np.percentile(energy, ACTIVE_PERCENTILE)
    return power[active].mean(axis=0)


def correction_db(target: np.ndarray, source: np.ndarray, max_db: float = MAX_DB) -> np.ndarray:
    """Smoothed, level-neutral, clamped gain curve (dB per bin) taking ``source`` to ``target``."""
    if target.shape != source.shape:
        raise ValueError(f"LTAS shapes differ: {target.shape} vs {source.shape}")
    freqs = np.linspace(0.0, ANALYSIS_SR / 2, len(target))
    raw = 10.0 * np.log10((target + 1e-12) / (source + 1e-12))
    smooth = np.empty_like(raw)
    for i, f in enumerate(freqs):  # third-octave window (at least +/- 20 Hz)
        band = (freqs >= f / 2 ** (1 / 6) - 20.0) & (freqs <= f * 2 ** (1 / 6) + 20.0)
        smooth[i] = raw[band].mean()
    weights = source / source.sum() if source.sum() > 0 else None
    smooth -= np.average(smooth, weights=weights)
    return np.clip(smooth, -max_db, max_db)


def design_eq(gain_db: np.ndarray, sample_rate: int, taps: int = TAPS) -> np.ndarray:
    """Linear-phase FIR (odd length) with ``gain_db`` over 0-8 kHz, flat at the last gain above."""
    if taps % 2 == 0:
        raise ValueError("taps must be odd (a type-I linear-phase filter)")
    nyq = sample_rate / 2
    freqs = np.linspace(0.0, ANALYSIS_SR / 2, len(gain_db)) / nyq
    gains = 10.0 ** (np.asarray(gain_db) / 20.0)
    if freqs[-1] < 1.0:
        freqs, gains = np.append(freqs, 1.0), np.append(gains, gains[-1])
    else:  # render rate at or below 16 kHz: cut the curve at Nyquist
        keep = freqs < 1.0
        freqs, gains = np.append(freqs[keep], 1.0), np.append(gains[keep], gains[keep][-1])
    return firwin2(taps, freqs, gains).astype(np.float32)


def match_eq(reference: np.ndarray, reference_sr: int, render: np.ndarray, render_sr: int,
             max_db: float = MAX_DB) -> np.ndarray:
    """FIR that gives ``render`` (at ``render_sr``) the long-term spectrum of ``reference``."""
    gain = correction_db(ltas(reference, reference_sr), ltas(render, render_sr), max_db)
    return design_eq(gain, render_sr)


def apply_eq(audio: np.ndarray, taps: np.ndarray | None) -> np.ndarray:
    """Filter ``audio`` with a linear-phase FIR, centred (same length, no delay).

    A boost that would push peaks past full scale is scaled back to -0.1 dBFS
    (the track's loudness is set later, at assembly).
    """
    if taps is None or len(taps) == 0 or len(audio) == 0:
        return np.asarray(audio, dtype=np.float32)
    y = fftconvolve(np.asarray(audio, dtype=np.float32), taps, mode="same")
    peak = float(np.max(np.abs(y)))
    if peak > HEADROOM:
        y *= HEADROOM / peak
    return y.astype(np.float32, copy=False)
