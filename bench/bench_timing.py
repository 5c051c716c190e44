"""Timing benchmark of slot fitting (issue "frame-accurate fitting").

Every line of ``bench/data/timing_lines.txt`` (223 original dialogue lines,
3-25 words) is rendered by the real Kokoro engine in a bundled voice and
fitted to a synthetic subtitle slot by :func:`workers.fitting.fit_to_slot`, the
production path of :func:`workers.synth.render_segment` (``workers.voices.speak``
and, unless disabled, the duration predictor ``workers.voices.predict``).

Per line:

1. **natural render** at speed 1.0 (not part of fitting): the natural speech
   length, measured by this script's own detector (below), and the WER before
   fitting;
2. **slot**: the required rate ``natural / slot`` is spread uniformly over
   0.6-1.5 (stratified: line ``i`` of ``N`` gets a stratum of width 0.9 / N in a
   seeded random order, and a random point in it); the gap to the next cue is 0
   for a third of the lines and uniform in 0.1-1.5 s for the rest (seeded), so
   the padded, exact-slot, borrowing and overflow branches all occur;
3. **fit** the line, once per mode: ``predict`` (the duration predictor: one
   engine call) and ``no-predict`` (the natural-first path: speed 1.0, then a
   second call when the needed rate is more than 10 % off);
4. **measure**, independently of ``fitting.py``'s own ``error_s``: the speech end
   in the fitted audio by this script's detector, against the planned end:

   * ``slot``   (rate within 0.8-1.25, the speech fills the slot): the slot end;
   * ``borrow`` (speech runs into the gap before the next cue): the slot end plus
     the gap the fitter borrowed (``borrowed_s`` of its report);
   * ``overflow`` (beyond 1.4x even with the gap): the cut, at the next cue;
   * ``short``  (rate under 0.8: placed at the cue start, slowed to 0.8x, then
     silence): the planned speech length ``natural / 0.8`` with the natural
     length measured here on the speed-1.0 render. This end depends on the
     fitter's estimate of the natural length, so these lines are reported
     separately as well as in the totals;

   and that the fitted audio is exactly the placed length
   ``round(max(slot, min(target, max)) * sr)`` samples, to the sample;
5. **WER after** fitting, Whisper tiny.en (``voicecast.evaluation``).

The bars of the issue (>= 99 % within +-40 ms, p95 <= 20 ms) are taken on the
*synced* lines: required rate within the hard limits 0.7-1.4 and a plan that
ends the speech at the slot end, the borrowed end or the cut. Short lines
(rate 0.7-0.8 inside those limits) are shown apart, and everything together
too; so are the natural-length estimate's error and the error against the
fitter's own target.

Detector: the peak of each 1 ms block; speech runs from the first to the last
block at or above -40 dBFS (the level the fitting policy trims at; a different
implementation, 1 ms resolution).

Cost: *synthesis* is the time of the one engine call whose take was kept (the
line rendered at the chosen speed, which any pipeline pays); *fitting overhead*
is everything else ``fit_to_slot`` spends, timed here around the call: extra
engine calls, duration-predictor calls, trimming, time-stretching, padding. The
figure is overhead / synthesis, summed over lines. Models are loaded (and the
duration sub-model built) before the clock starts. Timings depend on the
machine and its load; the report records the load average.

    OMP_NUM_THREADS=1 VOICECAST_ENGINE__THREADS=1 .venv/bin/python bench/bench_timing.py
    .venv/bin/python bench/bench_timing.py --limit 40 --no-predict
    .venv/bin/python bench/bench_timing.py --json-out bench/results/timing.json \\
        --md-out bench/results/timing.md
    .venv/bin/python bench/bench_timing.py --from-json bench/results/timing.json  # figures again
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from voicecast import evaluation  # noqa: E402
from voicecast.settings import get_settings  # noqa: E402
from workers.engines import get_engine  # noqa: E402
from workers.fitting import FitPolicy, fit_to_slot  # noqa: E402
from workers.voices import VoiceProfile, predict, speak  # noqa: E402

log = logging.getLogger("bench_timing")

LINES = REPO / "bench" / "data" / "timing_lines.txt"
RATE_RANGE = (0.6, 1.5)
HARD = (0.7, 1.4)
GAP_RANGE = (0.1, 1.5)
#: Share of cues followed directly by the next one (no gap to borrow).
NO_GAP_SHARE = 1 / 3
TOL_S = 0.040
BAR = {"within_share": 0.99, "p95_s": 0.020, "wer_rise": 0.02, "overhead": 0.30}
DETECT_DB = -40.0
BLOCK_MS = 1.0
MODES = ("predict", "no-predict")


# --------------------------------------------------------------------------- measuring


def speech_span(x: np.ndarray, sr: int, db: float = DETECT_DB,
                block_ms: float = BLOCK_MS) -> tuple[float, float]:
    """(start, end) in seconds of the audio at or above ``db`` dBFS, by 1 ms block peaks."""
    block = max(1, int(round(sr * block_ms / 1000)))
    n = len(x) // block
    peaks = np.abs(np.asarray(x[: n * block], dtype=np.float64)).reshape(n, block).max(axis=1)
    if len(x) > n * block:
        peaks = np.append(peaks, np.abs(x[n * block :]).max())
    loud = np.flatnonzero(peaks >= 10 ** (db / 20))
    if loud.size == 0:
        return 0.0, 0.0
    return float(loud[0] * block / sr), float(min(len(x), (loud[-1] + 1) * block) / sr)


def branch_of(fit: Any) -> str:
    if fit.overflow:
        return "overflow"
    if fit.borrowed_s > 1e-9:
        return "borrow"
    if fit.target_s < fit.slot_s - 1e-9:
        return "short"
    return "slot"


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


# --------------------------------------------------------------------------- the run


def load_lines(path: Path, limit: int | None) -> list[str]:
    lines = [s.strip() for s in path.read_text(encoding="utf-8").splitlines()]
    lines = [s for s in lines if s and not s.startswith("#")]
    return lines[:limit] if limit else lines


def plan_cues(naturals: Sequence[float], seed: int) -> list[tuple[float, float, float]]:
    """(required rate, slot, gap) per line: rates stratified over RATE_RANGE."""
    rng = np.random.default_rng(seed)
    n = len(naturals)
    order = rng.permutation(n)
    lo, hi = RATE_RANGE
    cues = []
    for i, natural in enumerate(naturals):
        rate = lo + (hi - lo) * (order[i] + rng.uniform()) / n
        gap = 0.0 if rng.uniform() < NO_GAP_SHARE else float(rng.uniform(*GAP_RANGE))
        cues.append((float(rate), natural / rate, gap))
    return cues


def fit_line(engine: Any, profile: VoiceProfile, text: str, slot: float, gap: float, policy: FitPolicy,
             mode: str) -> tuple[Any, float]:
    """The production call of ``render_segment`` (neutral emotion), timed."""
    def synth(speed: float) -> np.ndarray:
        return speak(engine, profile, text, speed)

    def predictor(speed: float) -> float | None:
        return predict(engine, profile, text, speed)

    t0 = time.perf_counter()
    fit = fit_to_slot(synth, engine.capabilities.sample_rate, slot, slot + gap, policy,
                      predict=predictor if mode == "predict" else None,
                      edge_s=getattr(engine, "edge_silence_s", 0.0))
    return fit, time.perf_counter() - t0


def measure(fit: Any, wall_s: float, natural_b: float, slot: float, gap: float, sr: int,
            policy: FitPolicy) -> dict[str, Any]:
    start, end = speech_span(fit.audio, sr)
    branch = branch_of(fit)
    max_s = slot + gap
    if branch == "slot":
        planned = slot
    elif branch == "borrow":
        planned = slot + fit.borrowed_s
    elif branch == "overflow":
        planned = max_s
    else:  # short: natural (measured here) at comfortable_min
        planned = natural_b / policy.comfortable_min
    placed_n = int(round(max(slot, min(fit.target_s, max_s)) * sr))
    return {
        "branch": branch,
        "start_s": start,
        "end_s": end,
        "planned_end_s": planned,
        "error_s": end - planned,
        "error_vs_target_s": end - min(fit.target_s, max_s),
        "length_ok": bool(fit.audio.size == placed_n
                          and round(slot * sr) <= placed_n <= round(max_s * sr) + 1),
        "natural_fit_s": fit.natural_s,
        "natural_err_s": fit.natural_s - natural_b,
        "target_s": fit.target_s,
        "engine_rate": fit.engine_rate,
        "stretch": fit.stretch,
        "borrowed_s": fit.borrowed_s,
        "overflow": fit.overflow,
        "engine_calls": fit.engine_calls,
        "predict_calls": fit.predict_calls,
        "fit_error_s": fit.error_s,
        "wall_s": wall_s,
        "synthesis_s": fit.kept_call_s,
        "overhead_s": wall_s - fit.kept_call_s,
        "extra_calls_s": fit.synth_calls_s - fit.kept_call_s,
        "other_s": wall_s - fit.synth_calls_s,
    }


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    settings = get_settings()
    engine = get_engine(settings.engine)
    sr = engine.capabilities.sample_rate
    style = engine.bundled_voices()[args.voice]
    profile = VoiceProfile(style=style, embedding=np.zeros(256, np.float32))
    policy = FitPolicy.from_settings(settings.fit)
    modes = ["no-predict"] if args.no_predict else list(args.modes)
    lines = load_lines(args.lines, args.limit)

    log.info("loading the models (not timed)")
    speak(engine, profile, "Warm up the engine.", 1.0)
    if "predict" in modes and predict(engine, profile, "Warm up the predictor.", 1.0) is None:
        raise SystemExit("this engine has no duration predictor")
    evaluation.transcribe(np.zeros(sr // 2, np.float32), sr)
    # espeak's word-count warnings (set up by the phonemizer on first use).
    logging.getLogger("phonemizer").setLevel(logging.ERROR)
    load0 = os.getloadavg()

    # 1. natural renders
    naturals, rows = [], []
    t_nat = time.perf_counter()
    for i, text in enumerate(lines):
        t0 = time.perf_counter()
        audio = speak(engine, profile, text, 1.0)
        synth_s = time.perf_counter() - t0
        s0, s1 = speech_span(audio, sr)
        if s1 <= s0:
            raise SystemExit(f"line {i + 1} rendered silent: {text!r}")
        hyp = evaluation.transcribe(audio, sr)
        errors, words = evaluation.word_errors(text, hyp)
        naturals.append(s1 - s0)
        rows.append({"i": i, "text": text, "natural_s": s1 - s0, "natural_synth_s": synth_s,
                     "before": {"hyp": hyp, "errors": errors, "words": words}})
        if (i + 1) % 20 == 0:
            log.info("natural renders: %d/%d", i + 1, len(lines))
    log.info("natural renders done in %.0fs", time.perf_counter() - t_nat)

    # 2-5. slots, fits, measurements
    for row, (rate, slot, gap) in zip(rows, plan_cues(naturals, args.seed), strict=True):
        row.update(required_rate=rate, slot_s=slot, gap_s=gap)
        for mode in modes:
            fit, wall = fit_line(engine, profile, row["text"], slot, gap, policy, mode)
            m = measure(fit, wall, row["natural_s"], slot, gap, sr, policy)
            hyp = evaluation.transcribe(fit.audio, sr)
            errors, words = evaluation.word_errors(row["text"], hyp)
            m["after"] = {"hyp": hyp, "errors": errors, "words": words}
            row[mode] = m
        if (row["i"] + 1) % 20 == 0:
            log.info("fitted: %d/%d", row["i"] + 1, len(lines))

    return {
        "command": command,
        "git_commit": _git_commit(),
        "voice": args.voice,
        "seed": args.seed,
        "lines": len(rows),
        "modes": modes,
        "policy": policy.as_dict(),
        "engine_version": engine.version,
        "threads": settings.engine.threads,
        "loadavg": {"start": [round(x, 2) for x in load0], "end": [round(x, 2) for x in os.getloadavg()]},
        "summary": {mode: summarize(rows, mode) for mode in modes},
        "rows": rows,
    }


# --------------------------------------------------------------------------- figures


def _stats(rows: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    ms = [r[mode] for r in rows]
    err = [abs(m["error_s"]) for m in ms]
    n = len(ms)
    if not n:
        return {"n": 0}
    synthesis = sum(m["synthesis_s"] for m in ms)
    wb = sum(r["before"]["errors"] for r in rows) / max(1, sum(r["before"]["words"] for r in rows))
    wa = sum(m["after"]["errors"] for m in ms) / max(1, sum(m["after"]["words"] for m in ms))
    return {
        "n": n,
        "within_40ms": sum(e <= TOL_S for e in err) / n,
        "p50_ms": 1000 * _pct(err, 50),
        "p95_ms": 1000 * _pct(err, 95),
        "max_ms": 1000 * max(err),
        "max_vs_target_ms": 1000 * max(abs(m["error_vs_target_s"]) for m in ms),
        "length_exact": sum(m["length_ok"] for m in ms) / n,
        "overflows": sum(m["overflow"] for m in ms),
        "engine_calls": sum(m["engine_calls"] for m in ms) / n,
        "second_calls": sum(m["engine_calls"] > 1 for m in ms),
        "predict_calls": sum(m["predict_calls"] for m in ms) / n,
        "mean_abs_stretch_pct": 100 * float(np.mean([abs(m["stretch"] - 1) for m in ms])),
        "natural_err_p95_ms": 1000 * _pct([abs(m["natural_err_s"]) for m in ms], 95),
        "synthesis_s": synthesis,
        "overhead_s": sum(m["overhead_s"] for m in ms),
        "overhead": sum(m["overhead_s"] for m in ms) / synthesis,
        "overhead_extra_calls": sum(m["extra_calls_s"] for m in ms) / synthesis,
        "overhead_other": sum(m["other_s"] for m in ms) / synthesis,
        "wer_before": wb,
        "wer_after": wa,
    }


def summarize(rows: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    """Figures of one mode. The bars are taken on the lines whose required rate is
    within the hard limits and whose plan ends the speech at the slot end, the
    borrowed end or the cut (``synced``); short lines (padded, ending at
    natural / 0.8) are reported apart, and everything together as well."""
    in_hard = [r for r in rows if HARD[0] <= r["required_rate"] <= HARD[1]]
    out = {
        "all": _stats(rows, mode),
        "rate_0.7-1.4": _stats(in_hard, mode),
        "synced_rate_0.7-1.4": _stats([r for r in in_hard if r[mode]["branch"] != "short"], mode),
        "short_rate_0.7-1.4": _stats([r for r in in_hard if r[mode]["branch"] == "short"], mode),
        "branches": {b: _stats([r for r in rows if r[mode]["branch"] == b], mode)
                     for b in ("short", "slot", "borrow", "overflow")},
    }
    s = out["synced_rate_0.7-1.4"]
    out["bars"] = {
        "within_40ms_rate_0.7-1.4": bool(s["within_40ms"] >= BAR["within_share"]),
        "p95_error": bool(s["p95_ms"] <= 1000 * BAR["p95_s"]),
        "wer": bool(out["all"]["wer_after"] <= out["all"]["wer_before"] + BAR["wer_rise"]),
        "overhead": bool(out["all"]["overhead"] <= BAR["overhead"]),
    }
    return out


def _f(x: float, nd: int = 1) -> str:
    return "-" if x != x else f"{x:.{nd}f}"


def markdown(doc: dict[str, Any]) -> str:
    modes = doc["modes"]
    out = [
        "# Slot-fitting timing benchmark",
        "",
        f"`{doc['command']}` at commit {doc['git_commit'] or '?'}: {doc['lines']} lines, voice "
        f"{doc['voice']}, seed {doc['seed']}, engine {doc['engine_version']}, "
        f"{doc['threads'] or 'all'} engine thread(s); load average "
        f"{doc['loadavg']['start'][0]} at the start, {doc['loadavg']['end'][0]} at the end.",
        "",
        "Error: speech end (this script's detector, -40 dBFS, 1 ms blocks) minus the planned end "
        "(slot end; slot end + borrowed gap; the cut at the next cue for an overflow; "
        "natural / 0.8 for a short line, natural measured on the speed-1.0 render). "
        "Synthesis: the kept engine call; overhead: the rest of `fit_to_slot`. "
        "The error bars are taken on the synced lines; short lines are shown apart, and together.",
        "",
        "| figure | " + " | ".join(modes) + " |",
        "|---|" + "---|" * len(modes),
    ]
    S = {m: doc["summary"][m] for m in modes}

    def row(label: str, fn: Any) -> None:
        out.append(f"| {label} | " + " | ".join(fn(S[m]) for m in modes) + " |")

    def err(key: str) -> Any:
        return lambda s: (f"{100 * s[key]['within_40ms']:.1f} % within ±40 ms; {_f(s[key]['p50_ms'])} / "
                          f"{_f(s[key]['p95_ms'])} / {_f(s[key]['max_ms'])} ms")

    row("segments: all / rate 0.7-1.4 / of which synced / short",
        lambda s: f"{s['all']['n']} / {s['rate_0.7-1.4']['n']} / {s['synced_rate_0.7-1.4']['n']} / "
                  f"{s['short_rate_0.7-1.4']['n']}")
    row("**synced, rate 0.7-1.4** (slot end, borrowed end or cut): share within ±40 ms (bar ≥ 99 %); "
        "abs error p50 / p95 (bar ≤ 20 ms) / max", err("synced_rate_0.7-1.4"))
    row("short lines, rate 0.7-0.8 (end at natural / 0.8)", err("short_rate_0.7-1.4"))
    row("everything at rate 0.7-1.4 (synced and short)", err("rate_0.7-1.4"))
    row("all segments (rates 0.6-1.5)", err("all"))
    row("max abs error vs the fitter's own target, all", lambda s: f"{_f(s['all']['max_vs_target_ms'])} ms")
    row("fitted length = placed length, to the sample", lambda s: f"{100 * s['all']['length_exact']:.1f} %")
    row("overflows", lambda s: str(s["all"]["overflows"]))
    row("engine calls per segment (segments with 2+)",
        lambda s: f"{s['all']['engine_calls']:.2f} ({s['all']['second_calls']})")
    row("predictor calls per segment", lambda s: f"{s['all']['predict_calls']:.1f}")
    row("mean abs residual stretch", lambda s: f"{s['all']['mean_abs_stretch_pct']:.1f} %")
    row("natural length estimate, p95 abs error", lambda s: f"{_f(s['all']['natural_err_p95_ms'])} ms")
    row("fitting overhead / synthesis (bar ≤ 30 %)",
        lambda s: f"{100 * s['all']['overhead']:.1f} % ({s['all']['overhead_s']:.0f} s / "
                  f"{s['all']['synthesis_s']:.0f} s)")
    row("... of which extra engine calls / the rest",
        lambda s: f"{100 * s['all']['overhead_extra_calls']:.1f} % / "
                  f"{100 * s['all']['overhead_other']:.1f} %")
    row("WER before → after (bar: rise ≤ 2 points)",
        lambda s: f"{100 * s['all']['wer_before']:.2f} % → {100 * s['all']['wer_after']:.2f} %")
    row("bars met", lambda s: ", ".join(f"{k} {'pass' if v else 'FAIL'}" for k, v in s["bars"].items()))
    for mode in modes:
        out += ["", f"## Per branch, {mode}", "",
                "| branch | n | within ±40 ms | abs error p50 / p95 / max (ms) | engine calls | "
                "mean abs stretch | WER before → after | overhead |",
                "|---|---|---|---|---|---|---|---|"]
        for b, s in S[mode]["branches"].items():
            if not s["n"]:
                out.append(f"| {b} | 0 | | | | | | |")
                continue
            out.append(
                f"| {b} | {s['n']} | {100 * s['within_40ms']:.1f} % | {_f(s['p50_ms'])} / "
                f"{_f(s['p95_ms'])} / {_f(s['max_ms'])} | {s['engine_calls']:.2f} | "
                f"{s['mean_abs_stretch_pct']:.1f} % | {100 * s['wer_before']:.1f} % → "
                f"{100 * s['wer_after']:.1f} % | {100 * s['overhead']:.0f} % |")
    out += ["", "Short lines end at natural / 0.8 only as far as the fitter's natural-length "
            "estimate goes; overflow lines are cut at the next cue (10 ms fade).", ""]
    return "\n".join(out)


def _plain(o: Any) -> Any:
    """numpy scalars as plain Python values, for JSON."""
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=False, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=False, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+changes" if dirty else "")
    except OSError:
        return ""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=Path, default=LINES, help="one line of dialogue per row")
    ap.add_argument("--limit", type=int, help="the first N lines only")
    ap.add_argument("--voice", default="jm_kumo", help="bundled Kokoro voice (default jm_kumo)")
    ap.add_argument("--seed", type=int, default=20240607, help="seed of the slots and gaps")
    ap.add_argument("--modes", type=lambda s: [m for m in s.split(",") if m], default=list(MODES),
                    help="comma-separated, of: predict, no-predict (default both)")
    ap.add_argument("--no-predict", action="store_true",
                    help="the natural-first path only (same as --modes no-predict)")
    ap.add_argument("--json-out", type=Path, help="write every figure and row here")
    ap.add_argument("--md-out", type=Path, help="write the markdown report here")
    ap.add_argument("--from-json", type=Path, metavar="JSON",
                    help="render nothing: recompute the figures and the report of a saved --json-out")
    args = ap.parse_args(argv)
    if bad := [m for m in args.modes if m not in MODES]:
        ap.error(f"unknown mode(s) {bad}; known: {', '.join(MODES)}")
    if args.limit is not None and args.limit < 2:
        ap.error("--limit must be at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for name in ("faster_whisper", "phonemizer", "workers.fitting"):
        logging.getLogger(name).setLevel(logging.ERROR)
    env = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "VOICECAST_ENGINE__THREADS")
           if k in os.environ]
    if args.from_json:
        doc = json.loads(args.from_json.read_text())
        doc["summary"] = {mode: summarize(doc["rows"], mode) for mode in doc["modes"]}
    else:
        command = shlex.join([".venv/bin/python", "bench/bench_timing.py", *argv])
        doc = run(args, " ".join([*env, command]))
    md = markdown(doc)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=_plain) + "\n")
    if args.md_out:
        args.md_out.parent.mkdir(parents=True, exist_ok=True)
        args.md_out.write_text(md)
    sys.stdout.write(md)
    return doc


if __name__ == "__main__":
    main()
