"""Orchestrator-side Celery tasks (``assemble`` queue): they own the SQL store.

``record_segment`` stores a synthesis result and, when the job is complete,
queues its assembly; every task here is safe to run twice (a redelivered
message after a worker died), and a database hiccup is retried like a storage
one.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init
from sqlalchemy.exc import OperationalError

from voicecast.celery_app import RETRY_ON, VoicecastTask, send_within_budget, voicecast_task
from voicecast.settings import get_settings

_q = get_settings().queue
_limits = get_settings().limits
_RETRY = (*RETRY_ON, OperationalError)
#: Recording a result or failure: a few SQL statements.
_RECORD_LIMITS = _limits.celery_limits(_limits.record_time_s)


@worker_process_init.connect
def _own_tempdir(**_: Any) -> None:
    """Each worker process works in its own temporary folder, and removes
    those of this host's processes that died (a killed worker's leftovers)."""
    from voicecast.localfs import claim_process_tempdir

    claim_process_tempdir()


@voicecast_task("voicecast.record_segment", queue=_q.assemble_queue, autoretry_for=_RETRY,
                **_RECORD_LIMITS)
def record_segment(self: Any, result: dict[str, Any], overruns: int = 0) -> None:
    """Record a :class:`~voicecast.queue.SegmentResult` (as JSON) from a synthesis worker."""
    from orchestrator.store import jobs
    from orchestrator.store.db import session_scope
    from orchestrator.store.states import JobStatus
    from voicecast.queue import SegmentResult

    res = SegmentResult.from_dict(result)
    with session_scope(get_settings()) as s:
        ready = jobs.record_result(s, res)
        # Also when already assembling: this may be the redelivery of the message
        # whose first run claimed the job but died before queueing the assembly
        # (a duplicate assembly is harmless: same keys, and it ends early).
        ready = ready or jobs.get_job(s, res.job_id).status == JobStatus.ASSEMBLING
    if ready:
        # Waits out a broker outage; past the budget the driver's stall watch re-queues it.
        send_within_budget(lambda: assemble_job.apply_async((res.job_id,), queue=_q.assemble_queue),
                           "the assembly")
    _release()


def _release() -> None:
    """A result or a failure freed a place: release what the windows allow now
    (:mod:`orchestrator.schedule`), this job's next segments or another job's."""
    from orchestrator.dispatch import CeleryDispatcher

    CeleryDispatcher(get_settings()).release()


@voicecast_task("voicecast.segment_failed", queue=_q.assemble_queue, autoretry_for=_RETRY,
                **_RECORD_LIMITS)
def segment_failed(self: Any, job_id: str, idx: int, reason: str, overruns: int = 0) -> None:
    from orchestrator.store import jobs
    from orchestrator.store.db import session_scope

    with session_scope(get_settings()) as s:
        jobs.record_failure(s, job_id, idx, reason)
    _release()


class _AssembleTask(VoicecastTask):
    what = "assembly"
    limit_var = "VOICECAST_LIMITS__ASSEMBLE_TIME_S"

    def on_gave_up(self, args: tuple[Any, ...], kwargs: dict[str, Any], reason: str) -> None:
        # Retries are exhausted, the error is not retryable, or it overran its
        # time limit twice: say so on the job, which `voicecast resume` can
        # then pick up again.
        from orchestrator.store import jobs
        from orchestrator.store.db import session_scope

        job_id = args[0] if args else kwargs["job_id"]
        if not reason.startswith("assembly"):
            reason = f"assembly failed: {reason}"
        with session_scope(get_settings()) as s:
            jobs.fail_job(s, job_id, reason)


@voicecast_task("voicecast.assemble_job", queue=_q.assemble_queue, autoretry_for=_RETRY,
                base=_AssembleTask, **_limits.celery_limits(_limits.assemble_time_s))
def assemble_job(self: Any, job_id: str, overruns: int = 0) -> None:
    import logging

    from orchestrator.output.finish import assemble
    from voicecast.timing import STAGES

    STAGES.reset()
    try:
        with STAGES.stage("assembly"):
            assemble(get_settings(), job_id)
    finally:
        # Where the assembly spent its time (level, encode, assembly), as the CLI logs its own.
        logging.getLogger("orchestrator.stages").info("job %s %s", job_id, STAGES.line())
