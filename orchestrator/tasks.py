"""Orchestrator-side Celery tasks (``assemble`` queue): they own the SQL store.

``record_segment`` stores a synthesis result and, when the job is complete,
queues its assembly; every task here is safe to run twice (a redelivered
message after a worker died), and a database hiccup is retried like a storage
one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from voicecast.celery_app import RETRY_ON, app, voicecast_task
from voicecast.settings import get_settings

_q = get_settings().queue
_RETRY = (*RETRY_ON, OperationalError)


@voicecast_task("voicecast.record_segment", queue=_q.assemble_queue, autoretry_for=_RETRY)
def record_segment(self: Any, result: dict[str, Any]) -> None:
    from orchestrator.store import jobs
    from orchestrator.store.db import session_scope
    from orchestrator.store.states import JobStatus

    with session_scope(get_settings()) as s:
        ready = jobs.record_result(s, result)
        # Also when already assembling: this may be the redelivery of the message
        # whose first run claimed the job but died before queueing the assembly
        # (a duplicate assembly is harmless: same keys, and it ends early).
        ready = ready or jobs.get_job(s, result["job_id"]).status == JobStatus.ASSEMBLING
    if ready:
        assemble_job.apply_async((result["job_id"],), queue=_q.assemble_queue)


@voicecast_task("voicecast.segment_failed", queue=_q.assemble_queue, autoretry_for=_RETRY)
def segment_failed(self: Any, job_id: str, idx: int, reason: str) -> None:
    from orchestrator.store import jobs
    from orchestrator.store.db import session_scope

    with session_scope(get_settings()) as s:
        jobs.record_failure(s, job_id, idx, reason)


class _AssembleTask(app.Task):  # type: ignore[name-defined,misc]
    def on_failure(self, exc, task_id, args, kwargs, einfo):  # type: ignore[no-untyped-def]
        # Retries are exhausted (or the error is not retryable): say so on the job,
        # which `voicecast resume` can then pick up again.
        from orchestrator.store import jobs
        from orchestrator.store.db import session_scope

        with session_scope(get_settings()) as s:
            jobs.fail_job(s, args[0], f"assembly failed: {type(exc).__name__}: {exc}")


@voicecast_task("voicecast.assemble_job", queue=_q.assemble_queue, autoretry_for=_RETRY,
                base=_AssembleTask)
def assemble_job(self: Any, job_id: str) -> None:
    from orchestrator.output.finish import assemble

    assemble(get_settings(), job_id)
