"""Emotion tags, overflow placement and plain scripts through the CLI (embedded mode)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicecast.evaluation import transcribe, wer

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "examples" / "reference.wav"


def cli(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def env(voicecast_env: dict[str, str]) -> dict[str, str]:
    return {**voicecast_env, "VOICECAST_WORKERS": "2"}


def ts(x: float) -> str:
    ms = round(x * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


#: (start, end, text as written). Cue 3 cannot fit: a long sentence in a 0.9 s
#: slot with only 0.15 s before cue 4, even at the hard rate limit.
CUES = [
    (0.5, 3.0, "[happy] The harbor lights came on one by one."),
    (3.6, 6.1, "[sad:0.9] She folded the map and put it away."),
    (6.8, 7.7, "[angry] Nobody expected the storm to arrive so early in the season this year."),
    (7.85, 10.6, "[calm:0.5] We walked along the river until sunset."),
    (11.2, 14.0, "[like:take.wav] Fresh bread was cooling on the kitchen table."),
]


def report(env: dict[str, str], job: str, tmp: Path) -> dict:
    out = tmp / "report.json"
    res = cli(env, "report", job, "--out", str(out))
    assert res.returncode == 0, res.stderr
    return json.loads(out.read_text())


@pytest.mark.slow
def test_tagged_subtitles_render_overflow_is_cut_before_the_next_cue(env, tmp_path):
    srt = tmp_path / "scene.srt"
    srt.write_text("".join(f"{i}\n{ts(a)} --> {ts(b)}\n{t}\n\n" for i, (a, b, t) in enumerate(CUES, 1)))
    clip, sr = sf.read(REFERENCE, dtype="float32")
    sf.write(tmp_path / "take.wav", clip[: 4 * sr], sr)  # the clip lives next to the script
    out = tmp_path / "scene.wav"
    res = cli(env, "render", str(srt), "--voice", str(REFERENCE), "--out", str(out))
    assert res.returncode == 0, res.stderr
    # the CLI summary counts what happened
    assert "1 overflowed" in res.stdout, res.stdout
    assert "emotions: " in res.stdout and "happy 1" in res.stdout and "like 1" in res.stdout
    job = json.loads(cli(env, "status", "--json", _last_job(env)).stdout)
    rep = report(env, job["job_id"], tmp_path)
    rows = rep["segments"]
    assert [r["emotion"].split(":")[0] for r in rows] == ["happy", "sad", "angry", "calm", "like"]
    assert [r["intensity"] for r in rows[:4]] == [0.7, 0.9, 0.7, 0.5]

    # Overflow: flagged, and placed so that it ends before the next cue starts.
    assert [r["overflow"] for r in rows] == [False, False, True, False, False]
    for r, nxt in zip(rows, rows[1:], strict=False):
        assert r["placed_start_s"] == pytest.approx(r["start_s"], abs=1e-3)
        assert r["placed_end_s"] <= nxt["start_s"] + 1e-6, r
    assert rows[2]["placed_end_s"] == pytest.approx(CUES[3][0], abs=1e-3)
    assert rows[2]["overflow_s"] > 0
    # ... and the track really is quiet there: the cut line does not run into cue 4.
    audio, out_sr = sf.read(out, dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    tail = audio[int((rows[2]["placed_end_s"] + 0.002) * out_sr): int(CUES[3][0] * out_sr)]
    assert tail.size == 0 or np.max(np.abs(tail)) < 0.02

    # Tags are never spoken: the lines' words come back (pooled word error rate
    # of the lines that were not cut) and no tag word is heard.
    errors = []
    for r in rows:
        seg = audio[int(r["placed_start_s"] * out_sr): int(r["placed_end_s"] * out_sr)]
        heard = transcribe(seg, out_sr)
        words = heard.lower().replace(",", " ").replace(".", " ").split()
        if not r["overflow"]:
            errors.append(wer(r["text"], heard) * len(r["text"].split()))
        for tag in ("happy", "sad", "angry", "calm", "like", "take", "wav"):
            if tag not in r["text"].lower():
                assert tag not in words, (r["text"], heard)
    spoken = sum(len(r["text"].split()) for r in rows if not r["overflow"])
    assert sum(errors) / spoken <= 0.2, errors

    # The CSV form downloads too.
    csv_out = tmp_path / "r.csv"
    assert cli(env, "report", job["job_id"], "--csv", "--out", str(csv_out)).returncode == 0
    assert csv_out.read_text().splitlines()[0].startswith("segment,line,start_s")


def _last_job(env: dict[str, str]) -> str:
    import sqlite3

    db = Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db"
    with sqlite3.connect(db) as c:
        return c.execute("select id from jobs order by created_at desc limit 1").fetchone()[0]


@pytest.mark.slow
def test_plain_script_lines_follow_each_other(env, tmp_path):
    script = tmp_path / "lines.txt"
    script.write_text("# a comment\n[excited] We counted the stars until we fell asleep.\n\n"
                      "[whisper] The library was quiet except for the rain.\nThe train was late again.\n")
    out = tmp_path / "lines.wav"
    res = cli(env, "render", str(script), "--voice", str(REFERENCE), "--out", str(out), "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["segments"] == 3 and summary["emotions"] == {"excited": 1, "whisper": 1, "neutral": 1}
    rows = report(env, summary["job_id"], tmp_path)["segments"]
    assert [r["line"] for r in rows] == [2, 4, 5]
    assert rows[0]["placed_start_s"] == pytest.approx(0.5, abs=1e-3)
    for r, nxt in zip(rows, rows[1:], strict=False):
        assert nxt["placed_start_s"] == pytest.approx(r["placed_end_s"] + 0.6, abs=1e-3)
    info = sf.info(out)
    assert info.duration == pytest.approx(rows[-1]["placed_end_s"] + 1.0, abs=0.01)
    audio, sr = sf.read(out, dtype="float32")
    plain = audio[int(rows[2]["placed_start_s"] * sr): int(rows[2]["placed_end_s"] * sr)]
    assert wer("The train was late again.", transcribe(plain, sr)) <= 0.2


def test_like_clip_errors_name_the_line(env, tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("Fine.\n[like:missing.wav] Where is it?\n")
    res = cli(env, "render", str(script), "--voice", str(REFERENCE), "--out", str(tmp_path / "o.wav"))
    assert res.returncode == 2
    assert f"{script}:2: [like:missing.wav]: clip not found" in res.stderr
    (tmp_path / "noise.wav").write_text("not audio")
    script.write_text("[like:noise.wav] Hello.\n")
    res = cli(env, "render", str(script), "--voice", str(REFERENCE), "--out", str(tmp_path / "o.wav"))
    assert res.returncode == 2 and f"{script}:1: [like:noise.wav]: not readable audio" in res.stderr
    assert not (tmp_path / "o.wav").exists()


def test_unknown_tag_is_a_sound_description_unless_strict(env, tmp_path):
    srt = tmp_path / "t.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nHello.\n\n2\n00:00:03,000 --> 00:00:04,000\n"
                   "[furious] Go away.\n")
    # By default an unknown bracketed word in a subtitle is a sound description: skipped, said once.
    res = cli(env, "plan", str(srt), "--json")
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert [s["text"] for s in plan["segments"]] == ["Hello.", "Go away."]
    assert any("sound description" in w and "[furious]" in w for w in plan["warnings"])
    # --strict-tags makes it the error it used to be, before anything renders.
    res = cli(env, "render", str(srt), "--voice", str(REFERENCE), "--out", str(tmp_path / "o.wav"),
              "--strict-tags")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{srt}:5: cue 2: unknown tag [furious]; allowed: [neutral], [happy]" in res.stderr
    assert not (tmp_path / "o.wav").exists()
    res = cli(env, "render", str(srt), "--voice", str(REFERENCE), "--out", str(tmp_path / "o.wav"),
              "--emotion", "grumpy")
    assert res.returncode == 2 and "--emotion: unknown tag [grumpy]" in res.stderr
