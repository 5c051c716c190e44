"""Faults injected into a small distributed setup: the job completes by itself.

Real redis-server (one per test, so it can be restarted), the moto S3 server
(behind a TCP proxy that can refuse connections), real Celery workers (synth
and assemble), SQLite, a subtitle track of six short cues read by a built-in
voice, through the CLI's own ``render`` (which drives the job). Each test
asserts every cue present exactly once: one done segment and one fit-report
row per cue, and speech starting at each cue in the decoded output.

- Redis (append-only file, the project's configuration) restarted mid-job,
  down for 3 s: sends retry over the outage budget; no ``resume``.
- Redis without persistence restarted after its queue was lost: the job
  driver sees no progress and no task of the job anywhere for the stall
  timeout, and sends the undone segments again.
- S3 refusing connections for 60 s mid-job: storage calls and tasks retry over
  the storage budget.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from audiocheck import SENTENCES, CueSpec, decode, duration, make_srt, onsets
from servers import RedisServer, TcpProxy
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[2]
VOICE = "jf_alpha"
#: Short enough that the fault lands mid-job and the test stays short.
CUE_COUNT = 6
#: The stall timeout of the lost-queue test.
STALL_S = 15

pytestmark = pytest.mark.slow


def short_sentences(n: int) -> list[str]:
    """The n shortest evaluation sentences (renders stay quick)."""
    return sorted(SENTENCES, key=len)[:n]


def segment_states(db_url: str, job_id: str | None) -> dict[str, int]:
    eng = create_engine(db_url)
    try:
        with eng.connect() as c:
            where = "job_id=:j" if job_id else "1=1"
            rows = c.execute(text(f"select status, count(*) from segments where {where} group by status"),
                             {"j": job_id}).all()
        return {r[0]: r[1] for r in rows}
    finally:
        eng.dispose()


def only_job(db_url: str) -> str | None:
    eng = create_engine(db_url)
    try:
        with eng.connect() as c:
            row = c.execute(text("select id from jobs")).first()
        return row[0] if row else None
    except Exception:  # noqa: BLE001 - the table is not there yet
        return None
    finally:
        eng.dispose()


@pytest.fixture
def redis_factory() -> Iterator[list[RedisServer]]:
    """Redis servers of this test alone (the session's is never restarted)."""
    started: list[RedisServer] = []
    yield started
    for server in started:
        server.stop()


def job_env(tmp_path: Path, voicecast_env: dict[str, str], redis: RedisServer, s3_env: dict[str, str],
            **extra: str) -> dict[str, str]:
    return {**voicecast_env, **redis.env(), **s3_env,
            "VOICECAST_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
            # Any dead worker's task comes back after 60 s; tasks here are short.
            "VOICECAST_QUEUE__VISIBILITY_TIMEOUT_S": "60",
            **{f"VOICECAST_LIMITS__{k}_TIME_S": "50" for k in ("SYNTH", "ENROLL", "RECORD", "ASSEMBLE")},
            "VOICECAST_LIMITS__SYNTH_TIME_MAX_S": "50", "VOICECAST_LIMITS__SOFT_MARGIN_S": "10",
            "VOICECAST_QUEUE__RESTORE_INTERVAL_S": "2", **extra}


class Render:
    """``voicecast render`` in the background, driving the job to the end."""

    def __init__(self, env: dict[str, str], srt: Path, out: Path, log: Path) -> None:
        self.log = log
        self.t0 = time.monotonic()
        self._err = open(log, "w")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "render", str(srt), "--voice", VOICE,
             "--out", str(out), "--json"],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=self._err, text=True)

    def wait(self, timeout: float) -> tuple[int, dict[str, object], str]:
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        finally:
            self._err.close()
        err = self.log.read_text()
        try:
            summary = json.loads(out) if out.strip() else {}
        except ValueError:
            summary = {"stdout": out}
        return self.proc.returncode, summary, err


def wait_mid_job(db_url: str, render: Render, total: int, timeout: float = 300) -> str:
    """Block until the job has some but not all segments done; its id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert render.proc.poll() is None, render.log.read_text()
        job_id = only_job(db_url)
        if job_id:
            done = segment_states(db_url, job_id).get("done", 0)
            if 1 <= done < total:
                return job_id
            assert done < total, "the job finished before the fault could be injected"
        time.sleep(0.1)
    pytest.fail(f"no segment done in {timeout} s: {render.log.read_text()[-2000:]}")


def assert_every_cue_once(db_url: str, job_id: str, cues: list[CueSpec], out: Path, report: dict) -> None:
    assert segment_states(db_url, job_id) == {"done": len(cues)}
    assert sorted(r["segment"] for r in report["segments"]) == list(range(1, len(cues) + 1))
    assert abs(duration(out) - cues[-1].end) <= 0.05
    audio = decode(out, 16000)
    found = onsets(audio, 16000, [c.start for c in cues])
    errors = [abs(f - c.start) for f, c in zip(found, cues, strict=True)]
    assert max(errors) <= 0.05, list(zip([c.start for c in cues], found, strict=True))


def fit_report(s3, bucket: str, job_id: str) -> dict:  # type: ignore[no-untyped-def]
    body = s3.get_object(Bucket=bucket, Key=f"jobs/{job_id}/fit-report.json")["Body"].read()
    return json.loads(body)  # type: ignore[no-any-return]


def start_workers(celery_workers, env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    synth_env = {k: v for k, v in env.items() if k != "VOICECAST_DATABASE_URL"}
    celery_workers("assemble", env, concurrency=1)
    celery_workers("synth", synth_env, concurrency=1)


SEND_PROBE = """
import sys, time
from workers.tasks import _notify
from voicecast.celery_app import app
app.send_task("voicecast.warm_up", queue="warm-up")  # connected before the outage, as a worker is
print("ready", flush=True)
sys.stdin.readline()
t0 = time.monotonic()
try:
    _notify("voicecast.segment_failed", "f" * 32, 0, "probe")
except Exception as e:
    print(f"failed {time.monotonic() - t0:.1f} {type(e).__name__}: {e}", flush=True)
    raise SystemExit(3)
print(f"sent {time.monotonic() - t0:.1f}", flush=True)
"""


@dataclass
class Started:
    """A distributed job running mid-way through a six-cue track."""

    env: dict[str, str]
    db_url: str
    cues: list[CueSpec]
    out: Path
    render: Render
    job_id: str


def start_job(tmp_path: Path, voicecast_env: dict[str, str], redis: RedisServer, s3_env: dict[str, str],
              celery_workers, **extra: str) -> Started:  # type: ignore[no-untyped-def]
    """Migrate a fresh database, start the workers, render the track in the
    background and return once the job is under way (a segment done, others not)."""
    env = job_env(tmp_path, voicecast_env, redis, s3_env, **extra)
    db_url = env["VOICECAST_DATABASE_URL"]
    assert subprocess.run([sys.executable, "-m", "orchestrator.cli", "db", "upgrade"], env=env,
                          cwd=REPO, capture_output=True).returncode == 0
    srt, out = tmp_path / "six.srt", tmp_path / "dub.wav"
    cues = make_srt(srt, short_sentences(CUE_COUNT))
    start_workers(celery_workers, env)
    render = Render(env, srt, out, tmp_path / "render.log")
    return Started(env, db_url, cues, out, render, wait_mid_job(db_url, render, len(cues)))


@pytest.mark.parametrize("budget", ["180", "0"])
def test_a_result_sent_while_redis_is_down_waits_for_it(budget, voicecast_env, redis_factory):
    """The synthesis task's notification (``workers.tasks._notify``) sent while
    Redis is down for 3 s: it waits the outage out and lands in the queue; with
    no budget (``VOICECAST_QUEUE__RETRY_BUDGET_S=0``) it fails as before."""
    import threading

    redis = RedisServer(appendonly=True).start()
    redis_factory.append(redis)
    env = {**voicecast_env, **redis.env(), "VOICECAST_QUEUE__RETRY_BUDGET_S": budget}
    probe = subprocess.Popen([sys.executable, "-c", SEND_PROBE], env=env, cwd=REPO, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert probe.stdout is not None and probe.stdin is not None
    assert probe.stdout.readline().strip() == "ready"
    restart = threading.Thread(target=redis.restart, kwargs={"down_s": 3.0})
    restart.start()
    time.sleep(0.5)  # redis is down now
    probe.stdin.write("go\n")
    probe.stdin.flush()
    out, _ = probe.communicate(timeout=120)
    restart.join()
    client = redis.client()
    try:
        queued = client.llen("assemble")
    finally:
        client.close()
    print(f"\n[send while redis is down, budget {budget} s] {out.strip().splitlines()[-1]}")
    if budget == "0":
        assert probe.returncode == 3 and "OperationalError" in out and queued == 0, out
    else:
        assert probe.returncode == 0 and out.strip().splitlines()[-1].startswith("sent"), out
        assert float(out.split()[-1]) >= 2.0 and queued == 1


def test_redis_restarted_mid_job_the_job_completes_without_resume(
    tmp_path, voicecast_env, redis_factory, s3_server, celery_workers,
):
    redis = RedisServer(appendonly=True).start()
    redis_factory.append(redis)
    bucket = s3_server.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
    job = start_job(tmp_path, voicecast_env, redis, {**s3_server.env(), "VOICECAST_STORAGE__BUCKET": bucket},
                    celery_workers)
    db_url, cues, out, render, job_id = job.db_url, job.cues, job.out, job.render, job.job_id
    done_before = segment_states(db_url, job_id).get("done", 0)
    t_fault = time.monotonic()
    down_s = redis.restart(down_s=3.0)
    rc, summary, err = render.wait(timeout=600)
    recovered_s = time.monotonic() - t_fault
    assert rc == 0, err[-4000:]
    assert summary["status"] == "done"
    assert "made no progress" not in err  # the retries alone carried it: no stall, no re-dispatch
    assert_every_cue_once(db_url, job_id, cues, out, fit_report(s3_server.client(), bucket, job_id))
    print(f"\n[redis AOF restart] {done_before}/{len(cues)} done at the fault, redis down {down_s:.1f} s; "
          f"job done {recovered_s:.1f} s after the fault, {time.monotonic() - render.t0:.1f} s in all")


def test_lost_queue_is_detected_and_the_job_completes_by_itself(
    tmp_path, voicecast_env, redis_factory, s3_server, celery_workers,
):
    redis = RedisServer(appendonly=False).start()
    redis_factory.append(redis)
    bucket = s3_server.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
    job = start_job(tmp_path, voicecast_env, redis, {**s3_server.env(), "VOICECAST_STORAGE__BUCKET": bucket},
                    celery_workers, VOICECAST_QUEUE__STALL_TIMEOUT_S=str(STALL_S))
    db_url, cues, out, render, job_id = job.db_url, job.cues, job.out, job.render, job.job_id
    client = redis.client()
    queued = client.llen("synth")
    client.close()
    done_before = segment_states(db_url, job_id).get("done", 0)
    t_fault = time.monotonic()
    redis.restart(down_s=0.3)  # no persistence: every queued message is gone
    client = redis.client()
    assert client.llen("synth") == 0 and client.hlen("unacked") == 0
    client.close()
    rc, summary, err = render.wait(timeout=600)
    recovered_s = time.monotonic() - t_fault
    assert rc == 0, err[-4000:]
    assert summary["status"] == "done"
    assert "made no progress" in err, err[-4000:]  # the stall was detected and healed
    assert_every_cue_once(db_url, job_id, cues, out, fit_report(s3_server.client(), bucket, job_id))
    # Within the stall timeout plus the work (the remaining segments, assembly, a poll).
    assert recovered_s < STALL_S + 120, recovered_s
    print(f"\n[redis lost queue] {done_before}/{len(cues)} done and {queued} queued at the fault; "
          f"job done {recovered_s:.1f} s after the fault (stall timeout {STALL_S} s), "
          f"{time.monotonic() - render.t0:.1f} s in all")


def test_s3_refusing_connections_for_60_s_the_job_completes(
    tmp_path, voicecast_env, redis_factory, s3_server, celery_workers,
):
    redis = RedisServer(appendonly=True).start()
    redis_factory.append(redis)
    bucket = s3_server.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
    with TcpProxy(s3_server.port) as proxy:
        s3_env = {**s3_server.env(), "VOICECAST_STORAGE__BUCKET": bucket,
                  "VOICECAST_STORAGE__ENDPOINT_URL": proxy.url}
        job = start_job(tmp_path, voicecast_env, redis, s3_env, celery_workers)
        db_url, cues, out, render, job_id = job.db_url, job.cues, job.out, job.render, job.job_id
        done_before = segment_states(db_url, job_id).get("done", 0)
        proxy.down()
        t_fault = time.monotonic()
        time.sleep(60)
        done_during = segment_states(db_url, job_id).get("done", 0)
        proxy.up()
        t_back = time.monotonic()
        rc, summary, err = render.wait(timeout=600)
        t_end = time.monotonic()
        assert rc == 0, err[-4000:]
        assert summary["status"] == "done"
        assert_every_cue_once(db_url, job_id, cues, out, fit_report(s3_server.client(), bucket, job_id))
    print(f"\n[S3 down 60 s] {done_before}/{len(cues)} done at the fault, {done_during} when it came back; "
          f"job done {t_end - t_back:.1f} s after S3 came back ({t_end - t_fault:.1f} s after the fault), "
          f"{t_end - render.t0:.1f} s in all")
