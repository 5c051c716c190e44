"""A hung external tool, through the `voicecast` CLI in embedded mode.

A stand-in ``rubberband`` first on PATH hangs; the wrapper (voicecast.media)
kills it after ``VOICECAST_LIMITS__TOOL_TIMEOUT_S`` and runs it once more. A
tool that hangs every time fails the segment and the job with its name; one
that hangs once only costs a retry.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from audiocheck import SENTENCES, make_srt

REPO = Path(__file__).resolve().parents[2]
REAL_RUBBERBAND = shutil.which("rubberband") or "rubberband-is-not-installed"


def cli(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def stand_in(tmp_path: Path, env: dict[str, str], body: str) -> dict[str, str]:
    """``env`` with a ``rubberband`` script first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "rubberband"
    tool.write_text("#!/bin/sh\n" + body)
    tool.chmod(0o755)
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}


@pytest.fixture
def env(voicecast_env: dict[str, str]) -> dict[str, str]:
    return {
        **voicecast_env, "VOICECAST_WORKERS": "2",
        # The engine keeps its natural speed, so every rate but 1 is time-stretched
        # by Rubber Band: each segment below runs it.
        "VOICECAST_FIT__ENGINE_RATE_MIN": "1", "VOICECAST_FIT__ENGINE_RATE_MAX": "1",
        "VOICECAST_LIMITS__TOOL_TIMEOUT_S": "3",
    }


def tight_srt(tmp_path: Path) -> Path:
    """Two cues whose slots are shorter than the speech (rate ~1.2) with no gap to borrow."""
    srt = tmp_path / "tight.srt"
    make_srt(srt, SENTENCES[:2], chars_per_s=17.5, gap=0.02)
    return srt


def job_row(env: dict[str, str]) -> tuple[str, str | None]:
    with sqlite3.connect(Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db") as c:
        status, error = c.execute("select status, error from jobs").fetchone()
    return status, error


def test_a_hung_rubberband_fails_the_job_naming_the_tool(env, tmp_path):
    runs = tmp_path / "runs"
    env = stand_in(tmp_path, env, f'echo run >> "{runs}"\nsleep 300\n')
    res = cli(env, "render", str(tight_srt(tmp_path)), "--voice", "jf_alpha",
              "--out", str(tmp_path / "out.wav"), "--json")
    assert res.returncode != 0
    status, error = job_row(env)
    assert status == "failed"
    assert error is not None and "rubberband did not finish within 3 s" in error, error
    # Killed and tried once more before giving up.
    assert runs.read_text().count("run") >= 2
    assert not (tmp_path / "out.wav").exists()


def test_a_rubberband_that_hangs_once_costs_only_a_retry(env, tmp_path):
    hung = tmp_path / "hung-once"
    # mkdir is atomic: of the two segments' runs, exactly one hangs.
    env = stand_in(tmp_path, env, f'if mkdir "{hung}" 2>/dev/null; then sleep 300; fi\n'
                                  f'exec "{REAL_RUBBERBAND}" "$@"\n')
    res = cli(env, "render", str(tight_srt(tmp_path)), "--voice", "jf_alpha",
              "--out", str(tmp_path / "out.wav"), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "done"
    assert hung.is_dir()  # the stand-in did hang (so the retry is what rescued the job)
    assert job_row(env) == ("done", None)
    assert (tmp_path / "out.wav").stat().st_size > 0
