"""``voicecast plan`` end to end (embedded mode): the preview's JSON, its
errors, that it stores nothing, and that its predictions are what a render
then reports (Done means 3 of issue 12)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TRAILER = REPO / "examples" / "trailer.srt"
VOICE = "jf_alpha"
#: The render's fit settings (defaults): above this rate a line is "fast".
COMFORTABLE_MAX = 1.25


def cli(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def _env(data_dir: Path) -> dict[str, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    return {**env, "VOICECAST_DATA_DIR": str(data_dir), "VOICECAST_WORKERS": "2", "PYTHONUNBUFFERED": "1"}


def _rows(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as c:
        return int(c.execute(f"select count(*) from {table}").fetchone()[0])


def plan_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    r = cli(env, "plan", *args, "--json")
    assert r.returncode == 0, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


# ----------------------------------------------------------------------------- fast


def test_plan_json_shape_without_a_voice(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    out = plan_json(env, str(TRAILER))
    assert out["kind"] == "dub" and out["chapters"] == [] and isinstance(out["warnings"], list)
    first = out["segments"][0]
    assert {"text", "chapter", "voice", "emotion", "start_s", "end_s"} <= set(first)
    assert (first["text"], first["chapter"], first["start_s"], first["end_s"]) == (
        "Every autumn, the Kestrel River wakes up.", None, 1.0, 3.8)
    # <i>...</i> in the file: spoken without markup.
    assert "They have been away for four years." in [g["text"] for g in out["segments"]]
    md = tmp_path / "b.md"
    md.write_text("# A Book\n\n## One\n\nThe first chapter.\n\n## Two\n\nThe second one.\n", encoding="utf-8")
    book = plan_json(env, str(md))
    assert book["kind"] == "audiobook"
    assert [c["title"] for c in book["chapters"]][-2:] == ["One", "Two"]
    assert all(isinstance(c["segments"], int) for c in book["chapters"])
    assert {g["chapter"] for g in book["segments"]} >= {len(book["chapters"]) - 1}
    text = cli(env, "plan", str(md))
    assert text.returncode == 0 and "The second one." in text.stdout and "Two" in text.stdout


@pytest.mark.parametrize(("content", "args", "says"), [
    ("1\n00:00:01,000 --> 00:00:02,500\nHello.\n\n2\n00:00:03,000 -> 00:00:04\nBroken.\n", [], "bad.srt:"),
    ("", [], "no subtitle cues"),
    ("1\n00:00:01,000 --> 00:00:02,500\nHello.\n", ["--voice", "nobody_at_all"], "unknown voice"),
    ("1\n00:00:01,000 --> 00:00:02,500\nHello.\n", ["--mode", "audiobook"], "--mode audiobook"),
])
def test_plan_exits_2_on_bad_input(tmp_path: Path, content: str, args: list[str], says: str) -> None:
    env = _env(tmp_path / "data")
    bad = tmp_path / "bad.srt"
    bad.write_text(content, encoding="utf-8")
    r = cli(env, "plan", str(bad), *args, "--json")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert says in r.stderr and r.stdout == ""
    missing = cli(env, "plan", str(tmp_path / "nope.srt"))
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_plan_with_a_voice_stores_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    out = plan_json(env, str(TRAILER), "--voice", VOICE)
    assert out["predicted"] and all(g["voice"] == VOICE and g["predicted_s"] > 0 and g["rate"] > 0
                                    for g in out["segments"])
    db = tmp_path / "data" / "voicecast.db"
    assert (_rows(db, "jobs"), _rows(db, "segments"), _rows(db, "voices")) == (0, 0, 0)
    objects = tmp_path / "data" / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


# ----------------------------------------------------------------------------- slow: a render


def _tight_srt(path: Path, lines: list[tuple[str, float]]) -> None:
    """Cues whose slots make the render fit each line differently: (natural/slot,
    natural/(slot + gap)) per line, far from the policy's thresholds (1.25, 1.4)
    so a prediction within a few per cent lands on the same side."""
    shapes = [(1.0, 1.0), (1.32, 1.32), (1.8, 1.8), (1.6, 1.32), (2.2, 1.8), (1.1, 1.1), (0.6, 0.6),
              (1.5, 1.32)]

    def ts(t: float) -> str:
        ms = int(round(t * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    t, blocks = 1.0, []
    for n, ((text, natural), (r_slot, r_max)) in enumerate(zip(lines, shapes, strict=False), 1):
        slot, most = natural / r_slot, natural / r_max
        blocks.append(f"{n}\n{ts(t)} --> {ts(t + slot)}\n{text}\n")
        t += most
    path.write_text("\n".join(blocks), encoding="utf-8")


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The bundled example and a tight track, each planned with a voice, then rendered once."""
    tmp = tmp_path_factory.mktemp("plan-render")
    env = _env(tmp / "data")
    out: dict[str, Any] = {}
    trailer_plan = plan_json(env, str(TRAILER), "--voice", VOICE)
    tight = tmp / "tight.srt"
    _tight_srt(tight, [(g["text"], g["predicted_s"]) for g in trailer_plan["segments"][:8]])
    for name, src in (("trailer", TRAILER), ("tight", tight)):
        plan = trailer_plan if name == "trailer" else plan_json(env, str(src), "--voice", VOICE)
        r = cli(env, "render", str(src), "--voice", VOICE, "--out", str(tmp / f"{name}.wav"), "--json")
        assert r.returncode == 0, r.stderr
        job = json.loads(r.stdout)["job_id"]
        rep = cli(env, "report", job)
        assert rep.returncode == 0, rep.stderr
        out[name] = (plan, json.loads(rep.stdout)["segments"])
    yield out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["trailer", "tight"])
def test_plan_predicts_the_rendered_natural_length_within_5_percent(renders: dict[str, Any],
                                                                   name: str) -> None:
    plan, rows = renders[name]
    assert len(plan["segments"]) == len(rows)
    misses = []
    for g, row in zip(plan["segments"], rows, strict=True):
        assert g["text"] == row["text"]
        err = g["predicted_s"] / row["natural_s"] - 1
        if abs(err) > 0.05:
            misses.append((row["segment"], g["predicted_s"], row["natural_s"], round(100 * err, 1)))
    assert not misses, f"predicted vs rendered natural length off by more than 5 %: {misses}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["trailer", "tight"])
def test_plan_flags_exactly_the_lines_the_render_reports(renders: dict[str, Any], name: str) -> None:
    plan, rows = renders[name]
    flagged = {(g["idx"], g["overflow"]) for g in plan["segments"] if g["fast"] or g["overflow"]}
    reported = {(row["segment"] - 1, bool(row["overflow"])) for row in rows
                if row["overflow"] or (row["rate"] or 0) > COMFORTABLE_MAX + 1e-6}
    assert flagged == reported
    assert {g["idx"] for g in plan["segments"] if g["overflow"]} == set(plan["flagged"]["overflow"])
    if name == "tight":  # the track is made to have both kinds
        assert any(o for _, o in reported) and any(not o for _, o in reported)
