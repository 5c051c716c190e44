"""Orchestrator-side Celery tasks (``assemble`` queue): they own the SQL store.

``record_segment`` stores a synthesis result and, when it completes the job,
wins the rendering->assembling transition and queues the assembly; both are
safe to run twice.
"""

from __future__ import annotations

from typing import Any

from voicecast.settings import get_settings
from workers.celery_app import voicecast_task

_q = get_settings().queue


@voicecast_task("voicecast.record_segment", queue=_q.assemble_queue)
def record_segment(self: Any, result: dict[str, Any]) -> None:
    from . import jobs
    from .db import session_scope

    with session_scope(get_settings()) as s:
        ready = jobs.record_result(s, result)
    if ready:
        assemble_job.apply_async((result["job_id"],), queue=_q.assemble_queue)


@voicecast_task("voicecast.segment_failed", queue=_q.assemble_queue)
def segment_failed(self: Any, job_id: str, idx: int, reason: str) -> None:
    from . import jobs
    from .db import session_scope

    with session_scope(get_settings()) as s:
        jobs.record_failure(s, job_id, idx, reason)


@voicecast_task("voicecast.assemble_job", queue=_q.assemble_queue)
def assemble_job(self: Any, job_id: str) -> None:
    from .service import assemble

    assemble(get_settings(), job_id)
