"""What a render costs beyond synthesis: orchestration at thousands of segments.

Generates a Markdown book of ``--segments`` sentences in ``--chapters`` chapters
and a dub SRT of ``--cues`` cues (made-up text, no corpus files), and renders
each with the ``null`` engine (``VOICECAST_ENGINE__NAME=null``: Kokoro's
frontend and duration predictor, a tone instead of speech) in embedded mode,
into a fresh data folder, three times:

1. first render;
2. no-op re-render (the same input again);
3. one edited sentence (or cue) in the middle.

Each run is the CLI a user would type (``python -m orchestrator.cli render ...
--json``, process start-up included). For each it prints the wall time, the
wall time per segment, the segments rendered, the engine time the workers
recorded for the segments it rendered (``segments.synth_s``: the null
engine's predictor calls) and the peak
RSS (``VmHWM``, sampled from /proc every 0.2 s) of the control process (the CLI)
and of the largest worker process (its Python children; ffmpeg is reported
apart).

    .venv/bin/python bench/bench_orchestration.py [--segments 10000] [--chapters 10]
        [--cues 2000] [--workers 2] [--md-out bench/results/orchestration.md]

Embedded mode only: the distributed mode (Celery, redis, S3) is not measured
here yet, nor are per-stage times (plan, SQL, dispatch, recording, levelling),
except the M4B's assembly and encode, read from the CLI's ``-v`` log (kept in
the work folder with ``--keep``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

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


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@dataclass
class Peaks:
    control_kb: int = 0
    worker_kb: int = 0
    tool_kb: int = 0
    workers_seen: set[int] = field(default_factory=set)

    def sample(self, root: int) -> None:
        self.control_kb = max(self.control_kb, _hwm_kb(root))
        kids, stack = _children(), list(_children().get(root, []))
        while stack:
            pid = stack.pop()
            stack += kids.get(pid, [])
            kb = _hwm_kb(pid)
            if _comm(pid).startswith(("ffmpeg", "ffprobe")):
                self.tool_kb = max(self.tool_kb, kb)
            else:
                self.workers_seen.add(pid)
                self.worker_kb = max(self.worker_kb, kb)


@dataclass
class Run:
    name: str
    wall_s: float
    segments: int
    rendered: int
    synth_s: float
    peaks: Peaks
    #: Seconds from the last chapter file written (or the job's first log line)
    #: to the M4B written, from the ``-v`` log: the M4B's assembly and AAC encode.
    m4b_s: float | None = None


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def m4b_seconds(log: Path) -> float | None:
    """The M4B stage from the CLI's ``-v`` log: the time between the log line
    before ``wrote .../book.m4b`` (a chapter written, or the job's start) and it."""
    prev = None
    for line in log.read_text(errors="replace").splitlines():
        m = _STAMP.match(line)
        if not m or "phonemizer" in line or "alembic" in line:
            continue
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
        if "book.m4b" in line and "wrote" in line:
            return (t - prev).total_seconds() if prev else None
        prev = t
    return None


def render(env: dict[str, str], args: list[str], log: Path) -> tuple[float, Peaks, dict]:
    cmd = [sys.executable, "-m", "orchestrator.cli", "-v", "render", *args, "--json"]
    peaks = Peaks()
    t0 = time.perf_counter()
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True)
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                peaks.sample(proc.pid)
                done.wait(0.2)

        sampler = threading.Thread(target=poll, daemon=True)
        sampler.start()
        out, _ = proc.communicate()
        done.set()
        sampler.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"render failed ({proc.returncode}), see {log}:\n{out[-2000:]}")
    return wall, peaks, json.loads(out)


def job_figures(data_dir: Path, job_id: str) -> tuple[int, int, float]:
    """(segments, rendered by this job, engine seconds of those) of one job."""
    with sqlite3.connect(data_dir / "voicecast.db") as c:
        n, rendered, synth = c.execute(
            "select count(*), sum(case when cache_hit then 0 else 1 end),"
            " coalesce(sum(case when cache_hit then 0 else synth_s end), 0)"
            " from segments where job_id = ?", (job_id,)).fetchone()
    return int(n), int(rendered or 0), float(synth or 0.0)


def bench_input(kind: str, path: Path, edit: tuple[str, str], args: list[str], work: Path,
                workers: int) -> list[Run]:
    data = work / f"data-{kind}"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    env.update(VOICECAST_DATA_DIR=str(data), VOICECAST_ENGINE__NAME="null",
               VOICECAST_WORKERS=str(workers), PYTHONUNBUFFERED="1")
    runs: list[Run] = []
    for name in ("first render", "no-op re-render", "one edited sentence"):
        if name == "one edited sentence":
            text = path.read_text(encoding="utf-8")
            assert edit[0] in text, edit[0]
            path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
        log = work / f"{kind}-{len(runs) + 1}.log"
        wall, peaks, result = render(env, [str(path), *args], log)
        job_id = result.get("job_id") or result.get("id") or result["job"]["id"]
        n, rendered, synth = job_figures(data, job_id)
        runs.append(Run(name, wall, n, rendered, synth, peaks, m4b_seconds(log)))
        m4b = f", M4B {runs[-1].m4b_s:.1f} s" if runs[-1].m4b_s is not None else ""
        print(f"  {kind} {name}: {wall:.1f} s{m4b}, {n} segments ({rendered} rendered), "
              f"{1000 * wall / max(n, 1):.1f} ms/segment, engine {synth:.1f} s, "
              f"peak RSS control {peaks.control_kb / 1024:.0f} MiB, "
              f"worker {peaks.worker_kb / 1024:.0f} MiB", flush=True)
    return runs


def table(kind: str, runs: list[Run]) -> list[str]:
    lines = [f"**{kind}**", "",
             "| run | wall s | segments (rendered) | ms / segment | engine s (workers, summed) "
             "| M4B s (log) | peak RSS control MiB | peak RSS worker MiB | peak RSS ffmpeg MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        p = r.peaks
        lines.append(f"| {r.name} | {r.wall_s:.1f} | {r.segments} ({r.rendered}) | "
                     f"{1000 * r.wall_s / max(r.segments, 1):.1f} | {r.synth_s:.1f} | "
                     f"{'-' if r.m4b_s is None else f'{r.m4b_s:.1f}'} | "
                     f"{p.control_kb / 1024:.0f} | {p.worker_kb / 1024:.0f} | {p.tool_kb / 1024:.0f} |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--segments", type=int, default=10_000, help="sentences in the book")
    ap.add_argument("--chapters", type=int, default=10)
    ap.add_argument("--cues", type=int, default=2_000, help="cues in the dub SRT (0: skip)")
    ap.add_argument("--workers", type=int, default=2, help="embedded worker processes")
    ap.add_argument("--voice", default="jm_kumo")
    ap.add_argument("--md-out", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, data)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vc-orch-"))
    print(f"work folder: {work}", flush=True)
    results: list[str] = []
    book = work / "book.md"
    sents = make_book(book, args.segments, args.chapters)
    mid = sents[len(sents) // 2]
    runs = bench_input("book", book, (mid, mid[:-1] + ", and then went home."),
                       ["--mode", "audiobook", "--voice", args.voice, "--out", str(work / "book.m4b")],
                       work, args.workers)
    results += table(f"Book: {args.segments} sentences, {args.chapters} chapters (audiobook, M4B)", runs)
    if args.cues:
        srt = work / "dub.srt"
        cues = make_srt(srt, args.cues)
        mid = cues[len(cues) // 2]
        # One word changed: the line still fits its slot.
        edited = mid.replace("The ", "One ", 1) if "The " in mid else "Then " + mid
        runs = bench_input("dub", srt, (mid, edited),
                           ["--voice", args.voice, "--out", str(work / "dub.wav")], work, args.workers)
        results += table(f"Dub: {args.cues} cues (SRT to WAV)", runs)

    cmd = (f".venv/bin/python bench/bench_orchestration.py --segments {args.segments} "
           f"--chapters {args.chapters} --cues {args.cues} --workers {args.workers}")
    head = f"Command: `{cmd}` (embedded mode, `null` engine, {os.cpu_count()} cores)"
    text = "\n".join([head, "", *results])
    print()
    print(text)
    if args.md_out:
        args.md_out.write_text(text, encoding="utf-8")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
