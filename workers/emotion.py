"""Emotion on engines without emotion control: prosody targets and the DSP that realises them.

Each emotion is a :class:`Prosody` at intensity 1.0 (:data:`EMOTION_PROSODY`);
intensity ``i`` scales it (:func:`prosody_for`): rate and range
multiplicatively (``rate ** i``), pitch shift, gain and style offsets linearly.
A line is rendered in this order (:func:`render`):

1. **style** (engines with prosody directions, i.e. Kokoro): an offset in the
   prosody half of the style vector along a measured direction
   (``KokoroEngine.prosody_directions``, derived by
   ``bench/derive_style_directions.py``) makes the engine itself speak
   higher or lower, with its own intonation;
2. **rate**: the engine's speed control (``speed * rate``);
3. **pitch** level and range: PSOLA (Praat's overlap-add resynthesis through
   parselmouth): every pitch point ``f`` becomes
   ``m * 2**(shift/12) * (f / m) ** range`` with ``m`` the line's median F0;
4. **voicing** (whisper): WORLD analysis (pyworld: harvest, CheapTrick, D4C)
   and resynthesis with the aperiodicity raised towards 1; at full whisper the
   excitation is noise only (no F0), so the spectral envelope (the voice's
   timbre) is kept and the voicing is gone; below full whisper the voice is
   breathy;
5. **energy**: a gain in dB through a look-ahead peak limiter at -1 dBFS
   (:func:`apply_gain`), so loud emotions really are louder, not just scaled
   back down to the same peak.

Emotion by example (``[like:CLIP]``, :func:`transfer`) measures the clip and a
neutral render of the line with the same estimators and sets rate, pitch level,
range and gain so the line takes the clip's values, each limited to a range
that keeps the target voice recognisable.

The directions each emotion promises are in :data:`voicecast.emotions.EXPECTED`;
``bench/bench_emotion.py`` measures them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicecast.emotions import DEFAULT_INTENSITY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prosody:
    """Changes to a neutral render (identity: all defaults)."""

    #: Speaking-rate factor (> 1 faster), through the engine's speed.
    rate: float = 1.0
    #: Pitch level change in semitones.
    f0_shift_st: float = 0.0
    #: Factor on the spread of log-F0 around the median (> 1 livelier).
    f0_range: float = 1.0
    #: Loudness change in dB.
    gain_db: float = 0.0
    #: 0: voiced as rendered; 1: whispered (no voicing); between: breathy.
    whisper: float = 0.0
    #: Offsets along the engine's measured style directions, in semitones of
    #: pitch level and of pitch range (``workers/data/kokoro_prosody_directions.npz``).
    style_f0_st: float = 0.0
    style_range_st: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self == Prosody()


#: Each emotion at intensity 1.0. A pitch-level change is split between the
#: engine's style (``style_f0_st``: the engine renders the line higher or lower
#: itself, with its own intonation; at most +-1.5 st, well inside the validated
#: +-3) and PSOLA (``f0_shift_st``, the rest); on an engine without prosody
#: directions the style parts go to PSOLA instead.
#: A wider pitch range is likewise split between the engine's range direction
#: (``style_range_st``, which widens cleanly but narrows only weakly,
#: ``bench/results/style_directions.md``) and PSOLA (``f0_range``); a narrower
#: range is PSOLA only. Faster rates are kept small:
#: on the built-in engine speeding up costs more intelligibility than any
#: pitch or energy change (``docs/emotion.md``).
EMOTION_PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(),
    "happy": Prosody(rate=1.08, style_f0_st=1.2, f0_shift_st=1.3, style_range_st=1.0, f0_range=1.25,
                     gain_db=2.5),
    "sad": Prosody(rate=0.85, style_f0_st=-1.0, f0_shift_st=-1.0, f0_range=0.65, gain_db=-4.0),
    "angry": Prosody(rate=1.10, style_f0_st=0.8, f0_shift_st=0.7, style_range_st=1.0, f0_range=1.20,
                     gain_db=4.0),
    "fearful": Prosody(rate=1.12, style_f0_st=1.5, f0_shift_st=1.5, f0_range=0.75, gain_db=-2.5),
    "surprised": Prosody(rate=1.0, style_f0_st=1.5, f0_shift_st=2.5, style_range_st=1.5, f0_range=1.45,
                         gain_db=2.0),
    "calm": Prosody(rate=0.90, style_f0_st=-0.5, f0_shift_st=-0.5, f0_range=0.80, gain_db=-3.0),
    "excited": Prosody(rate=1.10, style_f0_st=1.5, f0_shift_st=1.5, style_range_st=1.5, f0_range=1.25,
                       gain_db=3.0),
    "whisper": Prosody(rate=0.92, gain_db=-6.0, whisper=1.0),
}
#: Whisper intensity at and above which a line is fully unvoiced; below it the
#: voice is breathy (aperiodicity raised by ``intensity / WHISPER_FULL``).
WHISPER_FULL = 0.6
#: The limiter keeps lines below this (dBFS), reacting over this many ms.
PEAK_LIMIT_DB = -1.0
LIMITER_MS = 5.0


def prosody_for(emotion: str, intensity: float = DEFAULT_INTENSITY) -> Prosody:
    """The prosody of ``emotion`` at ``intensity`` (0-1). Raises ``ValueError``."""
    if emotion not in EMOTION_PROSODY:
        raise ValueError(f"unknown emotion {emotion!r}; known: {', '.join(EMOTION_PROSODY)}")
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be within 0-1, got {intensity}")
    return scale(EMOTION_PROSODY[emotion], intensity)


def scale(p: Prosody, i: float) -> Prosody:
    """``p`` at fraction ``i``: rate and range as powers, the rest linearly;
    whisper reaches full voicelessness at ``WHISPER_FULL``."""
    return Prosody(
        rate=p.rate ** i,
        f0_shift_st=p.f0_shift_st * i,
        f0_range=p.f0_range ** i,
        gain_db=p.gain_db * i,
        whisper=min(1.0, p.whisper * i / WHISPER_FULL) if p.whisper else 0.0,
        style_f0_st=p.style_f0_st * i,
        style_range_st=p.style_range_st * i,
    )


# --------------------------------------------------------------------------- DSP


def _median_f0(f0: np.ndarray) -> float | None:
    voiced = f0[np.isfinite(f0) & (f0 > 0)]
    return float(np.median(voiced)) if voiced.size else None


def shift_pitch(audio: np.ndarray, sr: int, shift_st: float, range_factor: float) -> np.ndarray:
    """PSOLA: raise the pitch by ``shift_st`` semitones and scale its log-spread
    around the median by ``range_factor``; length unchanged. Unvoiced audio
    (no pitch found) comes back unchanged."""
    if abs(shift_st) < 1e-3 and abs(range_factor - 1.0) < 1e-3:
        return audio
    import parselmouth
    from parselmouth.praat import call

    snd = parselmouth.Sound(np.asarray(audio, dtype=np.float64), sampling_frequency=sr)
    manipulation = call(snd, "To Manipulation", 0.01, 60.0, 600.0)
    tier = call(manipulation, "Extract pitch tier")
    n = call(tier, "Get number of points")
    if n == 0:
        return audio
    f0 = np.array([call(tier, "Get value at index", k) for k in range(1, n + 1)])
    median = _median_f0(f0)
    if median is None:
        return audio
    factor = 2.0 ** (shift_st / 12.0)
    call(tier, "Formula", f"{median * factor!r} * (self / {median!r}) ^ {range_factor!r}")
    call([tier, manipulation], "Replace pitch tier")
    out = call(manipulation, "Get resynthesis (overlap-add)")
    y = np.asarray(out.values[0], dtype=np.float32)
    return _same_length(y, audio.size)


def _same_length(y: np.ndarray, n: int) -> np.ndarray:
    if y.size >= n:
        return y[:n]
    return np.concatenate([y, np.zeros(n - y.size, dtype=np.float32)])


def whisper(audio: np.ndarray, sr: int, amount: float) -> np.ndarray:
    """WORLD resynthesis with the aperiodicity raised by ``amount`` (0-1) towards
    1; at 1 the excitation is noise only (F0 set to 0): a whisper in the same
    spectral envelope. Length unchanged."""
    if amount <= 0.0:
        return audio
    import pyworld

    x = np.asarray(audio, dtype=np.float64)
    period = 5.0
    f0, t = pyworld.harvest(x, sr, f0_floor=60.0, f0_ceil=600.0, frame_period=period)
    sp = pyworld.cheaptrick(x, f0, t, sr)
    ap = pyworld.d4c(x, f0, t, sr)
    if amount >= 1.0:
        f0, ap = np.zeros_like(f0), np.ones_like(ap)
    else:
        ap = ap + (1.0 - ap) * amount
    y = pyworld.synthesize(f0, sp, ap, sr, period)
    return _same_length(np.asarray(y, dtype=np.float32), audio.size)


def apply_gain(audio: np.ndarray, gain_db: float, sr: int = 24000) -> np.ndarray:
    """Gain in dB through a look-ahead peak limiter at :data:`PEAK_LIMIT_DB`.

    Where a sample would pass the ceiling, the gain is lowered smoothly around
    it: the needed reduction is spread by a moving minimum over
    :data:`LIMITER_MS` and smoothed by a Hann window of the same length, so
    the limited gain is never above what any sample in reach needs (no
    overshoot) and has no steps (no clicks). Only the peaks are touched, so
    the line's RMS rises by nearly the full gain.
    """
    y = np.asarray(audio, dtype=np.float64) * 10.0 ** (gain_db / 20.0)
    ceiling = 10.0 ** (PEAK_LIMIT_DB / 20.0)
    mag = np.abs(y)
    if y.size == 0 or mag.max() <= ceiling:
        return y.astype(np.float32)
    from scipy.ndimage import minimum_filter1d
    from scipy.signal import fftconvolve

    width = max(3, int(sr * LIMITER_MS / 1000) | 1)
    need = np.minimum(1.0, ceiling / np.maximum(mag, 1e-12))
    held = minimum_filter1d(need, size=2 * width + 1, mode="nearest")
    win = np.hanning(2 * width + 1)
    smooth = fftconvolve(np.pad(held, width, mode="edge"), win / win.sum(), mode="valid")
    y = y * np.minimum(smooth, need)  # exact ceiling even where rounding leaves a hair over
    return y.astype(np.float32)


def post_process(audio: np.ndarray, sr: int, p: Prosody) -> np.ndarray:
    """Steps 3-5 of the module docstring on an engine render (already at ``p.rate``)."""
    y = np.asarray(audio, dtype=np.float32)
    if not np.any(y):
        return y
    y = shift_pitch(y, sr, p.f0_shift_st, p.f0_range)
    y = whisper(y, sr, p.whisper)
    if p.gain_db:
        y = apply_gain(y, p.gain_db, sr)
    return y


# --------------------------------------------------------------------------- by example


@dataclass(frozen=True)
class Measured:
    """What :func:`transfer` compares: median F0 (semitones re 100 Hz), F0 range
    (5-95 %, semitones), syllable rate (nuclei per second of sound), RMS (dBFS)."""

    f0_st: float | None
    range_st: float | None
    rate: float | None
    rms_db: float | None


#: Limits on what a clip may change, so the target voice stays itself.
LIKE_LIMITS: dict[str, tuple[float, float]] = {
    "rate": (0.75, 1.3), "f0_shift_st": (-4.0, 4.0), "f0_range": (0.5, 2.0), "gain_db": (-8.0, 6.0),
}


def measure(audio: np.ndarray, sr: int) -> Measured:
    """Measure a clip or a render (Praat pitch, intensity-peak syllable nuclei);
    a feature that cannot be measured (no voicing in a whisper, silence) is None
    and is then left unchanged by :func:`transfer`."""
    from voicecast import prosody

    f = prosody.features(audio, sr)

    def finite(key: str) -> float | None:
        v = f.get(key)
        return float(v) if v is not None and math.isfinite(v) else None

    return Measured(f0_st=finite("f0_median"), range_st=finite("f0_range"),
                    rate=finite("nuclei_rate"), rms_db=finite("rms"))


def _clamp(name: str, value: float) -> float:
    lo, hi = LIKE_LIMITS[name]
    return float(min(max(value, lo), hi))


def transfer(clip: Measured, neutral: Measured, amount: float = 1.0) -> Prosody:
    """The prosody that moves a line measured as ``neutral`` to the clip's values,
    limited by :data:`LIKE_LIMITS`, at fraction ``amount``."""
    rate = _clamp("rate", clip.rate / neutral.rate) if clip.rate and neutral.rate else 1.0
    shift = (_clamp("f0_shift_st", clip.f0_st - neutral.f0_st)
             if clip.f0_st is not None and neutral.f0_st is not None else 0.0)
    rng = (_clamp("f0_range", clip.range_st / neutral.range_st)
           if clip.range_st and neutral.range_st else 1.0)
    gain = (_clamp("gain_db", clip.rms_db - neutral.rms_db)
            if clip.rms_db is not None and neutral.rms_db is not None else 0.0)
    return scale(Prosody(rate=rate, f0_shift_st=shift, f0_range=rng, gain_db=gain), amount)


def describe(p: Prosody) -> dict[str, Any]:
    """Rounded fields for logs and the fit report."""
    return {k: round(v, 3) for k, v in p.__dict__.items() if not math.isclose(v, getattr(Prosody(), k))}


__all__ = [
    "EMOTION_PROSODY", "LIKE_LIMITS", "Measured", "Prosody", "apply_gain", "describe", "measure",
    "post_process", "prosody_for", "scale", "shift_pitch", "transfer", "whisper",
]
