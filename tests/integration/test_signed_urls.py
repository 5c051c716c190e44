"""Artifact URLs are signed when read: `voicecast status` prints a fresh, working
presigned URL after an earlier one has expired.

A finished job is cheap to get: a two-cue SRT in a built-in voice, rendered in
embedded mode (no broker) with S3 storage on a moto server on loopback.

moto (5.x) serves presigned GETs without checking their expiry, so an HTTP GET
of the expired URL proves nothing there; the test reads the signed expiry from
the URL instead (``Expires`` for SigV2, ``X-Amz-Date`` + ``X-Amz-Expires`` for
SigV4), which real S3 and MinIO enforce.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import soundfile as sf
from audiocheck import SENTENCES, make_srt

REPO = Path(__file__).resolve().parents[2]
EXPIRY_S = 3

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def output_url(env: dict[str, str], job_id: str) -> str:
    res = cli(env, "status", job_id)
    assert res.returncode == 0, res.stdout + res.stderr
    found = re.findall(r"^\s*output url: (\S+)$", res.stdout, re.MULTILINE)
    assert len(found) == 1, res.stdout
    return found[0]


def expires_at(url: str) -> float:
    """The moment (epoch seconds) a presigned S3 URL stops working."""
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    if "Expires" in q:  # SigV2
        return float(q["Expires"])
    signed = datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)  # SigV4
    return signed.timestamp() + float(q["X-Amz-Expires"])


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200
        data: bytes = r.read()
        return data


def test_status_signs_a_fresh_url_after_the_first_one_expired(tmp_path, voicecast_env, s3_server):
    bucket = s3_server.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
    env = {**voicecast_env, **s3_server.env(), "VOICECAST_STORAGE__BUCKET": bucket,
           "VOICECAST_STORAGE__PRESIGN_EXPIRY_S": str(EXPIRY_S)}
    srt = tmp_path / "two.srt"
    make_srt(srt, SENTENCES[:2])
    res = cli(env, "render", str(srt), "--voice", "jf_alpha", "--out", str(tmp_path / "out.wav"),
              "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    job_id = re.search(r'"job_id": "(\w+)"', res.stdout).group(1)  # type: ignore[union-attr]
    # SQL keeps the key, never a URL.
    with sqlite3.connect(Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db") as c:
        columns = [r[1] for r in c.execute("pragma table_info(artifacts)")]
        rows = c.execute("select * from artifacts where job_id = ?", (job_id,)).fetchall()
    assert "url" not in columns
    outputs = [r[columns.index("key")] for r in rows if r[columns.index("kind")] == "output"]
    # The track is content-addressed: named by what shaped it, shared by renders of the same.
    assert len(outputs) == 1 and re.fullmatch(r"deliverables/[0-9a-f]{64}\.wav", outputs[0])
    key = outputs[0]
    stored = s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert not any("Signature" in str(v) for r in rows for v in r)

    before = time.time()
    first = output_url(env, job_id)
    after = time.time()
    assert get(first) == stored
    # Signed at read time with the configured expiry (whole seconds in SigV2).
    assert before + EXPIRY_S - 1 <= expires_at(first) <= after + EXPIRY_S + 1

    while time.time() <= expires_at(first) + 1:
        time.sleep(0.5)
    assert expires_at(first) < time.time()  # the first URL is dead on real S3

    second = output_url(env, job_id)
    assert second != first
    assert expires_at(second) > time.time()
    data = get(second)
    assert data == stored
    wav = tmp_path / "downloaded.wav"
    wav.write_bytes(data)
    assert sf.info(str(wav)).duration > 1.0
