"""Jobs as the API shows them, each only to its tenant (anything else is a 404)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select

from orchestrator.service.schemas import FitSummary, JobOut, JobProgress, Links, OutputFile
from orchestrator.store import jobs
from orchestrator.store.models import Artifact, Job, iso
from voicecast.errors import JobError

#: Artifacts that are reports, not outputs.
REPORTS = ("fit_report", "fit_report_csv")

#: A job's artifacts (built once, as :data:`orchestrator.store.jobs._PROGRESS`: a status poll runs it).
_ARTIFACTS = select(Artifact).where(Artifact.job_id == bindparam("job_id")).order_by(Artifact.kind)


class NotFound(JobError):
    """No such job for this tenant: HTTP 404 (another tenant's job is no different)."""


def owned_job(s: Any, tenant: str, job_id: str) -> Job:
    """The tenant's job by its whole id (no prefixes over HTTP), or :class:`NotFound`."""
    job = s.get(Job, job_id) if len(job_id) == 32 else None
    if job is None or job.tenant != tenant:
        raise NotFound(f"no job {job_id!r}", field="id")
    return job


def links(job_id: str) -> Links:
    base = f"/v1/jobs/{job_id}"
    return Links(self=base, events=f"{base}/events", output=f"{base}/output", report=f"{base}/report",
                 cancel=f"{base}/cancel")


def job_out(s: Any, job: Job) -> JobOut:
    """Everything a client polls for, in two queries besides the job's row:
    the segments' aggregate (progress and fit figures) and the artifacts."""
    p = jobs.progress(s, job.id, output=False)  # the outputs are listed from the artifacts below
    created = job.created_at.replace(tzinfo=job.created_at.tzinfo or UTC)
    elapsed = (datetime.now(UTC) - created).total_seconds()
    rendered = p.done - p.hits
    eta = (elapsed / p.done * (p.total - p.done)) if p.done and rendered and p.done < p.total else None
    arts = s.scalars(_ARTIFACTS, {"job_id": job.id}).all()
    outputs = [OutputFile(kind=a.kind, url=f"/v1/jobs/{job.id}/output" + ("" if a.kind == "output" else
                                                                           f"?kind={a.kind}"),
                          size_bytes=a.size_bytes) for a in arts if a.kind not in REPORTS]
    return JobOut(
        id=job.id, kind=job.kind, status=job.status, input_name=job.input_name, priority=job.priority or 0,
        created_at=iso(job.created_at) or "", finished_at=iso(job.finished_at),
        progress=JobProgress(done=p.done, total=p.total, failed=p.failed, reused=p.hits,
                             audio_s_done=round(p.audio_s_done, 3),
                             audio_s_total=round(p.audio_s_total, 3) if p.audio_s_total else None,
                             eta_s=round(eta, 1) if eta is not None else None),
        fit=FitSummary(overflows=p.overflows, max_stretch=p.max_stretch, max_overflow_s=p.max_overflow_s),
        warnings=list(job.warnings or []), error=job.error, outputs=outputs, links=links(job.id),
    )


#: Page size bounds of ``GET /v1/jobs``.
MAX_PAGE = 100


def list_jobs(s: Any, tenant: str, status: str | None, limit: int,
              cursor: str | None) -> tuple[list[Job], str | None]:
    """The tenant's jobs, newest first; the cursor is the last id of the page
    before (keyset pagination on (created_at, id): stable while jobs are added)."""
    q = select(Job).where(Job.tenant == tenant)
    if status:
        q = q.where(Job.status == status)
    if cursor:
        last = s.get(Job, cursor)
        if last is None or last.tenant != tenant:
            raise JobError("unknown cursor", field="cursor")
        q = q.where((Job.created_at < last.created_at)
                    | ((Job.created_at == last.created_at) & (Job.id < last.id)))
    rows = list(s.scalars(q.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
