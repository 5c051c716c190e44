"""Hostile and careless inputs through the real CLI (embedded mode): each is
refused with exit 2 and one line naming the problem, quickly, with bounded
memory and nothing delivered, or (a long ``[like:]`` clip, a far but allowed
timestamp, a large lexicon) handled at a cost that does not grow with the
input's claim.

Every run is measured: wall time and the peak resident memory of the CLI and
all its descendants together (worker pool, ffmpeg), sampled from /proc. The
figures are printed (``pytest -s``); the tests assert behaviour, and memory
only against the generous bound of the issue (1 GiB), which the processes
stay far below; docs/operations.md ("Limits") lists the figures.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "examples" / "reference.wav"
VOICE = "jf_alpha"  # a built-in voice: nothing to enroll
GIB = 1 << 30


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss: int  # bytes, the process tree together

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]

    def figures(self, name: str) -> str:
        mib = self.peak_rss / (1 << 20)
        return f"{name}: exit {self.returncode}, {self.wall_s:.1f} s, peak {mib:.0f} MiB"


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants, from /proc."""
    parent: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        parent[int(entry.name)] = int(stat[stat.rindex(b")") + 2:].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier += kids
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
    return total


def run_cli(env: dict[str, str], *args: str, timeout: float = 300) -> Run:
    """``voicecast ARGS`` with its wall time and the peak memory of its process tree."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop.set()
        sampler.join()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Run(proc.returncode, out, err, time.monotonic() - start, peak)


def refused(run: Run, needle: str, name: str, out: Path | None = None) -> None:
    """The bar of the issue: exit 2, one line naming the problem, within 30 s,
    under 1 GiB, nothing delivered."""
    print(run.figures(name))
    assert run.returncode == 2, run.stderr
    assert len(run.lines) == 1, run.stderr
    assert needle in run.lines[0], run.stderr
    assert "Traceback" not in run.stderr
    assert run.wall_s < 30, run.figures(name)
    assert run.peak_rss < GIB, run.figures(name)
    if out is not None:  # nor a temporary or partial file of it
        assert not [p.name for p in out.parent.iterdir() if out.name in p.name]


@pytest.fixture
def env(voicecast_env: dict[str, str]) -> dict[str, str]:
    return {**voicecast_env, "VOICECAST_WORKERS": "1"}


def _jobs(env: dict[str, str]) -> list[tuple[str, str | None]]:
    db = Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as c:
        return c.execute("select status, error from jobs").fetchall()


def ts(x: float) -> str:
    ms = round(x * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def srt(path: Path, cues: list[tuple[float, float, str]]) -> Path:
    path.write_text("".join(f"{i}\n{ts(a)} --> {ts(b)}\n{t}\n\n" for i, (a, b, t) in enumerate(cues, 1)),
                    encoding="utf-8")
    return path


# --------------------------------------------------------------------------- a zip bomb


def _zeros_deflate(mib: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``mib`` MiB of zeros, built from one compressed
    MiB repeated (a full flush makes each copy a self-contained run of
    blocks), and its CRC-32: megabytes of output for a kilobyte of input,
    without ever holding the output."""
    block = b"\0" * (1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    return piece * mib + end, crc


def write_zip(path: Path, entries: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A ZIP of ``(name, raw data, method, uncompressed size as declared, crc)``
    written by hand (the declared size may lie). No zip64: each size < 4 GiB."""
    local, central = bytearray(), bytearray()
    for name, data, method, size, crc in entries:
        n = name.encode()
        offset = len(local)
        local += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc,
                             len(data), size, len(n), 0) + n + data
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc,
                               len(data), size, len(n), 0, 0, 0, 0, 0, offset) + n
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central),
                      len(local), 0)
    path.write_bytes(bytes(local) + bytes(central) + end)
    return path


CONTAINER = (b'<?xml version="1.0"?><container version="1.0" '
             b'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
             b'<rootfile full-path="content.opf" media-type="application/oebps-package+xml"/>'
             b"</rootfiles></container>")


def _stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    return (name, data, 0, len(data), zlib.crc32(data))


def bomb_epub(path: Path, *, entries: int = 4, mib_each: int = 1000, lie: int | None = None) -> Path:
    """An EPUB-shaped zip bomb: ``entries`` documents of ``mib_each`` MiB of
    zeros (4 x 1000 MiB: about 4 MB on disk, 4 GB inflated); ``lie``: each
    entry's directory claims that many bytes instead."""
    data, crc = _zeros_deflate(mib_each)
    files = [_stored("mimetype", b"application/epub+zip"), _stored("META-INF/container.xml", CONTAINER)]
    files += [(f"text/ch{i}.xhtml", data, 8, lie if lie is not None else mib_each << 20, crc)
              for i in range(entries)]
    return write_zip(path, files)


def test_zip_bomb_epub_is_refused_from_its_directory(env, tmp_path):
    book = bomb_epub(tmp_path / "bomb.epub")
    assert book.stat().st_size < 8 << 20
    out = tmp_path / "book.m4b"
    run = run_cli(env, "render", str(book), "--voice", VOICE, "--out", str(out))
    refused(run, "zip bomb", "zip bomb 4 MB -> 4 GB", out)
    assert "text/ch0.xhtml" in run.lines[0] and "VOICECAST_INPUTS__EPUB_MAX_ENTRY_BYTES" in run.lines[0]


def test_zip_bomb_whose_directory_lies_is_refused_while_inflating(env, tmp_path):
    # The directory says 2,000 bytes; the stream inflates to 1000 MiB. Reading it
    # is bounded by the declared size and stops at the first MiB past it.
    book = bomb_epub(tmp_path / "liar.epub", entries=1, lie=2000)
    out = tmp_path / "book.m4b"
    run = run_cli(env, "render", str(book), "--voice", VOICE, "--out", str(out))
    refused(run, "more than the 2000 bytes its directory entry says", "lying zip bomb", out)


# --------------------------------------------------------------------------- job size


def test_far_timestamp_is_refused_naming_its_cue(env, tmp_path):
    sub = srt(tmp_path / "typo.srt", [(1.0, 2.5, "Hello there."), (359999.0, 359999.9, "Goodbye.")])
    out = tmp_path / "typo.wav"
    run = run_cli(env, "render", str(sub), "--voice", VOICE, "--out", str(out))
    refused(run, f"{sub}:5: cue ends at 99:59:59, past the longest track", "timestamp 99:59:59", out)
    assert "VOICECAST_INPUTS__MAX_JOB_DURATION_S" in run.lines[0]
    assert _jobs(env) and all(status == "failed" for status, _ in _jobs(env))


def test_far_but_allowed_timestamp_streams_its_silence(tmp_path):
    """A cue at 09:59:59 (within the 24 h limit): the timeline is a concat list
    of one silence file repeated, never a buffer or a file of the track's length."""
    import resource

    import numpy as np

    from orchestrator.output.assembly import Clip, build_timeline, plan_timeline
    from voicecast.audio import write_wav

    sr = 24000
    tone = (0.1 * np.sin(np.arange(sr) * 0.05)).astype(np.float32)
    clips = [Clip(0, "a", 1.0, 2.5), Clip(1, "b", 35999.0, 36000.0)]
    placements, total = plan_timeline(clips, sr, 36001.0)

    def fetch(key: str, path: Path) -> None:
        write_wav(path, tone, sr)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
    listing = build_timeline(placements, total, sr, fetch, tmp_path)
    grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10) - before
    files = [ln.split("'")[1] for ln in listing.read_text().splitlines()[1:]]
    import soundfile as sf

    frames = sum(sf.info(tmp_path / f).frames for f in files)
    assert frames == total  # exact to the sample
    on_disk = sum(p.stat().st_size for p in tmp_path.iterdir())
    print(f"10 h track: {len(files)} list entries, {on_disk / (1 << 20):.1f} MiB on disk, "
          f"peak memory grew {grew / (1 << 20):.1f} MiB")
    assert on_disk < 16 << 20  # 10 hours of 16-bit audio would be 1.6 GiB
    assert grew < 200 << 20


def test_cue_too_long_for_its_slot_is_refused_naming_its_line(env, tmp_path):
    words = ("The quick brown fox jumps over the lazy dog. " * 500)[:20000]
    sub = srt(tmp_path / "long.srt", [(1.0, 3.0, "Fine."), (4.0, 6.5, words), (7.0, 8.0, "Bye.")])
    out = tmp_path / "long.wav"
    run = run_cli(env, "render", str(sub), "--voice", VOICE, "--out", str(out))
    refused(run, f"{sub}:5: cue of 19999 characters cannot fit its 3.0 s", "20,000-character cue", out)


# --------------------------------------------------------------------------- [like:] clips


@pytest.mark.parametrize("clip", ["../../etc/passwd", "/proc/self/environ", "escape.wav"])
def test_like_clip_outside_the_input_folder_is_refused(env, tmp_path, clip):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "escape.wav").symlink_to(REFERENCE)  # a link out of the folder
    script = folder / "s.txt"
    script.write_text(f"Fine.\n[like:{clip}] Where is it?\n")
    out = tmp_path / "o.wav"
    run = run_cli(env, "render", str(script), "--voice", VOICE, "--out", str(out))
    refused(run, f"{script}:2: [like:{clip}]: the clip must be inside the input's folder",
            f"[like:{clip}]", out)


def test_like_clip_from_a_named_folder(env, tmp_path):
    """--clip-dir names where clips live; a device there is still refused."""
    clips = tmp_path / "clips"
    clips.mkdir()
    os.mkfifo(clips / "pipe.wav")
    script = tmp_path / "s.txt"
    script.write_text("[like:pipe.wav] Hello.\n")
    out = tmp_path / "o.wav"
    run = run_cli(env, "render", str(script), "--voice", VOICE, "--clip-dir", str(clips), "--out", str(out))
    refused(run, f"{script}:1: [like:pipe.wav]: the clip is a pipe, not a regular file", "[like:] a pipe",
            out)


def _long_clip(path: Path, hours: float = 2.0) -> Path:
    """Four seconds of the example voice, then ``hours`` of silence: a FLAC of
    about a megabyte that decodes to 2 hours (3 GB as float samples)."""
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y",
                    "-t", "4", "-i", str(REFERENCE),
                    "-f", "lavfi", "-i", f"anullsrc=r=16000:cl=mono:d={hours * 3600:g}", "-filter_complex",
                    "[0]aresample=16000,aformat=channel_layouts=mono[a];[a][1]concat=n=2:v=0:a=1",
                    "-c:a", "flac", str(path)], check=True, timeout=120)
    return path


@pytest.mark.slow
def test_two_hour_like_clip_is_decoded_only_as_far_as_needed(env, tmp_path):
    _long_clip(tmp_path / "take.flac")
    script = tmp_path / "s.txt"
    script.write_text("[like:take.flac] Fresh bread was cooling on the table.\n")
    out = tmp_path / "o.wav"
    run = run_cli(env, "render", str(script), "--voice", VOICE, "--out", str(out), "--json", timeout=600)
    print(run.figures("[like:] 2-hour clip (renders)"))
    assert run.returncode == 0, run.stderr
    assert out.exists()
    assert run.peak_rss < GIB, run.figures("2-hour clip")


# --------------------------------------------------------------------------- devices


def test_dev_zero_as_input_is_refused(env, tmp_path):
    out = tmp_path / "o.wav"
    run = run_cli(env, "render", "/dev/zero", "--voice", VOICE, "--out", str(out))
    refused(run, "/dev/zero: the input file is a device, not a regular file", "/dev/zero input", out)


def test_fifo_as_input_is_refused(env, tmp_path):
    fifo = tmp_path / "cues.srt"
    os.mkfifo(fifo)
    out = tmp_path / "o.wav"
    run = run_cli(env, "render", str(fifo), "--voice", VOICE, "--out", str(out))
    refused(run, "the input file is a pipe, not a regular file", "FIFO input", out)


@pytest.mark.parametrize("command", ["render", "plan"])
def test_dev_zero_as_voice_is_refused(env, tmp_path, command):
    sub = srt(tmp_path / "ok.srt", [(1.0, 3.0, "Hello there.")])
    out = tmp_path / "o.wav"
    args = ["--out", str(out)] if command == "render" else []
    run = run_cli(env, command, str(sub), "--voice", "/dev/zero", *args)
    refused(run, "/dev/zero: the reference clip is a device, not a regular file",
            f"/dev/zero voice ({command})", out)


# --------------------------------------------------------------------------- lexicons


def test_nested_repeat_lexicon_pattern_is_refused(env, tmp_path):
    sub = srt(tmp_path / "a.srt", [(1.0, 3.0, "a" * 40 + "!")])
    lex = tmp_path / "p.lex"
    lex.write_text("Aesop = ee-sop\nre:(a+)+b = bee\n")
    out = tmp_path / "o.wav"
    run = run_cli(env, "render", str(sub), "--voice", VOICE, "--lexicon", str(lex), "--out", str(out))
    refused(run, f"{lex}:2: regular expression '(a+)+b' repeats a part that repeats itself",
            "ReDoS (a+)+b", out)


def test_backtracking_lexicon_pattern_times_out_naming_entry_and_line(env, tmp_path):
    # A slot long enough for the text: only the pattern is at fault.
    sub = srt(tmp_path / "a.srt", [(1.0, 3.0, "Fine."), (4.0, 400.0, "a" * 5000 + "!")])
    lex = tmp_path / "p.lex"
    lex.write_text("re:(a|aa)+b = bee\n")
    out = tmp_path / "o.wav"
    run = run_cli(env, "render", str(sub), "--voice", VOICE, "--lexicon", str(lex), "--out", str(out))
    refused(run, f"{lex}:1: pattern 're:(a|aa)+b' ran longer than 1 s", "ReDoS (a|aa)+b", out)
    assert f"(on {sub}:5)" in run.lines[0]


def b36(i: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        i, r = divmod(i, 36)
        out = digits[r] + out
        if not i:
            return out


def _big_lexicon(path: Path, n: int = 300_000) -> Path:
    """``n`` distinct made-up words, each respelled: ``zq<base 36> = zed queue <n>``."""
    with path.open("w", encoding="utf-8") as f:
        f.writelines(f"zq{b36(i)} = zed queue {i}\n" for i in range(n))
    return path


def test_a_300k_entry_lexicon_loads_and_matches_in_one_pass(env, tmp_path):
    lex = _big_lexicon(tmp_path / "big.lex")
    said = f"Say zq0 and ZQ{b36(1296)} and zq{b36(299_999)} now."
    sub = srt(tmp_path / "a.srt", [(1.0, 4.0, said), (5.0, 8.0, "Nothing here.")])
    run = run_cli(env, "plan", str(sub), "--lexicon", str(lex), "--json")
    print(run.figures("300k-entry lexicon (plan)"))
    assert run.returncode == 0, run.stderr
    assert "Say zed queue 0 and zed queue 1296 and zed queue 299999 now." in run.stdout
    assert run.wall_s < 30 and run.peak_rss < GIB, run.figures("300k lexicon")

