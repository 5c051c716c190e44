"""What is checked before any work starts (the output path, a cover's file),
job id prefixes, the CSV report's cells, the umask of written files, the
temporary folders of processes that died, and user text printed through rich.
Pure code: the cover's decoding by ffmpeg is tested end to end
(tests/e2e/test_failures_before_work.py)."""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.render import _read_cover, check_output_path
from voicecast.errors import InputError, JobError, OutputError

# ------------------------------------------------------------------ output path


def test_an_output_path_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out.wav").mkdir()
    (tmp_path / "book.m4b").mkdir()
    with pytest.raises(OutputError, match="is a folder; give the output file's name"):
        check_output_path(tmp_path / "out.wav", "dub")
    with pytest.raises(OutputError, match="is a folder"):
        check_output_path(tmp_path / "book.m4b", "audiobook")
    with pytest.raises(OutputError, match="unsupported output format"):
        check_output_path(tmp_path, "dub")  # a folder has no output format either


def test_a_missing_parent_or_a_parent_that_is_a_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "dub.wav")
    (tmp_path / "notes.txt").write_text("a file")
    with pytest.raises(OutputError, match="notes.txt is a file"):
        check_output_path(tmp_path / "notes.txt" / "sub" / "dub.wav")


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs Linux /sys")
def test_a_folder_no_file_can_be_created_in_is_refused_even_for_root() -> None:
    # os.access() says yes to root everywhere; /sys refuses a new file to everyone.
    with pytest.raises(OutputError, match="is not writable"):
        check_output_path(Path("/sys/voicecast-out.wav"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0500 folder")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    try:
        with pytest.raises(OutputError, match="is not writable"):
            check_output_path(ro / "dub.wav")
    finally:
        ro.chmod(0o700)


def test_a_pipe_is_not_an_output_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.wav")
    with pytest.raises(OutputError, match="not a regular file"):
        check_output_path(tmp_path / "pipe.wav")


def test_the_check_leaves_nothing_behind_and_accepts_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "dub.wav").write_bytes(b"old")
    check_output_path(tmp_path / "dub.wav")
    check_output_path(tmp_path / "book.m4b", "audiobook")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dub.wav"]


def test_an_audiobooks_chapter_folder_must_not_be_a_file(tmp_path: Path) -> None:
    (tmp_path / "book.chapters").write_text("in the way")
    with pytest.raises(OutputError, match="book.chapters"):
        check_output_path(tmp_path / "book.m4b", "audiobook")


# ------------------------------------------------------------------ cover file (before ffmpeg)


@pytest.mark.parametrize(("name", "data", "message"), [
    ("notes.txt", b"just some notes\n", "must be a .jpg or .png"),
    ("cover.jpg", b"just some notes\n", "not a JPEG or PNG"),
    ("cover.png", b"", "not a JPEG or PNG"),
])
def test_a_cover_that_is_not_an_image_is_refused(tmp_path: Path, name: str, data: bytes,
                                                 message: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError, match=message):
        _read_cover(str(tmp_path / name))


def test_a_cover_must_be_a_regular_file_of_bounded_size(tmp_path: Path, monkeypatch) -> None:
    from orchestrator import render

    fifo = tmp_path / "cover.jpg"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        _read_cover(str(fifo))  # checked before it is opened: no hang on a pipe
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"\0" * 2048)
    monkeypatch.setattr(render, "MAX_COVER_BYTES", 1024)
    with pytest.raises(InputError, match="at most"):
        _read_cover(str(big))
    with pytest.raises(InputError, match="cannot read"):
        _read_cover(str(tmp_path / "missing.png"))


# ------------------------------------------------------------------ job ids


def test_job_ids_open_only_from_an_unambiguous_prefix_of_eight(tmp_path: Path) -> None:
    from orchestrator.store import db, jobs
    from orchestrator.store.models import Job
    from voicecast.settings import Settings

    s = Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}", data_dir=tmp_path)
    db.upgrade(s)
    a, b = "abcdef0123456789" + "0" * 16, "abcdef0199999999" + "1" * 16
    with db.session_scope(s) as ses:
        ses.add_all([Job(id=a, input_name="a.srt"), Job(id=b, input_name="b.srt")])
    with db.session_scope(s) as ses:
        assert jobs.get_job(ses, a).id == a
        assert jobs.get_job(ses, "abcdef012").id == a
        assert jobs.get_job(ses, "ABCDEF019").id == b  # ids are shown lower-case; either is fine
        with pytest.raises(JobError, match="too short: give at least 8"):
            jobs.get_job(ses, "a")
        with pytest.raises(JobError, match="more than one job"):
            jobs.get_job(ses, "abcdef01")
        for wild in ("________", "abcdef0%", "abcdef01%%"):  # LIKE wildcards match nothing
            with pytest.raises(JobError, match="no job"):
                jobs.get_job(ses, wild)
        with pytest.raises(JobError, match="no job"):
            jobs.get_job(ses, "fedcba98")


# ------------------------------------------------------------------ CSV report


def test_the_csv_report_neutralises_formulas_and_control_characters() -> None:
    from orchestrator.output.assembly import fit_report_csv

    rows = [{"idx": 1, "text": "=HYPERLINK(\"http://x\")", "speaker": "@bob", "rate": -0.5},
            {"idx": 2, "text": "bell\x07 and \x1b[31mred\x1b[0m\r\nnext", "speaker": "+1", "rate": 1.0},
            {"idx": 3, "text": "- Who's there?", "speaker": "Ann", "rate": 1.1},
            {"idx": 4, "text": "Plain words.", "speaker": None, "rate": 1.2}]
    got = list(csv.DictReader(io.StringIO(fit_report_csv(rows).decode())))
    assert [r["text"] for r in got] == ["'=HYPERLINK(\"http://x\")", "bell and [31mred[0m  next",
                                        "'- Who's there?", "Plain words."]
    assert [r["speaker"] for r in got] == ["'@bob", "'+1", "Ann", ""]
    assert got[0]["rate"] == "-0.5"  # numbers are numbers, not formulas


# ------------------------------------------------------------------ files and temp folders


def test_written_files_take_their_mode_from_the_umask(tmp_path: Path) -> None:
    from voicecast.localfs import default_file_mode, umask
    from voicecast.storage import LocalStore

    old = os.umask(0o027)
    try:
        assert umask() == 0o027 and default_file_mode() == 0o640
        store = LocalStore(tmp_path / "objects")
        store.put_bytes("jobs/x/output.wav", b"RIFF")
        assert (tmp_path / "objects/jobs/x/output.wav").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_a_dead_processes_temp_folder_is_removed_at_start_up(tmp_path: Path) -> None:
    """Run in a child process: claiming changes the process's tempfile settings."""
    code = f"""
import os, socket, subprocess, sys, tempfile
from pathlib import Path
tempfile.tempdir = {str(tmp_path)!r}
from voicecast import localfs
root = localfs.shared_temp_root()
root.mkdir(mode=0o700)
host = socket.gethostname()
dead = subprocess.Popen([sys.executable, "-c", "pass"]); dead.wait()
stale = root / f"{{host}}-{{dead.pid}}"
(stale / "voicecast-assemble-x").mkdir(parents=True)
(stale / "voicecast-assemble-x" / "timeline.wav").write_bytes(b"0" * 1000)
alive = root / f"{{host}}-{{os.getppid()}}"; alive.mkdir()
other_host = root / f"elsewhere-{{dead.pid}}"; other_host.mkdir()
mine = localfs.claim_process_tempdir()
assert mine == root / f"{{host}}-{{os.getpid()}}" and mine.is_dir()
assert not stale.exists() and alive.exists() and other_host.exists()
work = Path(tempfile.mkdtemp(prefix="voicecast-x-"))
assert work.parent == mine
work.rmdir()  # emptied by its user: the folder goes at exit
assert os.environ["TMPDIR"] == str(mine)
assert localfs.claim_process_tempdir() == mine
assert localfs.lock_dir() == root
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
    root = tmp_path / f"voicecast-{os.getuid()}"
    # Its own folder went at exit; the live one (this test's process) and the other host's stay.
    names = {p.name for p in root.iterdir()}
    assert f"{socket.gethostname()}-{os.getpid()}" in names
    assert len(names) == 2 and any(n.startswith("elsewhere-") for n in names)


# ------------------------------------------------------------------ rich markup


def test_user_text_in_a_failed_jobs_summary_is_printed_literally(capsys) -> None:
    from orchestrator.cli import _print_summary

    error = "bad.srt:3: unknown tag [voice:x] after [/bold] and [red]"
    _print_summary({"status": "failed", "job_id": "abc", "rendered": 0, "reused": 0, "segments": 2,
                    "error": error}, as_json=False)
    out = capsys.readouterr().out
    assert error in out.replace("\n", "")
