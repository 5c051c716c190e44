"""What no driver follows in distributed mode: jobs submitted over HTTP.

``voicecast render`` follows its own job and heals a stall (a lost message:
:class:`orchestrator.dispatch.StallWatch`). A job submitted to the API has
no such driver, so every API replica runs this janitor: it keeps a stall
watch per rendering API job and, when one shows no progress for
``queue.stall_timeout_s`` and nothing of it is queued or running anywhere,
sends its undone work again (idempotent tasks: a duplicate costs time, never
output). A job that stayed pending past ``api.plan_timeout_s`` (the replica
that accepted it stopped before planning it) is failed with that reason.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from orchestrator.dispatch import CeleryDispatcher, StallWatch
from orchestrator.store import jobs
from orchestrator.store.db import session_scope
from orchestrator.store.models import Job, utcnow
from orchestrator.store.states import JobStatus
from voicecast.settings import Settings


class Janitor:
    def __init__(self, settings: Settings, dispatcher: CeleryDispatcher) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self.watches: dict[str, StallWatch] = {}

    def tick(self) -> None:
        timeout = self.settings.queue.stall_timeout_s
        with session_scope(self.settings) as s:
            rows = s.execute(select(Job.id, Job.status).where(
                Job.runner == "celery", Job.tenant.is_not(None),
                Job.status.in_([JobStatus.RENDERING, JobStatus.ASSEMBLING]))).all()
            marks = {job_id: (status, jobs.undone_count(s, job_id)) for job_id, status in rows}
            stale = utcnow() - timedelta(seconds=self.settings.api.plan_timeout_s)
            for job in s.scalars(select(Job).where(Job.status == JobStatus.PENDING, Job.tenant.is_not(None),
                                                   Job.created_at < stale)):
                jobs.set_job_status(job, JobStatus.FAILED, "planning was interrupted (the API process that "
                                                           "accepted the job stopped); submit it again")
        self.watches = {j: self.watches.get(j) or StallWatch(timeout) for j in marks}
        for job_id, mark in marks.items():
            watch = self.watches[job_id]
            if watch.due(mark):
                self.dispatcher.heal_if_lost(job_id, watch)
