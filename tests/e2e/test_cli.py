"""End to end through the `voicecast` CLI in embedded mode (no servers)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audiocheck import SENTENCES, duration, make_srt

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "examples" / "reference.wav"


def cli(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def jobs_table(env: dict[str, str]) -> list[tuple[str, str, str | None]]:
    db = Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db"
    with sqlite3.connect(db) as c:
        return c.execute("select id, status, error from jobs order by created_at").fetchall()


@pytest.fixture
def env(voicecast_env: dict[str, str]) -> dict[str, str]:
    return {**voicecast_env, "VOICECAST_WORKERS": "2"}


def _bad_srt(tmp: Path) -> tuple[list[str], str]:
    p = tmp / "bad.srt"
    p.write_text("1\n00:00:01,000 --> 00:00:02,500\nHello there.\n\n2\n00:00:03,000 -> 00:00:04\n"
                 "Broken timing.\n")
    return [str(p), "--voice", str(REFERENCE)], "bad.srt:6"


def _empty_srt(tmp: Path) -> tuple[list[str], str]:
    p = tmp / "empty.srt"
    p.write_text("")
    return [str(p), "--voice", str(REFERENCE)], "no subtitle cues"


def _good_srt(tmp: Path) -> Path:
    p = tmp / "ok.srt"
    make_srt(p, SENTENCES[:2])
    return p


def _not_audio(tmp: Path) -> tuple[list[str], str]:
    ref = tmp / "voice.wav"
    ref.write_text("this is not audio at all\n" * 50)
    return [str(_good_srt(tmp)), "--voice", str(ref)], "not an audio file"


def _silent(tmp: Path) -> tuple[list[str], str]:
    ref = tmp / "silent.wav"
    sf.write(ref, np.zeros(16000 * 6, np.float32), 16000)
    return [str(_good_srt(tmp)), "--voice", str(ref)], "silent"


def _one_second(tmp: Path) -> tuple[list[str], str]:
    audio, sr = sf.read(REFERENCE, dtype="float32")
    ref = tmp / "short.wav"
    sf.write(ref, audio[: sr * 2], sr)  # about one second of speech and some pause
    return [str(_good_srt(tmp)), "--voice", str(ref)], "at least 3.0 s needed"


def _missing_folder(tmp: Path) -> tuple[list[str], str]:
    return [str(_good_srt(tmp)), "--voice", str(REFERENCE)], "does not exist"


@pytest.mark.parametrize("case", [_bad_srt, _empty_srt, _not_audio, _silent, _one_second,
                                  _missing_folder], ids=lambda f: f.__name__.strip("_"))
def test_bad_input_is_a_clear_error_and_a_failed_job(case, env, tmp_path):
    args, expected = case(tmp_path)
    out = tmp_path / ("missing/dub.wav" if case is _missing_folder else "dub.wav")
    res = cli(env, "render", *args, "--out", str(out))
    assert res.returncode == 2, res.stdout + res.stderr
    assert expected in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()
    [(job_id, status, error)] = jobs_table(env)
    assert status == "failed" and expected in (error or "")
    shown = cli(env, "status", job_id, "--json")
    assert json.loads(shown.stdout)["error"] == error


@pytest.mark.slow
def test_render_then_rerender_reuses_every_segment(env, tmp_path):
    srt = tmp_path / "four.srt"
    cues = make_srt(srt, SENTENCES[:4])
    first = cli(env, "render", str(srt), "--voice", str(REFERENCE), "--out",
                str(tmp_path / "a.wav"), "--json")
    assert first.returncode == 0, first.stderr
    s1 = json.loads(first.stdout)
    assert (s1["status"], s1["segments"], s1["rendered"], s1["reused"]) == ("done", 4, 4, 0)
    assert abs(duration(tmp_path / "a.wav") - cues[-1].end) <= 0.05

    second = cli(env, "render", str(srt), "--voice", str(REFERENCE), "--out",
                 str(tmp_path / "b.mp3"), "--json")
    assert second.returncode == 0, second.stderr
    s2 = json.loads(second.stdout)
    assert (s2["rendered"], s2["reused"]) == (0, 4)
    assert abs(duration(tmp_path / "b.mp3") - cues[-1].end) <= 0.06

    # Moving every cue later without changing lengths still reuses every segment.
    shifted = tmp_path / "shifted.srt"
    make_srt(shifted, SENTENCES[:4], first=2.0)
    third = cli(env, "render", str(shifted), "--voice", str(REFERENCE), "--out",
                str(tmp_path / "c.flac"), "--json")
    assert json.loads(third.stdout)["reused"] == 4, third.stderr


@pytest.mark.slow
def test_resume_after_the_orchestrator_is_killed(env, tmp_path):
    srt = tmp_path / "eight.srt"
    make_srt(srt, SENTENCES[4:12])
    out = tmp_path / "dub.m4a"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "render", str(srt), "--voice", str(REFERENCE),
         "--out", str(out), "--json"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    db = Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db"
    deadline = time.monotonic() + 600
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db) as c:
                    done = c.execute("select count(*) from segments where status='done'").fetchone()[0]
            except sqlite3.OperationalError:
                done = 0
            if done >= 2:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "render finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker processes
    proc.wait()
    segments_dir = Path(env["VOICECAST_DATA_DIR"]) / "objects" / "segments"
    before = {p: p.stat().st_mtime_ns for p in segments_dir.rglob("*.wav")}
    assert len(before) >= done
    assert not out.exists()
    [(job_id, status, _)] = jobs_table(env)
    assert status == "rendering"

    res = cli(env, "resume", job_id[:8], "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["status"] == "done" and summary["segments"] == 8
    assert out.is_file()
    # Segments finished before the kill were not rendered again.
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    assert len(list(segments_dir.rglob("*.wav"))) == 8
