"""workers.fitting.fit_to_slot: every branch, with a fake engine and real Rubber Band
(the stretch runs the ``rubberband`` tool, so this is not a unit test)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voicecast import audio
from voicecast.errors import SynthesisError
from workers.fitting import FitPolicy, FitResult, fit_to_slot

SR = 24000
NATURAL = 2.0  # seconds of speech at speed 1.0
TOL = 0.002  # fitting error allowed, seconds
THR = -40.0


def speech(seconds: float, sr: int = SR) -> np.ndarray:
    """Speech-like audio of exactly ``seconds`` above -40 dBFS (give or take a sample).

    Harmonic "syllables" (f0 130 Hz, five harmonics) under sin^2 envelopes with
    short pauses; the first and last syllables start/end at full envelope so the
    trimmed length is the nominal one.
    """
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    voiced = sum((0.5 / k) * np.sin(2 * np.pi * 130.0 * k * t + k) for k in range(1, 6))
    n_syl = max(1, int(round(seconds / 0.2)))
    phase = (t / seconds * n_syl) % 1.0
    env = 0.15 + 0.85 * np.sin(np.pi * phase) ** 2
    pause = (phase > 0.85) & (t < seconds * (n_syl - 1) / n_syl)  # none after the last
    env[pause] *= 0.05  # pauses between syllables, still above the trim level
    return (0.6 * voiced * env).astype(np.float32)


class FakeEngine:
    """``synth(speed)``: speech ``natural / speed**exponent`` long, with silence around it.

    ``step`` quantizes the length like Kokoro does (its length moves in steps).
    """

    def __init__(
        self, natural: float = NATURAL, exponent: float = 1.0, step: float = 0.0,
        lead: float = 0.15, trail: float = 0.3, scale_edges: bool = False,
    ) -> None:
        self.natural, self.exponent, self.step = natural, exponent, step
        self.lead, self.trail = lead, trail
        #: The edge silence scales with 1 / speed too (as Kokoro's does).
        self.scale_edges = scale_edges
        self.calls: list[float] = []
        self.predictions: list[float] = []

    def _parts(self, speed: float) -> tuple[int, float, int]:
        length = self.natural / speed**self.exponent
        if self.step:
            length = round(length / self.step) * self.step
        k = 1.0 / speed if self.scale_edges else 1.0
        return int(self.lead * k * SR), length, int(self.trail * k * SR)

    def __call__(self, speed: float) -> np.ndarray:
        self.calls.append(speed)
        lead, length, trail = self._parts(speed)
        return np.concatenate([np.zeros(lead, np.float32), speech(length), np.zeros(trail, np.float32)])

    def predict(self, speed: float) -> float:
        """The exact raw length ``self(speed)`` returns, without rendering."""
        self.predictions.append(speed)
        lead, length, trail = self._parts(speed)
        return (lead + int(round(length * SR)) + trail) / SR


def check_audio(res: FitResult, expected_total_s: float) -> None:
    """Exact length; speech from sample 0; measured speech length = target."""
    assert res.audio.dtype == np.float32
    assert res.audio.size == int(round(expected_total_s * SR))
    assert res.final_s == pytest.approx(res.audio.size / SR)
    first, last = audio.speech_bounds(res.audio, SR, THR)
    assert first <= 2  # onset at the slot start
    assert res.onset_s <= 2 / SR
    assert abs(res.error_s) <= TOL
    if not res.overflow:
        assert abs((last - first + 1) / SR - res.target_s) <= TOL
        assert not res.audio[int(round(res.target_s * SR)) + 2 :].any()  # zeros after speech


P = FitPolicy()


# --- fit_to_slot: every branch with real stretching ---------------------------------------


def test_comfortable_near_one_uses_one_engine_call() -> None:
    eng = FakeEngine()
    res = fit_to_slot(eng, SR, slot_s=2.1, max_s=3.0, policy=P)  # rate 0.952
    assert eng.calls == [1.0] and res.engine_calls == 1 and res.engine_rate == 1.0
    assert res.natural_s == pytest.approx(NATURAL, abs=2 / SR)
    assert res.target_s == 2.1 and res.borrowed_s == 0 and not res.overflow
    assert res.rate == pytest.approx(NATURAL / 2.1, abs=1e-3)
    assert res.stretch == pytest.approx(NATURAL / 2.1, abs=1e-3)
    check_audio(res, 2.1)


def test_comfortable_uses_the_engine_then_stretches_the_residual() -> None:
    eng = FakeEngine()
    res = fit_to_slot(eng, SR, slot_s=1.8, max_s=1.8, policy=P)  # rate 1.111
    assert res.engine_calls == 2 and eng.calls[1] == pytest.approx(NATURAL / 1.8)
    assert res.engine_rate == pytest.approx(NATURAL / 1.8)
    assert res.stretch == pytest.approx(1.0, abs=1e-3)  # the engine hit it
    check_audio(res, 1.8)


def test_engine_speed_is_clamped_and_residual_stretched() -> None:
    eng = FakeEngine()
    res = fit_to_slot(eng, SR, slot_s=1.62, max_s=1.62, policy=P)  # rate 1.235 > 1.15
    assert res.engine_rate == pytest.approx(1.15)
    assert res.stretch == pytest.approx(NATURAL / 1.15 / 1.62, abs=1e-3)
    check_audio(res, 1.62)


def test_short_line_is_padded_to_the_slot() -> None:
    eng = FakeEngine()
    res = fit_to_slot(eng, SR, slot_s=3.0, max_s=4.0, policy=P)  # rate 0.667
    assert res.target_s == pytest.approx(2.5) and res.rate == pytest.approx(0.8, abs=1e-3)
    assert res.engine_rate == pytest.approx(0.87)  # clamped at the engine's minimum
    assert res.borrowed_s == 0 and not res.overflow
    check_audio(res, 3.0)


def test_long_line_borrows_the_gap() -> None:
    eng = FakeEngine()
    res = fit_to_slot(eng, SR, slot_s=1.5, max_s=2.0, policy=P)  # rate 1.33
    assert res.target_s == pytest.approx(1.6) and res.borrowed_s == pytest.approx(0.1)
    assert res.rate == pytest.approx(1.25, abs=1e-3) and not res.overflow
    check_audio(res, 1.6)


def test_long_line_takes_the_whole_gap_up_to_hard_max() -> None:
    eng = FakeEngine()
    res = fit_to_slot(eng, SR, slot_s=1.4, max_s=1.5, policy=P)
    assert res.target_s == pytest.approx(1.5) and res.borrowed_s == pytest.approx(0.1)
    assert res.rate == pytest.approx(NATURAL / 1.5, abs=1e-3) and not res.overflow
    check_audio(res, 1.5)


def test_overflow_is_cut_with_a_fade_and_reported() -> None:
    eng = FakeEngine()
    res = fit_to_slot(eng, SR, slot_s=1.2, max_s=1.3, policy=P)
    assert res.overflow and res.rate == pytest.approx(1.4, abs=1e-3)
    assert res.overflow_s == pytest.approx(NATURAL / 1.4 - 1.3, abs=1e-3)
    assert res.borrowed_s == pytest.approx(0.1)
    check_audio(res, 1.3)
    a = res.audio
    assert a[-1] == 0 and np.abs(a[-int(0.03 * SR) : -int(0.012 * SR)]).max() > 0.05
    assert np.abs(a[-24:]).max() < np.abs(a[-int(0.03 * SR) :]).max()  # faded, no click


def test_single_engine_call_when_policy_says_so() -> None:
    eng = FakeEngine()
    res = fit_to_slot(eng, SR, 1.6, 1.6, FitPolicy(max_engine_calls=1))
    assert eng.calls == [1.0] and res.engine_calls == 1 and res.engine_rate == 1.0
    assert res.stretch == pytest.approx(1.25, abs=1e-3)
    check_audio(res, 1.6)


def test_stepped_engine_still_gives_exact_lengths() -> None:
    eng = FakeEngine(step=0.08)  # Kokoro-like: length moves in steps
    res = fit_to_slot(eng, SR, 1.75, 1.75, P)
    assert res.engine_calls == 2 and res.stretch != pytest.approx(1.0, abs=1e-3)
    check_audio(res, 1.75)


def test_more_engine_calls_refine_a_nonlinear_engine() -> None:
    # Piper-like: length ~ 1/speed**0.6, so one call falls short of the target
    pol = FitPolicy(max_engine_calls=4, engine_rate_max=1.3, engine_tolerance=0.06)
    two = fit_to_slot(FakeEngine(exponent=0.6), SR, 1.7, 1.7, P)
    eng = FakeEngine(exponent=0.6)
    four = fit_to_slot(eng, SR, 1.7, 1.7, pol)
    assert 2 < four.engine_calls <= 4 and len(eng.calls) == four.engine_calls
    assert abs(np.log(four.stretch)) < abs(np.log(two.stretch))
    assert abs(four.stretch - 1) <= pol.engine_tolerance
    assert [s for s, _ in four.takes] == eng.calls
    check_audio(four, 1.7)


def test_report_is_json_without_audio() -> None:
    res = fit_to_slot(FakeEngine(), SR, 1.5, 2.0, P)
    rep = res.report()
    assert "audio" not in rep and rep["engine_calls"] == 2 and rep["sample_rate"] == SR
    assert rep["target_s"] == round(res.target_s, 4)
    json.dumps(rep)


def test_silent_engine_output_is_an_error() -> None:
    # A user error (a line with nothing to say), not a bug: the job fails naming the line.
    with pytest.raises(SynthesisError, match="no audible speech"):
        fit_to_slot(lambda speed: np.zeros(SR, np.float32), SR, 1.0, 1.0, P)
    with pytest.raises(SynthesisError, match="no audible speech"):
        fit_to_slot(lambda speed: np.full(SR, 1e-4, np.float32), SR, 1.0, 1.0, P)


def test_bad_slot_is_an_error() -> None:
    with pytest.raises(ValueError):
        fit_to_slot(FakeEngine(), SR, 0.0, 1.0, P)
    with pytest.raises(ValueError):
        fit_to_slot(FakeEngine(), SR, -1.0, 1.0, P)


# --- fit_to_slot with a duration predictor: one engine call ----------------------------------

EDGE = 0.45  # FakeEngine's lead + trail at speed 1.0


def test_predictor_right_means_one_call_on_target() -> None:
    eng = FakeEngine(scale_edges=True)
    res = fit_to_slot(eng, SR, slot_s=1.8, max_s=1.8, policy=P, predict=eng.predict, edge_s=EDGE)
    assert res.predicted and res.engine_calls == 1 and len(eng.calls) == 1
    assert eng.calls[0] == pytest.approx(NATURAL / 1.8, rel=2e-3)  # solved on the predictor
    assert res.natural_s == pytest.approx(NATURAL, abs=1e-3)
    assert res.stretch == pytest.approx(1.0, abs=2e-3)  # the engine hit it
    assert 1 <= res.predict_calls <= 10 and res.predict_calls == len(set(eng.predictions))
    check_audio(res, 1.8)


def test_predictor_slows_a_line_with_the_engine() -> None:
    eng = FakeEngine(scale_edges=True)
    res = fit_to_slot(eng, SR, slot_s=2.2, max_s=2.2, policy=P, predict=eng.predict, edge_s=EDGE)
    assert res.engine_calls == 1 and eng.calls[0] == pytest.approx(NATURAL / 2.2, rel=2e-3)
    assert res.stretch == pytest.approx(1.0, abs=2e-3)
    check_audio(res, 2.2)


@pytest.mark.parametrize(
    "slot, max_s",
    [
        (2.1, 3.0),  # comfortable, near 1
        (1.8, 1.8),  # comfortable, engine
        (1.62, 1.62),  # beyond the engine's range: clamped, residual stretched
        (1.5, 2.0),  # borrows the gap at comfortable_max
        (1.4, 1.5),  # the whole gap, up to hard_max
        (1.2, 1.3),  # overflow
    ],
)
def test_predictor_keeps_every_branch_of_the_policy(slot: float, max_s: float) -> None:
    ref = fit_to_slot(FakeEngine(scale_edges=True), SR, slot, max_s, P)
    eng = FakeEngine(scale_edges=True)
    res = fit_to_slot(eng, SR, slot, max_s, P, predict=eng.predict, edge_s=EDGE)
    assert res.engine_calls == 1 and not ref.predicted
    for key in ("natural_s", "target_s", "rate", "borrowed_s", "overflow_s"):
        assert getattr(res, key) == pytest.approx(getattr(ref, key), abs=2e-3), key
    # natural_s may differ by a sample, and so may a length planned from it
    assert res.overflow == ref.overflow and abs(res.audio.size - ref.audio.size) <= 2
    assert min(P.engine_rate_min, 1.0) <= res.engine_rate <= P.engine_rate_max
    check_audio(res, max(slot, min(res.target_s, max_s)))


def test_a_predicted_short_line_starts_at_natural_speed() -> None:
    # Its target is natural / comfortable_min: measured exactly by a speed-1.0
    # take, which is then stretched (one call; without a predictor, two).
    ref = fit_to_slot(FakeEngine(scale_edges=True), SR, 3.0, 4.0, P)
    eng = FakeEngine(scale_edges=True)
    res = fit_to_slot(eng, SR, 3.0, 4.0, P, predict=eng.predict, edge_s=EDGE)
    assert res.predicted and res.takes[0][0] == 1.0 and (res.engine_calls, ref.engine_calls) == (1, 2)
    assert res.stretch == pytest.approx(P.comfortable_min, abs=1e-3)
    assert res.natural_s == pytest.approx(NATURAL, abs=1e-3)
    assert res.target_s == pytest.approx(NATURAL / P.comfortable_min, abs=1e-3)
    check_audio(res, 3.0)


def test_predictor_quantized_engine_is_still_one_call_and_exact() -> None:
    eng = FakeEngine(step=0.08, scale_edges=True)  # Kokoro-like steps, predicted exactly
    res = fit_to_slot(eng, SR, 1.75, 1.75, P, predict=eng.predict, edge_s=EDGE)
    assert res.engine_calls == 1 and abs(res.stretch - 1.0) < 0.03
    check_audio(res, 1.75)


def test_wrong_edge_prior_is_corrected_by_the_take() -> None:
    # edge_s = 0: the first estimate is 22 % long; the take corrects natural_s.
    eng = FakeEngine(scale_edges=True)
    res = fit_to_slot(eng, SR, 1.8, 1.8, P, predict=eng.predict, edge_s=0.0)
    assert res.natural_s == pytest.approx(NATURAL, abs=1e-3) and res.target_s == pytest.approx(1.8)
    assert res.engine_calls == 1 and abs(res.stretch - 1) <= P.engine_tolerance
    check_audio(res, 1.8)


def test_a_take_missing_by_more_than_the_tolerance_gets_a_second_call() -> None:
    eng = FakeEngine(scale_edges=True)
    res = fit_to_slot(eng, SR, 2.2, 2.2, P, predict=eng.predict, edge_s=0.0)
    assert res.engine_calls == 2 and res.takes[0][1] == pytest.approx(1.8, abs=0.01)  # 18 % short
    assert eng.calls[1] == pytest.approx(NATURAL / 2.2, rel=2e-3)
    assert res.engine_rate == eng.calls[1] and res.stretch == pytest.approx(1.0, abs=2e-3)
    check_audio(res, 2.2)
    # ... unless the policy allows one call only: then the residual is stretched.
    one = FakeEngine(scale_edges=True)
    res1 = fit_to_slot(one, SR, 2.2, 2.2, FitPolicy(max_engine_calls=1), predict=one.predict, edge_s=0.0)
    assert res1.engine_calls == 1 and res1.stretch == pytest.approx(1.8 / 2.2, abs=0.01)
    check_audio(res1, 2.2)


def test_predictor_returning_none_selects_the_natural_first_path() -> None:
    eng = FakeEngine()
    res = fit_to_slot(eng, SR, 1.8, 1.8, P, predict=lambda speed: None, edge_s=EDGE)
    assert not res.predicted and eng.calls[0] == 1.0 and res.engine_calls == 2
    check_audio(res, 1.8)


def test_bad_predictions_and_edges_are_errors() -> None:
    with pytest.raises(ValueError, match="predictor"):
        fit_to_slot(FakeEngine(), SR, 1.8, 1.8, P, predict=lambda speed: 0.0)
    with pytest.raises(ValueError, match="predictor"):
        fit_to_slot(FakeEngine(), SR, 1.8, 1.8, P, predict=lambda speed: float("nan"))
    with pytest.raises(ValueError, match="edge_s"):
        fit_to_slot(FakeEngine(), SR, 1.8, 1.8, P, predict=FakeEngine().predict, edge_s=-1.0)


def test_cost_figures_are_reported() -> None:
    eng = FakeEngine(scale_edges=True)
    res = fit_to_slot(eng, SR, 1.5, 2.0, P, predict=eng.predict, edge_s=EDGE)
    assert res.synth_calls_s >= res.kept_call_s > 0 and res.fit_s > 0
    rep = res.report()
    for key in ("fit_s", "synth_calls_s", "kept_call_s", "predict_calls", "predicted"):
        assert key in rep
    json.dumps(rep)
