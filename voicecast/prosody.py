"""Prosodic features of a speech recording: pitch level and range, rate, energy, voicing.

:func:`features` measures the five features of
:data:`voicecast.emotions.FEATURES` (and a few by-products) on a mono float
array. The emotion benchmark compares them between emotional and neutral
renders; workers read them off ``[like:CLIP]`` clips. Pure functions: no model,
no state; ``parselmouth`` (Praat) is imported on first use.

The measurement is deliberately independent of the renderer: emotions are
rendered with WORLD (``pyworld``), pitch here is Praat's autocorrelation
tracker, so a renderer bug is not hidden by the same algorithm measuring its
own output.

Definitions
-----------
*Frames.* Everything runs on one 10 ms grid (:data:`HOP_S`).

*Active speech.* A 10 ms frame is active when its RMS level is at least
``max(loud - 30 dB, min(noise + 6 dB, loud - 20 dB), -55 dBFS)``, where *loud*
is the 99th percentile of the frame levels (the loudest speech, robust to a
click) and *noise* the 5th percentile (the pauses): the rule of
:func:`voicecast.audio.activity_mask`, computed here on this module's own
float64 10 ms grid (the one its pitch and syllable tracks share). Inactive
runs shorter than :data:`MIN_PAUSE_S` (0.25 s) between active frames are
counted as speech: stop closures and the short breaks between words are
part of speaking, a pause of a quarter second or more is not (the usual
articulation-rate convention). Leading and trailing silence never counts.

*Pitch.* Praat's "To Pitch (ac)" (Boersma 1993) with a 10 ms step, floor
:data:`PITCH_FLOOR` = 60 Hz and ceiling :data:`PITCH_CEILING` = 600 Hz: low
enough for a deep male voice, high enough for a raised, excited female voice
(a 250 Hz voice raised by 7 semitones has its median near 375 Hz and its peaks
above 500 Hz), and Praat's other settings at their defaults.

*Voicing criterion.* A frame is voiced when Praat's Viterbi path through the
pitch candidates picks a pitched candidate there: its normalized
autocorrelation peak (minus the octave cost) beats the voicing threshold 0.45,
the frame's local peak amplitude is above 0.03 of the recording's peak
(silence threshold), and staying voiced is cheaper than switching, with the
voiced/unvoiced transition cost 0.14 and octave-jump cost 0.35. Aperiodic
sound (whisper, fricatives, noise) has no strong autocorrelation peak and is
unvoiced. Only voiced frames that are also active count.

Features
--------
``f0_median``
    median F0 over voiced frames, in **semitones re 100 Hz**
    (``12 * log2(f0 / 100)``); ``f0_median_hz`` is the same median in Hz.
``f0_range``
    95th minus 5th percentile of F0 over voiced frames, in semitones.

    Both need :data:`MIN_VOICED_S` (0.2 s, 20 frames) of voiced active speech;
    with less (a whisper's few stray voiced frames) they are NaN rather than
    the percentiles of a handful of frames.
``rate``
    syllables per second of active speech. Syllables are counted in ``text``
    when it is given (:func:`count_syllables`, after the text normalization the
    engine uses, so "21st" counts as "twenty-first"), else estimated from the
    audio as syllable nuclei (:func:`syllable_nuclei`, de Jong & Wempe 2009;
    voiced peaks only, unless under 30 % of the active frames are voiced: a
    whisper's syllables are unvoiced).
``rms``
    RMS level over the active frames in dBFS, 0 dB being the RMS of a
    full-scale square wave (a full-scale sine is -3.01 dBFS).
``voiced_ratio``
    voiced active frames / active frames.

Also in the dict: ``syllables`` (the count ``rate`` used), ``syllables_text``
(NaN without text), ``syllables_nuclei``, ``nuclei_rate`` (syllable nuclei per
second of active speech, whether or not ``text`` is given: the rate to compare
a clip whose words are unknown with a render), ``active_s``, ``voiced_s`` and
``duration_s``. A feature that cannot be measured (no voiced frame for the F0
features, no active frame for the others) is NaN.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

__all__ = [
    "HOP_S",
    "MIN_PAUSE_S",
    "MIN_VOICED_S",
    "PITCH_CEILING",
    "PITCH_FLOOR",
    "active_frames",
    "count_syllables",
    "features",
    "frame_levels_db",
    "pitch_track",
    "semitones",
    "syllable_nuclei",
    "word_syllables",
]

#: Frame step of every contour (s).
HOP_S = 0.01
#: Pitch search range (Hz).
PITCH_FLOOR, PITCH_CEILING = 60.0, 600.0
#: Activity threshold (see the module docstring): loud - 30 dB, or the noise
#: floor + 6 dB if higher (but at most loud - 20 dB), and never below -55 dBFS.
ACTIVE_BELOW_LOUD_DB = 30.0
NOISE_MARGIN_DB = 6.0
ACTIVE_MAX_BELOW_LOUD_DB = 20.0
ACTIVE_FLOOR_DBFS = -55.0
#: The F0 features need at least this much voiced active speech (s).
MIN_VOICED_S = 0.2
#: Silent gaps shorter than this inside speech count as speech (s).
MIN_PAUSE_S = 0.25
#: Syllable nuclei: intensity peaks at least this far above the dip to the next
#: peak (dB), and above the 99th-percentile intensity minus NUCLEUS_BELOW_LOUD_DB.
NUCLEUS_MIN_DIP_DB = 2.0
NUCLEUS_BELOW_LOUD_DB = 25.0
#: Nuclei must be voiced when at least this share of the active frames is.
NUCLEI_VOICED_MIN = 0.3

_EPS = 1e-10


def semitones(hz: np.ndarray | float, ref_hz: float = 100.0) -> np.ndarray:
    """Frequency in semitones re ``ref_hz``."""
    return 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / ref_hz)


def _mono64(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim > 1:  # (samples, channels) as soundfile reads it
        x = x.mean(axis=1)
    return np.nan_to_num(x)


# --------------------------------------------------------------------------- energy


def frame_levels_db(audio: np.ndarray, sr: int, hop_s: float = HOP_S) -> np.ndarray:
    """RMS level (dBFS) of consecutive non-overlapping ``hop_s`` frames (the last
    one partial); frame ``k`` covers ``[k * hop, (k + 1) * hop)``."""
    x = _mono64(audio)
    n = max(1, int(round(sr * hop_s)))
    if x.size == 0:
        return np.zeros(0)
    frames = -(-x.size // n)
    sq = np.zeros(frames * n)
    sq[: x.size] = x * x
    counts = np.full(frames, float(n))
    counts[-1] = x.size - (frames - 1) * n
    power = sq.reshape(frames, n).sum(axis=1) / counts
    return 10.0 * np.log10(np.maximum(power, _EPS**2))


def _fill_short_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """Set runs of False shorter than ``max_gap`` frames lying between Trues."""
    out = mask.copy()
    idx = np.flatnonzero(mask)
    if idx.size < 2:
        return out
    gaps = np.diff(idx) - 1
    for start, gap in zip(idx[:-1], gaps, strict=True):
        if 0 < gap < max_gap:
            out[start + 1 : start + 1 + gap] = True
    return out


def active_frames(levels_db: np.ndarray, hop_s: float = HOP_S) -> np.ndarray:
    """Active-speech decision per frame from :func:`frame_levels_db` (see the
    module docstring for the threshold and the gap filling)."""
    db = np.asarray(levels_db, dtype=np.float64)
    if db.size == 0:
        return np.zeros(0, dtype=bool)
    loud = float(np.percentile(db, 99)) if db.size >= 100 else float(db.max())
    noise = float(np.percentile(db, 5))
    thr = max(loud - ACTIVE_BELOW_LOUD_DB,
              min(noise + NOISE_MARGIN_DB, loud - ACTIVE_MAX_BELOW_LOUD_DB),
              ACTIVE_FLOOR_DBFS)
    return _fill_short_gaps(db >= thr, int(round(MIN_PAUSE_S / hop_s)))


# --------------------------------------------------------------------------- pitch


def _sound(x: np.ndarray, sr: int) -> Any:
    import parselmouth

    return parselmouth.Sound(x, sampling_frequency=float(sr))


def pitch_track(audio: np.ndarray, sr: int, *, floor: float = PITCH_FLOOR,
                ceiling: float = PITCH_CEILING, hop_s: float = HOP_S) -> np.ndarray:
    """F0 in Hz (0 = unvoiced) on the frame grid of :func:`frame_levels_db`.

    Praat's pitch frames are centred inside the signal on their own grid; each
    of our frames takes the Praat frame nearest to its centre (frames outside
    Praat's span, within half a window of the ends, are unvoiced).
    """
    x = _mono64(audio)
    n = max(1, int(round(sr * hop_s)))
    frames = -(-x.size // n) if x.size else 0
    f0 = np.zeros(frames)
    # Praat needs at least one analysis window (3 periods of the floor).
    if frames == 0 or x.size / sr <= 3.0 / floor + hop_s:
        return f0
    import parselmouth

    try:
        pitch = _sound(x, sr).to_pitch_ac(time_step=hop_s, pitch_floor=floor, pitch_ceiling=ceiling)
    except parselmouth.PraatError:
        return f0
    values = np.asarray(pitch.selected_array["frequency"], dtype=np.float64)
    if values.size == 0:
        return f0
    centres = (np.arange(frames) + 0.5) * n / sr
    idx = np.rint((centres - pitch.x1) / pitch.dx).astype(int)
    inside = (idx >= 0) & (idx < values.size)
    f0[inside] = values[idx[inside]]
    f0[~np.isfinite(f0)] = 0.0
    return f0


# --------------------------------------------------------------------------- syllables

# Words whose spelling the rules below get wrong, and common enough to matter.
_SYLLABLE_EXCEPTIONS: dict[str, int] = {
    "people": 2, "hundred": 2, "every": 3, "everything": 4, "everyone": 4, "everybody": 5,
    "business": 2, "family": 3, "different": 3, "evening": 2, "interesting": 4, "chocolate": 3,
    "sometimes": 2, "someone": 2, "something": 2, "somewhere": 2, "whatever": 3, "whenever": 3,
    "forever": 3, "however": 3, "idea": 3, "area": 3, "real": 1, "being": 2, "science": 2,
    "quiet": 2, "poem": 2, "naive": 2, "recipe": 3, "cafe": 2, "maybe": 2, "anyone": 3,
    "lion": 2, "onion": 2, "orange": 2, "fire": 1, "hour": 1, "our": 1, "flower": 2, "power": 2,
    "video": 3, "radio": 3, "create": 2, "created": 3, "theatre": 3, "theater": 3,
}


def word_syllables(word: str) -> int:
    """Syllables in one English word, by rule (vowel groups with corrections).

    Vowel groups (``a e i o u y``, ``y`` a consonant at the start of a word or
    between vowels, ``u`` silent after ``q``) after removing silent endings: a
    final ``e`` after a consonant (but not consonant + ``le``: "table"), the
    ``e`` of ``-es`` unless after a sibilant (``s x z c g ch sh``: "roses"), the
    ``e`` of ``-ed`` unless after ``t``/``d`` ("mailed" 1, "planted" 2), and a
    silent ``e`` before ``-ly -ment -ful -ness -less``. Plus one for common
    hiatus spellings (``ia io iu eo ua uo`` outside ``-tion``-like endings,
    ``-eum``, ``-iet``, a vowel before final ``-ing``, ``-sm``, comparative
    ``-ier``/``-iest``). A word with
    letters has at least one syllable; a few common irregular words are listed.
    """
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return 0
    if w in _SYLLABLE_EXCEPTIONS:
        return _SYLLABLE_EXCEPTIONS[w]
    if len(w) <= 3:
        return 1
    w = w.replace("qu", "q")
    w = re.sub(r"^y", "", w)
    w = re.sub(r"([aeiou])y(?=[aeiou])", r"\1-", w)  # "player": y is a consonant here
    # Silent endings.
    w = re.sub(r"([^aeiouy])e(ly|ment|ful|ness|less)$", r"\1\2", w)
    if re.search(r"[^aeiouysxzcgh]es$", w) and not re.search(r"[^aeiouy]les$", w):
        w = w[:-1]  # "stones" -> "stone" -> (silent e below)
    if re.search(r"[^aeiouytd]ed$", w):
        w = w[:-2]  # "mailed" -> "mail"
    if re.search(r"[^aeiouy]e$", w) and not re.search(r"[^aeiouy]le$", w):
        w = w[:-1]  # "close" -> "clos"
    count = len(re.findall(r"[aeiouy]+", w))
    # Two-syllable vowel spellings.
    count += len(re.findall(r"[^ctsgx]i[ao]", w))
    count += len(re.findall(r"iu|eo(?!p)", w))
    count += len(re.findall(r"(?<![qg])u[ao]", w))
    count += bool(re.search(r"eum$|iet|[aeiou]ing$|[aeiouy]sm$|[^aeiou]i(?:er|est)$", w))
    return max(1, count)


def count_syllables(text: str) -> int:
    """Syllables in ``text`` as spoken: normalized like the engine reads it
    (numbers, money, abbreviations spelled out by :mod:`voicecast.textnorm`), then
    :func:`word_syllables` per word."""
    try:
        from voicecast.textnorm import words_for_wer
    except ImportError:  # only voicecast installed: plain words, digits not spelled out
        words = re.findall(r"[A-Za-z']+", text)
    else:
        words = words_for_wer(text)
    return sum(word_syllables(w) for w in words)


def syllable_nuclei(audio: np.ndarray, sr: int, f0: np.ndarray | None = None, *,
                    require_voicing: bool = True) -> int:
    """Estimated syllables in ``audio``: voiced intensity peaks (de Jong & Wempe 2009).

    Intensity is Praat's (minimum pitch 50 Hz, 10 ms step). A peak counts when it
    is above the 99th-percentile intensity minus 25 dB, stands at least 2 dB above
    the lowest point between it and the next peak (or the end), and, with
    ``require_voicing``, falls on a voiced frame (``f0`` from :func:`pitch_track`,
    computed if not given), which keeps fricative bursts out. Whispered speech
    has no voiced frames: :func:`features` turns the voicing test off for a
    recording that is mostly unvoiced (then fricatives may count too).
    """
    x = _mono64(audio)
    if x.size / sr <= 0.1:
        return 0
    intensity = _sound(x, sr).to_intensity(minimum_pitch=50.0, time_step=HOP_S, subtract_mean=False)
    v = np.asarray(intensity.values, dtype=np.float64).ravel()
    if v.size < 3:
        return 0
    times = np.asarray(intensity.xs(), dtype=np.float64)
    if f0 is None and require_voicing:
        f0 = pitch_track(x, sr)
    threshold = float(np.percentile(v, 99)) - NUCLEUS_BELOW_LOUD_DB
    peaks = [i for i in range(1, v.size - 1) if v[i] > v[i - 1] and v[i] >= v[i + 1] and v[i] > threshold]
    count = 0
    for k, i in enumerate(peaks):
        end = peaks[k + 1] if k + 1 < len(peaks) else v.size - 1
        if v[i] - float(v[i : end + 1].min()) < NUCLEUS_MIN_DIP_DB:
            continue
        frame = int(times[i] / HOP_S)
        if f0 is None or not require_voicing or (0 <= frame < f0.size and f0[frame] > 0):
            count += 1
    return count


# --------------------------------------------------------------------------- features


def features(audio: np.ndarray, sr: int, text: str | None = None) -> dict[str, float]:
    """The prosodic features of one recording (see the module docstring)."""
    x = _mono64(audio)
    levels = frame_levels_db(x, sr)
    active = active_frames(levels)
    f0 = pitch_track(x, sr)
    voiced = (f0 > 0) & active
    n_active = int(active.sum())
    hop = HOP_S

    nan = math.nan
    out: dict[str, float] = {
        "duration_s": x.size / sr,
        "active_s": n_active * hop,
        "voiced_s": int(voiced.sum()) * hop,
    }
    if voiced.sum() * hop >= MIN_VOICED_S - 1e-9:
        st = semitones(f0[voiced])
        lo, hi = np.percentile(st, [5, 95])
        out["f0_median"] = float(np.median(st))
        out["f0_median_hz"] = float(np.median(f0[voiced]))
        out["f0_range"] = float(hi - lo)
    else:
        out["f0_median"] = out["f0_median_hz"] = out["f0_range"] = nan

    syl_text = float(count_syllables(text)) if text is not None else nan
    # Nuclei must be voiced unless the recording is mostly unvoiced (a whisper).
    mostly_voiced = n_active > 0 and voiced.sum() >= NUCLEI_VOICED_MIN * n_active
    syl_nuclei = float(syllable_nuclei(x, sr, f0, require_voicing=bool(mostly_voiced)))
    syllables = syl_nuclei if math.isnan(syl_text) else syl_text
    out.update(syllables=syllables, syllables_text=syl_text, syllables_nuclei=syl_nuclei)
    if n_active:
        power = 10.0 ** (levels[active] / 10.0)
        out["rate"] = syllables / (n_active * hop)
        out["nuclei_rate"] = syl_nuclei / (n_active * hop)
        out["rms"] = float(10.0 * np.log10(max(float(power.mean()), _EPS**2)))
        out["voiced_ratio"] = int(voiced.sum()) / n_active
    else:
        out["rate"] = out["nuclei_rate"] = out["rms"] = out["voiced_ratio"] = nan
    return out
