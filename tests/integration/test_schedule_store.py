"""The scheduler against a real SQL store (SQLite, migrated): what it reads of
the jobs (:func:`orchestrator.schedule.candidates`, one statement) and what a
release marks and sends (:func:`orchestrator.schedule.release`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator import schedule
from orchestrator.store import jobs
from orchestrator.store.db import ensure_schema, session_scope
from orchestrator.store.models import Job, Segment, Voice, utcnow
from orchestrator.store.states import JobStatus, SegmentStatus
from voicecast.queue import SegmentSpec
from voicecast.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(data_dir=tmp_path, queue={"job_window": 4})
    ensure_schema(s, auto_upgrade=True)
    with session_scope(s) as sess:
        sess.add(Voice(id="v1", name="v1", version=1, engine="null", profile_key="voices/v1/v1.npz",
                       source_sha256="0" * 64))
    return s


def _job(settings: Settings, job_id: str, n: int, *, queued: int = 0, age_s: int = 0, tenant: str = "t",
         runner: str = "celery", status: JobStatus = JobStatus.RENDERING) -> None:
    with session_scope(settings) as s:
        s.add(Job(id=job_id, kind="script", status=status, input_name=f"{job_id}.txt", runner=runner,
                  voice_id="v1", created_at=utcnow() - timedelta(seconds=age_s), options={}))
        s.flush()
        jobs.add_segments(s, [dict(job_id=job_id, idx=i, text=f"line {i}", start_s=0.0, end_s=0.0, max_end_s=0.0,
                                   content_hash=f"{i:064x}", voice_id="v1",
                                   status=SegmentStatus.QUEUED if i < queued else SegmentStatus.PENDING)
                              for i in range(n)])


def test_candidates_count_in_flight_and_pending_up_to_the_window(settings: Settings) -> None:
    _job(settings, "a" * 32, 500, queued=3, age_s=10)
    _job(settings, "b" * 32, 2)
    _job(settings, "c" * 32, 5, runner="service")          # another runner's
    _job(settings, "d" * 32, 5, status=JobStatus.DONE)      # not rendering
    with session_scope(settings) as s:
        found = {c.job_id[0]: (c.in_flight, c.pending) for c in schedule.candidates(s, "celery", window=4)}
    assert found == {"a": (3, 4), "b": (0, 2)}


def test_a_release_marks_what_it_sends_fairly_and_never_twice(settings: Settings) -> None:
    _job(settings, "a" * 32, 500, queued=3, age_s=10)
    _job(settings, "b" * 32, 6)
    sent: list[tuple[str, list[SegmentSpec]]] = []
    assert schedule.release(settings, "celery", lambda j, specs: sent.append((j, specs)), cap=8) == 5
    got = {j[0]: [sp.idx for sp in specs] for j, specs in sent}
    # 8 places, 3 held by a: b (nothing in flight) gets 4 (its window), a one more.
    assert got == {"a": [3], "b": [0, 1, 2, 3]}
    assert all(sp.unstored for _, specs in sent for sp in specs)  # first tries
    with session_scope(settings) as s:
        queued = s.query(Segment).filter_by(status=SegmentStatus.QUEUED).count()
    assert queued == 8
    # Nothing free: nothing sent, nothing marked.
    assert schedule.release(settings, "celery", lambda j, specs: sent.append((j, specs)), cap=8) == 0
    # A lost window goes back to pending, and its segments are sent again as second tries.
    assert schedule.requeue_lost(settings, "b" * 32) == 4
    again: list[tuple[str, list[SegmentSpec]]] = []
    schedule.release(settings, "celery", lambda j, specs: again.append((j, specs)), cap=8)
    assert [(j[0], [sp.idx for sp in specs], {sp.unstored for sp in specs}) for j, specs in again] == [
        ("b", [0, 1, 2, 3], {False})]
