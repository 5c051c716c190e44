"""A synthesis task over its Celery hard time limit, through the real job queue.

Real redis-server, real Celery worker processes (synth and assemble), an
S3-compatible server on loopback, SQLite. A stand-in ``rubberband`` first on
the synth worker's PATH hangs; its own timeout is set far beyond the task's
hard limit and the soft limit is off, so only the hard limit (the worker kills
its child) can end the run: the task is sent again once, then the job fails
with a reason naming the limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from audiocheck import SENTENCES, make_srt
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[2]
HARD_LIMIT_S = 25

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def job_row(db_url: str, job_id: str) -> tuple[str, str | None]:
    eng = create_engine(db_url)
    try:
        with eng.connect() as c:
            status, error = c.execute(text("select status, error from jobs where id=:j"),
                                      {"j": job_id}).one()
        return status, error
    finally:
        eng.dispose()


def test_a_task_over_its_hard_limit_is_sent_again_once_then_fails_the_job(
    tmp_path, voicecast_env, redis_server, s3_server, celery_workers,
):
    db_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    bucket = s3_server.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
    redis_server.flushall()
    env = {**voicecast_env, **redis_server.env(), **s3_server.env(),
           "VOICECAST_STORAGE__BUCKET": bucket, "VOICECAST_DATABASE_URL": db_url,
           # The engine keeps its natural speed: the segment is time-stretched.
           "VOICECAST_FIT__ENGINE_RATE_MIN": "1", "VOICECAST_FIT__ENGINE_RATE_MAX": "1",
           "VOICECAST_LIMITS__SYNTH_TIME_S": str(HARD_LIMIT_S),
           "VOICECAST_LIMITS__SYNTH_TIME_PER_AUDIO_S": "0",
           "VOICECAST_LIMITS__SYNTH_TIME_MAX_S": str(HARD_LIMIT_S),
           "VOICECAST_LIMITS__SOFT_MARGIN_S": "0",
           "VOICECAST_LIMITS__TOOL_TIMEOUT_S": "3000",
           "VOICECAST_QUEUE__VISIBILITY_TIMEOUT_S": "3600"}
    runs = tmp_path / "runs"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Logs the target length (-D S, its 5th argument), which tells the segments apart.
    (bin_dir / "rubberband").write_text(f'#!/bin/sh\necho "$5" >> "{runs}"\nsleep 3000\n')
    (bin_dir / "rubberband").chmod(0o755)
    synth_env = {k: v for k, v in env.items() if k != "VOICECAST_DATABASE_URL"}
    synth_env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

    assert cli(env, "db", "upgrade").returncode == 0
    srt = tmp_path / "two.srt"
    # Slots shorter than the speech, no gap to borrow: both segments need a stretch.
    make_srt(srt, SENTENCES[:2], chars_per_s=17.5, gap=0.02)

    celery_workers("assemble", env, concurrency=1)
    celery_workers("synth", synth_env, concurrency=1)
    sub = cli(env, "render", str(srt), "--voice", "jf_alpha", "--out", str(tmp_path / "o.wav"),
              "--detach")
    assert sub.returncode == 0, sub.stderr
    job_id = sub.stdout.strip().splitlines()[-1]

    deadline = time.monotonic() + 6 * HARD_LIMIT_S + 120
    status, error = job_row(db_url, job_id)
    while status not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(1)
        status, error = job_row(db_url, job_id)
    assert status == "failed", (status, error)
    assert error is not None
    assert f"ran over its hard time limit of {HARD_LIMIT_S} s twice" in error, error
    assert "VOICECAST_LIMITS__SYNTH_TIME_S" in error
    # Per segment, at most two runs reached the tool (the first and the one
    # re-send), and the segment that failed the job had both.
    counts = Counter(runs.read_text().split())
    assert max(counts.values()) == 2 and set(counts.values()) <= {1, 2}, counts
