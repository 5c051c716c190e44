"""Done-means 6 of the service issue: a dub rendered through the ``remote``
engine, whose speech comes from a second ``voicecast serve`` on loopback
(Kokoro behind its OpenAI-compatible ``/v1/audio/speech``), lands on its cues
like a local render: same slots kept, speech starting at each cue.

The remote server has no duration predictor to offer, so the fitting renders,
measures and asks again at the speed it needs (``speed``), then stretches the
rest, exactly as for any engine without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from audiocheck import SENTENCES, decode, make_srt, onsets
from servers import ApiServer

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=900)


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    return {**env, "VOICECAST_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1", **extra}


def test_a_dub_through_a_remote_voicecast_lands_on_its_cues(tmp_path: Path) -> None:
    srt = tmp_path / "six.srt"
    cues = make_srt(srt, SENTENCES[:6])
    with ApiServer(_env(tmp_path / "server-data"), workers=1, log_path=tmp_path / "server.log") as server:
        key = server.key("gpu-pool")
        remote = _env(tmp_path / "client-data", VOICECAST_ENGINE__NAME="remote",
                      VOICECAST_ENGINE__REMOTE_URL=server.url, VOICECAST_ENGINE__REMOTE_API_KEY=key,
                      VOICECAST_ENGINE__REMOTE_VOICES='["jf_alpha"]', VOICECAST_ENGINE__REMOTE_MODEL="kokoro")
        out_remote = tmp_path / "remote.wav"
        r = cli(remote, "render", str(srt), "--voice", "jf_alpha", "--out", str(out_remote), "--json",
                "--workers", "1")
        assert r.returncode == 0, r.stderr[-3000:] + server.log_text()[-2000:]
    # The speech came from the server: it rendered (and stored) the lines itself.
    assert len(list((tmp_path / "server-data" / "objects" / "segments").rglob("*.wav"))) >= len(cues)
    local = _env(tmp_path / "local-data")
    out_local = tmp_path / "local.wav"
    r2 = cli(local, "render", str(srt), "--voice", "jf_alpha", "--out", str(out_local), "--json",
             "--workers", "1")
    assert r2.returncode == 0, r2.stderr[-3000:]

    summary_remote, summary_local = json.loads(r.stdout), json.loads(r2.stdout)
    assert summary_remote["status"] == summary_local["status"] == "done"
    starts = [c.start for c in cues]
    sr = 16000
    got_remote = onsets(decode(out_remote, sr), sr, starts)
    got_local = onsets(decode(out_local, sr), sr, starts)
    for cue, a, b in zip(cues, got_remote, got_local, strict=True):
        # Speech starts at its cue in both renders (the head silence the fitting trims: < 60 ms).
        assert abs(a - cue.start) < 0.08, (cue, a)
        assert abs(b - cue.start) < 0.08, (cue, b)
    for rep_env, job in ((remote, summary_remote["job_id"]), (local, summary_local["job_id"])):
        rep = cli(rep_env, "report", job)
        assert rep.returncode == 0, rep.stderr
        rows = json.loads(rep.stdout)["segments"]
        assert len(rows) == len(cues)
        for row in rows:
            # Every line ends inside its slot plus the gap it may borrow, as a local render does.
            assert not row["overflow"], row
            assert row["placed_end_s"] <= row["end_s"] + (row["borrowed_s"] or 0.0) + 0.002, row
            assert abs(row["placed_start_s"] - row["start_s"]) < 0.002, row
