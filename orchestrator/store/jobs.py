"""Job store operations: every status change of jobs and segments goes
through here (checked by :mod:`orchestrator.store.states`), and so do results,
failures, artifacts and the assembly claim. Planning (``orchestrator.render``)
fills a new job's descriptive fields (kind, voice, warnings, options, book)
and adds its segments; finishing (``orchestrator.output.finish``) records the
assembled chapters.

Completion is decided from recorded state: a job is ready to assemble when no
segment is left undone, and exactly one caller wins the rendering->assembling
transition (a conditional UPDATE), however many record the last segments.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, object_session

from orchestrator.store.db import session_scope
from orchestrator.store.models import Artifact, Job, Segment, WebhookDelivery, utcnow
from orchestrator.store.states import FINAL, JobStatus, SegmentStatus, check_job, check_segment
from voicecast.errors import JobError, TransientError, VoicecastError
from voicecast.queue import SegmentResult
from voicecast.settings import Settings

#: Figures of a :class:`SegmentResult` copied onto its segment row (``error_ms``
#: too, from ``error_s``) for the fit report and the CLI summary.
FIT_FIELDS = (
    "natural_s", "target_s", "final_s", "rate", "engine_rate", "stretch", "borrowed_s",
    "overflow", "overflow_s", "engine_calls", "synth_s", "wall_s",
)


T = TypeVar("T")


def new_job_id() -> str:
    return uuid.uuid4().hex


#: The shortest job id prefix that opens a job: a one-character prefix would
#: open whichever job happens to match (32 hex digits make 8 unambiguous in practice).
MIN_JOB_PREFIX = 8


def get_job(session: Session, job_id: str) -> Job:
    """A job by its id, or by an unambiguous prefix of at least
    :data:`MIN_JOB_PREFIX` hex digits (users copy short ids from the CLI).
    Raises :class:`JobError` naming the problem."""
    job = session.get(Job, job_id)
    if job is not None:
        return job
    prefix = job_id.strip().lower()
    if not re.fullmatch(r"[0-9a-f]+", prefix):
        raise JobError(f"no job {job_id!r} (a job id is hexadecimal)", field="job")
    if len(prefix) < MIN_JOB_PREFIX:
        raise JobError(f"job id prefix {job_id!r} is too short: give at least {MIN_JOB_PREFIX} "
                       "characters of the id", field="job")
    # Hex only (checked above), so no LIKE wildcard can reach the pattern.
    matches = session.scalars(select(Job).where(Job.id.startswith(prefix, autoescape=True)).limit(2)).all()
    if len(matches) > 1:
        raise JobError(f"job id prefix {job_id!r} matches more than one job; give more characters",
                       field="job")
    if not matches:
        raise JobError(f"no job {job_id!r}", field="job")
    return matches[0]


def set_job_status(job: Job, new: JobStatus, error: str | None = None) -> None:
    """Move a job to ``new`` (checked). A job that ends with a ``callback_url``
    gets its webhook queued in the same transaction (an outbox row,
    :class:`WebhookDelivery`): the callback is sent if and only if the job's
    end is committed."""
    check_job(job.status, new)
    job.status = new
    job.error = error
    if new in FINAL:
        job.finished_at = utcnow()
        if job.callback_url:
            import json

            body = {"event": f"job.{new.value}", "job": {
                "id": job.id, "status": new.value, "kind": job.kind, "error": error,
                "finished_at": job.finished_at.isoformat(timespec="seconds")}}
            session = object_session(job)
            if session is not None:
                session.add(WebhookDelivery(job_id=job.id, url=job.callback_url, event=body["event"],
                                            body=json.dumps(body, sort_keys=True)))


#: A folder whose path is left out of what a job shows (its error and warnings):
#: the private folder an API job's uploads are planned in, set by that planning thread.
HIDDEN_FOLDER: ContextVar[str | None] = ContextVar("HIDDEN_FOLDER", default=None)


def shown(text: str) -> str:
    """``text`` as a job shows it: paths inside :data:`HIDDEN_FOLDER` by their
    names there (``film.srt:3: ...``, not ``/tmp/voicecast-job-x/film.srt:3: ...``)."""
    folder = HIDDEN_FOLDER.get()
    return text.replace(folder.rstrip("/") + "/", "") if folder else text


def fail_job(session: Session, job_id: str, reason: str) -> None:
    job = get_job(session, job_id)
    if job.status not in FINAL:
        set_job_status(job, JobStatus.FAILED, shown(reason))


def cancel_job(session: Session, job: Job) -> list[int]:
    """Cancel a job that has not ended: nothing more is released or recorded,
    and no output is presented. Returns the indexes of the segments that
    were queued (the caller revokes their messages). A job that has ended
    already is a :class:`JobError`."""
    lock_job(session, job.id)
    session.refresh(job)
    if job.status in FINAL:
        raise JobError(f"job {job.id} is {job.status} already; only a job that has not ended can be "
                       "cancelled", field="job")
    set_job_status(job, JobStatus.CANCELLED, "cancelled")
    return list(session.scalars(select(Segment.idx).where(
        Segment.job_id == job.id, Segment.status == SegmentStatus.QUEUED)))


def add_segments(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert a new job's segment rows (column values by name) as one batched
    INSERT (SQLAlchemy's insertmanyvalues), not one ORM object per row."""
    if rows:
        session.execute(insert(Segment), list(rows))


def mark_queued(session: Session, job_id: str, idxs: list[int]) -> None:
    rows = [g for part in _chunks(sorted(idxs)) for g in session.scalars(
        select(Segment).where(Segment.job_id == job_id, Segment.idx.in_(part)))]
    for seg in rows:
        if seg.status == SegmentStatus.DONE:
            continue  # its result arrived meanwhile (resume racing a late worker)
        seg.status = check_segment(seg.status, SegmentStatus.QUEUED)
        seg.attempts += 1


def mark_pending(session: Session, job_id: str, idxs: list[int]) -> None:
    """Leave segments to the scheduler (:mod:`orchestrator.schedule`): failed
    ones (a resumed job) go back to pending; pending and queued ones stay."""
    rows = [g for part in _chunks(sorted(idxs)) for g in session.scalars(
        select(Segment).where(Segment.job_id == job_id, Segment.idx.in_(part),
                              Segment.status == SegmentStatus.FAILED))]
    for seg in rows:
        seg.status = check_segment(seg.status, SegmentStatus.PENDING)


def lock_job(session: Session, job_id: str) -> None:
    """Serialize recorders of one job (row lock on PostgreSQL; SQLite has one writer).

    Without it, two workers recording the last two segments at once could each
    still see the other's segment undone, and neither would start assembly.
    """
    session.execute(select(Job.id).where(Job.id == job_id).with_for_update())


def record_result(session: Session, result: SegmentResult) -> bool:
    """Store one segment's result; True when this call made the job ready to assemble."""
    return record_results(session, result.job_id, [result])


#: Rows per ``IN (...)`` list: well under SQLite's and PostgreSQL's limits on bound parameters.
IN_CHUNK = 900


def _chunks(items: Sequence[T], n: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for k in range(0, len(items), n):
        yield items[k:k + n]


def record_results(session: Session, job_id: str, results: Sequence[SegmentResult],
                   rows: Mapping[int, Segment] | None = None) -> bool:
    """Store a batch of one job's segment results in one transaction: one lock,
    one query for the rows (``rows``: already loaded, by index), one flush and
    one completion check for the whole batch, however many results it holds.
    A result whose content hash is no longer the segment's (a stale message
    for a segment that has since changed) is ignored. True when this call made
    the job ready to assemble."""
    if not results:
        return False
    lock_job(session, job_id)
    if session.scalar(select(Job.status).where(Job.id == job_id)) == JobStatus.CANCELLED:
        return False  # a render that was under way when the job was cancelled: not recorded
    if rows is None:
        idxs = sorted({r.idx for r in results})
        rows = {g.idx: g for part in _chunks(idxs) for g in session.scalars(
            select(Segment).where(Segment.job_id == job_id, Segment.idx.in_(part)))}
    for result in results:
        seg = rows.get(result.idx)
        if result.job_id != job_id or seg is None or seg.content_hash != result.content_hash:
            continue
        if seg.status != SegmentStatus.DONE:
            seg.status = check_segment(seg.status, SegmentStatus.DONE)
        seg.cache_hit = result.hit
        seg.error = None
        for name in FIT_FIELDS:
            setattr(seg, name, getattr(result, name))
        seg.error_ms = round(1000.0 * result.error_s, 3)
    session.flush()
    return claim_assembly(session, job_id)


def done_results(session: Session, hashes: Sequence[str], exclude_job: str) -> dict[str, SegmentResult]:
    """Results already recorded in SQL for these content hashes, by hash: the
    fit figures of a done segment of another job with the same hash (one
    query per :data:`IN_CHUNK` hashes). Each answers as a storage hit of no
    job yet (``for_segment`` places it); its audio must still be checked in
    storage."""
    from voicecast.storage import segment_audio_key

    cols = [getattr(Segment, name) for name in FIT_FIELDS]
    out: dict[str, SegmentResult] = {}
    for part in _chunks(sorted(set(hashes))):
        first = (select(func.min(Segment.id)).where(
            Segment.content_hash.in_(part), Segment.status == SegmentStatus.DONE,
            Segment.job_id != exclude_job, Segment.final_s.is_not(None))
            .group_by(Segment.content_hash))
        for row in session.execute(select(Segment.content_hash, Segment.error_ms, *cols)
                                   .where(Segment.id.in_(first))):
            fit = dict(zip(FIT_FIELDS, row[2:], strict=True))
            if any(fit[k] is None for k in FIT_FIELDS if k not in ("synth_s", "wall_s")):
                continue  # recorded before a field existed: read the stored result instead
            out[row[0]] = SegmentResult(
                content_hash=row[0], audio_key=segment_audio_key(row[0]), sample_rate=0, samples=0,
                engine="", engine_version="", slot_s=0.0, error_s=(row[1] or 0.0) / 1000.0,
                **{**fit, "synth_s": fit["synth_s"] or 0.0, "wall_s": fit["wall_s"] or 0.0}, hit=True)
    return out


def record_failure(session: Session, job_id: str, idx: int, reason: str) -> None:
    lock_job(session, job_id)
    seg = session.scalars(
        select(Segment).where(Segment.job_id == job_id, Segment.idx == idx)
    ).one_or_none()
    if seg is None or seg.status == SegmentStatus.DONE or seg.job.status == JobStatus.CANCELLED:
        return
    seg.status = check_segment(seg.status, SegmentStatus.FAILED)
    seg.error = reason
    fail_job(session, job_id, f"segment {idx + 1} (line {seg.source_line}): {reason}")


def undone_count(session: Session, job_id: str) -> int:
    return int(session.scalar(
        select(func.count()).select_from(Segment).where(
            Segment.job_id == job_id, Segment.status != SegmentStatus.DONE
        )
    ) or 0)


#: Every segment status but done (named, so the (job, status) index is sought, not scanned).
UNDONE = tuple(st for st in SegmentStatus if st != SegmentStatus.DONE)


def any_undone(session: Session, job_id: str) -> bool:
    """Whether any segment of the job is not done: an index seek (``ix_segments_job_status``),
    not a count of the job's rows, so asking after every batch stays cheap."""
    return session.scalar(
        select(Segment.id).where(Segment.job_id == job_id, Segment.status.in_(UNDONE)).limit(1)
    ) is not None


def claim_assembly(session: Session, job_id: str) -> bool:
    """rendering -> assembling, once, when every segment is done."""
    if any_undone(session, job_id):
        return False
    res = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RENDERING)
        .values(status=JobStatus.ASSEMBLING, updated_at=utcnow())
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]


def add_artifact(session: Session, job_id: str, kind: str, key: str, size: int | None) -> None:
    """Record (or replace) the job's artifact of this kind by object key; URLs are
    signed when read (``ObjectStore.url``), never stored: a stored one would go stale."""
    existing = session.scalars(
        select(Artifact).where(Artifact.job_id == job_id, Artifact.kind == kind)
    ).one_or_none()
    if existing is None:
        session.add(Artifact(job_id=job_id, kind=kind, key=key, size_bytes=size))
    else:
        existing.key, existing.size_bytes = key, size


@dataclass
class Progress:
    job_id: str
    status: str
    total: int
    done: int
    failed: int
    hits: int
    audio_s_done: float
    audio_s_total: float
    error: str | None
    overflows: int
    #: Object key of the output once assembled; sign it with ``ObjectStore.url`` to show it.
    output_key: str | None
    #: The largest stretch and overflow among the done segments (None before the first).
    max_stretch: float | None = None
    max_overflow_s: float | None = None


def _progress_query() -> Any:
    """The aggregate behind :func:`progress` (the job's id a bound parameter)."""
    from sqlalchemy import bindparam, case

    done = Segment.status == SegmentStatus.DONE
    slot = Segment.end_s - Segment.start_s

    def when(cond: Any, value: Any = 1) -> Any:
        return func.coalesce(func.sum(case((cond, value), else_=0)), 0)

    return select(
        func.count(), when(done), when(Segment.status == SegmentStatus.FAILED),
        when(done & Segment.cache_hit.is_(True)),
        # a script line has no slot: count its rendered length
        when(done, case((slot != 0, slot), else_=func.coalesce(Segment.final_s, 0.0))),
        func.coalesce(func.sum(slot), 0.0), when(done & Segment.overflow.is_(True)),
        func.max(case((done, Segment.stretch))), func.max(case((done, Segment.overflow_s))),
    ).where(Segment.job_id == bindparam("job_id"))


#: Built once: building it anew on every call (its ``case`` expressions and
#: cache key) was about a third of the cost of a ``GET /v1/jobs/{id}``, which
#: clients poll (docs/benchmarks.md, "API latency").
_PROGRESS = _progress_query()


def progress(session: Session, job_id: str, *, output: bool = True) -> Progress:
    """A job's progress, counted by SQL in one aggregate query (no rows loaded,
    so polling it stays cheap however long the job). ``output=False`` leaves
    ``output_key`` None and saves the query for it."""
    job = get_job(session, job_id)
    (total, n_done, failed, hits, audio_done, audio_total, overflows, max_stretch,
     max_overflow) = session.execute(_PROGRESS, {"job_id": job.id}).one()
    out = session.scalars(
        select(Artifact).where(Artifact.job_id == job.id, Artifact.kind == "output")
    ).one_or_none() if output else None
    return Progress(
        job_id=job.id, status=job.status, total=int(total), done=int(n_done), failed=int(failed),
        hits=int(hits), audio_s_done=float(audio_done), audio_s_total=float(audio_total),
        error=job.error, overflows=int(overflows), output_key=out.key if out else None,
        max_stretch=max_stretch, max_overflow_s=max_overflow,
    )


@contextmanager
def failing_job(settings: Settings, job_id: str) -> Iterator[None]:
    """Mark the job failed with the reason of any error raised inside."""
    try:
        yield
    except VoicecastError as e:
        with session_scope(settings) as s:
            fail_job(s, job_id, str(e))
        raise
    except TransientError:
        raise  # retried by the task; `resume` picks the job up if retries run out
    except Exception as e:
        with session_scope(settings) as s:
            fail_job(s, job_id, f"internal error: {type(e).__name__}: {e}")
        raise
