"""The `null` engine end to end: `VOICECAST_ENGINE__NAME=null voicecast render`
of a small SRT is quick and its tones land on their cues (embedded mode)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from audiocheck import SENTENCES, decode, make_srt, onsets

REPO = Path(__file__).resolve().parents[2]
SR = 16000


def test_null_engine_renders_tones_on_their_cues(voicecast_env: dict[str, str], tmp_path: Path) -> None:
    env = {**voicecast_env, "VOICECAST_ENGINE__NAME": "null", "VOICECAST_WORKERS": "2"}
    cues = make_srt(tmp_path / "in.srt", SENTENCES[:8])
    out = tmp_path / "out.wav"
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "render", str(tmp_path / "in.srt"),
         "--voice", "jf_alpha", "--out", str(out)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    audio = decode(out, SR)
    found = onsets(audio, SR, [c.start for c in cues])
    assert np.allclose(found, [c.start for c in cues], atol=0.05), (found, cues)
    # Each tone ends within its cue and the audio between cues is silent.
    report_path = next(line.split("file://", 1)[1] for line in proc.stdout.splitlines()
                       if "fit report:" in line)
    report = json.loads(Path(report_path).read_text())["segments"]
    assert [r["overflow"] for r in report] == [False] * len(cues)
    for a, b in zip(cues, cues[1:], strict=False):
        gap = audio[int((a.end + 0.05) * SR):int((b.start - 0.05) * SR)]
        assert gap.size == 0 or float(np.max(np.abs(gap))) < 1e-3, (a, b)

    # Its segments are stored under the null engine's own name and version.
    results = list((Path(env["VOICECAST_DATA_DIR"]) / "objects" / "segments").rglob("*.json"))
    assert len(results) == len(cues)
    for path in results:
        stored = json.loads(path.read_text())
        assert stored["engine"] == "null" and stored["engine_version"].startswith("null")
