"""Voice enrollment time, and render speed with an enrolled voice vs a bundled one.

1. Enrolls a reference (default: examples/reference.wav) with the configured
   method (``search`` unless VOICECAST_ENROLL__METHOD says otherwise) in a
   fresh local store and prints the wall time and the enrollment's figures.
2. Renders the same sentences with the nearest bundled voice and with the
   enrolled profile (style + equaliser), interleaved over ``--rounds`` rounds
   so machine noise hits both alike, and prints each one's real-time factor.

    .venv/bin/python bench/bench_enroll.py [--reference FILE ...] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SENTENCES = (
    "The lighthouse keeper climbed the stairs one last time before the storm.",
    "Nobody expected the quiet librarian to win the chess tournament.",
    "Bring a warm coat, because the evenings get cold up in the hills.",
    "She laughed, shook her head, and walked back into the crowded station.",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, nargs="+", default=[REPO / "examples" / "reference.wav"])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from voicecast.audio import to_wav_bytes
    from voicecast.settings import get_settings
    from voicecast.storage import LocalStore, reference_key
    from workers.engines import get_engine
    from workers.reference import load_references
    from workers.voices import VoiceProfile, enroll_reference, nearest_profile, speak

    settings = get_settings()
    engine = get_engine(settings.engine)
    sr = engine.capabilities.sample_rate
    ref = load_references(args.reference)
    with tempfile.TemporaryDirectory(prefix="vc-bench-enroll-") as tmp:
        store = LocalStore(Path(tmp))
        key = reference_key(ref.sha256)
        store.put_bytes(key, to_wav_bytes(ref.audio, ref.sample_rate))
        speak(engine, VoiceProfile(style=next(iter(engine.bundled_voices().values())),
                                   embedding=ref.audio[:256]), "Warm up.")  # model loaded before the clock
        t0 = time.perf_counter()
        meta = enroll_reference(key, "bench", 1, store=store, settings=settings)
        enroll_s = time.perf_counter() - t0
        enrolled = VoiceProfile.from_bytes(store.get_bytes(meta["profile_key"]))
        bundled, _ = nearest_profile(engine, ref.audio, ref.sample_rate, store)

    print(f"reference: {', '.join(p.name for p in args.reference)} ({ref.speech_s:.1f} s speech)")
    print(f"enrollment ({settings.enroll.method}, budget {settings.enroll.budget_s:.0f} s): "
          f"{enroll_s:.1f} s wall, {meta.get('candidates', 0)} candidates, method {meta['method']}, "
          f"check similarity {meta['similarity']:.3f}")
    timings = {"bundled": [0.0, 0.0], "enrolled": [0.0, 0.0]}
    for _ in range(args.rounds):
        for name, profile in (("bundled", bundled), ("enrolled", enrolled)):
            for text in SENTENCES:
                t0 = time.perf_counter()
                audio = speak(engine, profile, text)
                timings[name][0] += time.perf_counter() - t0
                timings[name][1] += len(audio) / sr
    for name, (wall, audio_s) in timings.items():
        print(f"render with {name} voice: {audio_s:.1f} s audio in {wall:.1f} s, RTF {wall / audio_s:.3f}")
    rtf = {name: wall / audio_s for name, (wall, audio_s) in timings.items()}
    print(f"enrolled / bundled RTF: {rtf['enrolled'] / rtf['bundled']:.2f}")


if __name__ == "__main__":
    main()
