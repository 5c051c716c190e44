"""The style search's evolution strategy (workers.voices._evolve) on a known objective."""

from __future__ import annotations

import time

import numpy as np

from workers import voices
from workers.voices import VoiceProfile


class _Quadratic:
    """Stands in for the speaker-encoder scorer: closeness to a hidden goal."""

    def __init__(self, goal: np.ndarray) -> None:
        self.goal, self.calls = goal, 0

    def score(self, style: np.ndarray) -> float:
        self.calls += 1
        return float(np.exp(-np.sum((style - self.goal) ** 2) / style.size))


def test_evolution_climbs_toward_the_goal_within_its_budget() -> None:
    rng = np.random.default_rng(1)
    start = np.zeros(256, np.float32)
    goal = (0.8 * rng.standard_normal(256)).astype(np.float32)
    scorer = _Quadratic(goal)
    s0 = scorer.score(start)
    t0 = time.perf_counter()
    offset, best, history = voices._evolve(scorer, start, s0, np.ones(256, np.float32),
                                           time.perf_counter() + 0.5, np.random.default_rng(0))
    assert time.perf_counter() - t0 < 1.5
    # A deadline already past still runs one generation.
    _, _, one = voices._evolve(scorer, start, s0, np.ones(256, np.float32), 0.0, np.random.default_rng(0))
    assert len(one) == 1
    assert best > s0
    assert best == scorer.score(start + offset)  # the reported score is the kept offset's
    assert history == sorted(history)  # never moves to a worse point
    assert np.linalg.norm(start + offset - goal) < np.linalg.norm(start - goal)


def test_evolution_is_reproducible_for_a_seed() -> None:
    goal = np.full(16, 0.5, np.float32)
    runs = []
    for seed in (42, 42, 7):
        scorer = _Quadratic(goal)
        offset, best, history = voices._evolve(
            scorer, np.zeros(16, np.float32), scorer.score(np.zeros(16, np.float32)),
            np.ones(16, np.float32), time.perf_counter() + 60, np.random.default_rng(seed),
            max_generations=5)
        assert len(history) == 5
        runs.append(offset)
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_profile_round_trips_through_bytes() -> None:
    p = VoiceProfile(style=np.ones((510, 256), np.float32), embedding=np.arange(256, dtype=np.float32),
                     eq=np.array([0.0, 1.0, 0.0], np.float32))
    q = VoiceProfile.from_bytes(p.to_bytes())
    assert np.array_equal(q.style, p.style) and np.array_equal(q.embedding, p.embedding)
    assert np.array_equal(q.eq, p.eq)
    bare = VoiceProfile(style=p.style, embedding=p.embedding)
    assert VoiceProfile.from_bytes(bare.to_bytes()).eq.size == 0
