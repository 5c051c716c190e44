"""Throughput: rendered audio seconds per wall second, on one input, in one run.

Three ways over the same segments:
  bare loop   the worker's own per-segment function (``workers.synth.render_segment``)
              called in this process, one segment after another, on the very
              ``SegmentSpec`` messages the orchestrator plans for the input
              (``orchestrator.render.plan_job``), with an in-memory object
              store: the same engine, fit, emotion and levelling, no queue, no
              SQL, no storage files. The engine model is loaded before the
              clock starts; planning (and any voice enrollment) is not timed.
  pipeline/1  ``voicecast render`` with one embedded worker process
  pipeline/2  ``voicecast render`` with two embedded worker processes
The pipeline runs are whole CLI invocations (process start, model load in each
worker, planning, SQL, storage, assembly, encode, delivery), each into an
empty data folder.

Fairness: an embedded pool of N processes gives each ``cores // N`` engine
threads (``workers/pool.py``; ``VOICECAST_ENGINE__THREADS=0``, the default),
so the bare loop runs with ``cores`` threads, as the one-worker pipeline does:
"ratio" compares each run to it, and pipeline/2 against pipeline/1 is what a
second process buys. ``--threads N`` sets ``VOICECAST_ENGINE__THREADS=N`` for
every way instead. Other ``VOICECAST_*`` variables are ignored (defaults).

The default input is a made-up Markdown book of about ``--book-minutes`` of
speech (``bench_orchestration.make_book``), read with ``--mode audiobook``
and the bundled voice ``jm_kumo`` (no enrollment); ``--input FILE`` renders a
subtitle track or script instead (default voice: the example reference clip,
enrolled once while planning).

    .venv/bin/python bench/bench_throughput.py [--book-minutes 30] [--input examples/trailer.srt]
        [--voice jm_kumo] [--threads 0] [--md-out bench/results/throughput.md] [--keep]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bench_orchestration import make_book

if TYPE_CHECKING:
    from collections.abc import Iterable

    from voicecast.queue import SegmentSpec
    from voicecast.settings import Settings
    from voicecast.storage import ObjectStore

REPO = Path(__file__).resolve().parents[1]
#: Seconds of speech per made-up sentence with jm_kumo (measured on a 2-minute book:
#: 143.7 s for 36 sentences, the announcement and a chapter title: about 3.9 s a sentence).
SPEECH_S_PER_SENTENCE = 3.9
#: Sentences per chapter of the generated book (about five minutes of speech).
SENTENCES_PER_CHAPTER = 90


@dataclass
class Row:
    way: str
    wall_s: float
    audio_s: float
    segments: int
    engine_calls: int
    #: The engine and fit seconds of each segment, summed (``synth_s``).
    synth_s: float
    #: The worker's whole time per segment, summed (``wall_s``; None: not recorded).
    seg_wall_s: float | None = None
    #: Pipeline only: control-process stage seconds from the ``-v`` log.
    stages: dict[str, float] | None = None


class MemoryStore:
    """An object store in a dict (``voicecast.storage.ObjectStore``); keys it
    does not hold are read from ``below`` (the planning run's store: voice
    profiles, ``[like:]`` clips), never written there."""

    def __init__(self, below: ObjectStore) -> None:
        self.below = below
        self.data: dict[str, bytes] = {}

    def exists(self, key: str) -> bool:
        return key in self.data or self.below.exists(key)

    def existing(self, keys: Iterable[str]) -> set[str]:
        keys = set(keys)
        return (keys & self.data.keys()) | self.below.existing(keys - self.data.keys())

    def put_bytes(self, key: str, data: bytes, content_type: str = "") -> None:
        self.data[key] = bytes(data)

    def get_bytes(self, key: str) -> bytes:
        return self.data[key] if key in self.data else self.below.get_bytes(key)

    def put_file(self, key: str, path: Path, content_type: str = "") -> None:
        self.data[key] = path.read_bytes()

    def get_file(self, key: str, path: Path) -> None:
        path.write_bytes(self.get_bytes(key))

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def url(self, key: str) -> str:
        return f"memory://{key}"

    def size(self, key: str) -> int:
        return len(self.get_bytes(key))


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}


def render_args(inp: Path, voice: str, out: Path, book: bool) -> list[str]:
    return [str(inp), "--voice", voice, "--out", str(out), *(["--mode", "audiobook"] if book else [])]


def plan_specs(data_dir: Path, inp: Path, voice: str, book: bool,
               threads: int) -> tuple[list[SegmentSpec], Settings]:
    """Plan ``inp`` as ``voicecast render`` does, in this process, into
    ``data_dir`` (SQL, voice profile: a built-in one stored, a clip enrolled);
    the specs the orchestrator would dispatch, and the settings a one-process
    pool's worker would render them with."""
    from orchestrator import render
    from orchestrator.dispatch import EmbeddedDispatcher
    from orchestrator.options import RenderOptions
    from orchestrator.store.db import ensure_schema
    from voicecast.settings import EngineSettings, Settings

    # What workers/pool.py gives each of a one-process pool's workers.
    settings = Settings(data_dir=data_dir, workers=1,
                        engine=EngineSettings(threads=threads or max(1, os.cpu_count() or 1)))
    ensure_schema(settings, auto_upgrade=True)
    kind = render.job_kind(inp, "audiobook" if book else None)
    options = RenderOptions.from_cli(mode="audiobook" if book else "dub", voices=[voice])
    job_id = render.create_job(settings, inp, data_dir / ("out.m4b" if book else "out.wav"), options,
                               kind=kind)
    dispatcher = EmbeddedDispatcher(settings)
    try:
        specs = render.plan_job(settings, job_id, inp, dispatcher, options)
    finally:
        dispatcher.close()
    if any(f.name == "unstored" for f in dataclasses.fields(specs[0])):
        # As render.dispatch sends them: storage was looked in for the whole job, and held nothing.
        specs = [dataclasses.replace(sp, unstored=True) for sp in specs]
    return specs, settings


def bare_loop(specs: list[SegmentSpec], settings: Settings) -> Row:
    """The worker's ``render_segment`` on each spec, in order, one process."""
    from voicecast.storage import get_store
    from workers.engines import get_engine
    from workers.synth import load_profile, render_segment
    from workers.voices import speak

    store = MemoryStore(get_store(settings))
    engine = get_engine(settings.engine)
    speak(engine, load_profile(store, specs[0].voice_key), "Warm up.")  # load the model
    audio, calls, synth, seg_wall, n = 0.0, 0, 0.0, 0.0, 0
    t0 = time.perf_counter()
    for spec in specs:
        r = render_segment(spec, store=store, settings=settings)
        assert not r.hit, "the bare loop found a stored result: it must render every segment"
        audio += r.final_s
        calls += r.engine_calls
        synth += r.synth_s
        seg_wall += getattr(r, "wall_s", 0.0)
        n += 1
    wall = time.perf_counter() - t0
    return Row("bare loop (render_segment, 1 process)", wall, audio, n, calls, synth, seg_wall or None)


def stage_seconds(log: Path) -> dict[str, float] | None:
    """The control process's stage seconds (``orchestrator.stages``: ``stages {...}``)."""
    found = None
    for line in log.read_text(errors="replace").splitlines():
        at = line.find("stages {")
        if at >= 0:
            try:
                found = {k: float(v) for k, v in json.loads(line[at + len("stages "):]).items()}
            except (ValueError, AttributeError):
                pass
    return found


def pipeline(data_dir: Path, inp: Path, voice: str, out: Path, book: bool, workers: int,
             threads: int, log: Path) -> Row:
    env = clean_env()
    env.update(VOICECAST_DATA_DIR=str(data_dir), VOICECAST_WORKERS=str(workers), PYTHONUNBUFFERED="1")
    if threads:
        env["VOICECAST_ENGINE__THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "orchestrator.cli", "-v", "render", *render_args(inp, voice, out, book),
           "--json"]
    t0 = time.perf_counter()
    with log.open("w") as err:
        res = subprocess.run(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
                             check=False)
    wall = time.perf_counter() - t0
    if res.returncode:
        sys.exit(f"render failed ({res.returncode}), see {log}:\n{log.read_text()[-3000:]}")
    summary = json.loads(res.stdout)
    assert summary["rendered"] == summary["segments"], summary
    with sqlite3.connect(data_dir / "voicecast.db") as c:
        has_wall = any(col[1] == "wall_s" for col in c.execute("pragma table_info(segments)"))
        n, audio, calls, synth, hits, seg_wall = c.execute(
            "select count(*), sum(final_s), sum(engine_calls), sum(synth_s),"
            " sum(case when cache_hit then 1 else 0 end), "
            + ("sum(wall_s)" if has_wall else "null") + " from segments where job_id = ?",
            (summary["job_id"],)).fetchone()
    assert not hits, f"{hits} segments were storage hits in a fresh data folder"
    stages = stage_seconds(log)
    name = f"pipeline, {workers} worker process{'es' if workers > 1 else ''}"
    return Row(name, wall, float(audio), int(n), int(calls), float(synth),
               float(seg_wall) if seg_wall else None, stages)


def table(rows: list[Row]) -> list[str]:
    bare = rows[0].audio_s / rows[0].wall_s
    out = ["| way | wall s | audio s | audio s / wall s | ratio to bare loop | engine calls / segment "
           "| segment synth s (summed) | segment wall s (summed) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        speed = r.audio_s / r.wall_s
        out.append(f"| {r.way} | {r.wall_s:.1f} | {r.audio_s:.1f} | {speed:.2f} | {speed / bare:.2f} "
                   f"| {r.engine_calls / r.segments:.2f} | {r.synth_s:.1f} "
                   f"| {'-' if r.seg_wall_s is None else f'{r.seg_wall_s:.1f}'} |")
    if len(rows) == 3:
        out += ["", f"pipeline 2 workers against 1: {rows[1].wall_s / rows[2].wall_s:.2f}x "
                    "the audio seconds per wall second"]
    for r in rows:
        if r.stages:
            assembly = sum(v for k, v in r.stages.items()
                           if k in ("assembly", "level", "encode", "deliver"))
            parts = ", ".join(f"{k} {v:.1f}" for k, v in r.stages.items())
            out += ["", f"{r.way}: stages (s) {parts}; assembly+level+encode+delivery {assembly:.1f} s "
                        f"({100 * assembly / r.wall_s:.0f}% of the wall time)"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--book-minutes", type=float, default=30.0,
                    help="minutes of speech in the generated book (the default input)")
    ap.add_argument("--input", type=Path, default=None,
                    help="render this subtitle track or script instead of a generated book")
    ap.add_argument("--voice", default=None,
                    help="narrator voice (default: jm_kumo for the book, examples/reference.wav for --input)")
    ap.add_argument("--threads", type=int, default=0,
                    help="VOICECAST_ENGINE__THREADS for every way (0: the defaults, see above)")
    ap.add_argument("--md-out", type=Path, default=None, help="also write the results as Markdown here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (book, logs, data)")
    args = ap.parse_args()
    for k in [k for k in os.environ if k.startswith("VOICECAST_")]:
        del os.environ[k]  # this process plans and renders with the defaults, as the CLI runs do

    work = Path(tempfile.mkdtemp(prefix="vc-throughput-"))
    print(f"work folder: {work}", flush=True)
    book = args.input is None
    if book:
        inp = work / "book.md"
        n = max(1, round(args.book_minutes * 60 / SPEECH_S_PER_SENTENCE))
        make_book(inp, n, chapters=max(1, -(-n // SENTENCES_PER_CHAPTER)))
        voice = args.voice or "jm_kumo"
        what = f"generated book, {n} sentences (about {args.book_minutes:g} min), --mode audiobook"
    else:
        inp = args.input.resolve()
        voice = args.voice or str(REPO / "examples" / "reference.wav")
        what = inp.name
    if Path(voice).suffix:
        voice = str(Path(voice).resolve())

    t0 = time.perf_counter()
    specs, settings = plan_specs(work / "plan", inp, voice, book, args.threads)
    print(f"planned {len(specs)} segments in {time.perf_counter() - t0:.1f} s "
          f"(bare loop: {settings.engine.threads} engine threads)", flush=True)
    rows = [bare_loop(specs, settings)]
    print(f"  {rows[-1].way}: {rows[-1].wall_s:.1f} s", flush=True)
    for workers in (1, 2):
        d = work / f"run{workers}"
        d.mkdir()
        if not book:  # the enrolled voice, so that no pipeline run enrolls it again
            for sub in ("voices", "refs", "engines"):
                if (work / "plan" / "objects" / sub).exists():
                    shutil.copytree(work / "plan" / "objects" / sub, d / "objects" / sub)
        out = d / ("book.m4b" if book else "out.wav")
        rows.append(pipeline(d, inp, voice, out, book, workers, args.threads, work / f"run{workers}.log"))
        print(f"  {rows[-1].way}: {rows[-1].wall_s:.1f} s", flush=True)

    head = (f"input: {what}; voice {Path(voice).name}; {len(specs)} segments, "
            f"{rows[0].audio_s / 60:.1f} min of speech; machine: {os.cpu_count()} cores "
            f"({platform.processor() or platform.machine()}); engine threads: "
            + (f"{args.threads} (VOICECAST_ENGINE__THREADS) in every way" if args.threads else
               f"bare loop {settings.engine.threads}, pipeline/1 {os.cpu_count()}, "
               f"pipeline/2 {max(1, (os.cpu_count() or 1) // 2)} per worker (the defaults)"))
    lines = table(rows)
    print()
    print(head)
    print()
    print("\n".join(lines))
    if args.md_out:
        cmd = "bench/bench_throughput.py " + " ".join(sys.argv[1:])
        args.md_out.write_text("\n".join([
            f"# Throughput ({date.today().isoformat()})", "", f"`.venv/bin/python {cmd.strip()}`", "",
            head, "", *lines, ""]), encoding="utf-8")
        print(f"\nwrote {args.md_out}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
