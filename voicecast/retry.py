"""Outage budgets: capped exponential backoff that spans a time budget.

A transient failure (the broker restarting, S3 refusing connections) is
ridden out for a budget of seconds (``VOICECAST_QUEUE__RETRY_BUDGET_S``,
``VOICECAST_STORAGE__RETRY_BUDGET_S``), not for a count of tries whose total
depends on luck: the waits double from ``first_s`` up to ``cap_s`` and the
number of tries is the smallest whose waits add up to the budget. Jitter only
ever lengthens a wait (never shortens it), so the budget is always spanned.

Three places use it: a storage call retries in place (:func:`call_with_retry`,
``voicecast.storage``), sending a message retries through kombu's retry policy
(:func:`kombu_policy`), and a task that failed on a transient error is
re-queued with a countdown (``voicecast.celery_app.VoicecastTask.retry``).
Inside a task, a storage call retries in place only briefly
(:data:`TASK_CALL_BUDGET_S`, see :func:`call_budget`): a longer outage is
ridden out by the task's own retries, which wait in the queue, not inside the
task's time limit.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a storage call retries in place inside a task (a blip); the task
#: itself is then retried over the rest of the storage budget.
TASK_CALL_BUDGET_S = 15.0
#: Most jitter added to one wait, as a fraction of it.
JITTER = 0.25

_call_budget: ContextVar[float | None] = ContextVar("voicecast_call_budget", default=None)


def delays(budget_s: float, first_s: float = 1.0, cap_s: float = 30.0) -> list[float]:
    """The waits (seconds, without jitter) of a retry schedule: ``first_s``
    doubling up to ``cap_s``, as few as add up to at least ``budget_s``
    (none for a budget of 0)."""
    out: list[float] = []
    wait, total = max(first_s, 1e-3), 0.0
    while total < budget_s:
        step = min(wait, cap_s)
        out.append(step)
        total += step
        wait *= 2
    return out


def retries_within(budget_s: float, first_s: float = 1.0, cap_s: float = 30.0) -> int:
    """How many retries the schedule of :func:`delays` makes."""
    return len(delays(budget_s, first_s, cap_s))


def backoff(retries: int, first_s: float = 1.0, cap_s: float = 30.0) -> float:
    """The wait before retry number ``retries + 1`` (0-based), jitter included:
    ``min(cap, first * 2**retries)`` lengthened by up to :data:`JITTER`."""
    wait = min(cap_s, first_s * 2.0 ** min(retries, 60))
    return wait * (1.0 + random.uniform(0.0, JITTER))


def kombu_policy(budget_s: float, cap_s: float = 30.0) -> dict[str, Any]:
    """A kombu ``retry_policy`` (``Producer.publish``, Celery's
    ``task_publish_retry_policy``) that keeps trying to publish for about
    ``budget_s``: waits of 0, 1, 2, 3 ... seconds, at most ``cap_s``.

    kombu's schedule is linear (``interval_step``), not doubling; the count of
    tries is chosen so its waits add up to the budget."""
    step, cap = 1.0, max(1.0, cap_s)
    total, n, wait = 0.0, 0, 0.0
    while total < budget_s:
        total += min(wait, cap)
        wait += step
        n += 1
    return {"max_retries": n, "interval_start": 0, "interval_step": step, "interval_max": cap}


@contextmanager
def call_budget(seconds: float) -> Iterator[None]:
    """Within this block, :func:`call_with_retry` retries in place for at most
    ``seconds`` whatever budget it is given (a task body: the task retries)."""
    token = _call_budget.set(seconds)
    try:
        yield
    finally:
        _call_budget.reset(token)


def call_with_retry(fn: Callable[[], T], transient: Callable[[BaseException], bool], *,
                    budget_s: float, cap_s: float = 30.0, first_s: float = 0.5,
                    what: str = "call", sleep: Callable[[float], None] | None = None,
                    clock: Callable[[], float] | None = None) -> T:
    """Run ``fn``; while it raises an error ``transient`` accepts, wait (capped
    exponential backoff) and run it again, until ``budget_s`` has passed since
    the first failure; then the last error is raised. A budget narrowed by
    :func:`call_budget` applies instead when smaller."""
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    limit = _call_budget.get()
    budget = budget_s if limit is None else min(budget_s, limit)
    start: float | None = None
    retries = 0
    while True:
        try:
            return fn()
        except Exception as e:
            if not transient(e):
                raise
            now = clock()
            if start is None:
                start = now
            left = start + budget - now
            if left <= 0:
                raise
            wait = min(backoff(retries, first_s, cap_s), left)
            if retries == 0:
                log.warning("%s failed (%s); retrying for up to %.0f s", what, e, budget)
            retries += 1
            sleep(wait)
