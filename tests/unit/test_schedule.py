"""The fair release planner (:func:`orchestrator.schedule.plan_release`), pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.schedule import Candidate, plan_release

T0 = datetime(2026, 11, 30, 12, 0, 0)


def job(name: str, tenant: str = "t", *, in_flight: int = 0, pending: int = 100, priority: int = 0,
        age: int = 0) -> Candidate:
    return Candidate(name, tenant, priority, T0 + timedelta(seconds=age), in_flight, pending)


def test_a_new_job_gets_the_free_places_before_a_job_that_holds_its_window() -> None:
    long = job("long", in_flight=8, pending=500)
    short = job("short", pending=6, age=2)
    assert plan_release([long, short], free=2, window=8) == {"short": 2}


def test_free_places_are_shared_round_robin_across_tenants_then_jobs() -> None:
    a1, a2, a3 = job("a1", "a"), job("a2", "a", age=1), job("a3", "a", age=2)
    b1 = job("b1", "b", age=3)
    got = plan_release([a1, a2, a3, b1], free=6, window=8)
    # Tenant b's one job gets as much as tenant a's three together.
    assert got["b1"] == 3 and got["a1"] + got["a2"] + got["a3"] == 3
    assert got == {"a1": 1, "a2": 1, "a3": 1, "b1": 3}


def test_no_job_passes_its_window_or_its_pending_count() -> None:
    got = plan_release([job("x", in_flight=6, pending=100), job("y", pending=1)], free=50, window=8)
    assert got == {"x": 2, "y": 1}


def test_higher_priority_is_served_first_and_lower_gets_what_is_left() -> None:
    low = job("low", priority=0)
    high = job("high", "other", priority=5, age=9)
    assert plan_release([low, high], free=3, window=8) == {"high": 3}
    assert plan_release([low, high], free=10, window=8) == {"high": 8, "low": 2}


def test_nothing_free_releases_nothing() -> None:
    assert plan_release([job("x")], free=0, window=8) == {}
    assert plan_release([], free=10, window=8) == {}


jobs_strategy = st.lists(
    st.builds(job, st.text("abcdefgh", min_size=1, max_size=3), st.sampled_from(["t1", "t2", "t3"]),
              in_flight=st.integers(0, 10), pending=st.integers(0, 30), priority=st.integers(-2, 2),
              age=st.integers(0, 100)),
    max_size=12, unique_by=lambda c: c.job_id)


@given(jobs_strategy, st.integers(0, 60), st.integers(1, 10))
def test_release_is_bounded_and_uses_every_place_it_can(jobs: list[Candidate], free: int,
                                                        window: int) -> None:
    got = plan_release(jobs, free, window)
    by_id = {c.job_id: c for c in jobs}
    assert sum(got.values()) <= free
    for job_id, n in got.items():
        c = by_id[job_id]
        assert 0 < n <= min(window - c.in_flight, c.pending)
    room = sum(max(0, min(window - c.in_flight, c.pending)) for c in jobs)
    assert sum(got.values()) == min(free, room)  # work-conserving
    assert plan_release(jobs, free, window) == got  # deterministic
