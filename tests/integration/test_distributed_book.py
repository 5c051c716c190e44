"""An audiobook rendered through the real job queue: redis-server, Celery synth
and assemble worker processes, an S3-compatible server on loopback and
PostgreSQL. The synth workers have no database credentials; the assemble
worker builds the chapters and the M4B from S3."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

BOOK = """---
title: Two Short Chapters
author: voicecast tests
---

# The Harbour

The boats came in late that night. The keeper lit the lamp.

[voice:Keeper]"Bring them in slowly," said the keeper.

# The Morning

By morning the sea was calm again.
"""


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=900)


def test_audiobook_through_the_queue(tmp_path, voicecast_env, redis_server, s3_server,
                                     postgres_server, celery_workers):
    db_url = postgres_server.create_database()
    bucket = s3_server.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
    redis_server.flushall()
    env = {**voicecast_env, **redis_server.env(), **s3_server.env(),
           "VOICECAST_STORAGE__BUCKET": bucket, "VOICECAST_DATABASE_URL": db_url}
    synth_env = {k: v for k, v in env.items() if k != "VOICECAST_DATABASE_URL"}
    assert cli(env, "db", "upgrade").returncode == 0
    celery_workers("assemble", env, concurrency=1)
    celery_workers("synth", synth_env, concurrency=2)

    book = tmp_path / "book.md"
    book.write_text(BOOK)
    out = tmp_path / "book.m4b"
    sub = cli(env, "render", str(book), "--voice", "jm_kumo", "--voice", "Keeper=jf_alpha",
              "--out", str(out), "--detach")
    assert sub.returncode == 0, sub.stderr
    job_id = sub.stdout.strip().splitlines()[-1]
    waited = cli(env, "wait", job_id, "--json")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    summary = json.loads(waited.stdout)
    assert summary["status"] == "done" and summary["kind"] == "audiobook"
    # "Two Short Chapters, by voicecast tests.", then 3 + 3 in the chapters, titles included
    assert summary["segments"] == 8 and summary["rendered"] == 8

    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(out)],
                                      capture_output=True, text=True, check=True).stdout)
    assert [c["tags"]["title"] for c in probe["chapters"]] == ["The Harbour", "The Morning"]
    files = sorted(p.name for p in (tmp_path / "book.chapters").iterdir())
    assert files == ["01-The-Harbour.flac", "01-The-Harbour.mp3", "02-The-Morning.flac", "02-The-Morning.mp3"]

    eng = create_engine(db_url)
    with eng.connect() as c:
        rows = c.execute(text("select s.speaker, v.name from segments s join voices v on v.id = s.voice_id "
                              "where s.job_id = :j order by s.idx"), {"j": job_id}).all()
        arts = dict(c.execute(text("select kind, key from artifacts where job_id = :j"), {"j": job_id}).all())
    eng.dispose()
    assert [tuple(r) for r in rows if r[0]] == [("Keeper", "kokoro:jf_alpha")]
    assert {r[1] for r in rows if not r[0]} == {"kokoro:jm_kumo"}
    s3 = s3_server.client()
    for kind in ("output", "chapter_master:1", "chapter_mp3:2"):
        assert s3.head_object(Bucket=bucket, Key=arts[kind])
