"""Fair release of segments to the workers: a long job must not starve short ones.

The synth queue is first in, first out. Sending a 10,000-segment book whole
would put every later job behind its last segment. Instead a job's segments
stay *pending* in SQL and are *released* (marked queued and sent) in windows:

- a job has at most ``queue.job_window`` segments queued at once;
- all jobs together at most ``cap`` (``queue.max_in_flight`` in distributed
  mode; the local pool's window in an embedded service);
- free places are dealt one at a time: higher ``priority`` first; within a
  priority, round-robin across tenants (the tenant with the fewest segments
  in flight first), and within a tenant to its job with the fewest in flight
  (the oldest first).

A release runs when a job is dispatched, after results are recorded (each
result frees a place), and when a job ends or is cancelled. Every release
first updates the one ``scheduler`` row, which serialises releases across
processes and hosts; the chosen segments are marked queued in the same
transaction and sent after it commits. A send that fails leaves them queued
and the job driver's stall check (or ``voicecast resume``) sends them again.

:func:`plan_release` is the pure part (who gets how many places);
:func:`release` reads the state, applies it and sends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import groupby

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from orchestrator.store.db import session_scope
from orchestrator.store.models import Job, SchedulerLock, Segment
from orchestrator.store.states import JobStatus, SegmentStatus, check_segment
from voicecast.queue import SegmentSpec
from voicecast.settings import Settings


@dataclass(frozen=True)
class Candidate:
    """A rendering job as the scheduler sees it."""

    job_id: str
    tenant: str
    priority: int
    created: datetime
    in_flight: int
    #: Segments waiting to be released (counted up to the job's window).
    pending: int


def plan_release(jobs: Sequence[Candidate], free: int, window: int) -> dict[str, int]:
    """How many segments to release from each job, given ``free`` places in
    all and at most ``window`` in flight per job. Deterministic; a job is
    never given more than it has pending.

    >>> from datetime import datetime as dt
    >>> long = Candidate("A", "t1", 0, dt(2026, 1, 1), in_flight=8, pending=500)
    >>> short = Candidate("B", "t2", 0, dt(2026, 1, 2), in_flight=0, pending=6)
    >>> plan_release([long, short], free=4, window=8)
    {'B': 4}
    """
    room = {c.job_id: max(0, min(window - c.in_flight, c.pending)) for c in jobs}
    given: dict[str, int] = {}
    by_priority = sorted(jobs, key=lambda c: -c.priority)
    for _, tier_jobs in groupby(by_priority, key=lambda c: c.priority):
        tier = list(tier_jobs)
        tenant_load: dict[str, int] = {}
        for c in tier:
            tenant_load[c.tenant] = tenant_load.get(c.tenant, 0) + c.in_flight
        load = {c.job_id: c.in_flight for c in tier}
        while free > 0:
            open_jobs = [c for c in tier if room[c.job_id] > 0]
            if not open_jobs:
                break
            # The least served tenant, then its least served job (the oldest on a tie).
            tenant = min({c.tenant for c in open_jobs},
                         key=lambda t: (tenant_load[t], min(c.created for c in open_jobs if c.tenant == t)))
            job = min((c for c in open_jobs if c.tenant == tenant),
                      key=lambda c: (load[c.job_id], c.created, c.job_id))
            room[job.job_id] -= 1
            load[job.job_id] += 1
            tenant_load[tenant] += 1
            given[job.job_id] = given.get(job.job_id, 0) + 1
            free -= 1
    return given


#: Sends released specs of one job (the dispatcher's transport).
Send = Callable[[str, list[SegmentSpec]], None]


def _lock(s: Session) -> None:
    """Take the scheduler's row (serialises releases; see the module docstring)."""
    s.execute(update(SchedulerLock).where(SchedulerLock.id == 1)
              .values(releases=SchedulerLock.releases + 1))


def candidates(s: Session, runner: str, window: int) -> list[Candidate]:
    """Rendering jobs of ``runner`` with their segments in flight and pending,
    in one statement: per job, two correlated counts that seek the
    ``(job_id, status)`` index, the pending one over at most ``window`` rows
    (a 10,000-segment book is never counted whole on a release)."""
    in_flight = (select(func.count()).select_from(Segment)
                 .where(Segment.job_id == Job.id, Segment.status == SegmentStatus.QUEUED)
                 .correlate(Job).scalar_subquery())
    first_rows = (select(Segment.idx).where(Segment.job_id == Job.id, Segment.status == SegmentStatus.PENDING)
                  .correlate(Job).limit(window).subquery())
    pending = select(func.count()).select_from(first_rows).correlate(Job).scalar_subquery()
    rows = s.execute(select(Job.id, Job.tenant, Job.priority, Job.created_at, in_flight, pending)
                     .where(Job.status == JobStatus.RENDERING, Job.runner == runner)).all()
    return [Candidate(job_id, tenant or "", int(priority or 0), created, int(n_in or 0), int(n_pending or 0))
            for job_id, tenant, priority, created, n_in, n_pending in rows]


def release(settings: Settings, runner: str, send: Send, cap: int) -> int:
    """Release what fits now across every rendering job of ``runner`` and
    send it; returns how many segments were released."""
    from orchestrator.render import specs_for

    window = settings.queue.job_window
    out: list[tuple[str, list[SegmentSpec]]] = []
    with session_scope(settings) as s:
        _lock(s)
        found = candidates(s, runner, window)
        free = cap - sum(c.in_flight for c in found)
        if free <= 0:
            return 0
        for job_id, n in plan_release(found, free, window).items():
            job = s.get_one(Job, job_id)
            segs = list(s.scalars(select(Segment).where(
                Segment.job_id == job_id, Segment.status == SegmentStatus.PENDING)
                .order_by(Segment.idx).limit(n)))
            for g in segs:
                g.status = check_segment(g.status, SegmentStatus.QUEUED)
                g.attempts += 1
            # Looked for in storage when the job was dispatched: a first try need not look again.
            out.append((job_id, [replace(sp, unstored=g.attempts == 1)
                                 for sp, g in zip(specs_for(s, job, segs), segs, strict=True)]))
    for job_id, specs in out:
        send(job_id, specs)
    return sum(len(sp) for _, sp in out)


def requeue_lost(settings: Settings, job_id: str) -> int:
    """Put a job's queued segments back to pending (their messages are lost:
    a restarted embedded service, a stalled queue), for the next release."""
    with session_scope(settings) as s:
        segs = list(s.scalars(select(Segment).where(
            Segment.job_id == job_id, Segment.status == SegmentStatus.QUEUED)))
        for g in segs:
            g.status = check_segment(g.status, SegmentStatus.PENDING)
        return len(segs)
