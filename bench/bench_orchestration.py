"""What a render costs beyond synthesis: orchestration at thousands of segments.

Generates a Markdown book of ``--segments`` sentences (one book per chapter
count in ``--chapters``, the same sentences each time) and a dub SRT of
``--cues`` cues (made-up text, no corpus files), and renders each with the
``null`` engine (``VOICECAST_ENGINE__NAME=null``: Kokoro's frontend and
duration predictor, a tone instead of speech), into a fresh store, three
times:

1. first render;
2. no-op re-render (the same input again);
3. one edited sentence (or cue) in the middle.

Each run is the CLI a user would type (``python -m orchestrator.cli -v render
... --json``, process start-up included), in one or both modes (``--mode``):

- **embedded**: a data folder (SQLite, local storage) and the CLI's own pool
  of ``--workers`` worker processes;
- **distributed**: real ``redis-server``, PostgreSQL and an S3 server (moto),
  a Celery ``synth`` worker with ``--workers`` processes (no database
  credentials) and an ``assemble`` worker with one, started as plain
  processes with ``tests/servers.py`` before the runs (their start-up is not
  in the figures); the CLI submits to the queues and follows the job
  (polling the SQL store every 0.5 s). The book is rendered for the first
  chapter count only, unless ``--dist-chapters`` says otherwise.

Figures, per run:

- **wall**: the CLI's wall time; **ms / segment**: wall / all segments of
  the job (stored ones included).
- **engine s**: ``segments.synth_s`` (the engine and fitting) summed over
  the segments this run rendered (``cache_hit`` false; a storage hit keeps
  the figures of the render that made it).
- **synthesis wall** = engine s / worker processes: the synthesis time a
  perfectly balanced pool would take.
- **orchestration ms / segment** = (wall − encode − synthesis wall) /
  segments, with ``encode`` the control process's ``encode`` stage (audio
  encoding by ffmpeg). Everything else counts as orchestration: process
  start-up, planning, SQL, storage checks, dispatch, result recording,
  loudness levelling, assembly, the workers' own overhead and any imbalance
  of the pool. A conservative figure. In distributed mode the encode runs in
  the assemble worker, whose stages are not logged, so there it counts as
  orchestration too (unless the worker's log has a ``stages`` line).
- **worker overhead** = sum(``segments.wall_s`` − ``synth_s``) / rendered:
  what a worker spends on a segment beyond the engine (loading, storage,
  levelling, writing), per rendered segment.
- **encode ran**: ``no`` when the log says the deliverable was reused
  (``reused deliverables/... (no assembly, no encode)`` for a dub, ``reused
  book.m4b ... (no encode)`` for a book), with no ``encode`` stage above
  10 ms and no encode logged (``encoded chapter AAC``, a chapter MP3
  ``wrote ...mp3``); ``yes`` otherwise.
- **peak RSS** (``VmHWM``, sampled from /proc every 0.2 s, reset before each
  run): the control process (the CLI), the largest worker process (embedded:
  the CLI's Python children; distributed: the synth worker's processes), the
  assemble worker (distributed) and ffmpeg.

Per stage, from the CLI's ``-v`` log line ``stages {json}`` (logger
``orchestrator.stages``): the control process's seconds in plan, sql, check,
dispatch, wait (for workers), record, assembly, level (loudness
measurement), encode and deliver. Stages nest exclusively, so they add up;
**startup/other** = wall − their sum (interpreter start-up, imports,
schema check, what no stage covers). The edit-cost table compares the edited
run across chapter counts: its wall and its assembly + encode stages.

    .venv/bin/python bench/bench_orchestration.py [--segments 10000] [--chapters 10,40]
        [--cues 2000] [--workers 2] [--mode embedded|distributed|both]
        [--md-out bench/results/orchestration.md] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: The control process's stages, in the order of a render (others are appended).
STAGE_ORDER = ("plan", "sql", "check", "dispatch", "wait", "record", "assembly", "level", "encode",
               "deliver")
#: An ``encode`` stage at or below this counts as no encode.
ENCODE_EPS_S = 0.01

_SUBJECTS = ["The miller", "A young fox", "The old captain", "Her brother", "The lighthouse keeper",
             "A tired horse", "The baker's daughter", "The schoolmaster", "A grey heron", "The tailor",
             "The ferryman", "A small owl", "The widow", "Their cousin", "The night watchman"]
_VERBS = ["walked slowly toward", "looked carefully at", "spoke quietly about", "waited patiently by",
          "thought for a while about", "laughed softly at", "sang a little song near",
          "painted a picture of", "wrote a long letter about", "dreamed all night of"]
_OBJECTS = ["the river", "the empty harbour", "the garden wall", "the winter market", "the bridge",
            "the narrow lane", "the green hills", "the church tower", "the orchard", "the quiet sea"]
_TAILS = ["", " before the sun went down", " while the wind was rising", " on a cold morning",
          " after the long journey", " without saying a word", " for the third time",
          " as the bells rang"]


def sentences(n: int, seed: int) -> list[str]:
    """``n`` made-up sentences, all distinct (a numbered clause where the
    12,000 combinations run out would change their length; duplicates are
    dropped and redrawn instead, so ``n`` must stay under 12,000)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}{rng.choice(_TAILS)}."
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def make_book(path: Path, n: int, chapters: int, per_paragraph: int = 5) -> list[str]:
    sents = sentences(n, seed=11)
    lines = ["---", "title: The Orchestration Bench", "author: voicecast bench", "---", ""]
    per = -(-n // chapters)
    for c in range(chapters):
        chunk = sents[c * per:(c + 1) * per]
        lines += [f"# Chapter {c + 1}", ""]
        lines += [" ".join(chunk[p:p + per_paragraph]) + "\n" for p in range(0, len(chunk), per_paragraph)]
    path.write_text("\n".join(lines), encoding="utf-8")
    return sents


def make_srt(path: Path, n: int) -> list[str]:
    sents = sentences(n, seed=23)
    t, out = 0.6, []

    def ts(x: float) -> str:
        ms = round(x * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    for i, s in enumerate(sents, 1):
        dur = round(max(1.4, len(s) / 14.5), 2)
        out.append(f"{i}\n{ts(t)} --> {ts(t + dur)}\n{s}\n")
        t += dur + 0.5
    path.write_text("\n".join(out), encoding="utf-8")
    return sents


# --------------------------------------------------------------------------- memory


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _tree(root: int, kids: dict[int, list[int]]) -> list[int]:
    """``root``'s descendants (not ``root``)."""
    out, stack = [], list(kids.get(root, []))
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack += kids.get(pid, [])
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def reset_hwm(roots: list[int]) -> bool:
    """Reset the peak RSS of running processes (``clear_refs`` 5, Linux 4.0+),
    so a long-lived Celery worker's peak is this run's. False where refused."""
    kids, ok = _children(), True
    for root in roots:
        for pid in (root, *_tree(root, kids)):
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                ok = False
    return ok


@dataclass
class Peaks:
    """Peak RSS (KiB) of a process tree: its root, its largest other process, ffmpeg.

    A child counts as a (Python) worker once it was seen in two samples and
    never as ffmpeg: between ``fork`` and ``exec`` an ffmpeg child still
    shows the parent's memory (and name), which is not a worker's."""

    root_kb: int = 0
    tool_kb: int = 0
    _py: dict[int, tuple[int, int]] = field(default_factory=dict)  # pid -> (samples, peak KiB)
    _tools: set[int] = field(default_factory=set)

    def sample(self, root: int, kids: dict[int, list[int]]) -> None:
        self.root_kb = max(self.root_kb, _hwm_kb(root))
        for pid in _tree(root, kids):
            kb = _hwm_kb(pid)
            if _comm(pid).startswith(("ffmpeg", "ffprobe")):
                self._tools.add(pid)
                self.tool_kb = max(self.tool_kb, kb)
            elif kb:
                n, peak = self._py.get(pid, (0, 0))
                self._py[pid] = (n + 1, max(peak, kb))

    @property
    def child_kb(self) -> int:
        return max((kb for pid, (n, kb) in self._py.items() if n >= 2 and pid not in self._tools),
                   default=0)

    @property
    def any_kb(self) -> int:
        """The largest Python process of the tree (root or child)."""
        return max(self.root_kb, self.child_kb)


class Sampler:
    """Samples several process trees every 0.2 s in a thread."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self.peaks = {name: Peaks() for name in roots}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            kids = _children()
            for name, pid in self.roots.items():
                self.peaks[name].sample(pid, kids)
            self._done.wait(0.2)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        kids = _children()  # one last sample of whatever is still running
        for name, pid in self.roots.items():
            self.peaks[name].sample(pid, kids)


# --------------------------------------------------------------------------- logs


def stage_seconds(text: str) -> dict[str, float] | None:
    """The stage seconds of the ``stages {...}`` lines in ``text`` (summed,
    when there are several: an assemble worker logs one per task)."""
    found: dict[str, float] | None = None
    for line in text.splitlines():
        at = line.find("stages {")
        if at < 0:
            continue
        try:
            parsed = json.loads(line[at + len("stages "):])
        except ValueError:
            continue
        found = found or {}
        for k, v in parsed.items():
            found[k] = found.get(k, 0.0) + float(v)
    return found


_REUSED_OUTPUT = re.compile(r"reused (deliverables/\S+ for job|book\.m4b )")
_REUSED_ANY = re.compile(r"\breused (deliverables/|book\.m4b |chapter AAC )")
_ENCODED = re.compile(r"encoded chapter AAC|wrote \S+\.mp3 \(")
_TASK_S = re.compile(r"Task voicecast\.(\w+)\[[^\]]*\] succeeded in ([0-9.]+)s")


@dataclass
class LogFacts:
    """What the logs of one run say about its output."""

    reused_output: bool = False  # the whole deliverable was reused
    reused_lines: int = 0  # deliverables/chapter streams reused
    encodes: int = 0  # encodes logged (chapter AAC, chapter MP3)
    task_s: dict[str, float] = field(default_factory=dict)  # Celery task seconds by task (workers)
    task_n: dict[str, int] = field(default_factory=dict)

    def read(self, text: str) -> LogFacts:
        for line in text.splitlines():
            self.reused_output |= bool(_REUSED_OUTPUT.search(line))
            self.reused_lines += bool(_REUSED_ANY.search(line))
            self.encodes += bool(_ENCODED.search(line))
            m = _TASK_S.search(line)
            if m:
                self.task_s[m.group(1)] = self.task_s.get(m.group(1), 0.0) + float(m.group(2))
                self.task_n[m.group(1)] = self.task_n.get(m.group(1), 0) + 1
        return self


class LogSlice:
    """The text a log file gains from now on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size if path.exists() else 0

    def text(self) -> str:
        with self.path.open("rb") as f:
            f.seek(self.start)
            return f.read().decode(errors="replace")


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    name: str
    wall_s: float
    segments: int
    rendered: int
    synth_s: float  # engine seconds of the rendered segments, summed
    seg_wall_s: float  # workers' whole seconds of the rendered segments, summed
    workers: int  # worker processes (synthesis wall = synth_s / workers)
    stages: dict[str, float] | None  # the control process's
    worker_stages: dict[str, float] | None  # the assemble worker's, if it logs them
    facts: LogFacts
    peaks: dict[str, Peaks]

    @property
    def synthesis_wall_s(self) -> float:
        return self.synth_s / max(self.workers, 1)

    @property
    def encode_s(self) -> float:
        return (self.stages or {}).get("encode", 0.0) + (self.worker_stages or {}).get("encode", 0.0)

    @property
    def orchestration_ms(self) -> float:
        own_encode = (self.stages or {}).get("encode", 0.0)
        return 1000 * (self.wall_s - own_encode - self.synthesis_wall_s) / max(self.segments, 1)

    @property
    def worker_overhead_ms(self) -> float | None:
        if not self.rendered:
            return None
        return 1000 * (self.seg_wall_s - self.synth_s) / self.rendered

    @property
    def encode_ran(self) -> str:
        if self.encode_s > ENCODE_EPS_S or self.facts.encodes:
            return "yes"
        if self.facts.reused_output:
            return "no"
        return "yes (not reused)"  # no encode seen, but nothing says the output was reused

    def mb(self, tree: str, which: str = "any_kb") -> str:
        p = self.peaks.get(tree)
        return "-" if p is None else f"{getattr(p, which) / 1024:.0f}"


def job_figures(db_url: str, job_id: str) -> tuple[int, int, float, float]:
    """(segments, rendered by this job, their engine seconds, their worker seconds)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(db_url)
    try:
        with eng.connect() as c:
            n, rendered, synth, wall = c.execute(text(
                "select count(*), sum(case when cache_hit then 0 else 1 end),"
                " coalesce(sum(case when cache_hit then 0 else synth_s end), 0),"
                " coalesce(sum(case when cache_hit then 0 else wall_s end), 0)"
                " from segments where job_id = :j"), {"j": job_id}).one()
    finally:
        eng.dispose()
    return int(n), int(rendered or 0), float(synth or 0.0), float(wall or 0.0)


@dataclass
class Target:
    """Where runs go: the environment of the CLI, its store, and (distributed)
    the Celery workers to sample and whose logs to read."""

    mode: str
    env: dict[str, str]
    db_url: str
    workers: int
    celery: dict[str, Any] = field(default_factory=dict)  # name -> servers.CeleryWorker


def render(target: Target, args: list[str], log: Path) -> tuple[float, dict[str, Peaks], dict[str, Any], str]:
    """One CLI render: (wall, peaks by tree, the JSON summary, the worker logs' new text)."""
    cmd = [sys.executable, "-m", "orchestrator.cli", "-v", "render", *args, "--json"]
    worker_roots = {name: w.pid for name, w in target.celery.items()}
    reset_hwm(list(worker_roots.values()))
    slices = [LogSlice(w.log_path) for w in target.celery.values()]
    t0 = time.perf_counter()
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, env=target.env, cwd=REPO, stdout=subprocess.PIPE, stderr=err,
                                text=True)
        with Sampler({"control": proc.pid, **worker_roots}) as sampler:
            out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"render failed ({proc.returncode}), see {log}:\n{out[-2000:]}"
                         f"{log.read_text(errors='replace')[-3000:]}")
    if slices:
        time.sleep(1.0)  # the workers log a task's end after the job is marked done
    return wall, sampler.peaks, json.loads(out), "".join(s.text() for s in slices)


def bench_input(label: str, path: Path, edit: tuple[str, str], args: list[str], target: Target,
                work: Path) -> list[Run]:
    runs: list[Run] = []
    for name in ("first render", "no-op re-render", "one edited sentence"):
        if name == "one edited sentence":
            text = path.read_text(encoding="utf-8")
            assert edit[0] in text, edit[0]
            path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
        log = work / f"{label}-{len(runs) + 1}.log"
        wall, peaks, result, worker_log = render(target, [str(path), *args], log)
        job_id = result.get("job_id") or result.get("id") or result["job"]["id"]
        n, rendered, synth, seg_wall = job_figures(target.db_url, job_id)
        cli_log = log.read_text(errors="replace")
        run = Run(name, wall, n, rendered, synth, seg_wall, target.workers, stage_seconds(cli_log),
                  stage_seconds(worker_log) if worker_log else None,
                  LogFacts().read(cli_log + worker_log), peaks)
        runs.append(run)
        if worker_log:
            (work / f"{label}-{len(runs)}.workers.log").write_text(worker_log, encoding="utf-8")
        print(f"  {label} {name}: {wall:.1f} s, {n} segments ({rendered} rendered), "
              f"{1000 * wall / max(n, 1):.1f} ms/segment, orchestration {run.orchestration_ms:.1f} "
              f"ms/segment, engine {synth:.1f} s, encode ran: {run.encode_ran}, "
              f"stages {json.dumps(run.stages)}", flush=True)
    return runs


# --------------------------------------------------------------------------- targets


def clean_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    env.update(VOICECAST_DATA_DIR=str(data), VOICECAST_ENGINE__NAME="null", PYTHONUNBUFFERED="1")
    return env


@contextlib.contextmanager
def embedded_target(work: Path, label: str, workers: int) -> Iterator[Target]:
    data = work / f"data-{label}"
    data.mkdir()
    env = clean_env(data)
    env["VOICECAST_WORKERS"] = str(workers)
    yield Target("embedded", env, f"sqlite:///{data / 'voicecast.db'}", workers)


class Cluster:
    """redis-server, PostgreSQL and moto's S3 server for the distributed runs."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        sys.path.insert(0, str(REPO / "tests"))
        import servers

        self.servers = servers
        t0 = time.perf_counter()
        self.redis = stack.enter_context(servers.RedisServer())
        self.postgres = stack.enter_context(servers.PostgresServer())
        self.s3 = stack.enter_context(servers.S3Server())
        print(f"servers up in {time.perf_counter() - t0:.1f} s (redis, PostgreSQL, moto S3)", flush=True)

    @contextlib.contextmanager
    def target(self, work: Path, label: str, workers: int) -> Iterator[Target]:
        """A fresh database, bucket and queues, and a synth and an assemble worker for them."""
        data = work / f"data-{label}"
        data.mkdir()
        db_url = self.postgres.create_database()
        bucket = self.s3.create_bucket(f"vc-{uuid.uuid4().hex[:8]}")
        self.redis.flushall()
        env = {**clean_env(data), **self.redis.env(), **self.s3.env(),
               "VOICECAST_STORAGE__BUCKET": bucket, "VOICECAST_DATABASE_URL": db_url}
        up = subprocess.run([sys.executable, "-m", "orchestrator.cli", "db", "upgrade"], env=env, cwd=REPO,
                            capture_output=True, text=True, check=False)
        if up.returncode:
            raise SystemExit(f"db upgrade failed:\n{up.stderr[-3000:]}")
        synth_env = {k: v for k, v in env.items() if k != "VOICECAST_DATABASE_URL"}
        with contextlib.ExitStack() as stack:
            t0 = time.perf_counter()
            assemble = self.servers.CeleryWorker("assemble", env, concurrency=1, cwd=REPO,
                                                 log_path=work / f"{label}-worker-assemble.log")
            synth = self.servers.CeleryWorker("synth", synth_env, concurrency=workers, cwd=REPO,
                                              log_path=work / f"{label}-worker-synth.log")
            for w in (assemble, synth):
                stack.callback(w.stop)
                w.start()
            for w in (assemble, synth):
                w.wait_ready()
            print(f"  {label}: workers ready in {time.perf_counter() - t0:.1f} s "
                  f"(synth x{workers}, assemble x1)", flush=True)
            # The db URL as the bench reads it (psycopg through SQLAlchemy, as the store does).
            yield Target("distributed", env, db_url, workers, {"synth": synth, "assemble": assemble})


# --------------------------------------------------------------------------- tables


def _f(x: float | None, fmt: str = ".1f") -> str:
    return "-" if x is None else format(x, fmt)


def run_table(title: str, runs: list[Run], distributed: bool) -> list[str]:
    mem = ("| peak RSS control MiB | peak RSS synth worker MiB (main / largest pool process) "
           "| peak RSS assemble worker MiB (main / pool) | peak RSS ffmpeg MiB |") if distributed else \
        "| peak RSS control MiB | peak RSS worker MiB | peak RSS ffmpeg MiB |"
    cols = 12 if distributed else 11
    lines = [f"**{title}**", "",
             "| run | wall s | segments (rendered) | ms / segment | engine s | synthesis wall s "
             "| orchestration ms / segment | worker overhead ms / rendered segment | encode ran " + mem,
             "|" + "---|" * (cols + 1)]
    for r in runs:
        if distributed:
            ffmpeg = max((p.tool_kb for p in r.peaks.values()), default=0)
            m = (f"{r.mb('control', 'root_kb')} | {r.mb('synth', 'root_kb')} / {r.mb('synth', 'child_kb')} | "
                 f"{r.mb('assemble', 'root_kb')} / {r.mb('assemble', 'child_kb')} | {ffmpeg / 1024:.0f} |")
        else:
            m = " | ".join(r.mb("control", k) for k in ("root_kb", "child_kb", "tool_kb")) + " |"
        lines.append(f"| {r.name} | {r.wall_s:.1f} | {r.segments} ({r.rendered}) | "
                     f"{1000 * r.wall_s / max(r.segments, 1):.1f} | {r.synth_s:.1f} | "
                     f"{r.synthesis_wall_s:.1f} | {r.orchestration_ms:.1f} | {_f(r.worker_overhead_ms)} | "
                     f"{r.encode_ran} | {m}")
    return lines + [""]


def stage_table(title: str, runs: list[Run]) -> list[str]:
    names = list(STAGE_ORDER)
    for r in runs:
        names += [k for k in (r.stages or {}) if k not in names]
    names = [k for k in names if any(k in (r.stages or {}) for r in runs)]
    lines = [f"**{title}: control-process stages, s (ms / segment)**", "",
             "| run | " + " | ".join(names) + " | sum of stages | startup/other |",
             "|" + "---|" * (len(names) + 3)]
    for r in runs:
        st, per = r.stages or {}, 1000 / max(r.segments, 1)

        def cell(s: float | None, per: float = per) -> str:
            return "-" if s is None else f"{s:.2f} ({s * per:.2f})"

        total = sum(st.values()) if r.stages is not None else None
        other = None if total is None else r.wall_s - total
        lines.append(f"| {r.name} | " + " | ".join(cell(st.get(k)) for k in names)
                     + f" | {cell(total)} | {cell(other)} |")
    lines.append("")
    worker = [r for r in runs if r.facts.task_s or r.worker_stages]
    if worker:
        lines += ["Celery tasks, seconds summed over the run (count): from the workers' logs"
                  + ("; the assemble worker's own stages where it logs them" if
                     any(r.worker_stages for r in worker) else "") + ".", "",
                  "| run | " + " | ".join(sorted({k for r in worker for k in r.facts.task_s}))
                  + " | assemble worker stages |",
                  "|" + "---|" * (len({k for r in worker for k in r.facts.task_s}) + 2)]
        for r in worker:
            keys = sorted({k for x in worker for k in x.facts.task_s})
            lines.append(f"| {r.name} | " + " | ".join(
                f"{r.facts.task_s.get(k, 0.0):.1f} ({r.facts.task_n.get(k, 0)})" for k in keys)
                + f" | {json.dumps(r.worker_stages) if r.worker_stages else '-'} |")
        lines.append("")
    return lines


def edit_table(mode: str, books: list[tuple[int, list[Run]]]) -> list[str]:
    lines = [f"**Edit cost by book size ({mode}): the one-edited-sentence run**", "",
             "| chapters | segments | wall s | ms / segment | rendered | assembly s | level s | encode s "
             "| assembly + level + encode s | assemble task s (worker) | plan s | no-op wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for chapters, runs in books:
        noop, edit = runs[1], runs[2]
        st = edit.stages or {}
        ale = sum(st.get(k, 0.0) for k in ("assembly", "level", "encode"))
        lines.append(f"| {chapters} | {edit.segments} | {edit.wall_s:.1f} | "
                     f"{1000 * edit.wall_s / max(edit.segments, 1):.1f} | {edit.rendered} | "
                     f"{st.get('assembly', 0.0):.2f} | {st.get('level', 0.0):.2f} | "
                     f"{st.get('encode', 0.0):.2f} | {ale:.2f} | "
                     f"{_f(edit.facts.task_s.get('assemble_job'), '.2f')} | "
                     f"{st.get('plan', 0.0):.2f} | "
                     f"{noop.wall_s:.1f} |")
    return lines + [""]


NOTES = """Definitions (see the module docstring):
- ms / segment: wall / all segments of the job (stored ones included).
- engine s: `segments.synth_s` (engine + fitting) summed over the segments this run rendered;
  synthesis wall = engine s / worker processes.
- orchestration ms / segment = (wall − encode − synthesis wall) / segments, `encode` from the
  control process's stages. Start-up, planning, SQL, storage checks, dispatch, recording,
  levelling, assembly, the workers' overhead and pool imbalance all count as orchestration
  (conservative). Distributed: the encode runs in the assemble worker and counts too.
- worker overhead = sum(`segments.wall_s` − `synth_s`) / rendered segments.
- encode ran: `no` when the log says the deliverable was reused and no encode stage or encode
  line appears.
- stages: the CLI's `-v` line `stages {...}` (logger `orchestrator.stages`), exclusive, so they
  add up; startup/other = wall − their sum. Distributed: the CLI only plans, dispatches and
  follows the job (its `assembly` stage is the wait for the workers).
- peak RSS: VmHWM sampled every 0.2 s, reset before each run; worker = the largest worker
  process."""


def _peak_mb(runs: list[Run], tree: str, which: str) -> str:
    kb = [getattr(r.peaks[tree], which) for r in runs if tree in r.peaks]
    return f"{max(kb) / 1024:.0f} MiB" if kb else "-"


def _edit_cost(edit: Run) -> str:
    st = edit.stages or {}
    if "assemble_job" in edit.facts.task_s:  # distributed: the assembly runs in the assemble worker
        return f"assemble task {edit.facts.task_s['assemble_job']:.2f} s"
    return f"assembly + level + encode {sum(st.get(k, 0.0) for k in ('assembly', 'level', 'encode')):.2f} s"


def summary(results: dict[str, dict[str, list[Run]]]) -> list[str]:
    """The issue's figures in a few lines (peak RSS: the largest of the three runs)."""
    out = ["**Summary**", ""]
    for mode, inputs in results.items():
        books = [(label, runs) for label, runs in inputs.items() if label.startswith("book-")]
        if books:
            runs = books[0][1]
            first, noop, _ = runs
            worker = (f"synth pool {_peak_mb(runs, 'synth', 'child_kb')} (its main process "
                      f"{_peak_mb(runs, 'synth', 'root_kb')}), assemble worker "
                      f"{_peak_mb(runs, 'assemble', 'any_kb')}" if mode == "distributed"
                      else _peak_mb(runs, "control", "child_kb"))
            out.append(f"- {mode}, {books[0][0]} ({first.segments} segments): "
                       f"orchestration {first.orchestration_ms:.1f} ms/segment on the first render; "
                       f"no-op re-render {1000 * noop.wall_s / max(noop.segments, 1):.1f} ms/segment, "
                       f"encode ran: {noop.encode_ran}; peak RSS control "
                       f"{_peak_mb(runs, 'control', 'root_kb')}, worker {worker}.")
        for label, runs in books:
            edit = runs[2]
            out.append(f"- {mode}, {label}: one edited sentence {edit.wall_s:.1f} s, "
                       f"{edit.rendered} rendered ({_edit_cost(edit)}).")
        dub = inputs.get("dub")
        if dub:
            out.append(f"- {mode}, dub ({dub[0].segments} cues): orchestration "
                       f"{dub[0].orchestration_ms:.1f} ms/segment on the first render; no-op "
                       f"{1000 * dub[1].wall_s / max(dub[1].segments, 1):.1f} ms/segment, encode ran: "
                       f"{dub[1].encode_ran}; one edited cue {dub[2].wall_s:.1f} s ({_edit_cost(dub[2])}).")
    return out + [""]


# --------------------------------------------------------------------------- main


def _ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--segments", type=int, default=10_000, help="sentences in the book")
    ap.add_argument("--chapters", type=_ints, default=[10, 40],
                    help="chapter counts, a comma list: one book each, the same sentences (default 10,40)")
    ap.add_argument("--dist-chapters", type=_ints, default=None,
                    help="chapter counts for the distributed mode (default: the first of --chapters)")
    ap.add_argument("--cues", type=int, default=2_000, help="cues in the dub SRT (0: skip)")
    ap.add_argument("--workers", type=int, default=2,
                    help="worker processes (embedded pool; distributed: the synth worker's concurrency)")
    ap.add_argument("--mode", choices=["embedded", "distributed", "both"], default="both")
    ap.add_argument("--voice", default="jm_kumo")
    ap.add_argument("--md-out", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, data)")
    args = ap.parse_args()
    if not args.chapters:
        ap.error("--chapters needs at least one count")
    modes = ["embedded", "distributed"] if args.mode == "both" else [args.mode]

    work = Path(tempfile.mkdtemp(prefix="vc-orch-"))
    print(f"work folder: {work}", flush=True)
    text_out: list[str] = []
    results: dict[str, dict[str, list[Run]]] = {}
    try:
        with contextlib.ExitStack() as stack:
            for mode in modes:
                cluster = Cluster(stack) if mode == "distributed" else None
                chapter_counts = (args.dist_chapters or args.chapters[:1]) if cluster else args.chapters
                results[mode] = inputs = {}
                books: list[tuple[int, list[Run]]] = []
                for chapters in chapter_counts:
                    label = f"{mode}-book-{chapters}ch"
                    book = work / f"{label}.md"
                    sents = make_book(book, args.segments, chapters)
                    mid = sents[len(sents) // 2]
                    target_cm = (cluster.target(work, label, args.workers) if cluster
                                 else embedded_target(work, label, args.workers))
                    with target_cm as target:
                        runs = bench_input(label, book, (mid, mid[:-1] + ", and then went home."),
                                           ["--mode", "audiobook", "--voice", args.voice,
                                            "--out", str(work / f"{label}.m4b")], target, work)
                    inputs[f"book-{chapters}ch"] = runs
                    books.append((chapters, runs))
                    title = f"Book ({mode}): {args.segments} sentences, {chapters} chapters (audiobook, M4B)"
                    text_out += run_table(title, runs, cluster is not None) + stage_table(title, runs)
                text_out += edit_table(mode, books)
                if args.cues:
                    label = f"{mode}-dub"
                    srt = work / f"{label}.srt"
                    cues = make_srt(srt, args.cues)
                    mid = cues[len(cues) // 2]
                    # One word changed: the line still fits its slot.
                    edited = mid.replace("The ", "One ", 1) if "The " in mid else "Then " + mid
                    target_cm = (cluster.target(work, label, args.workers) if cluster
                                 else embedded_target(work, label, args.workers))
                    with target_cm as target:
                        runs = bench_input(label, srt, (mid, edited),
                                           ["--voice", args.voice, "--out", str(work / f"{label}.wav")],
                                           target, work)
                    inputs["dub"] = runs
                    title = f"Dub ({mode}): {args.cues} cues (SRT to WAV)"
                    text_out += run_table(title, runs, cluster is not None) + stage_table(title, runs)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    cmd = (f".venv/bin/python bench/bench_orchestration.py --segments {args.segments} "
           f"--chapters {','.join(map(str, args.chapters))} --cues {args.cues} --workers {args.workers} "
           f"--mode {args.mode}"
           + (f" --dist-chapters {','.join(map(str, args.dist_chapters))}" if args.dist_chapters else ""))
    head = f"Command: `{cmd}` (`null` engine, {os.cpu_count()} cores)"
    text = "\n".join([head, "", *summary(results), *text_out, NOTES, ""])
    print()
    print(text)
    if args.md_out:
        args.md_out.parent.mkdir(parents=True, exist_ok=True)
        args.md_out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
