"""The voice-cloning evaluation (bench/eval_clone.py) on a small panel.

Two real speakers (Allison, English; Carlo, Italian, male) from Debian's
asterisk-core-sounds-*-g722, 3 sentences, 4 held-out clips, the baseline
method only. The checks recompute the report's figures from what it stored
and, for a few of them, from the audio itself, so they cannot be constants.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from voicecast import evaluation
from voicecast.media import decode_audio

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SPEAKERS = ("allison_en", "carlo_it")
SENTENCES, HELD_OUT = 3, 4


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_clone", REPO / "bench" / "eval_clone.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_clone"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ec = _load_bench()


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    panel = {s.name: s for s in ec.asterisk_panel()}
    missing = [str(panel[n].dir) for n in SPEAKERS if not panel[n].dir.is_dir()]
    if missing:
        pytest.skip(f"asterisk-core-sounds-*-g722 not installed ({', '.join(missing)}); "
                    "scripts/setup.sh installs them")
    out = tmp_path_factory.mktemp("eval-clone")
    ec.main([
        "--speakers", ",".join(SPEAKERS), "--sentences", str(SENTENCES), "--held-out", str(HELD_OUT),
        "--methods", "nearest", "--json-out", str(out / "eval.json"), "--md-out", str(out / "eval.md"),
        "--keep-audio", str(out / "audio"),
    ])
    return out, json.loads((out / "eval.json").read_text()), (out / "eval.md").read_text()


def _embed_file(path: Path) -> np.ndarray:
    return evaluation.speaker_embedding(decode_audio(path, 16000), 16000)


def test_report_written(result: tuple[Path, dict, str]) -> None:
    _, doc, md = result
    assert set(doc["speakers"]) == set(SPEAKERS)
    assert doc["methods"] == ["nearest"]
    assert doc["sentences"] == list(ec.SENTENCES[:SENTENCES])
    assert "bench/eval_clone.py --speakers allison_en,carlo_it" in doc["command"]
    assert doc["command"] in md
    for name in SPEAKERS:
        assert f"| {name} | nearest |" in md
    assert "| **mean** | nearest |" in md
    assert "bar" not in doc["summary"]  # no clone method in this run


def test_clips_disjoint_and_within_budget(result: tuple[Path, dict, str]) -> None:
    _, doc, _ = result
    for name, s in doc["speakers"].items():
        folder = Path(s["dir"])
        ref = [c["file"] for c in s["reference"]]
        held = [c["file"] for c in s["held_out"]]
        assert len(held) == HELD_OUT and ref
        assert not set(ref) & set(held), name
        assert len(set(ref)) == len(ref) and len(set(held)) == len(held)
        for c in s["reference"] + s["held_out"]:
            assert (folder / c["file"]).is_file()
            assert ec.CLIP_MIN_S <= c["duration_s"] <= ec.CLIP_MAX_S
            assert 0 < c["speech_s"] <= c["duration_s"]
        assert s["reference_clip_s"] == pytest.approx(sum(c["duration_s"] for c in s["reference"]), abs=0.01)
        assert s["reference_clip_s"] <= 30.0
        # What enrollment got: the clips' speech, 20-30 s of it.
        assert 20.0 <= s["reference_speech_s"] <= 30.0
    # The choice is deterministic: the same files again.
    again = ec.select_clips(Path(doc["speakers"]["carlo_it"]["dir"]), HELD_OUT)
    assert [c.rel for c in again.reference] == [c["file"] for c in doc["speakers"]["carlo_it"]["reference"]]
    assert [c.rel for c in again.held_out] == [c["file"] for c in doc["speakers"]["carlo_it"]["held_out"]]


def test_ceiling_and_floor_from_real_clips(result: tuple[Path, dict, str]) -> None:
    _, doc, _ = result
    for name, s in doc["speakers"].items():
        pairs = s["ceiling_pairs"]
        assert len(pairs) == HELD_OUT * (HELD_OUT - 1) // 2
        assert all(i < j for i, j, _ in pairs)
        assert s["ceiling"] == pytest.approx(np.mean([v for _, _, v in pairs]))
        assert set(s["floor_cross"]) == set(SPEAKERS) - {name}
        cross = [v for m in s["floor_cross"].values() for row in m for v in row]
        assert len(cross) == HELD_OUT * HELD_OUT
        assert s["floor"] == pytest.approx(np.mean(cross))
        assert s["ceiling"] > s["floor"] + 0.1, name  # two recordings of one person vs strangers
        assert len({round(v, 6) for _, _, v in pairs}) == len(pairs)  # measured, not a constant
    a, c = doc["speakers"]["allison_en"], doc["speakers"]["carlo_it"]
    assert a["ceiling"] != c["ceiling"]
    # The floor is symmetric: Carlo's clips vs Allison's = Allison's vs Carlo's (transposed).
    assert np.allclose(np.array(a["floor_cross"]["carlo_it"]).T, c["floor_cross"]["allison_en"])

    # One pair recomputed from the audio files themselves.
    i, j, stored = c["ceiling_pairs"][0]
    folder = Path(c["dir"])
    x = _embed_file(folder / c["held_out"][i]["file"])
    y = _embed_file(folder / c["held_out"][j]["file"])
    assert evaluation.similarity(x, y) == pytest.approx(stored, abs=1e-4)


def test_similarity_and_identification_recomputed(result: tuple[Path, dict, str]) -> None:
    _, doc, _ = result
    sims = {}
    for name, s in doc["speakers"].items():
        r = s["methods"]["nearest"]
        rows = r["sentences"]
        assert len(rows) == SENTENCES
        for row in rows:
            assert set(row["cos_held_out"]) == set(SPEAKERS)
            for cand, vals in row["cos_held_out"].items():
                assert len(vals) == HELD_OUT
                assert row["scores"][cand] == pytest.approx(np.mean(vals))
            best = max(row["scores"], key=row["scores"].get)
            assert row["top"] == best
            assert row["identified"] == (best == name)
            assert row["rank"] == 1 + sum(v > row["scores"][name] for v in row["scores"].values())
        assert r["similarity"] == pytest.approx(np.mean([v for x in rows for v in x["cos_held_out"][name]]))
        assert r["identification"] == pytest.approx(np.mean([x["identified"] for x in rows]))
        assert r["normalized"] == pytest.approx((r["similarity"] - s["floor"]) / (s["ceiling"] - s["floor"]))
        assert 0.3 < r["similarity"] < 0.95
        assert r["enroll_s"] > 0 and r["enroll_meta"]["profile_key"]
        sims[name] = r["similarity"]
    assert sims["allison_en"] != sims["carlo_it"]
    # Allison is a woman and every bundled voice but one is female: her baseline
    # clone sounds more like her than like Carlo on every sentence.
    assert all(x["identified"] for x in doc["speakers"]["allison_en"]["methods"]["nearest"]["sentences"])

    summ = doc["summary"]["nearest"]
    assert summ["similarity"] == pytest.approx(np.mean(list(sims.values())))
    every = [x["identified"] for s in doc["speakers"].values() for x in s["methods"]["nearest"]["sentences"]]
    assert summ["identification"] == pytest.approx(np.mean(every))


def test_render_similarity_from_saved_audio(result: tuple[Path, dict, str]) -> None:
    out, doc, _ = result
    s = doc["speakers"]["carlo_it"]
    row = s["methods"]["nearest"]["sentences"][1]
    wav = out / "audio" / "carlo_it" / "nearest" / "01.wav"
    from voicecast.audio import read_wav

    audio, sr = read_wav(wav)
    assert sr == doc["engine"]["sample_rate"]
    assert audio.size / sr == pytest.approx(row["audio_s"], abs=0.01)
    render = evaluation.speaker_embedding(audio, sr)
    held = _embed_file(Path(s["dir"]) / s["held_out"][2]["file"])
    assert evaluation.similarity(render, held) == pytest.approx(row["cos_held_out"]["carlo_it"][2], abs=1e-4)
    assert (out / "audio" / "carlo_it" / "reference.wav").is_file()


def test_wer_from_transcripts(result: tuple[Path, dict, str]) -> None:
    _, doc, _ = result
    errors = words = 0
    for s in doc["speakers"].values():
        r = s["methods"]["nearest"]
        e_sum = n_sum = 0
        for row in r["sentences"]:
            assert row["transcript"]
            e, n = evaluation.word_errors(row["text"], row["transcript"])
            assert (row["word_errors"], row["words"]) == (e, n)
            e_sum, n_sum = e_sum + e, n_sum + n
        assert (r["word_errors"], r["words"]) == (e_sum, n_sum)
        assert r["wer"] == pytest.approx(e_sum / n_sum)
        assert r["wer"] < 0.35  # intelligible English speech, whatever the voice
        errors, words = errors + e_sum, words + n_sum
    assert doc["summary"]["nearest"]["wer"] == pytest.approx(errors / words)
