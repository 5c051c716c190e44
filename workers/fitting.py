"""Fitting one synthesized line to its subtitle slot (dubbing).

Pure logic: the engine comes in as a callable ``synth(speed) -> audio`` (mono
``float32`` at ``sr``), and optionally its duration predictor as
``predict(speed) -> seconds``, so the policy is tested without a model.
Time-stretching uses :func:`voicecast.audio.stretch` (rubberband R3).

Terms
-----
*slot*      the cue's own length (``end - start``), in seconds.
*max_s*     the most the line may take: the slot plus the gap before the next
            cue (``next_start - start``); never less than the slot.
*natural*   the length of the speech rendered at engine speed 1.0, with the
            leading and trailing audio quieter than ``trim_db`` (absolute dBFS)
            cut off: measured on a first engine call at speed 1.0, or, with a
            duration predictor, estimated from the one take at another speed
            (see "Realising the rate").
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
Two paths, the same policy and the same exact result length.

**With a duration predictor** (``predict(speed) -> seconds``: the length in
seconds of the *raw* engine output at that speed, without rendering; Kokoro's
duration predictor gives it exactly, see
:meth:`workers.engines.kokoro.KokoroEngine.predict_duration`), the engine is
called once:

1. *Estimate the natural length.* ``natural_est = predict(1.0) - edge_s``:
   ``edge_s`` is the engine's leading plus trailing silence at speed 1.0 as the
   trim measures it (a prior, e.g. ``KokoroEngine.edge_silence_s``; it is taken
   to scale as ``1 / speed``, and never to exceed half the raw length). The
   target is planned on this estimate (:func:`plan_rate`).
2. *Solve the engine speed on the predictor* (no rendering): the speed within
   ``[engine_rate_min, engine_rate_max]`` whose estimated speech length
   ``predict(speed) - edge_s / speed`` is closest to the target, by fixed-point
   iteration on ``length ~ 1 / speed`` (a handful of predictor calls; the
   predicted length moves in steps, so the closest speed tried is kept).
3. *One engine call* at that speed; the take is trimmed.
4. *Correct the estimate with the take*: ``natural_s = take * predict(1.0) /
   predict(speed)``, the take's trimmed length scaled by its speed ratio on the
   predictor (measured on 223 Kokoro lines against a real render at speed 1.0:
   sd 1.3 %, at most 4.8 %: the model does not render a slower line as a
   time-scaled copy). The target is planned again on this ``natural_s``; that is
   the plan reported and realised.
5. If the take still needs a stretch further than ``engine_tolerance`` from 1
   (the edge prior was off, typically on a very short line), and
   ``max_engine_calls`` allows, the speed is solved again on the predictor
   scaled to the take (``take * predict(s) / predict(speed)``) and the engine
   called again, unless the new speed is one already tried (clamped): rare.

A predictor that returns ``None`` (an engine without one) selects the path
below, and so does a line whose predicted rate is below ``comfortable_min``
plus :data:`SHORT_MARGIN` (a short line, or close to one): its target is
``natural / comfortable_min``, which only a take at speed 1.0 measures exactly
(the estimate above is off by up to 5 %, 60 ms on a 1.2 s line). With a
predictor such a line still gets one engine call: the natural take is
stretched to its target (at most 1 / comfortable_min, 25 % slower), where the
path without a predictor would render it again at the slowest engine speed.

**Without a predictor** the first engine call is at speed 1.0 and gives
``natural_s`` directly (the take's trimmed length). If the needed rate
``natural / target`` is more than ``engine_tolerance`` (10 %) away from 1 and
``max_engine_calls > 1``, the engine is called again at speed
``clamp(rate, engine_rate_min, engine_rate_max)`` (Kokoro's length is about
linear in ``1 / speed``; its speed control above ~1.15 costs intelligibility).
With ``max_engine_calls > 2`` the speed is refined the same way (secant on
``length ~ 1 / speed``) until a take is within the tolerance or the speed is
clamped.

Either way the take closest to the target is kept, trimmed, and the residual is
time-stretched to exactly ``round(target * sr)`` samples. The stretcher softens
the first and last millisecond or so; when the speech measured after the stretch
is off by more than 0.5 ms, a second stretch pass aims at the lost length and the
result is re-aligned on its first speech sample.

The returned audio starts at the first speech sample (onset = slot start) and
is exactly ``round(max(slot, min(target, max_s)) * sr)`` samples long: speech,
then zeros. ``error_s`` is the speech length measured on the stretched speech
(trimmed the same way as ``natural``) minus ``target``: the fitting error,
usually under a couple of milliseconds; where the speech fades out through
``trim_db`` in noise, the stretch can move the measured end by up to ~20 ms
(measured on Kokoro: 18.8 ms at most over 446 fits, bench/bench_timing.py).
(For an overflow, the cut is reported by ``overflow_s``, not by ``error_s``.)

Cost figures in the result: ``synth_calls_s`` is the time spent inside engine
calls, ``kept_call_s`` the time of the call whose take was kept (the synthesis
the line needs anyway), and ``fit_s`` everything else :func:`fit_to_slot` spent
(predictor calls, trimming, stretching, padding); so the cost of fitting beyond
one synthesis is ``fit_s + synth_calls_s - kept_call_s``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pydantic import ConfigDict

from voicecast import audio
from voicecast.errors import SynthesisError
from voicecast.settings import FitSettings

log = logging.getLogger(__name__)

_EPS = 1e-9
#: Lines whose predicted rate is below ``comfortable_min`` plus this take the
#: natural-first path even with a predictor (their target is natural / 0.8).
SHORT_MARGIN = 0.06

#: Fade applied where an overflowing line is cut at ``max_s``.
OVERFLOW_FADE_MS = 10.0


class FitPolicy(FitSettings):
    """The numbers that decide how a line is fitted (see the module docstring).

    The fields, their defaults, ranges and order checks are those of
    :class:`voicecast.settings.FitSettings` (one source: they also feed the
    segment's content hash); a policy is that model, frozen.
    """

    model_config = ConfigDict(frozen=True)

    @classmethod
    def from_settings(cls, fs: FitSettings) -> FitPolicy:
        """Build from :class:`voicecast.settings.FitSettings` (same field names)."""
        return cls(**fs.model_dump())

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of every field, for the segment's content hash."""
        return self.model_dump()


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
    #: The engine's duration predictor was used (one engine call planned).
    predicted: bool = False
    #: Calls of the duration predictor (none without one).
    predict_calls: int = 0
    #: Seconds inside engine calls, all of them.
    synth_calls_s: float = 0.0
    #: Seconds of the engine call whose take was kept.
    kept_call_s: float = 0.0
    #: Seconds :func:`fit_to_slot` spent outside engine calls (predictor,
    #: trimming, stretching, padding).
    fit_s: float = 0.0

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


def _speech(raw: np.ndarray, trim: _Trim) -> np.ndarray:
    """An engine output, checked and trimmed to its speech."""
    raw = np.squeeze(np.asarray(raw, dtype=np.float32))
    if raw.ndim != 1:
        raise ValueError(f"engine must return mono audio (1-D), got shape {raw.shape}")
    speech = trim.trim(raw)
    if speech.size == 0:
        raise SynthesisError("engine produced no audible speech")
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


class _Engine:
    """The engine callables, timed: every take and every predictor call."""

    def __init__(
        self,
        synth: Callable[[float], np.ndarray],
        predict: Callable[[float], float | None] | None,
        trim: _Trim,
    ) -> None:
        self.synth, self.predict_fn, self.trim = synth, predict, trim
        self.takes: list[tuple[float, np.ndarray]] = []
        self.call_s: list[float] = []
        self.predict_calls = 0
        self._predicted: dict[float, float | None] = {}

    def take(self, speed: float) -> np.ndarray:
        """One engine call at ``speed``, trimmed; recorded with its time."""
        t0 = time.perf_counter()
        raw = self.synth(speed)
        self.call_s.append(time.perf_counter() - t0)
        speech = _speech(raw, self.trim)
        self.takes.append((speed, speech))
        return speech

    def predict(self, speed: float) -> float | None:
        """Predicted raw length at ``speed`` (memoised per fit), or ``None``."""
        if self.predict_fn is None:
            return None
        key = round(float(speed), 6)
        if key not in self._predicted:
            self.predict_calls += 1
            value = self.predict_fn(key)
            if value is not None:
                value = float(value)
                if not math.isfinite(value) or value <= 0:
                    raise ValueError(f"duration predictor gave {value!r} s at speed {key}")
            self._predicted[key] = value
        return self._predicted[key]

    def predicted(self, speed: float) -> float:
        """Like :meth:`predict`, for a predictor known to answer."""
        value = self.predict(speed)
        if value is None:
            raise ValueError(f"duration predictor gave no length at speed {speed}")
        return value


def _solve_speed(
    length: Callable[[float], float], target_s: float, lo: float, hi: float, iterations: int = 8
) -> float:
    """The speed in ``[lo, hi]`` whose ``length(speed)`` (decreasing, in steps) is
    closest to ``target_s``: fixed-point iteration on ``length ~ 1 / speed`` from
    speed 1.0 (clamped); the closest speed evaluated wins (ties: nearest 1.0)."""
    seen: dict[float, float] = {}
    speed = min(max(1.0, lo), hi)
    for _ in range(iterations):
        speed = round(speed, 6)
        if speed in seen:
            break  # a fixed point, or a cycle between two steps of the predictor
        n = seen[speed] = length(speed)
        if n <= 0:
            break
        speed = min(max(speed * n / target_s, lo), hi)

    def miss(item: tuple[float, float]) -> tuple[float, float]:
        s, n = item
        return (abs(math.log(n / target_s)) if n > 0 else math.inf, abs(s - 1.0))

    return min(seen.items(), key=miss)[0]


@dataclass(frozen=True)
class _Line:
    """What a line is fitted to: its slot, the most it may take, the policy."""

    sr: int
    slot_s: float
    #: Never less than ``slot_s``.
    max_s: float
    policy: FitPolicy

    def plan(self, natural_s: float) -> _Plan:
        """The target for a line of ``natural_s`` seconds (:func:`plan_rate`)."""
        target_s, borrowed_s, overflow, overflow_s = plan_rate(
            natural_s, self.slot_s, self.max_s, self.policy
        )
        target_n = max(1, int(round(target_s * self.sr)))
        return _Plan(natural_s, target_s, borrowed_s, overflow, overflow_s, target_n)


@dataclass(frozen=True)
class _Plan:
    """A line's natural length and the target :func:`plan_rate` set for it."""

    natural_s: float
    target_s: float
    borrowed_s: float
    overflow: bool
    overflow_s: float
    #: ``target_s`` in samples (at least one).
    target_n: int


def _check_args(slot_s: float, sr: int, edge_s: float) -> None:
    if slot_s <= 0:
        raise ValueError(f"slot length must be positive, got {slot_s}")
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    if edge_s < 0 or not math.isfinite(edge_s):
        raise ValueError(f"edge_s must be a finite length >= 0, got {edge_s}")


def _takes_on_predictor(eng: _Engine, line: _Line, raw1: float, edge: float) -> _Plan:
    """Steps 1-5 of "Realising the rate" with a duration predictor: the take(s)
    at the speed solved on the predictor, and the plan corrected by the take."""
    lo, hi = line.policy.engine_rate_min, line.policy.engine_rate_max
    # 1. natural length estimated on the predictor; 2. speed solved on it; 3. one take.
    estimate = line.plan(raw1 - edge)
    speed = _solve_speed(lambda s: eng.predicted(s) - edge / s, estimate.target_s, lo, hi)
    take = eng.take(speed)
    # 4. natural length: the take scaled by its speed ratio on the predictor.
    plan = line.plan(take.size / line.sr * raw1 / eng.predicted(speed))
    # 5. another call only when the best take misses by more than the tolerance.
    while len(eng.takes) < line.policy.max_engine_calls:
        best = min(eng.takes, key=lambda t: abs(math.log(t[1].size / plan.target_n)))
        if abs(best[1].size / plan.target_n - 1.0) <= line.policy.engine_tolerance:
            break
        # The predictor scaled to the last take: trimmed seconds per predicted second.
        scale = eng.takes[-1][1].size / line.sr / eng.predicted(eng.takes[-1][0])

        def scaled(speed: float, scale: float = scale) -> float:
            return scale * eng.predicted(speed)

        new_speed = _solve_speed(scaled, plan.target_s, lo, hi)
        if any(abs(new_speed - s) < 1e-3 for s, _ in eng.takes):
            break  # the closest speed was tried already (or clamped): no better take
        eng.take(new_speed)
    return plan


def _takes_from_natural(eng: _Engine, line: _Line, max_calls: int) -> _Plan:
    """The path without a predictor (or for a short line): a take at speed 1.0
    measures the natural length; further takes at the speed that would hit the
    target, up to ``max_calls``."""
    lo, hi = line.policy.engine_rate_min, line.policy.engine_rate_max
    take = eng.take(1.0)
    plan = line.plan(take.size / line.sr)
    # Engine rate control: speed ~ 1/length, so the speed that would hit the target
    # from a take at `speed` of `n` samples is speed * n / target_n.
    speed = 1.0
    while len(eng.takes) < max_calls:
        needed = take.size / plan.target_n
        if abs(needed - 1.0) <= line.policy.engine_tolerance:
            break
        new_speed = min(max(speed * needed, lo), hi)
        if any(abs(new_speed - s) < 1e-3 for s, _ in eng.takes):
            break  # clamped at a speed already tried: no better take to get
        speed = new_speed
        take = eng.take(speed)
    return plan


def _kept_take(takes: list[tuple[float, np.ndarray]], target_n: int) -> int:
    """Index of the take that needs the least stretching (ties: the later one)."""
    return min(reversed(range(len(takes))), key=lambda i: abs(math.log(takes[i][1].size / target_n)))


def _place(speech: np.ndarray, line: _Line, plan: _Plan, trim: _Trim) -> tuple[np.ndarray, int, int]:
    """The fitted speech in its output: ``(audio, measured_n, onset_n)``, the
    audio exactly ``max(slot, min(target, max_s))`` long (speech, then zeros;
    an overflow cut with a fade), with the speech's measured length and onset."""
    out_n = int(round(max(line.slot_s, min(plan.target_s, line.max_s)) * line.sr))
    bounds = trim.bounds(speech)
    if bounds is None:  # cannot happen for a non-silent take; keep the figures honest
        measured_n, onset_n = 0, 0
    else:
        measured_n, onset_n = bounds[1] - bounds[0] + 1, bounds[0]
    fade_ms = OVERFLOW_FADE_MS if plan.overflow else 0.0
    return audio.pad_or_cut(speech, out_n, fade_ms=fade_ms, sr=line.sr), measured_n, onset_n


def fit_to_slot(
    synth: Callable[[float], np.ndarray],
    sr: int,
    slot_s: float,
    max_s: float,
    policy: FitPolicy | None = None,
    predict: Callable[[float], float | None] | None = None,
    *,
    edge_s: float = 0.0,
) -> FitResult:
    """Synthesize a line with ``synth(speed)`` and fit it to its slot.

    ``predict(speed)``, when given, is the engine's duration predictor: the raw
    output length in seconds at that speed (or ``None``: no predictor), and
    ``edge_s`` the engine's edge silence at speed 1.0, a prior (see the module
    docstring). Raises ``ValueError`` for a non-positive slot, and
    :class:`~voicecast.errors.SynthesisError` when the engine's output has no
    audible speech (a line can cause it: the job fails naming it).
    """
    t_start = time.perf_counter()
    policy = policy or FitPolicy()
    _check_args(slot_s, sr, edge_s)
    line = _Line(sr, slot_s, max(float(max_s), float(slot_s)), policy)
    trim = _Trim(sr, policy.trim_db)
    eng = _Engine(synth, predict, trim)

    # Predict the natural length, then take at the speed chosen from it.
    raw1 = eng.predict(1.0)
    edge = min(edge_s, 0.5 * raw1) if raw1 is not None else 0.0
    # A short line's target is natural / comfortable_min, which only a take at
    # natural speed measures exactly; near that branch, start there.
    short = raw1 is not None and (raw1 - edge) / slot_s < policy.comfortable_min + SHORT_MARGIN
    if raw1 is not None and not short:
        plan = _takes_on_predictor(eng, line, raw1, edge)
    else:
        # A predicted short line keeps its one natural take and is stretched:
        # a second call would only trade a little stretch for another render.
        plan = _takes_from_natural(eng, line, 1 if short else policy.max_engine_calls)

    # Keep the best take, stretch it to the exact target, place it in the output.
    kept_i = _kept_take(eng.takes, plan.target_n)
    engine_rate, kept = eng.takes[kept_i]
    speech = _stretch_exact(kept, sr, plan.target_n, trim)
    out, measured_n, onset_n = _place(speech, line, plan, trim)

    synth_calls_s = sum(eng.call_s)
    result = FitResult(
        audio=out,
        sample_rate=sr,
        natural_s=plan.natural_s,
        slot_s=float(slot_s),
        target_s=plan.target_s,
        rate=plan.natural_s / plan.target_s,
        engine_rate=engine_rate,
        stretch=kept.size / plan.target_n,
        borrowed_s=plan.borrowed_s,
        overflow=plan.overflow,
        overflow_s=plan.overflow_s,
        engine_calls=len(eng.takes),
        final_s=out.size / sr,
        error_s=measured_n / sr - plan.target_s,
        onset_s=onset_n / sr,
        takes=[(s, t.size / sr) for s, t in eng.takes],
        predicted=raw1 is not None,
        predict_calls=eng.predict_calls,
        synth_calls_s=synth_calls_s,
        kept_call_s=eng.call_s[kept_i],
        fit_s=time.perf_counter() - t_start - synth_calls_s,
    )
    if plan.overflow:
        log.warning(
            "line overflows its slot by %.3f s even at rate %.2f; cut at %.3f s",
            plan.overflow_s, policy.hard_max, line.max_s,
        )
    return result
