"""Render the bundled examples at two git revisions and compare them sample by sample.

    .venv/bin/python bench/compare_renders.py BASE_REV [NEW_REV]   # NEW_REV: the working tree

Each revision is checked out into a temporary worktree and renders, in
embedded mode with a fresh data folder and built-in voices (nothing to
enroll, so nothing time-budgeted or random):

- ``examples/trailer.srt`` with ``jf_alpha`` to WAV;
- ``examples/fables.md`` with four character voices and its lexicon to M4B
  (plus its chapter MP3s and FLAC masters).

Every output is decoded with ffmpeg to 16-bit PCM and compared byte for byte;
the sets of segment keys in the two object stores (content hashes) are
compared too. It prints one line per file and exits 1 if anything differs.
This is how a refactoring shows that it changed no sound. An intended change
of what is spoken (a new segment, say) shows up here as a difference.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RENDERS = [
    ["examples/trailer.srt", "--voice", "jf_alpha", "--out", "{out}/trailer.wav"],
    ["examples/fables.md", "--voice", "narrator=jm_kumo", "--voice", "Fox=jf_alpha",
     "--voice", "Tortoise=jf_nezumi", "--voice", "Hare=jf_gongitsune",
     "--lexicon", "examples/fables.lexicon", "--out", "{out}/fables.m4b"],
]
AUDIO = (".wav", ".m4b", ".flac", ".mp3")


def render(tree: Path, out: Path) -> None:
    env = {**os.environ, "VOICECAST_DATA_DIR": str(out / "data")}
    for args in RENDERS:
        cmd = [sys.executable, "-m", "orchestrator.cli", "render",
               *[a.format(out=out) for a in args]]
        print(f"[{tree.name}] {' '.join(cmd[3:])}", flush=True)
        subprocess.run(cmd, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)


def pcm(path: Path) -> bytes:
    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-"],
                          capture_output=True, check=True).stdout


def segment_keys(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "data" / "objects" / "segments").rglob("*"))


def compare(a: Path, b: Path) -> bool:
    same = True
    files = sorted(p.relative_to(a) for p in a.rglob("*")
                   if p.suffix in AUDIO and "data" not in p.relative_to(a).parts)
    for rel in files:
        x = pcm(a / rel)
        y = pcm(b / rel) if (b / rel).exists() else b""
        ok = x == y
        same &= ok
        print(f"{'identical' if ok else 'DIFFERENT'}  {rel}  {len(x) // 2} samples  "
              f"sha256 {hashlib.sha256(x).hexdigest()[:12]} vs {hashlib.sha256(y).hexdigest()[:12]}")
    ka, kb = segment_keys(a), segment_keys(b)
    print(f"{'identical' if ka == kb else 'DIFFERENT'}  segment keys  {len(ka)} vs {len(kb)}")
    return same and ka == kb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="git revision to compare against")
    ap.add_argument("new", nargs="?", help="git revision (default: the working tree)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="voicecast-compare-") as tmp:
        work = Path(tmp)
        trees = []
        for name, rev in (("base", args.base), ("new", args.new)):
            if rev is None:
                trees.append(ROOT)
                continue
            tree = work / f"tree-{name}"
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), rev], cwd=ROOT, check=True)
            trees.append(tree)
        try:
            outs = [work / "out-base", work / "out-new"]
            for tree, out in zip(trees, outs, strict=True):
                out.mkdir()
                render(tree, out)
            same = compare(*outs)
        finally:
            for tree in trees:
                if tree != ROOT:
                    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    print("ALL IDENTICAL" if same else "SOME OUTPUTS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
