"""A video dubbed through the real job queue (issue 16): redis-server, Celery
workers (synth without database credentials, and assemble), an S3-compatible
server, PostgreSQL. The timeline comes from the video's own speech, which a
synthesis worker transcribes (the control role loads no model); the assemble
worker reads the stored source to duck and mux it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from mediagen import audio_tracks, make_video, video_packet_md5s

from orchestrator.inputs.subtitles import parse_subtitles

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_asr_dub_of_a_video_through_the_queue(tmp_path: Path, voicecast_env: dict[str, str], redis_server,
                                              s3_server, postgres_server, celery_workers) -> None:
    bucket = s3_server.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
    redis_server.flushall()
    env = {**voicecast_env, **redis_server.env(), **s3_server.env(), "VOICECAST_STORAGE__BUCKET": bucket,
           "VOICECAST_DATABASE_URL": postgres_server.create_database(), "VOICECAST_ENGINE__NAME": "null"}
    synth_env = {k: v for k, v in env.items() if k != "VOICECAST_DATABASE_URL"}
    assert cli(env, "db", "upgrade").returncode == 0
    celery_workers("assemble", env, concurrency=1)
    celery_workers("synth", synth_env, concurrency=2)

    src = make_video(tmp_path / "talk.mkv", seconds=30.0, container="mkv", chapters=True)
    out = tmp_path / "dubbed.mkv"
    proc = cli(env, "render", src, "--timeline", "asr", "--voice", "jf_alpha", "--mix", "duck", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # The transcribed timeline is handed back beside the output, and is what was dubbed.
    srt = out.with_suffix(".srt")
    cues = parse_subtitles(srt)
    assert len(cues) >= 5 and all(c.text.strip() for c in cues)
    assert video_packet_md5s(out) == video_packet_md5s(src)
    dub, original = audio_tracks(out)
    assert (dub["language"], dub["default"], original["default"]) == ("eng", True, False)
    # Edited and rendered again from the SRT: the lines that did not change are reused.
    srt.write_text(srt.read_text(encoding="utf-8").replace(cues[0].text, "A new first line.", 1),
                   encoding="utf-8")
    again = cli(env, "render", src, "--subs", srt, "--voice", "jf_alpha", "--out", tmp_path / "again.mkv",
                "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    import json

    summary = json.loads(again.stdout)
    assert summary["reused"] == len(cues) - 1 and summary["rendered"] == 1, summary
