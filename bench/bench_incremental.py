"""Incremental audiobook renders: what one edited sentence costs.

Generates a Markdown book of ``--chapters`` x ``--sentences`` original
sentences (one segment each, plus a spoken title per chapter), renders it in
embedded mode into a fresh data folder, edits one sentence in the middle
chapter, renders again, and prints:

* the full render's wall time, segments and audio length;
* the incremental render's wall time as a share of the full one (target
  <= 5 %), how many segments it rendered (must be 1) and chapters it
  re-assembled (must be 1);
* whether the unchanged audio is sample-identical: the untouched chapters'
  masters byte for byte, and the edited chapter's master outside the edited
  sentence.

    .venv/bin/python bench/bench_incremental.py [--chapters 4] [--sentences 100] [--md-out F]

Both renders run the same CLI command (``voicecast render BOOK --mode
audiobook ... --json``) as a user would, process start-up included.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench_incremental")

_SUBJECTS = ["The miller", "A young fox", "The old captain", "Her brother", "The lighthouse keeper",
             "A tired horse", "The baker's daughter", "The schoolmaster", "A grey heron", "The tailor"]
_VERBS = ["walked slowly toward", "looked carefully at", "spoke quietly about", "waited patiently by",
          "thought for a while about", "laughed softly at", "sang a little song near",
          "painted a picture of", "wrote a long letter about", "dreamed all night of"]
_OBJECTS = ["the river", "the empty harbour", "the garden wall", "the winter market", "the bridge",
            "the narrow lane", "the green hills", "the church tower", "the orchard", "the quiet sea"]
_TAILS = ["", " before the sun went down", " while the wind was rising", " on a cold morning",
          " after the long journey", " without saying a word"]


_SHORT_VERBS = ["smiled", "waited", "sat down", "looked up", "went home", "said nothing", "sang",
                "laughed", "nodded", "listened"]
_ADVERBS = ["quietly", "again", "at last", "once more", "slowly", "alone"]


def sentence(rng: random.Random, short: bool = False) -> str:
    """A made-up sentence; ``short`` ones ("The miller smiled again.") last
    about a second and a half, the others three to five seconds."""
    if short:
        return f"{rng.choice(_SUBJECTS)} {rng.choice(_SHORT_VERBS)} {rng.choice(_ADVERBS)}."
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}{rng.choice(_TAILS)}."


def make_book(path: Path, chapters: int, sentences: int, seed: int = 7,
              per_paragraph: int = 5, short: bool = False) -> list[list[str]]:
    """Write a Markdown book; return its sentences by chapter. Sentences are
    drawn from 6,000 combinations (600 when ``short``), so a few repeat (and
    share their audio)."""
    rng = random.Random(seed)
    book: list[list[str]] = []
    lines = ["---", "title: The Incremental Test Book", "author: voicecast bench", "---", ""]
    for c in range(chapters):
        sents = [sentence(rng, short) for _ in range(sentences)]
        book.append(sents)
        lines += [f"# Chapter {c + 1}", ""]
        for p in range(0, sentences, per_paragraph):
            lines += [" ".join(sents[p:p + per_paragraph]), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return book


def edit_sentence(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def render(env: dict[str, str], book: Path, out: Path, voice: str) -> tuple[dict, float]:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "orchestrator.cli", "render", str(book), "--mode",
                          "audiobook", "--voice", voice, "--out", str(out), "--json"],
                         env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"render failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return json.loads(res.stdout), wall


def chapter_masters(out: Path) -> list[Path]:
    return sorted((out.parent / f"{out.stem}.chapters").glob("*.flac"))


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    diff = np.nonzero(a[:n] != b[:n])[0]
    return int(diff[0]) if diff.size else n


def compare_masters(first: list[Path], second: list[Path], edited_len: tuple[int, int]) -> dict:
    """Unchanged chapters byte-identical; the edited one identical outside the
    edited sentence (common prefix + common suffix cover all but its audio)."""
    same_files, edited = 0, []
    for a, b in zip(first, second, strict=True):
        if a.read_bytes() == b.read_bytes():
            same_files += 1
            continue
        x = sf.read(str(a), dtype="int32")[0]
        y = sf.read(str(b), dtype="int32")[0]
        pre = common_prefix(x, y)
        suf = common_prefix(x[::-1], y[::-1])
        old_len, new_len = edited_len
        edited.append({"chapter": a.name, "prefix": pre, "suffix": suf, "old": len(x), "new": len(y),
                       "identical_outside": pre + suf >= len(x) - old_len and pre + suf >= len(y) - new_len})
    return {"identical_chapters": same_files, "edited": edited}


def segment_samples(env: dict[str, str], job_id: str, text: str) -> int:
    db = Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db"
    with sqlite3.connect(db) as c:
        [(h,)] = c.execute("select content_hash from segments where job_id = ? and text = ?",
                           (job_id, text)).fetchall()
    [path] = (Path(env["VOICECAST_DATA_DIR"]) / "objects").rglob(f"{h}.wav")
    return int(sf.info(str(path)).frames)


def run(chapters: int, sentences: int, voice: str, workdir: Path, short: bool = False) -> dict:
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    env.update(VOICECAST_DATA_DIR=str(data), PYTHONUNBUFFERED="1")
    book = workdir / "book.md"
    text = make_book(book, chapters, sentences, short=short)
    mid = chapters // 2
    old = text[mid][sentences // 2]
    new = old[:-1] + ", and then went home."
    first, full_s = render(env, book, workdir / "first.m4b", voice)
    edit_sentence(book, old, new)
    second, inc_s = render(env, book, workdir / "second.m4b", voice)
    lens = (segment_samples(env, first["job_id"], old), segment_samples(env, second["job_id"], new))
    cmp = compare_masters(chapter_masters(workdir / "first.m4b"), chapter_masters(workdir / "second.m4b"),
                          lens)
    with sqlite3.connect(data / "voicecast.db") as c:
        again = [t for (t,) in c.execute("select text from segments where job_id = ? and not cache_hit",
                                         (second["job_id"],))]
    return {
        "edited_sentence": new, "rendered_texts": again,
        "chapters": chapters, "segments": first["segments"], "audio_s": first["duration_s"],
        "full_s": round(full_s, 2), "incremental_s": round(inc_s, 2),
        "share_pct": round(100 * inc_s / full_s, 2), "rendered_again": second["rendered"],
        "reused": second["reused"],
        "chapters_assembled": sum(1 for c in second["chapters"] if not c["reused"]),
        **cmp, "cpus": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapters", type=int, default=4)
    ap.add_argument("--sentences", type=int, default=100, help="sentences per chapter")
    ap.add_argument("--voice", default="jm_kumo")
    ap.add_argument("--short", action="store_true", help="short sentences (about 1.5 s each)")
    ap.add_argument("--md-out", type=Path, default=None)
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    from voicecast.evaluation import bench_logging

    bench_logging(args.verbose)
    with tempfile.TemporaryDirectory(prefix="voicecast-bench-inc-") as tmp:
        r = run(args.chapters, args.sentences, args.voice, Path(tmp), args.short)
    lines = [
        "# Incremental audiobook render",
        "",
        f"Command: `.venv/bin/python bench/bench_incremental.py --chapters {args.chapters} "
        f"--sentences {args.sentences}{' --short' if args.short else ''}` "
        f"({r['cpus']} CPUs, embedded mode, voice {args.voice}).",
        "",
        "| figure | value |", "|---|---|",
        f"| segments | {r['segments']} ({r['chapters']} chapters) |",
        f"| audio | {r['audio_s']:.1f} s |",
        f"| full render | {r['full_s']:.1f} s |",
        f"| render after editing one sentence | {r['incremental_s']:.1f} s |",
        f"| **incremental / full** | **{r['share_pct']:.2f} %** (target <= 5 %) |",
        f"| segments rendered again | {r['rendered_again']} (reused {r['reused']}) |",
        f"| chapters re-assembled | {r['chapters_assembled']} of {r['chapters']} |",
        f"| untouched chapter masters byte-identical | {r['identical_chapters']} of {r['chapters']} |",
        f"| edited chapter identical outside the sentence | "
        f"{all(e['identical_outside'] for e in r['edited'])} |",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.md_out:
        args.md_out.write_text(report)
    if args.json_out:
        args.json_out.write_text(json.dumps(r, indent=1))
    logging.getLogger(__name__).debug("%s", r)


if __name__ == "__main__":
    main()
