"""The SQL job store on real SQLite and PostgreSQL, schema from Alembic."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect

from orchestrator.store import db, jobs
from orchestrator.store.models import Job, Segment
from orchestrator.store.states import JobStatus
from voicecast.queue import SegmentResult
from voicecast.settings import Settings


def _result(job_id: str, idx: int, content_hash: str, **figures: object) -> SegmentResult:
    """A segment's result as a worker reports it (figures of a line fitted exactly)."""
    stored = _stored(content_hash, **figures)
    return SegmentResult.from_dict(stored).for_segment(job_id, idx, hit=False)


def _stored(content_hash: str, **figures: object) -> dict[str, object]:
    """A result record in the shape workers store next to the audio (no job, index or hit)."""
    return {"content_hash": content_hash, "audio_key": f"segments/{content_hash[:2]}/{content_hash}.wav",
            "sample_rate": 24000, "samples": 21600, "engine": "kokoro", "engine_version": "1",
            "natural_s": 0.9, "slot_s": 0.9, "target_s": 0.9, "rate": 1.0, "engine_rate": 1.0,
            "stretch": 1.0, "borrowed_s": 0.0, "overflow": False, "overflow_s": 0.0,
            "engine_calls": 1, "final_s": 0.9, "error_s": 0.0, **figures}


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database()
    else:
        url = f"sqlite:///{tmp_path / 'store.db'}"
    s = Settings(database_url=url, data_dir=tmp_path)
    db.upgrade(s)
    return s


def test_migrations_create_the_schema_and_go_back(settings):
    assert db.current_revision(settings) == db.head_revision(settings)
    tables = set(inspect(db.engine_for(settings)).get_table_names())
    assert {"jobs", "segments", "voices", "artifacts"} <= tables
    db.ensure_schema(settings, auto_upgrade=False)  # up to date: no error
    from alembic import command

    command.downgrade(db._alembic_config(settings), "base")
    assert "jobs" not in set(inspect(db.engine_for(settings)).get_table_names())
    command.upgrade(db._alembic_config(settings), "head")


def test_models_match_the_migrations(settings):
    """Autogenerate finds nothing to add: the revisions and the ORM agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from orchestrator.store.models import Base

    with db.engine_for(settings).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrading_from_0001_keeps_jobs_and_their_single_voice(settings):
    from alembic import command

    job_id = _job_with_segments(settings, 2)
    command.downgrade(db._alembic_config(settings), "0001")
    command.upgrade(db._alembic_config(settings), "head")
    with db.session_scope(settings) as s:
        job = jobs.get_job(s, job_id)
        assert job.book is None
        assert [(g.voice_id, g.chapter, g.pause_after_s) for g in job.segments] == [(None, None, None)] * 2


def _job_with_segments(settings, n):
    job_id = jobs.new_job_id()
    with db.session_scope(settings) as s:
        s.add(Job(id=job_id, input_name="x.srt", status=JobStatus.PENDING, options={}))
        for i in range(n):
            s.add(Segment(job_id=job_id, idx=i, text=f"line {i}", start_s=i, end_s=i + 0.9,
                          max_end_s=i + 1, content_hash=f"{i:064x}"))
        jobs.set_job_status(jobs.get_job(s, job_id), JobStatus.RENDERING)
    return job_id


def test_exactly_one_recorder_starts_assembly(settings):
    """Results recorded concurrently (as by several assemble workers): the job
    becomes ready exactly once, never zero times."""
    n = 12
    job_id = _job_with_segments(settings, n)
    claims: list[bool] = []
    barrier = threading.Barrier(n)

    def record(i: int) -> None:
        barrier.wait()
        with db.session_scope(settings) as s:
            claims.append(jobs.record_result(s, _result(job_id, i, f"{i:064x}", natural_s=0.8,
                                                        error_s=0.0005)))

    threads = [threading.Thread(target=record, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claims) == [False] * (n - 1) + [True]
    with db.session_scope(settings) as s:
        p = jobs.progress(s, job_id)
        assert (p.status, p.done) == ("assembling", n)
        seg = jobs.get_job(s, job_id).segments[0]
        assert seg.error_ms == pytest.approx(0.5)
        assert (seg.natural_s, seg.cache_hit, seg.engine_calls) == (pytest.approx(0.8), False, 1)


def test_a_duplicate_or_stale_result_changes_nothing(settings):
    job_id = _job_with_segments(settings, 2)
    with db.session_scope(settings) as s:
        assert not jobs.record_result(s, _result(job_id, 0, "f" * 64))
        assert jobs.progress(s, job_id).done == 0
        rec = _result(job_id, 0, f"{0:064x}")
        assert not jobs.record_result(s, rec)
        assert not jobs.record_result(s, rec)  # delivered twice after a worker died
        assert jobs.progress(s, job_id).done == 1


def test_failure_marks_the_job_failed_with_the_line(settings):
    job_id = _job_with_segments(settings, 2)
    with db.session_scope(settings) as s:
        jobs.record_failure(s, job_id, 1, "nothing speakable")
    with db.session_scope(settings) as s:
        job = jobs.get_job(s, job_id[:10])
        assert job.status == "failed" and "segment 2" in job.error and "nothing speakable" in job.error


class RecordingDispatcher:
    """Stands in for where work runs; records what resume asks of it (an
    embedded render's: it drives its own job)."""

    runner = "cli"

    def __init__(self):
        self.submitted: list[int] = []
        self.assembled: list[str] = []

    def enroll(self, *a):  # pragma: no cover - not used by resume
        raise AssertionError

    def submit(self, job_id, specs):
        self.submitted += [sp.idx for sp in specs]

    def assemble(self, job_id):
        self.assembled.append(job_id)

    def drive(self, job_id, tick):  # pragma: no cover
        raise AssertionError


def _with_voice(settings, job_id):
    from orchestrator.store.models import Voice

    with db.session_scope(settings) as s:
        s.add(Voice(id="v1", name="v1", engine="kokoro", profile_key="voices/v1/v1.npz",
                    source_sha256="0" * 64, meta={}))
        s.flush()
        jobs.get_job(s, job_id).voice_id = "v1"


def test_resume_records_results_workers_stored_and_assembles(settings):
    """The orchestrator died after workers stored every result but before it
    recorded them: resume records them as hits and assembles, renders nothing."""
    import json

    from orchestrator import render
    from orchestrator.store import jobs
    from voicecast.storage import get_store, segment_audio_key, segment_result_key

    job_id = _job_with_segments(settings, 3)
    _with_voice(settings, job_id)
    store = get_store(settings)
    for i in range(3):
        h = f"{i:064x}"
        store.put_bytes(segment_audio_key(h), b"RIFF")
        store.put_bytes(segment_result_key(h), json.dumps(_stored(h, error_s=0.002)).encode())
    d = RecordingDispatcher()
    assert render.resume(settings, job_id, d) == "assembling"
    assert (d.submitted, d.assembled) == ([], [job_id])
    with db.session_scope(settings) as s:
        p = jobs.progress(s, job_id)
        assert (p.status, p.hits) == ("assembling", 3)
        assert [g.error_ms for g in jobs.get_job(s, job_id).segments] == [pytest.approx(2.0)] * 3
    # Resuming again (say the assembler died too) only re-queues the assembly.
    assert render.resume(settings, job_id, RecordingDispatcher()) == "assembling"


def test_resume_renders_again_what_it_cannot_read_back(settings):
    """A stored result missing a field of the contract is not a hit: the segment
    is dispatched again (and re-rendering overwrites the record)."""
    import json

    from orchestrator import render
    from voicecast.storage import get_store, segment_audio_key, segment_result_key

    job_id = _job_with_segments(settings, 2)
    _with_voice(settings, job_id)
    store = get_store(settings)
    for i, record in enumerate([_stored(f"{0:064x}"), {"content_hash": f"{1:064x}", "error_s": 0.0}]):
        h = f"{i:064x}"
        store.put_bytes(segment_audio_key(h), b"RIFF")
        store.put_bytes(segment_result_key(h), json.dumps(record).encode())
    d = RecordingDispatcher()
    assert render.resume(settings, job_id, d) == "dispatched 1 segments"
    assert (d.submitted, d.assembled) == ([1], [])


def test_resume_dispatches_only_what_is_missing(settings):
    from orchestrator import render
    from orchestrator.store import jobs

    job_id = _job_with_segments(settings, 4)
    _with_voice(settings, job_id)
    with db.session_scope(settings) as s:
        jobs.record_result(s, _result(job_id, 1, f"{1:064x}"))
        jobs.record_failure(s, job_id, 2, "engine crashed")
    d = RecordingDispatcher()
    assert render.resume(settings, job_id, d) == "dispatched 3 segments"
    assert sorted(d.submitted) == [0, 2, 3]
    with db.session_scope(settings) as s:
        assert jobs.get_job(s, job_id).status == "rendering"


def test_upgrading_from_0002_drops_stored_urls_and_keeps_artifact_keys(settings):
    """0003: an artifact row keeps its key and size; its (stale) presigned URL goes."""
    from alembic import command
    from sqlalchemy import text

    job_id = _job_with_segments(settings, 1)
    command.downgrade(db._alembic_config(settings), "0002")
    with db.engine_for(settings).begin() as c:
        c.execute(text("insert into artifacts (job_id, kind, key, url, size_bytes, created_at) "
                       "values (:j, 'output', :k, :u, 123, CURRENT_TIMESTAMP)"),
                  {"j": job_id, "k": f"jobs/{job_id}/output.wav",
                   "u": "http://s3.example/voicecast/output.wav?X-Amz-Expires=3"})
    command.upgrade(db._alembic_config(settings), "head")
    columns = {c["name"] for c in inspect(db.engine_for(settings)).get_columns("artifacts")}
    assert "url" not in columns and {"key", "size_bytes"} <= columns
    with db.session_scope(settings) as s:
        [art] = jobs.get_job(s, job_id).artifacts
        assert (art.kind, art.key, art.size_bytes) == ("output", f"jobs/{job_id}/output.wav", 123)


def test_upgrading_from_0003_starts_each_enrolled_voices_consent_trail(settings):
    """0004: voices enrolled before the trail existed start it with their current
    version's consent; the engine's own voices and clips made into voices do not."""
    from alembic import command
    from sqlalchemy import text

    from orchestrator import voices

    command.downgrade(db._alembic_config(settings), "0003")
    with db.engine_for(settings).begin() as c:
        for vid, name, consent in (("v-ann-0123456789", "Ann", "Ann agreed [in writing]"),
                                   ("builtin-kokoro-jf_alpha", "kokoro:jf_alpha", None),
                                   ("ref-0123456789abcdef", "ref-0123456789abcdef", None)):
            c.execute(text("insert into voices (id, name, version, engine, profile_key, source_sha256, "
                           "consent, meta, created_at) values (:i, :n, 3, 'kokoro', 'k', :h, :c, '{}', "
                           "CURRENT_TIMESTAMP)"), {"i": vid, "n": name, "h": "a" * 64, "c": consent})
    command.upgrade(db._alembic_config(settings), "head")
    with db.session_scope(settings) as s:
        assert voices.voice_history(s, "kokoro:jf_alpha") == []
        [h] = voices.voice_history(s, "Ann")
        assert (h["event"], h["version"], h["consent"], h["reference_sha256"]) == (
            "enrolled", 3, "Ann agreed [in writing]", "a" * 64)
        job = jobs.get_job(s, _job_with_segments(settings, 1))
        assert (job.delivered_path, job.delivery_error) == (None, None)
