"""Where a process spends its time, by stage: a small wall-clock ledger.

The control process of a render wraps each of its stages (``plan``, ``sql``,
``check``, ``dispatch``, ``wait``, ``record``, ``assembly``, ``encode``,
``deliver``) in :meth:`StageClock.stage`; at the end the CLI logs the totals
as one line (``stages {"plan": 1.2, ...}``, logger ``orchestrator.stages``),
which ``bench/bench_orchestration.py`` reads. Stages nest: time spent in an
inner stage is counted there and not in the outer one, so the totals add up
to the time covered, never more.

Not thread-safe by design: one clock per thread of work (the module-level
:data:`STAGES` is the main thread's).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class StageClock:
    """Accumulated wall seconds per named stage (exclusive of nested stages)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._totals: dict[str, float] = {}
        self._stack: list[str] = []
        self._since = 0.0

    def _charge(self, now: float) -> None:
        if self._stack:
            name = self._stack[-1]
            self._totals[name] = self._totals.get(name, 0.0) + (now - self._since)
        self._since = now

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Count the time inside the block as ``name`` (less any inner stage's)."""
        self._charge(self._clock())
        self._stack.append(name)
        try:
            yield
        finally:
            self._charge(self._clock())
            self._stack.pop()

    def add(self, name: str, seconds: float) -> None:
        """Add time measured elsewhere (such as a subprocess's wall time)."""
        self._totals[name] = self._totals.get(name, 0.0) + seconds

    def totals(self) -> dict[str, float]:
        """Seconds per stage, rounded to the millisecond, in first-seen order."""
        return {k: round(v, 3) for k, v in self._totals.items()}

    def reset(self) -> None:
        self._totals.clear()
        self._stack.clear()

    def line(self) -> str:
        """The log line's message: ``stages`` and the totals as JSON."""
        return "stages " + json.dumps(self.totals())


#: The control process's clock (its main thread).
STAGES = StageClock()
