"""A subtitle track rendered end to end through the real job queue.

Real redis-server, real Celery worker processes (synth and assemble), an
S3-compatible server on loopback, real ffmpeg, SQLite and PostgreSQL with
Alembic migrations. One synth worker is SIGKILLed while segments are in flight.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from audiocheck import SENTENCES, decode, duration, make_srt, onsets
from sqlalchemy import create_engine, text

from voicecast.evaluation import transcribe, wer

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "examples" / "reference.wav"

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def segment_states(db_url: str, job_id: str) -> dict[str, int]:
    eng = create_engine(db_url)
    try:
        with eng.connect() as c:
            rows = c.execute(text("select status, count(*) from segments where job_id=:j group by status"),
                             {"j": job_id}).all()
        return {r[0]: r[1] for r in rows}
    finally:
        eng.dispose()


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_render_through_queue_survives_killed_worker(
    database, tmp_path, voicecast_env, redis_server, s3_server, postgres_server, celery_workers,
):
    db_url = (postgres_server.create_database() if database == "postgresql"
              else f"sqlite:///{tmp_path / 'jobs.db'}")
    bucket = s3_server.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
    redis_server.flushall()
    env = {**voicecast_env, **redis_server.env(), **s3_server.env(),
           "VOICECAST_STORAGE__BUCKET": bucket, "VOICECAST_DATABASE_URL": db_url,
           # A dead worker's task goes back to the queue after 60 s, longer than any
           # task here may run (settings refuse a visibility timeout under a time limit).
           "VOICECAST_QUEUE__VISIBILITY_TIMEOUT_S": "60",
           **{f"VOICECAST_LIMITS__{k}_TIME_S": "50" for k in ("SYNTH", "ENROLL", "RECORD", "ASSEMBLE")},
           "VOICECAST_LIMITS__SYNTH_TIME_MAX_S": "50", "VOICECAST_LIMITS__SOFT_MARGIN_S": "10",
           "VOICECAST_QUEUE__RESTORE_INTERVAL_S": "2"}
    synth_env = {k: v for k, v in env.items() if k != "VOICECAST_DATABASE_URL"}  # no DB creds

    up = cli(env, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    srt = tmp_path / "twenty.srt"
    cues = make_srt(srt, SENTENCES)
    assert len(cues) >= 20

    celery_workers("assemble", env, concurrency=1)
    victim = celery_workers("synth", synth_env, concurrency=2)
    out = tmp_path / "dub.m4a"
    sub = cli(env, "render", str(srt), "--voice", str(REFERENCE), "--out", str(out), "--detach")
    assert sub.returncode == 0, sub.stderr
    job_id = sub.stdout.strip().splitlines()[-1]

    # Kill the synth worker (whole process group, SIGKILL) while it holds
    # unacknowledged segments and some are already done.
    broker = redis_server.client()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        states = segment_states(db_url, job_id)
        if states.get("done", 0) >= 3 and broker.hlen("unacked") > 0:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"no segment progress before the kill: {states}")
    in_flight = broker.hlen("unacked")
    victim.kill()
    assert in_flight >= 1
    done_at_kill = segment_states(db_url, job_id).get("done", 0)
    assert done_at_kill < len(cues)
    celery_workers("synth", synth_env, concurrency=2)

    waited = cli(env, "wait", job_id, "--json")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    summary = json.loads(waited.stdout)
    assert summary["status"] == "done"
    assert summary["segments"] == len(cues)
    assert out.is_file()

    # Every cue exactly once: one done row per cue, one report line per cue.
    assert segment_states(db_url, job_id) == {"done": len(cues)}
    report_key = f"jobs/{job_id}/fit-report.json"
    report = json.loads(s3_server.client().get_object(Bucket=bucket, Key=report_key)["Body"].read())
    assert sorted(r["segment"] for r in report["segments"]) == list(range(1, len(cues) + 1))
    # The track is content-addressed (deliverables/<sha256>.m4a); the signed URL names its key.
    found_key = re.search(r"deliverables/[0-9a-f]{64}\.m4a", summary["output_url"])
    assert found_key, summary["output_url"]
    assert s3_server.client().head_object(Bucket=bucket, Key=found_key.group(0))

    # Duration = last cue end ± 50 ms.
    assert abs(duration(out) - cues[-1].end) <= 0.05

    # Speech onset of each cue within ± 50 ms of the cue start.
    audio = decode(out, 16000)
    found = onsets(audio, 16000, [c.start for c in cues])
    errors = [abs(f - c.start) for f, c in zip(found, cues, strict=True)]
    assert max(errors) <= 0.05, list(zip([c.start for c in cues], found, strict=True))
    print(f"\n[{database}] killed with {in_flight} unacked, {done_at_kill} done; "
          f"onset error max {1000 * max(errors):.1f} ms, "
          f"duration {duration(out):.3f} s vs {cues[-1].end:.3f} s")

    # Intelligibility: WER with Whisper tiny.en over the whole track.
    hyp = transcribe(audio, 16000)
    ref = " ".join(c.text for c in cues)
    print(f"[{database}] WER {wer(ref, hyp):.3f}")
    assert wer(ref, hyp) <= 0.10, hyp

    if database == "sqlite":
        # Same input again: every segment is a storage hit, nothing re-rendered.
        again = cli(env, "render", str(srt), "--voice", str(REFERENCE), "--out",
                    str(tmp_path / "again.m4a"), "--json")
        assert again.returncode == 0, again.stderr
        s2 = json.loads(again.stdout)
        assert (s2["rendered"], s2["reused"]) == (0, len(cues))
        a2 = decode(tmp_path / "again.m4a", 16000)
        assert np.corrcoef(a2[: len(audio)], audio[: len(a2)])[0, 1] > 0.99
