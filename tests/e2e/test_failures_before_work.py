"""Failures before work, end to end (embedded mode): an output path that cannot
be written and a cover that is not an image are refused before any segment
renders (exit 2, one line, nothing delivered, the job failed); a delivery that
fails after the render is recorded on the job (``status`` never says a file
exists that was not written) and ``resume --out`` delivers again; user text
with rich markup is printed literally."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from audiocheck import SENTENCES, make_srt
from test_cli import REPO, cli, jobs_table

#: One of the engine's own voices: no enrollment, so a refused job costs nothing but the checks.
VOICE = "jm_kumo"


@pytest.fixture
def env(voicecast_env: dict[str, str]) -> dict[str, str]:
    return {**voicecast_env, "VOICECAST_WORKERS": "1"}


def _segments(env: dict[str, str]) -> int:
    db = Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db"
    with sqlite3.connect(db) as c:
        return int(c.execute("select count(*) from segments").fetchone()[0])


def _book(tmp: Path) -> Path:
    p = tmp / "book.md"
    p.write_text("# One\n\nA short first chapter.\n")
    return p


def _refused(env: dict[str, str], tmp: Path, args: list[str], expected: str) -> None:
    t0 = time.monotonic()
    res = cli(env, "render", *args, timeout=120)
    took = time.monotonic() - t0
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], res.stderr
    assert took < 30, took
    [(_job_id, status, error)] = jobs_table(env)[-1:]
    assert status == "failed" and expected in (error or "")
    assert _segments(env) == 0  # refused before planning stored (let alone rendered) anything
    assert not list(Path(env["VOICECAST_DATA_DIR"]).glob("objects/segments/**/*.wav"))


def test_an_output_that_is_a_folder_or_cannot_be_written_is_refused_first(env, tmp_path):
    srt = tmp_path / "ok.srt"
    make_srt(srt, SENTENCES[:1])
    folder = tmp_path / "out.wav"
    folder.mkdir()
    _refused(env, tmp_path, [str(srt), "--voice", VOICE, "--out", str(folder)], "is a folder")
    assert list(folder.iterdir()) == []
    # Unwritable even to root: /sys takes no new file (os.access would say yes to root).
    _refused(env, tmp_path, [str(srt), "--voice", VOICE, "--out", "/sys/voicecast-test.wav"],
             "is not writable")
    assert not Path("/sys/voicecast-test.wav").exists()
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    _refused(env, tmp_path, [str(srt), "--voice", VOICE, "--out", str(tmp_path / "notes.txt" / "x.wav")],
             "is a file")
    (tmp_path / "book.chapters").write_text("in the way of the chapter files")
    _refused(env, tmp_path, [str(_book(tmp_path)), "--voice", VOICE, "--out", str(tmp_path / "book.m4b")],
             "book.chapters")
    assert not (tmp_path / "book.m4b").exists()


def test_a_cover_that_is_not_an_image_is_refused_first(env, tmp_path):
    book = _book(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image\n")
    fake = tmp_path / "cover.jpg"
    fake.write_bytes(b"\xff\xd8" + b"this only starts like a JPEG\n" * 40)
    out = tmp_path / "book.m4b"
    for cover, expected in ((notes, "must be a .jpg or .png"), (fake, "not a readable JPEG or PNG")):
        _refused(env, tmp_path, [str(book), "--voice", VOICE, "--cover", str(cover), "--out", str(out)],
                 expected)
        assert not out.exists() and not (tmp_path / "book.chapters").exists()


@pytest.mark.slow
def test_a_failed_delivery_is_recorded_and_resume_delivers_again(env, tmp_path):
    srt = tmp_path / "two.srt"
    make_srt(srt, SENTENCES[:2])
    folder = tmp_path / "deliver"
    folder.mkdir()
    out = folder / "dub.wav"
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "render", str(srt), "--voice", VOICE,
                             "--out", str(out), "--json"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    db = Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db) as c:
                row = c.execute("select status from jobs").fetchone()
        except sqlite3.OperationalError:
            row = None
        if row and row[0] in ("rendering", "assembling"):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the render ended before its output folder could be removed"
    folder.rmdir()  # the user tidies up while the job runs
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 2, stderr
    assert stderr.strip().splitlines()[-1].startswith("error: ") and "could not be written" in stderr
    assert "Traceback" not in stderr
    summary = json.loads(stdout)
    assert summary["status"] == "done" and summary["output"] is None
    assert "does not exist" in summary["delivery_error"]
    [(job_id, status, _)] = jobs_table(env)
    assert status == "done"  # rendered and in storage: nothing to render again

    shown = cli(env, "status", job_id[:8])
    assert shown.returncode == 1 and "done, not delivered" in shown.stdout, shown.stdout
    assert "resume" in shown.stdout

    folder.mkdir()
    again = subprocess.run([sys.executable, "-m", "orchestrator.cli", "resume", job_id[:8], "--json"],
                           env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
                           preexec_fn=lambda: os.umask(0o027))
    assert again.returncode == 0, again.stderr
    delivered = json.loads(again.stdout)
    assert delivered["output"] == str(out) and delivered["delivery_error"] is None
    assert out.is_file() and out.stat().st_mode & 0o777 == 0o640  # the umask, not mkstemp's 0600
    assert [p.name for p in folder.iterdir()] == ["dub.wav"]  # no temporary file left
    assert cli(env, "status", job_id).returncode == 0


def test_status_prints_user_text_with_markup_literally(env, tmp_path):
    """An error holding rich markup (``[/bold]`` would raise MarkupError,
    ``[voice:x]`` would vanish as a style) is printed as written."""
    srt = tmp_path / "ok.srt"
    make_srt(srt, SENTENCES[:1])
    odd = tmp_path / "[/bold] [voice:x]"
    res = cli(env, "render", str(srt), "--voice", VOICE, "--out", str(odd / "dub.wav"), timeout=120)
    assert res.returncode == 2 and "[/bold] [voice:x]" in res.stderr, res.stderr
    [(job_id, status, error)] = jobs_table(env)
    assert status == "failed" and "[/bold] [voice:x]" in error
    # A reason from deeper down, as a worker or a parser could word it.
    reason = "segment 1 (line 3): unknown tag [voice:x] closed by [/bold]; see [red]here[/red]"
    with sqlite3.connect(Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db") as c:
        c.execute("update jobs set error = ? where id = ?", (reason, job_id))
    shown = cli(env, "status", job_id)
    both = shown.stdout + shown.stderr
    assert shown.returncode == 1 and "MarkupError" not in both and "Traceback" not in both
    assert reason in shown.stdout.replace("\n", ""), shown.stdout
    short = cli(env, "status", job_id[:7])
    assert short.returncode == 2 and "at least 8" in short.stderr
