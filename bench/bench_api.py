"""API latency: submit and status requests under concurrent clients.

Starts ``voicecast serve`` with the ``null`` engine (Kokoro's frontend and
duration predictor, a tone instead of speech), so what is measured is the
HTTP service and its queue, not synthesis, in one or both modes
(``--mode``):

- **embedded**: one ``voicecast serve`` process with its local pool of
  ``--workers`` processes, a data folder (SQLite, local storage);
- **distributed**: real ``redis-server``, PostgreSQL and an S3 server (moto),
  a Celery ``synth`` worker (concurrency ``--workers``, no database
  credentials) and an ``assemble`` worker (concurrency 1), and the API in
  distributed mode (it plans jobs and submits their segments to the queues),
  all started as plain processes with ``tests/servers.py``.

Then ``--clients`` client threads (default 50), each with its own
``requests.Session`` and its own API key (``--tenants`` tenants, the keys
shared out among them; the per-key rate limit stays at its default, which a
client polling every ``--poll-s`` never reaches), each doing in a loop:

1. ``POST /v1/jobs``: a small SRT of 1 to 2 x ``--cues`` - 1 cues (drawn
   for each job, ``--cues`` on average, so that jobs shared fairly by the
   pool do not all end, and their clients submit again, at once), made-up
   sentences different in every job (so every job goes through the queue
   and the workers rather than the segment cache), with
   ``{"voice": "jf_alpha"}``;
2. ``GET /v1/jobs/{id}`` every ``--poll-s`` seconds (a client polling for
   its job, as the web page does) until the job is done, failed or
   cancelled; then the next job.

``--poll-s 0`` polls back to back (no pause between a client's requests):
a saturation test, where by Little's law each request's latency is about
clients / throughput whatever the server does per request.

Every request's latency is measured in the client: from before
``session.post``/``get`` to the whole body read (connection reuse, the
client's own Python time and its waits for the GIL included: a
conservative figure). Clients start at random offsets within one poll
interval; the first ``--warmup-s`` seconds (and a serial warm-up, one
submit and one status for each of five keys, before the clients start) are
left out; samples
are the requests that start in the next ``--duration-s`` seconds. Figures
per mode: count, p50, p95, p99 and max latency of submit and of status,
errors (any answer but 202 / 200, or a failed connection), requests per
second; the jobs submitted, finished (done / failed) and their time from
submit to the client seeing them done (poll granularity included); and the
CPU seconds each part used in the window (API process, workers, database /
broker / S3, this client), read from ``/proc``, to show how the cores were
shared, and the whole machine's (``/proc/stat``), to show what else ran.

    .venv/bin/python bench/bench_api.py [--mode embedded|distributed|both] [--clients 50]
        [--tenants 10] [--duration-s 120] [--warmup-s 30] [--poll-s 0.5] [--cues 3]
        [--workers 1] [--md-out bench/results/api.md] [--keep]

Timings are printed and written, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from bench_orchestration import _children, _tree, sentences  # noqa: E402

FINAL = ("done", "failed", "cancelled")
VOICE = "jf_alpha"

#: Makes API keys in the server's database (one process, not one CLI run per key).
KEYS_SNIPPET = """
import json, sys
from voicecast.settings import get_settings
from orchestrator.service import tenants
from orchestrator.store.db import ensure_schema
settings = get_settings()
ensure_schema(settings, auto_upgrade=not settings.distributed)
names = json.loads(sys.argv[1])
print(json.dumps([tenants.create_key(settings, t) for t in names]))
"""


# --------------------------------------------------------------------------- inputs


def srt_bytes(cues: int, seed: int) -> bytes:
    """A small dub SRT: ``cues`` made-up sentences (drawn anew for each
    ``seed``), each in a slot long enough for it."""
    out, t = [], 0.5

    def ts(x: float) -> str:
        ms = round(x * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    for i, s in enumerate(sentences(cues, seed), 1):
        dur = round(max(1.6, len(s) / 13.0), 2)
        out.append(f"{i}\n{ts(t)} --> {ts(t + dur)}\n{s}\n")
        t += dur + 0.5
    return "\n".join(out).encode()


# --------------------------------------------------------------------------- CPU accounting


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process and of its children that
    ended and were waited for (0 when it is gone). Counting the waited-for
    children makes a window's difference right for short-lived children
    (ffmpeg), which are alive at neither end of it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    f = stat[stat.rindex(")") + 2:].split()
    return sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> float:
    """CPU seconds every process of the machine used so far (``/proc/stat``:
    user, nice, system, irq, softirq, steal), to show what else ran."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(fields[i]) for i in (0, 1, 2, 5, 6, 7) if i < len(fields))
    return busy / os.sysconf("SC_CLK_TCK")


#: A part of the system: (root pid, whether the root counts, whether its descendants count).
Part = list[tuple[int, bool, bool]]


def cpu_by_part(parts: dict[str, Part]) -> dict[str, float]:
    """CPU seconds of each part so far (see :data:`Part`)."""
    kids = _children()
    out: dict[str, float] = {}
    for name, spec in parts.items():
        pids: set[int] = set()
        for root, self_too, descendants in spec:
            if self_too:
                pids.add(root)
            if descendants:
                pids.update(_tree(root, kids))
        out[name] = sum(_cpu_s(p) for p in pids)
    return out


# --------------------------------------------------------------------------- load


@dataclass
class Sample:
    kind: str  # "submit" or "status"
    t: float  # start, perf_counter
    latency_s: float
    ok: bool
    code: int  # HTTP status, 0 for a failed connection


@dataclass
class JobSeen:
    submitted_t: float
    finished_t: float | None = None
    status: str = "pending"
    segments: int = 0
    reused: int = 0


@dataclass
class Load:
    """The clients' shared record (appends to lists are atomic under the GIL)."""

    samples: list[Sample] = field(default_factory=list)
    jobs: list[JobSeen] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1


def pause(stop: threading.Event, seconds: float) -> bool:
    """Wait ``seconds`` (none at 0); True when the clients are told to stop."""
    return stop.wait(seconds) if seconds else stop.is_set()


def client(n: int, base: str, key: str, args: argparse.Namespace, load: Load, seed: int) -> None:
    """One client: submit a job, poll it until it ends, again, until told to stop."""
    http = requests.Session()
    headers = {"Authorization": f"Bearer {key}"}
    rng = random.Random(seed)
    options = json.dumps({"voice": VOICE})
    if args.poll_s:
        load.stop.wait(rng.uniform(0, args.poll_s))  # spread the clients over one interval
    job_n = 0
    while not load.stop.is_set():
        job_n += 1
        body = srt_bytes(rng.randint(1, 2 * args.cues - 1), seed * 100_003 + job_n)
        t0 = time.perf_counter()
        try:
            r = http.post(f"{base}/v1/jobs", headers=headers, timeout=120,
                          files={"input": (f"c{n}-{job_n}.srt", body)}, data={"options": options})
            _ = r.content
            code = r.status_code
        except requests.RequestException as e:
            code, r = 0, None
            load.error(type(e).__name__)
        load.samples.append(Sample("submit", t0, time.perf_counter() - t0, code == 202, code))
        if r is None or code != 202:
            if code:
                load.error(f"submit {code}")
            load.stop.wait(max(args.poll_s, 0.2))
            continue
        job_id = r.json()["id"]
        seen = JobSeen(submitted_t=t0)
        load.jobs.append(seen)
        while not pause(load.stop, args.poll_s):
            t0 = time.perf_counter()
            try:
                r = http.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=120)
                _ = r.content
                code = r.status_code
            except requests.RequestException as e:
                code = 0
                load.error(type(e).__name__)
            t1 = time.perf_counter()
            load.samples.append(Sample("status", t0, t1 - t0, code == 200, code))
            if code != 200:
                if code:
                    load.error(f"status {code}")
                continue
            job = r.json()
            seen.status = job["status"]
            seen.segments, seen.reused = job["progress"]["total"], job["progress"]["reused"]
            if job["status"] in FINAL:
                seen.finished_t = t1
                break


def warm_up(base: str, keys: list[str], cues: int) -> None:
    """One submit and one status for each of a few keys, serially: imports, caches."""
    http = requests.Session()
    for i, key in enumerate(keys):
        headers = {"Authorization": f"Bearer {key}"}
        r = http.post(f"{base}/v1/jobs", headers=headers, timeout=300,
                      files={"input": ("warm.srt", srt_bytes(cues, 9_000_000 + i))},
                      data={"options": json.dumps({"voice": VOICE})})
        if r.status_code != 202:
            raise SystemExit(f"warm-up submit failed: {r.status_code} {r.text}")
        s = http.get(f"{base}/v1/jobs/{r.json()['id']}", headers=headers, timeout=300)
        if s.status_code != 200:
            raise SystemExit(f"warm-up status failed: {s.status_code} {s.text}")


# --------------------------------------------------------------------------- figures


def pct(xs: list[float], q: float) -> float:
    """The ``q``-th percentile (linear between closest ranks)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@dataclass
class Result:
    mode: str
    window: tuple[float, float]  # perf_counter
    samples: list[Sample]  # the requests started in the window
    jobs: list[JobSeen]  # every job the clients submitted (warm-up and the end included)
    errors: dict[str, int]
    cpu: dict[str, float]  # CPU seconds in the window, by part
    machine_cpu: float  # CPU seconds in the window, every process of the machine
    setup: str

    @property
    def duration_s(self) -> float:
        return self.window[1] - self.window[0]

    def inside(self, t: float | None) -> bool:
        return t is not None and self.window[0] <= t < self.window[1]

    def row(self, kind: str) -> dict[str, Any]:
        xs = [s for s in self.samples if s.kind == kind]
        lat = [1000 * s.latency_s for s in xs]
        return {"count": len(xs), "errors": sum(not s.ok for s in xs), "p50": pct(lat, 50),
                "p95": pct(lat, 95), "p99": pct(lat, 99), "max": max(lat, default=float("nan")),
                "per_s": len(xs) / self.duration_s}


def measure(mode: str, base: str, keys: list[str], args: argparse.Namespace, parts: dict[str, Part],
            setup: str) -> Result:
    warm_up(base, keys[:5], args.cues)
    load = Load()
    threads = [threading.Thread(target=client, args=(n, base, keys[n], args, load, 1000 * (n + 1)),
                                name=f"client-{n}", daemon=True) for n in range(args.clients)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.warmup_s)
    parts = {**parts, "bench client (this process)": [(os.getpid(), True, False)]}
    cpu0, machine0 = cpu_by_part(parts), machine_cpu_s()
    w0 = time.perf_counter()
    time.sleep(args.duration_s)
    w1 = time.perf_counter()
    cpu1, machine1 = cpu_by_part(parts), machine_cpu_s()
    load.stop.set()
    for t in threads:
        t.join(timeout=150)
    print(f"  {mode}: clients ran {w1 - t_start:.0f} s (warm-up {w0 - t_start:.0f} s)", flush=True)
    samples = [s for s in load.samples if w0 <= s.t < w1]
    cpu = {k: max(0.0, cpu1[k] - cpu0.get(k, 0.0)) for k in cpu1}
    return Result(mode, (w0, w1), samples, list(load.jobs), dict(load.errors), cpu, machine1 - machine0,
                  setup)


# --------------------------------------------------------------------------- targets


#: What a target gives the measurement: the API's URL, the clients' keys, the parts
#: whose CPU is counted, a line on the setup.
Target = tuple[str, list[str], dict[str, Part], str]


def clean_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    env.update(VOICECAST_DATA_DIR=str(data), VOICECAST_ENGINE__NAME="null", PYTHONUNBUFFERED="1")
    return env


def make_keys(env: dict[str, str], clients: int, tenants: int) -> list[str]:
    """One key per client, the clients shared out round-robin among ``tenants`` tenants."""
    names = [f"bench-{n % tenants}" for n in range(clients)]
    out = subprocess.run([sys.executable, "-c", KEYS_SNIPPET, json.dumps(names)], env=env, cwd=REPO,
                         capture_output=True, text=True, check=False, timeout=300)
    if out.returncode:
        raise SystemExit(f"making keys failed:\n{out.stderr[-3000:]}")
    keys: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return keys


@contextlib.contextmanager
def embedded(work: Path, args: argparse.Namespace) -> Iterator[Target]:
    import servers

    data = work / "data-embedded"
    data.mkdir()
    env = clean_env(data)
    t0 = time.perf_counter()
    with servers.ApiServer(env, workers=args.workers, log_path=work / "api-embedded.log") as api:
        assert api.proc is not None
        print(f"  embedded: API up in {time.perf_counter() - t0:.1f} s", flush=True)
        keys = make_keys(env, args.clients, args.tenants)
        pid = api.proc.pid
        yield (api.url, keys, {"API process": [(pid, True, False)], "worker pool": [(pid, False, True)]},
               f"`voicecast serve` (one uvicorn process) with its local pool of {args.workers} worker "
               f"process{'es' if args.workers != 1 else ''}; SQLite and local storage in a data folder")


def _postmaster(pg: Any) -> list[int]:
    try:
        return [int((pg.dir / "data" / "postmaster.pid").read_text().split()[0])]
    except (OSError, ValueError, IndexError, TypeError):
        return []


@contextlib.contextmanager
def distributed(work: Path, args: argparse.Namespace) -> Iterator[Target]:
    import servers

    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(servers.RedisServer())
        pg = stack.enter_context(servers.PostgresServer())
        s3 = stack.enter_context(servers.S3Server())
        print(f"  distributed: servers up in {time.perf_counter() - t0:.1f} s (redis, PostgreSQL, moto S3)",
              flush=True)
        data = work / "data-distributed"
        data.mkdir()
        bucket = s3.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
        env = {**clean_env(data), **redis.env(), **s3.env(), "VOICECAST_STORAGE__BUCKET": bucket,
               "VOICECAST_DATABASE_URL": pg.create_database()}
        up = subprocess.run([sys.executable, "-m", "orchestrator.cli", "db", "upgrade"], env=env, cwd=REPO,
                            capture_output=True, text=True, check=False)
        if up.returncode:
            raise SystemExit(f"db upgrade failed:\n{up.stderr[-3000:]}")
        synth_env = {k: v for k, v in env.items() if k != "VOICECAST_DATABASE_URL"}
        assemble = servers.CeleryWorker("assemble", env, concurrency=1, cwd=REPO,
                                        log_path=work / "worker-assemble.log")
        synth = servers.CeleryWorker("synth", synth_env, concurrency=args.workers, cwd=REPO,
                                     log_path=work / "worker-synth.log")
        for w in (assemble, synth):
            stack.callback(w.stop)
            w.start()
        api = stack.enter_context(servers.ApiServer(env, log_path=work / "api-distributed.log"))
        for w in (assemble, synth):
            w.wait_ready()
        assert api.proc is not None
        print(f"  distributed: workers and API up in {time.perf_counter() - t0:.1f} s", flush=True)
        keys = make_keys(env, args.clients, args.tenants)
        servers_ = [p for p in (redis.proc.pid if redis.proc else 0, s3.proc.pid if s3.proc else 0) if p]
        yield (api.url, keys,
               {"API process": [(api.proc.pid, True, True)],
                "synth worker": [(synth.pid, True, True)], "assemble worker": [(assemble.pid, True, True)],
                "redis, PostgreSQL, moto S3": [(p, True, True) for p in servers_ + _postmaster(pg)]},
               f"`voicecast serve` (one uvicorn process, distributed: plans jobs, submits to the queues); "
               f"Celery synth worker x{args.workers} and assemble worker x1; redis-server, PostgreSQL, "
               "moto's S3 server")


# --------------------------------------------------------------------------- report


def tables(results: list[Result]) -> list[str]:
    lines = ["| mode | request | count | errors | p50 ms | p95 ms | p99 ms | max ms | req/s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for kind in ("submit", "status"):
            x = r.row(kind)
            lines.append(f"| {r.mode} | {'POST /v1/jobs' if kind == 'submit' else 'GET /v1/jobs/{id}'} | "
                         f"{x['count']} | {x['errors']} | {x['p50']:.1f} | {x['p95']:.1f} | {x['p99']:.1f} | "
                         f"{x['max']:.1f} | {x['per_s']:.1f} |")
    lines += ["", "Jobs: submitted in the window; finished (seen ended by their client) in the window, with "
                  "their segments (of them reused from storage) and the time from their submit to the poll "
                  "that saw them done; still unfinished when the clients stopped.", "",
              "| mode | submitted | finished: done / failed or cancelled | segments (reused) "
              "| submit to seen done, p50 / p95 s | jobs done / s | unfinished at the end |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        sub = [j for j in r.jobs if r.inside(j.submitted_t)]
        fin = [j for j in r.jobs if r.inside(j.finished_t)]
        done = [j for j in fin if j.status == "done"]
        waits = [j.finished_t - j.submitted_t for j in done if j.finished_t is not None]
        unfinished = sum(j.finished_t is None for j in r.jobs)
        lines.append(f"| {r.mode} | {len(sub)} | {len(done)} / {len(fin) - len(done)} | "
                     f"{sum(j.segments for j in fin)} ({sum(j.reused for j in fin)}) | "
                     f"{pct(waits, 50):.1f} / {pct(waits, 95):.1f} | {len(done) / r.duration_s:.2f} | "
                     f"{unfinished} |")
    lines += ["", "CPU seconds in the window, by part (cores busy = CPU s / window s; a part's processes "
                  "and the children they ended and waited for):", "",
              "| mode | part | CPU s | cores busy |", "|---|---|---:|---:|"]
    for r in results:
        for part, sec in r.cpu.items():
            lines.append(f"| {r.mode} | {part} | {sec:.1f} | {sec / r.duration_s:.2f} |")
        total = sum(r.cpu.values())
        lines.append(f"| {r.mode} | all of the above | {total:.1f} | {total / r.duration_s:.2f} |")
        lines.append(f"| {r.mode} | the whole machine (/proc/stat) | {r.machine_cpu:.1f} | "
                     f"{r.machine_cpu / r.duration_s:.2f} |")
    errs = [f"{r.mode}: {json.dumps(r.errors)}" for r in results if r.errors]
    if errs:
        lines += ["", "Errors by kind (whole run, warm-up included): " + "; ".join(errs)]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["embedded", "distributed", "both"], default="both")
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients (threads), one key each")
    ap.add_argument("--tenants", type=int, default=10, help="tenants the clients' keys belong to")
    ap.add_argument("--duration-s", type=float, default=120.0, help="measured window")
    ap.add_argument("--warmup-s", type=float, default=30.0,
                    help="clients running before the window (the first wave of jobs, all submitted at "
                         "once, is mostly over by then)")
    ap.add_argument("--poll-s", type=float, default=0.5,
                    help="a client's pause between status polls (0: back to back, a saturation test)")
    ap.add_argument("--cues", type=int, default=3,
                    help="cues in a submitted SRT on average (each job: 1 to 2 x this - 1)")
    ap.add_argument("--workers", type=int, default=1,
                    help="worker processes (embedded pool; distributed: the synth worker's concurrency)")
    ap.add_argument("--md-out", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, data)")
    args = ap.parse_args()
    args.tenants = max(1, min(args.tenants, args.clients))
    modes = ["embedded", "distributed"] if args.mode == "both" else [args.mode]

    work = Path(tempfile.mkdtemp(prefix="vc-api-"))
    print(f"work folder: {work}", flush=True)
    results: list[Result] = []
    try:
        for mode in modes:
            target = embedded(work, args) if mode == "embedded" else distributed(work, args)
            with target as (base, keys, parts, setup):
                results.append(measure(mode, base, keys, args, parts, setup))
                r = results[-1]
                for kind in ("submit", "status"):
                    x = r.row(kind)
                    print(f"  {mode} {kind}: n={x['count']} errors={x['errors']} p50={x['p50']:.1f} ms "
                          f"p95={x['p95']:.1f} ms p99={x['p99']:.1f} ms max={x['max']:.1f} ms "
                          f"({x['per_s']:.1f}/s)", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    cmd = (f".venv/bin/python bench/bench_api.py --mode {args.mode} --clients {args.clients} "
           f"--tenants {args.tenants} --duration-s {args.duration_s:g} --warmup-s {args.warmup_s:g} "
           f"--poll-s {args.poll_s:g} --cues {args.cues} --workers {args.workers}"
           + (f" --md-out {args.md_out}" if args.md_out else ""))
    head = [f"# API latency ({date.today().isoformat()})", "", f"`{cmd}`", "",
            f"Machine: {os.cpu_count()} cores ({platform.machine()}), shared by the API, the workers, "
            "the database / broker / S3 servers and the bench's client threads. `null` engine. "
            f"{args.clients} clients (threads, a `requests.Session` each), one API key each, in "
            f"{args.tenants} tenants; the per-key rate limit at its default. Each client submits an SRT "
            f"of 1 to {2 * args.cues - 1} cues, polls its status every {args.poll_s:g} s until it ends, "
            f"and submits the next. Window {args.duration_s:g} s after {args.warmup_s:g} s of warm-up; "
            "latency measured in the client (request sent to body read).", ""]
    for r in results:
        head.append(f"- {r.mode}: {r.setup}.")
    text = "\n".join([*head, "", *tables(results), ""])
    print()
    print(text)
    if args.md_out:
        args.md_out.parent.mkdir(parents=True, exist_ok=True)
        args.md_out.write_text(text, encoding="utf-8")
        print(f"wrote {args.md_out}")


if __name__ == "__main__":
    main()
