"""Throughput: rendered audio seconds per wall second, on one input, in one run.

Three ways over the same planned segments:
  bare loop   engine + fit in this process, no queue, no storage, no SQL
              (the model is loaded before the clock starts)
  embedded/1  `voicecast render` with one local worker process
  embedded/2  `voicecast render` with two local worker processes
The embedded runs are whole CLI invocations (process start, model load in each
worker, SQL, storage, ffmpeg assembly and loudness); each starts from an empty
segment store, with the voice profile already enrolled.

    .venv/bin/python bench/bench_throughput.py [--input examples/trailer.srt]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def render(data_dir: Path, inp: Path, voice: Path, out: Path, workers: int) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    env.update(VOICECAST_DATA_DIR=str(data_dir), VOICECAST_WORKERS=str(workers))
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "orchestrator.cli", "render", str(inp), "--voice",
                          str(voice), "--out", str(out), "--json"], env=env, cwd=REPO,
                         capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if res.returncode:
        sys.exit(res.stderr)
    return wall, json.loads(res.stdout)


def speech_seconds(data_dir: Path, job_id: str) -> tuple[float, float]:
    """Seconds of segment audio rendered, and mean engine calls per segment."""
    rows = json.loads((data_dir / "objects" / "jobs" / job_id / "fit-report.json").read_text())["segments"]
    return sum(r["final_s"] for r in rows), sum(r["engine_calls"] for r in rows) / len(rows)


def bare_loop(inp: Path, style_key: str, store_dir: Path) -> tuple[float, float, float]:
    from orchestrator.inputs.subtitles import parse_subtitles
    from orchestrator.planning.cues import plan_cues
    from voicecast.settings import EngineSettings, FitSettings
    from voicecast.storage import LocalStore
    from workers.engines import get_engine
    from workers.fitting import FitPolicy, fit_to_slot
    from workers.synth import load_profile
    from workers.voices import speak

    plan = plan_cues(parse_subtitles(inp), source=str(inp))
    engine = get_engine(EngineSettings(threads=os.cpu_count() or 1))
    profile = load_profile(LocalStore(store_dir), style_key)
    speak(engine, profile, "Warm up.")  # load the model
    policy = FitPolicy.from_settings(FitSettings())
    total, calls = 0.0, 0
    t0 = time.perf_counter()
    for seg in plan.segments:
        fit = fit_to_slot(
            lambda speed, text=seg.text: speak(engine, profile, text, speed),
            engine.capabilities.sample_rate, seg.end - seg.start, seg.max_end - seg.start, policy)
        total += fit.final_s
        calls += fit.engine_calls
    return time.perf_counter() - t0, total, calls / len(plan.segments)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", type=Path, default=REPO / "examples" / "trailer.srt")
    ap.add_argument("--voice", type=Path, default=REPO / "examples" / "reference.wav")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vc-bench-") as tmp:
        tmpd = Path(tmp)
        # Enrol the voice once (a full render of the input), then reuse its profile.
        warm = tmpd / "warm"
        _, first = render(warm, args.input, args.voice, tmpd / "warm.wav", os.cpu_count() or 1)
        profile_dir = warm / "objects" / "voices"
        style_key = next(p for p in profile_dir.rglob("*.npz")).relative_to(warm / "objects")

        rows = []
        rows.append(("bare loop (engine+fit, 1 process, all cores)",
                     *bare_loop(args.input, str(style_key), warm / "objects")))
        for n in (1, 2):
            d = tmpd / f"run{n}"
            for sub in ("voices", "refs", "engines"):
                if (warm / "objects" / sub).exists():
                    shutil.copytree(warm / "objects" / sub, d / "objects" / sub)
            wall, summary = render(d, args.input, args.voice, tmpd / f"run{n}.wav", n)
            assert summary["rendered"] == summary["segments"], summary
            rows.append((f"embedded pipeline, {n} worker process{'es' if n > 1 else ''}", wall,
                         *speech_seconds(d, summary["job_id"])))

    print(f"input: {args.input.name}, {first['segments']} segments, "
          f"{first['duration_s']:.1f} s track; machine: {os.cpu_count()} cores")
    bare = rows[0][2] / rows[0][1]
    print(f"{'run':52} {'wall s':>8} {'speech s':>9} {'audio s/wall s':>15} {'vs bare':>8} "
          f"{'engine calls/seg':>17}")
    for name, wall, audio, calls in rows:
        print(f"{name:52} {wall:8.1f} {audio:9.1f} {audio / wall:15.2f} {audio / wall / bare:8.2f} "
              f"{calls:17.2f}")


if __name__ == "__main__":
    main()
