"""Fitting one synthesized line to its subtitle slot (dubbing).

Pure logic: the engine comes in as a callable ``synth(speed) -> audio`` (mono
``float32`` at ``sr``), so the policy is tested without a model. Time-stretching
uses :func:`workers.audio.stretch` (rubberband R3).

Terms
-----
*slot*      the cue's own length (``end - start``), in seconds.
*max_s*     the most the line may take: the slot plus the gap before the next
            cue (``next_start - start``); never less than the slot.
*natural*   the length of the speech rendered at engine speed 1.0, with the
            leading and trailing audio quieter than ``trim_db`` (absolute dBFS)
            cut off (the first engine call).
*rate*      ``natural / target``: the overall speed-up (> 1 is faster).

Policy (:func:`plan_rate`)
--------------------------
With ``r = natural / slot``:

1. ``r < comfortable_min`` (short line in a long slot): slow down no further
   than ``comfortable_min``: ``target = natural / comfortable_min`` (< slot);
   the speech starts at the slot start and silence pads it to the slot.
2. ``comfortable_min <= r <= comfortable_max``: ``target = slot`` exactly.
3. ``r > comfortable_max``: borrow the gap before the next cue, up to ``max_s``:

   a. ``natural / comfortable_max <= max_s``: ``target = natural / comfortable_max``;
   b. else, if ``natural / max_s <= hard_max``: ``target = max_s``;
   c. else the line overflows: ``target = natural / hard_max`` (> ``max_s``),
      and the audio is cut at ``max_s`` with a short fade;
      ``overflow_s = target - max_s`` is the speech that was lost.

   ``borrowed_s`` is the time used beyond the slot end.

``hard_min`` is kept in the policy (and its hash) for validation only: a line
shorter than its slot is padded, never slowed below ``comfortable_min``.

Realising the rate
------------------
If the needed rate ``natural / target`` is more than ``engine_tolerance`` (10 %)
away from 1 and ``max_engine_calls > 1``, the engine is called again at speed
``clamp(rate, engine_rate_min, engine_rate_max)`` (Kokoro's length is about
linear in ``1 / speed``; its speed control above ~1.15 costs intelligibility).
With ``max_engine_calls > 2`` the speed is refined the same way (secant on
``length ~ 1 / speed``) until a take is within the tolerance or the speed is
clamped. The take closest to the target is kept, trimmed the same way, and the
residual is time-stretched to exactly ``round(target * sr)`` samples. The
stretcher softens the first and last millisecond or so; when the speech measured
after the stretch is off by more than 0.5 ms, a second stretch pass aims at the
lost length and the result is re-aligned on its first speech sample.

The returned audio starts at the first speech sample (onset = slot start) and
is exactly ``round(max(slot, min(target, max_s)) * sr)`` samples long: speech,
then zeros. ``error_s`` is the speech length measured on the stretched speech
(trimmed the same way as ``natural``) minus ``target``: the fitting error,
a couple of milliseconds at most. (For an overflow, the cut is reported by
``overflow_s``, not by ``error_s``.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workers import audio

if TYPE_CHECKING:  # pragma: no cover
    from voicecast.settings import FitSettings

log = logging.getLogger(__name__)

_EPS = 1e-9

#: Fade applied where an overflowing line is cut at ``max_s``.
OVERFLOW_FADE_MS = 10.0


@dataclass(frozen=True)
class FitPolicy:
    """The numbers that decide how a line is fitted (see the module docstring)."""

    comfortable_min: float = 0.8
    comfortable_max: float = 1.25
    hard_min: float = 0.7
    hard_max: float = 1.4
    engine_rate_min: float = 0.87
    engine_rate_max: float = 1.15
    max_engine_calls: int = 2
    trim_db: float = -40.0
    #: A take within this relative distance of the target is not re-synthesized.
    engine_tolerance: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.hard_min <= self.comfortable_min <= 1.0:
            raise ValueError("need 0 < hard_min <= comfortable_min <= 1")
        if not 1.0 <= self.comfortable_max <= self.hard_max:
            raise ValueError("need 1 <= comfortable_max <= hard_max")
        if not 0 < self.engine_rate_min <= 1.0 <= self.engine_rate_max:
            raise ValueError("need 0 < engine_rate_min <= 1 <= engine_rate_max")
        if self.max_engine_calls < 1:
            raise ValueError("max_engine_calls must be at least 1")
        if self.engine_tolerance < 0:
            raise ValueError("engine_tolerance must be >= 0")

    @classmethod
    def from_settings(cls, fs: FitSettings) -> FitPolicy:
        """Build from :class:`voicecast.settings.FitSettings` (same field names)."""
        return cls(**fs.model_dump())

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of every field, for the segment's content hash."""
        return asdict(self)


@dataclass
class FitResult:
    """A fitted line and the figures for the job's fit report."""

    audio: np.ndarray
    sample_rate: int
    natural_s: float
    slot_s: float
    target_s: float
    rate: float
    engine_rate: float
    stretch: float
    borrowed_s: float
    overflow: bool
    overflow_s: float
    engine_calls: int
    final_s: float
    error_s: float
    #: First speech sample of ``audio`` in seconds (0 by construction).
    onset_s: float = 0.0
    #: Every engine call as ``(speed, trimmed take length in s)``, in order.
    takes: list[tuple[float, float]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """Everything but the audio, floats rounded (ms resolution and better)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "audio":
                continue
            if isinstance(value, float):
                value = round(value, 4)
            elif key == "takes":
                value = [[round(s, 4), round(n, 4)] for s, n in value]
            out[key] = value
        return out


def plan_rate(
    natural_s: float, slot_s: float, max_s: float, policy: FitPolicy
) -> tuple[float, float, bool, float]:
    """Decide the target length of a line: ``(target_s, borrowed_s, overflow, overflow_s)``.

    ``max_s`` below ``slot_s`` is treated as ``slot_s`` (no gap to borrow).
    """
    if slot_s <= 0:
        raise ValueError(f"slot length must be positive, got {slot_s}")
    if natural_s <= 0:
        raise ValueError(f"natural length must be positive, got {natural_s}")
    max_s = max(max_s, slot_s)
    r = natural_s / slot_s
    overflow = False
    # _EPS: a rate exactly at a limit (up to float rounding) is within it.
    if r < policy.comfortable_min - _EPS:
        target = natural_s / policy.comfortable_min
    elif r <= policy.comfortable_max + _EPS:
        target = slot_s
    elif natural_s / policy.comfortable_max <= max_s + _EPS:
        target = min(natural_s / policy.comfortable_max, max_s)
    elif natural_s / max_s <= policy.hard_max + _EPS:
        target = max_s
    else:
        target = natural_s / policy.hard_max
        overflow = True
    borrowed = max(0.0, min(target, max_s) - slot_s)
    overflow_s = target - max_s if overflow else 0.0
    return target, borrowed, overflow, overflow_s


class _Trim:
    """Trim and measure speech the same way for every take and for the result."""

    def __init__(self, sr: int, threshold_db: float) -> None:
        self.sr = sr
        self.threshold_db = threshold_db

    def bounds(self, x: np.ndarray) -> tuple[int, int] | None:
        return audio.speech_bounds(x, self.sr, self.threshold_db)

    def trim(self, x: np.ndarray) -> np.ndarray:
        y, _ = audio.trim_silence(x, self.sr, self.threshold_db)
        return y


def _take(synth: Callable[[float], np.ndarray], speed: float, trim: _Trim) -> np.ndarray:
    raw = np.squeeze(np.asarray(synth(speed), dtype=np.float32))
    if raw.ndim != 1:
        raise ValueError(f"engine must return mono audio (1-D), got shape {raw.shape}")
    speech = trim.trim(raw)
    if speech.size == 0:
        raise ValueError("engine produced no audible speech")
    return speech


def _stretch_exact(take: np.ndarray, sr: int, target_n: int, trim: _Trim) -> np.ndarray:
    """Stretch ``take`` so that its *measured* speech is ``target_n`` samples from sample 0.

    The stretcher softens the first and last milliseconds a little, so the speech
    measured after one pass starts up to ~1.5 ms late and is up to ~2 ms short.
    When that exceeds half a millisecond, a second pass aims at the length the
    first one lost, and the result is re-aligned on its first speech sample.
    """
    out = audio.stretch(take, sr, target_n)
    bounds = trim.bounds(out)
    tol = max(1, int(round(sr * 0.0005)))
    if bounds is None:
        return out
    measured = bounds[1] - bounds[0] + 1
    if bounds[0] <= tol and abs(measured - target_n) <= tol:
        return out
    aim = max(1, int(round(target_n * target_n / max(measured, 1))))
    second = audio.stretch(take, sr, aim)
    b2 = trim.bounds(second)
    if b2 is None:
        return out
    second = second[b2[0] :]
    measured2 = b2[1] - b2[0] + 1
    if abs(measured2 - target_n) > abs(measured - target_n):
        return out
    # Only a few samples of the speech tail differ here: no fade.
    return audio.pad_or_cut(second, target_n, fade_ms=0.0, sr=sr)


def fit_to_slot(
    synth: Callable[[float], np.ndarray],
    sr: int,
    slot_s: float,
    max_s: float,
    policy: FitPolicy | None = None,
) -> FitResult:
    """Synthesize a line with ``synth(speed)`` and fit it to its slot.

    See the module docstring for the policy. Raises ``ValueError`` for a
    non-positive slot or when the engine's output has no audible speech.
    """
    policy = policy or FitPolicy()
    if slot_s <= 0:
        raise ValueError(f"slot length must be positive, got {slot_s}")
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    max_s = max(float(max_s), float(slot_s))
    trim = _Trim(sr, policy.trim_db)

    take = _take(synth, 1.0, trim)
    natural_s = take.size / sr
    target_s, borrowed_s, overflow, overflow_s = plan_rate(natural_s, slot_s, max_s, policy)
    target_n = max(1, int(round(target_s * sr)))
    out_n = int(round(max(slot_s, min(target_s, max_s)) * sr))

    # Engine rate control: speed ~ 1/length, so the speed that would hit the target
    # from a take at `speed` of `n` samples is speed * n / target_n.
    takes: list[tuple[float, np.ndarray]] = [(1.0, take)]
    speed = 1.0
    while len(takes) < policy.max_engine_calls:
        needed = take.size / target_n
        if abs(needed - 1.0) <= policy.engine_tolerance:
            break
        new_speed = min(max(speed * needed, policy.engine_rate_min), policy.engine_rate_max)
        if any(abs(new_speed - s) < 1e-3 for s, _ in takes):
            break  # clamped at a speed already tried: no better take to get
        speed = new_speed
        take = _take(synth, speed, trim)
        takes.append((speed, take))

    # Keep the take that needs the least stretching (ties: the later one).
    engine_rate, kept = min(
        reversed(takes), key=lambda t: abs(math.log(t[1].size / target_n))
    )
    speech = _stretch_exact(kept, sr, target_n, trim)

    bounds = trim.bounds(speech)
    if bounds is None:  # cannot happen for a non-silent take; keep the figures honest
        measured_n, onset_n = 0, 0
    else:
        measured_n, onset_n = bounds[1] - bounds[0] + 1, bounds[0]
    error_s = measured_n / sr - target_s

    if overflow:
        out = audio.pad_or_cut(speech, out_n, fade_ms=OVERFLOW_FADE_MS, sr=sr)
    else:
        out = audio.pad_or_cut(speech, out_n, fade_ms=0.0, sr=sr)

    result = FitResult(
        audio=out,
        sample_rate=sr,
        natural_s=natural_s,
        slot_s=float(slot_s),
        target_s=target_s,
        rate=natural_s / target_s,
        engine_rate=engine_rate,
        stretch=kept.size / target_n,
        borrowed_s=borrowed_s,
        overflow=overflow,
        overflow_s=overflow_s,
        engine_calls=len(takes),
        final_s=out.size / sr,
        error_s=error_s,
        onset_s=onset_n / sr,
        takes=[(s, t.size / sr) for s, t in takes],
    )
    if overflow:
        log.warning(
            "line overflows its slot by %.3f s even at rate %.2f; cut at %.3f s",
            overflow_s, policy.hard_max, max_s,
        )
    return result
