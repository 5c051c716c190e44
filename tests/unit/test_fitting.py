"""workers.fitting: the slot-fitting policy (pure: no audio tool).

fit_to_slot itself, with a fake engine and real Rubber Band, is tested in
tests/integration/test_fit_to_slot.py.
"""

from __future__ import annotations

import json

import pytest

from voicecast.settings import FitSettings
from workers.fitting import FitPolicy, plan_rate

# --- plan_rate: the pure decision ---------------------------------------------------------

P = FitPolicy()


def test_plan_comfortable_fits_the_slot_exactly() -> None:
    assert plan_rate(2.0, 2.0, 2.0, P) == (2.0, 0.0, False, 0.0)
    assert plan_rate(2.0, 2.0 / 1.25, 3.0, P)[0] == pytest.approx(1.6)  # edge: rate 1.25
    assert plan_rate(1.6, 2.0, 2.0, P)[0] == pytest.approx(2.0)  # edge: rate 0.8


def test_plan_short_line_is_not_slowed_below_comfortable_min() -> None:
    target, borrowed, overflow, over = plan_rate(1.0, 3.0, 4.0, P)
    assert target == pytest.approx(1.25) and borrowed == 0 and not overflow and over == 0


def test_plan_borrows_the_gap_at_comfortable_max() -> None:
    target, borrowed, overflow, _ = plan_rate(2.0, 1.5, 2.0, P)
    assert target == pytest.approx(1.6) and borrowed == pytest.approx(0.1) and not overflow


def test_plan_uses_the_whole_gap_up_to_hard_max() -> None:
    target, borrowed, overflow, _ = plan_rate(2.0, 1.4, 1.5, P)
    assert target == pytest.approx(1.5) and borrowed == pytest.approx(0.1) and not overflow
    # exactly at the hard limit
    assert plan_rate(2.1, 1.4, 1.5, P)[2] is False


def test_plan_overflows_beyond_hard_max() -> None:
    target, borrowed, overflow, over = plan_rate(2.0, 1.2, 1.3, P)
    assert overflow and target == pytest.approx(2.0 / 1.4)
    assert over == pytest.approx(2.0 / 1.4 - 1.3) and borrowed == pytest.approx(0.1)


def test_plan_max_below_slot_means_no_gap() -> None:
    target, borrowed, overflow, over = plan_rate(2.0, 1.5, 0.0, P)
    assert target == pytest.approx(1.5) and borrowed == 0 and not overflow
    _, _, overflow, over = plan_rate(3.0, 2.0, 1.0, P)
    assert overflow and over == pytest.approx(3.0 / 1.4 - 2.0)


def test_plan_rejects_bad_lengths() -> None:
    with pytest.raises(ValueError):
        plan_rate(1.0, 0.0, 1.0, P)
    with pytest.raises(ValueError):
        plan_rate(0.0, 1.0, 1.0, P)


# --- policy object ------------------------------------------------------------------------


def test_policy_from_settings_and_as_dict() -> None:
    fs = FitSettings(comfortable_max=1.2, max_engine_calls=3, trim_db=-45)
    pol = FitPolicy.from_settings(fs)
    assert pol.comfortable_max == 1.2 and pol.max_engine_calls == 3 and pol.trim_db == -45
    assert FitPolicy.from_settings(FitSettings()) == FitPolicy()
    d = pol.as_dict()
    assert set(fs.model_dump()) <= set(d)
    json.dumps(d)  # hashable content


@pytest.mark.parametrize(
    "kwargs",
    [
        {"comfortable_min": 1.1}, {"hard_min": 0.9}, {"comfortable_max": 0.9},
        {"hard_max": 1.2}, {"engine_rate_min": 1.1}, {"max_engine_calls": 0},
    ],
)
def test_policy_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        FitPolicy(**kwargs)
