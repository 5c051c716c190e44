"""Job and segment status: one state machine, its transitions defined here.

Row-by-row changes check each transition (:func:`check_job`,
:func:`check_segment`); the one bulk UPDATE (claiming assembly in
:func:`orchestrator.store.jobs.claim_assembly`) names its allowed source
state in its WHERE clause instead, so it can only make an allowed move.

::

    job:      pending -> rendering -> assembling -> done
                 \\____________\\____________\\-----> failed
                  \\____________\\____________\\----> cancelled   (cancel; final)
              failed/rendering/assembling -> rendering   (resume)
    segment:  pending -> queued -> done
                   \\________\\-----> failed -> queued/pending    (resume)
              queued -> pending    (released again: a lost message, a restarted service)

A segment is *pending* until the scheduler releases it to the queue
(:mod:`orchestrator.schedule`: a bounded window per job), *queued* while a
worker has it.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    RENDERING = "rendering"
    ASSEMBLING = "assembling"
    DONE = "done"
    FAILED = "failed"
    #: Stopped by its owner: nothing more is released or recorded, no output is presented.
    CANCELLED = "cancelled"


#: States a job never leaves.
FINAL = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class SegmentStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RENDERING, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.RENDERING: frozenset({JobStatus.ASSEMBLING, JobStatus.FAILED, JobStatus.RENDERING,
                                    JobStatus.CANCELLED}),
    JobStatus.ASSEMBLING: frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.RENDERING,
                                     JobStatus.CANCELLED}),
    JobStatus.FAILED: frozenset({JobStatus.RENDERING}),
    JobStatus.DONE: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

SEGMENT_TRANSITIONS: dict[SegmentStatus, frozenset[SegmentStatus]] = {
    SegmentStatus.PENDING: frozenset({SegmentStatus.QUEUED, SegmentStatus.DONE, SegmentStatus.FAILED}),
    SegmentStatus.QUEUED: frozenset({SegmentStatus.QUEUED, SegmentStatus.DONE, SegmentStatus.FAILED,
                                     SegmentStatus.PENDING}),
    SegmentStatus.FAILED: frozenset({SegmentStatus.QUEUED, SegmentStatus.DONE, SegmentStatus.PENDING}),
    # A duplicate delivery after a worker died may report a done segment again.
    SegmentStatus.DONE: frozenset({SegmentStatus.DONE}),
}


class InvalidTransition(RuntimeError):
    pass


def check_job(old: str, new: JobStatus) -> JobStatus:
    if new not in JOB_TRANSITIONS[JobStatus(old)]:
        raise InvalidTransition(f"job cannot go from {old} to {new}")
    return new


def check_segment(old: str, new: SegmentStatus) -> SegmentStatus:
    if new not in SEGMENT_TRANSITIONS[SegmentStatus(old)]:
        raise InvalidTransition(f"segment cannot go from {old} to {new}")
    return new
