"""The M4B: joined from per-chapter AAC streams vs one encode of the whole book.

Builds ``--chapters`` chapter masters of ``--minutes`` of audio in all
(speech-like harmonic words with room tone between sentences, as
``chapter_master`` lays them out), then times, at ``--rate``:

* the old way: every master through one resampler and one AAC encode
  (concat demuxer, ``-c:a aac -aac_coder fast``, M4B);
* each chapter's AAC encode (:func:`encode_chapter_aac`), once per chapter
  and what one edited chapter costs;
* the join (:func:`join_m4b`): the chapter streams muxed to the M4B, no
  encode. An edit costs one chapter's encode plus the join; an unchanged
  book costs neither (the M4B is reused).

    .venv/bin/python bench/bench_m4b_join.py [--chapters 10] [--minutes 10] [--rate 24000]

The M4B is written at the engine's rate in a book job (24 kHz for Kokoro).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestrator.output.audiobook import (  # noqa: E402
    audiobook_tags,
    chapter_master,
    encode_chapter_aac,
    join_m4b,
    resample_filter,
)

SR = 24000
BITRATE = "64k"


def words(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Harmonic "words" (gliding f0) under Hann envelopes, with short gaps: about -20 dBFS."""
    out, total = [], 0
    while total < seconds * SR:
        n = int(rng.uniform(0.15, 0.4) * SR)
        f0 = rng.uniform(100, 180) * (1 + 0.1 * np.linspace(0, 1, n) * rng.choice([-1, 1]))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        word = sum(np.sin(k * phase) / k for k in range(1, 16)) * np.hanning(n) * 0.12
        gap = np.zeros(int(rng.uniform(0.04, 0.15) * SR))
        out += [word, gap]
        total += n + gap.size
    return np.concatenate(out)[: int(seconds * SR)].astype(np.float32)


def masters(folder: Path, chapters: int, minutes: float) -> list[Path]:
    rng = np.random.default_rng(14)
    per_chapter = minutes * 60 / chapters
    paths = []
    for c in range(chapters):
        segs, total = [], 0.75 + 2.5
        while total < per_chapter:
            segs.append(words(rng.uniform(1.5, 4.0), rng))
            total += segs[-1].size / SR + 0.35
        master, _ = chapter_master(segs, [0.35] * len(segs), SR, head_s=0.75, tail_s=2.5, tone_db=-72.0)
        paths.append(folder / f"ch{c:02d}.flac")
        sf.write(paths[-1], master, SR, subtype="PCM_24")
    return paths


def single_pass(chapters: list[Path], out: Path, rate: int) -> None:
    """What write_m4b did before: the whole book through one encode."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in chapters))
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0",
                    "-i", str(listing), "-af", resample_filter(rate), "-ac", "1", "-ar", str(rate),
                    "-c:a", "aac", "-aac_coder", "fast", "-profile:a", "aac_low", "-b:a", BITRATE,
                    "-movflags", "+faststart", "-f", "ipod", str(out)], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapters", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=24000, help="the M4B's sample rate")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="voicecast-bench-m4b-") as tmp:
        wd = Path(tmp)
        chapters = masters(wd, args.chapters, args.minutes)
        audio_s = sum(sf.info(str(p)).frames for p in chapters) / SR
        resample_filter(args.rate)  # the soxr probe, outside the timings

        t0 = time.perf_counter()
        single_pass(chapters, wd / "single.m4b", args.rate)
        single_s = time.perf_counter() - t0

        streams, encode_s = [], []
        for p in chapters:
            streams.append(p.with_suffix(".aac"))
            t0 = time.perf_counter()
            encode_chapter_aac(p, streams[-1], sample_rate=args.rate, bitrate=BITRATE)
            encode_s.append(time.perf_counter() - t0)

        tags = audiobook_tags(book_title="Bench", author="Bench", narrator="bench")
        titles = [f"Chapter {c + 1}" for c in range(len(chapters))]
        joins = []
        for _ in range(3):
            t0 = time.perf_counter()
            join_m4b(streams, titles, wd / "joined.m4b", sample_rate=args.rate, tags=tags)
            joins.append(time.perf_counter() - t0)
        join_s = min(joins)
        sizes = {n: os.path.getsize(wd / n) for n in ("single.m4b", "joined.m4b")}

    mean = sum(encode_s) / len(encode_s)
    print(f"Command: .venv/bin/python bench/bench_m4b_join.py --chapters {args.chapters} "
          f"--minutes {args.minutes:g} --rate {args.rate} ({os.cpu_count()} CPUs)")
    print(f"audio: {audio_s:.1f} s in {len(chapters)} chapters; M4B AAC-LC mono {BITRATE} at {args.rate} Hz")
    print(f"old single-pass encode of the whole book: {single_s:.2f} s ({sizes['single.m4b']} bytes)")
    print(f"per-chapter AAC encode: mean {mean:.2f} s, min {min(encode_s):.2f}, max {max(encode_s):.2f}, "
          f"all {sum(encode_s):.2f} s")
    print(f"join (write the M4B from the stored streams, no encode): {join_s:.3f} s "
          f"(best of {len(joins)}; {sizes['joined.m4b']} bytes)")
    print(f"an edit of one chapter: {mean + join_s:.2f} s (encode {mean:.2f} + join {join_s:.3f}) "
          f"vs {single_s:.2f} s before ({100 * (mean + join_s) / single_s:.1f} %)")
    print("an unchanged book: 0 s (the M4B is reused; nothing is encoded or joined)")


if __name__ == "__main__":
    main()
