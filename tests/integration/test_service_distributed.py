"""``voicecast serve`` in distributed mode, driven through HTTP only: real
redis-server, real Celery workers (synth and assemble), the S3 server,
PostgreSQL, uvicorn on loopback and a webhook receiver on loopback.

Tenant A enrolls a voice and submits a dub and a book; tenant B sees none of
it; the event stream follows a job to its end; outputs download through
signed URLs; the webhook arrives signed; an ``Idempotency-Key`` repeats a
job; cancel stops a running job; and a short job is not starved by a long one.
The ``null`` engine stands in for an engine of a known real-time factor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from audiocheck import decode, duration
from servers import ApiServer, CeleryWorker
from service_client import Client, error_of, long_then_short, script

from orchestrator.service.webhooks import SIGNATURE_HEADER, verify

REPO = Path(__file__).resolve().parents[2]
SRT = REPO / "examples" / "trailer.srt"
REFERENCE = REPO / "examples" / "reference.wav"

pytestmark = pytest.mark.slow


class Receiver:
    """A webhook receiver on loopback that keeps every POST."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                calls.append(({k: v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def for_job(self, job_id: str, timeout: float = 60) -> tuple[dict[str, str], bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for headers, body in list(self.calls):
                if json.loads(body)["job"]["id"] == job_id:
                    return headers, body
            time.sleep(0.2)
        raise AssertionError(f"no webhook for job {job_id}; got {len(self.calls)} call(s)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: Any, s3_server: Any,
          postgres_server: Any) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("service-distributed")
    bucket = s3_server.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
    redis_server.flushall()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    env.update({**redis_server.env(), **s3_server.env(), "VOICECAST_STORAGE__BUCKET": bucket,
                "VOICECAST_DATABASE_URL": postgres_server.create_database(),
                "VOICECAST_DATA_DIR": str(tmp / "data"), "VOICECAST_ENGINE__NAME": "null",
                "VOICECAST_ENGINE__NULL_RTF": "0.1", "VOICECAST_ENROLL__METHOD": "nearest",
                "VOICECAST_QUEUE__VISIBILITY_TIMEOUT_S": "60", "VOICECAST_API__KEY_CACHE_S": "0",
                **{f"VOICECAST_LIMITS__{k}_TIME_S": "50" for k in ("SYNTH", "ENROLL", "RECORD", "ASSEMBLE")},
                "VOICECAST_LIMITS__SYNTH_TIME_MAX_S": "50", "VOICECAST_LIMITS__SOFT_MARGIN_S": "10",
                # The API's janitor heals a job that has shown no progress for this long.
                "VOICECAST_QUEUE__STALL_TIMEOUT_S": "4", "PYTHONUNBUFFERED": "1"})
    up = subprocess.run([sys.executable, "-m", "orchestrator.cli", "db", "upgrade"], env=env,
                        capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    synth_env = {k: v for k, v in env.items() if k != "VOICECAST_DATABASE_URL"}  # no DB credentials
    workers = [CeleryWorker("assemble", env, concurrency=2, log_path=tmp / "assemble.log"),
               CeleryWorker("synth", synth_env, concurrency=2, log_path=tmp / "synth.log")]
    for w in workers:
        w.start()
    try:
        for w in workers:
            w.wait_ready()
        with ApiServer(env, log_path=tmp / "api.log") as api:
            yield {"api": api, "s3": s3_server, "bucket": bucket, "env": env, "receiver": Receiver(),
                   "redis": redis_server}
    finally:
        for w in workers:
            w.stop()


def _segment_objects(s3: Any, bucket: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="segments/"):
        keys.update(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".wav"))
    return keys


BOOK = """# The Lantern Keeper

## Chapter One

The lantern keeper climbed the hill at dusk. She carried oil, a rag and a small brass key.

## Chapter Two

Morning came grey and slow. The lantern had burned all night, and the ships had found the harbour.
"""


def test_everything_through_http(stack: dict[str, Any], tmp_path: Path) -> None:
    api: ApiServer = stack["api"]
    receiver: Receiver = stack["receiver"]
    key_a, secret_a = api.credentials("tenant-a")
    a, b = Client(api.url, key_a), Client(api.url, api.key("tenant-b"))

    # A voice with its consent record.
    with REFERENCE.open("rb") as clip:
        r = a.post("/v1/voices", data={"name": "narrator", "consent": "Recorded by Ana, who agreed to "
                                                                      "its use for this test"},
                   files=[("clips", ("reference.wav", clip, "audio/wav"))])
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "narrator" and "Ana" in r.json()["consent"]
    listed = a.get("/v1/voices").json()
    assert [v["name"] for v in listed["voices"]] == ["narrator"] and "jf_alpha" in listed["builtin"]
    shown = a.get("/v1/voices/narrator").json()
    assert [h["event"] for h in shown["history"]] == ["enrolled"] and "Ana" in shown["history"][0]["consent"]

    # A dub in that voice, with a callback and an idempotency key; and a book.
    dub_opts = {"voice": "narrator", "format": "m4a", "callback_url": receiver.url}
    dub = a.job_id(SRT, dub_opts, idempotency_key="dub-1")
    assert a.job_id(SRT, dub_opts, idempotency_key="dub-1") == dub
    book_md = tmp_path / "lantern.md"
    book_md.write_text(BOOK)
    book = a.job_id(book_md, {"voice": "jf_alpha", "title": "The Lantern Keeper"})

    # Tenant B sees none of it.
    for url in (f"/v1/jobs/{dub}", f"/v1/jobs/{dub}/output", f"/v1/jobs/{dub}/report",
                f"/v1/jobs/{dub}/events", f"/v1/jobs/{book}", "/v1/voices/narrator"):
        r = b.get(url)
        assert r.status_code == 404 and error_of(r)["code"] == "not_found", (url, r.text)
    assert b.post(f"/v1/jobs/{dub}/cancel").status_code == 404
    assert b.http.delete(f"{api.url}/v1/voices/narrator", headers=b.headers(), timeout=30).status_code == 404
    assert b.get("/v1/voices").json()["voices"] == [] and b.get("/v1/jobs").json()["jobs"] == []
    r = b.submit(SRT, {"voice": "narrator"})
    assert r.status_code == 422 and error_of(r)["field"] == "options.voice"

    # The event stream reports progress to the end.
    events = list(a.events(dub))
    progress = [d["done"] for e, d in events if e == "progress"]
    statuses = [d["status"] for e, d in events if e == "status"]
    assert statuses[-1] == "done", events[-3:]
    assert progress == sorted(progress) and progress[-1] == 26 and len(progress) >= 2, progress

    # The outputs download (a redirect to a signed URL of the S3 server).
    job = a.job(dub)
    assert job["progress"] == {**job["progress"], "done": 26, "total": 26}
    r = a.get(f"/v1/jobs/{dub}/output", allow_redirects=False)
    assert r.status_code == 302 and "Signature" in r.headers["location"], r.headers
    audio = a.http.get(r.headers["location"], timeout=60)
    assert audio.status_code == 200
    out = tmp_path / "dub.m4a"
    out.write_bytes(audio.content)
    assert abs(duration(out) - 108.6) < 1.0
    samples = decode(out)
    assert len(samples) > 16000 * 100 and float(abs(samples).max()) > 0.01
    report = a.get(f"/v1/jobs/{dub}/report").json()
    assert len(report["segments"]) == 26
    csv = a.get(f"/v1/jobs/{dub}/report", headers={"Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.count("\n") == 27

    done_book = a.wait(book)
    assert done_book["status"] == "done", done_book
    kinds = {o["kind"] for o in done_book["outputs"]}
    assert {"output", "chapter_mp3:1", "chapter_mp3:2"} <= kinds, kinds
    m4b = a.get(f"/v1/jobs/{book}/output")
    assert m4b.status_code == 200 and m4b.content[4:8] == b"ftyp"
    mp3 = a.get(f"/v1/jobs/{book}/output", params={"kind": "chapter_mp3:2"})
    assert mp3.status_code == 200 and mp3.content[:3] == b"ID3"

    # The webhook: one signed POST for the dub (A's secret), never for jobs without a callback.
    headers, body = receiver.for_job(dub)
    assert verify(secret_a, body, headers[SIGNATURE_HEADER])
    assert not verify(secret_a, body + b" ", headers[SIGNATURE_HEADER])
    sent = json.loads(body)
    assert sent["event"] == "job.done" and sent["job"]["status"] == "done"
    assert headers["X-Voicecast-Event"] == "job.done"
    assert all(json.loads(b_)["job"]["id"] != book for _, b_ in receiver.calls)

    # Cancel stops a running job: its queued segments are revoked, nothing more is recorded.
    long_id = a.job_id(script(tmp_path / "long.txt", 120),
                       {"voice": "jf_alpha", "callback_url": receiver.url})
    deadline = time.monotonic() + 120
    while a.job(long_id)["progress"]["done"] < 5:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    r = a.post(f"/v1/jobs/{long_id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    at_cancel = r.json()["progress"]["done"]
    before = _segment_objects(stack["s3"], stack["bucket"])
    time.sleep(5.0)
    after = a.job(long_id)
    assert after["status"] == "cancelled" and after["progress"]["done"] == at_cancel
    assert after["outputs"] == []
    # At most the renders under way when it was cancelled (2 synth processes) finished
    # afterwards; the job's queued window (8) was revoked, and nothing more was released.
    rendered_after = _segment_objects(stack["s3"], stack["bucket"]) - before
    assert len(rendered_after) <= 2, len(rendered_after)
    assert a.get(f"/v1/jobs/{long_id}/output").status_code == 409
    _, body = receiver.for_job(long_id)
    assert json.loads(body)["event"] == "job.cancelled"

    # The job list, with cursor pagination and a status filter.
    page = a.get("/v1/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in page["jobs"]] == [long_id, book] and page["next_cursor"] == book
    rest = a.get("/v1/jobs", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [j["id"] for j in rest["jobs"]] == [dub] and rest["next_cursor"] is None
    assert [j["id"] for j in a.get("/v1/jobs", params={"status": "cancelled"}).json()["jobs"]] == [long_id]


def test_short_job_is_not_starved_by_a_long_one(stack: dict[str, Any], tmp_path: Path) -> None:
    """Done-means 2 (distributed): 200 segments first, 6 segments 2 s later;
    the short job is done before the long one reaches 25 %."""
    api: ApiServer = stack["api"]
    c = Client(api.url, api.key("fairness"))
    long_id, short, long = long_then_short(c, tmp_path, "distributed")
    assert short["status"] == "done", short
    assert long["progress"]["done"] < 50 and long["status"] == "rendering", long["progress"]
    assert c.post(f"/v1/jobs/{long_id}/cancel").json()["status"] == "cancelled"


def test_a_job_whose_queued_messages_are_lost_is_healed_by_the_api(stack: dict[str, Any],
                                                                    tmp_path: Path) -> None:
    """No CLI follows an API job: when its queued messages vanish (a broker
    that lost its data), the API's janitor sees the stall and sends them again."""
    api: ApiServer = stack["api"]
    c = Client(api.url, api.key("lossy"))
    job_id = c.job_id(script(tmp_path / "forty.txt", 40, "through a lossy queue"), {"voice": "jf_alpha"})
    deadline = time.monotonic() + 120
    while c.job(job_id)["progress"]["done"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    broker = stack["redis"].client()
    lost = broker.llen("synth")
    broker.delete("synth")  # the job's released window is gone
    assert lost > 0
    done = c.wait(job_id, timeout=180)
    assert done["status"] == "done" and done["progress"]["done"] == 40, done
