"""The emotion benchmark (bench/bench_emotion.py).

The slow tests run it on 2 sentences x 2 emotions (happy, whisper) x intensities
0.7 and 1.0 with the bundled jf_alpha voice, then recompute its figures from
what it stored: the per-sentence features from the saved renders, the paired
shifts, medians, pooled WER and mean similarity from the per-sentence values,
and the verdict from the summaries. None of that assumes emotions are rendered
(while they are not, every shift is 0 and the direction checks fail).

The fast tests feed the verdict logic made-up summaries whose answer is known.
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

from voicecast import evaluation, prosody
from voicecast.emotions import DEFAULT_INTENSITY, EXPECTED, FEATURES, WHISPER_MAX_VOICED

REPO = Path(__file__).resolve().parents[2]
SENTENCES = 2
EMOTIONS = ("happy", "whisper")
INTENSITIES = (0.7, 1.0)


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_emotion", REPO / "bench" / "bench_emotion.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_emotion"] = module
    spec.loader.exec_module(module)
    return module


be = _load_bench()


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench-emotion")
    be.main([
        "--sentences", str(SENTENCES), "--emotions", ",".join(EMOTIONS),
        "--intensities", ",".join(f"{i:g}" for i in INTENSITIES),
        "--json-out", str(out / "emotion.json"), "--md-out", str(out / "emotion.md"),
        "--wav-dir", str(out / "wav"),
    ])
    return out, json.loads((out / "emotion.json").read_text()), (out / "emotion.md").read_text()


def _median(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.median(v)) if v else None


def _condition(doc: dict[str, Any], emotion: str, intensity: float) -> dict[str, Any]:
    (c,) = [c for c in doc["conditions"] if c["emotion"] == emotion and c["intensity"] == intensity]
    return c


@pytest.mark.slow
def test_report_written(result: tuple[Path, dict, str]) -> None:
    out, doc, md = result
    assert doc["sentences"] == list(evaluation.EVAL_SENTENCES[:SENTENCES])
    assert doc["emotions"] == list(EMOTIONS) and doc["intensities"] == list(INTENSITIES)
    assert doc["voice"].startswith("jf_alpha")
    assert "bench/bench_emotion.py --sentences 2 --emotions happy,whisper" in doc["command"]
    assert doc["command"] in md
    assert len(doc["conditions"]) == len(EMOTIONS) * len(INTENSITIES)
    assert len(doc["neutral"]["rows"]) == SENTENCES
    assert all(len(c["rows"]) == SENTENCES for c in doc["conditions"])
    assert doc["timing"]["renders"] == SENTENCES * (1 + len(doc["conditions"]))
    assert len(list((out / "wav").glob("*.wav"))) == doc["timing"]["renders"]
    assert "| neutral | – |" in md and "| whisper | 1 |" in md
    for c in doc["checks"]:
        assert f"| {c['emotion']} | {c['check']} |" in md


@pytest.mark.slow
def test_features_recomputed_from_saved_renders(result: tuple[Path, dict, str]) -> None:
    out, doc, _ = result
    from voicecast.audio import read_wav

    for row in (doc["neutral"]["rows"][1], _condition(doc, "whisper", 1.0)["rows"][0]):
        audio, sr = read_wav(out / "wav" / row["wav"])
        assert sr == doc["engine"]["sample_rate"]
        assert audio.size / sr == pytest.approx(row["audio_s"], abs=1e-3)
        again = prosody.features(audio, sr, row["text"])
        for f in (*FEATURES, "f0_median_hz", "active_s", "syllables"):
            if row["features"][f] is None:
                assert np.isnan(again[f]), f
            else:
                assert again[f] == pytest.approx(row["features"][f], abs=1e-6), f
        assert row["features"]["syllables"] == prosody.count_syllables(row["text"])
    # Real speech in the neutral renders: a female voice's pitch, a speaking rate, mostly voiced.
    for row in doc["neutral"]["rows"]:
        f = row["features"]
        assert 150 < f["f0_median_hz"] < 350 and 3 < f["f0_range"] < 20
        assert 2.5 < f["rate"] < 8 and -35 < f["rms"] < -5 and 0.5 < f["voiced_ratio"] < 0.98


@pytest.mark.slow
def test_shifts_medians_wer_similarity_recomputed(result: tuple[Path, dict, str]) -> None:
    _, doc, _ = result
    neutral = doc["neutral"]["rows"]
    for c in doc["conditions"]:
        rows, s = c["rows"], c["summary"]
        for row, base in zip(rows, neutral, strict=True):
            assert row["text"] == base["text"]
            for f in FEATURES:
                a, b = row["features"][f], base["features"][f]
                if a is None or b is None:
                    assert row["diff"][f] is None
                else:
                    assert row["diff"][f] == pytest.approx(a - b, abs=1e-9)
            if row["identical_to_neutral"]:
                assert all(row["diff"][f] in (0.0, None) for f in FEATURES)
                assert row["similarity"] == pytest.approx(1.0, abs=1e-5)
        for f in FEATURES:
            assert s["features"][f] == pytest.approx(_median([r["features"][f] for r in rows]), abs=1e-9)
            assert s["shift"][f] == pytest.approx(_median([r["diff"][f] for r in rows]), abs=1e-9)
        sims = [r["similarity"] for r in rows if r["similarity"] is not None]
        assert s["similarity"] == pytest.approx(float(np.mean(sims)))
        assert all(-1.0 <= x <= 1.0 + 1e-6 for x in sims)
        errors = words = 0
        for row in rows:
            e, n = evaluation.word_errors(row["text"], row["transcript"])
            assert (row["word_errors"], row["words"]) == (e, n)
            errors, words = errors + e, words + n
        assert (s["word_errors"], s["words"]) == (errors, words)
        assert s["wer"] == pytest.approx(errors / words)
        for f, sign in EXPECTED[c["emotion"]].items():
            d = [r["diff"][f] for r in rows if r["diff"][f] is not None]
            assert s["agree"][f] == pytest.approx(sum(sign * x > 0 for x in d) / len(d))
    n = doc["neutral"]["summary"]
    assert n["features"]["rms"] == pytest.approx(_median([r["features"]["rms"] for r in neutral]))
    assert n["wer"] < 0.35  # intelligible speech

    # One similarity recomputed from the audio files themselves.
    out = result[0]
    from voicecast.audio import read_wav

    row = _condition(doc, "happy", 1.0)["rows"][1]
    x = evaluation.speaker_embedding(*read_wav(out / "wav" / row["wav"]))
    y = evaluation.speaker_embedding(*read_wav(out / "wav" / neutral[1]["wav"]))
    assert evaluation.similarity(x, y) == pytest.approx(row["similarity"], abs=1e-4)


@pytest.mark.slow
def test_verdict_follows_the_summaries(result: tuple[Path, dict, str]) -> None:
    _, doc, _ = result
    assert doc["checks"] == be.checks(doc)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for c in doc["checks"]:
        by_kind.setdefault(c["kind"], []).append(c)
        s = _condition(doc, c["emotion"], c.get("intensity", DEFAULT_INTENSITY))["summary"]
        if c["kind"] == "direction":
            shift = s["shift"][c["feature"]]
            sign = EXPECTED[c["emotion"]][c["feature"]]
            assert c["value"] == shift
            assert c["status"] == ("PASS" if shift is not None and sign * shift > 0 else "FAIL")
        elif c["kind"] == "grows":
            lo = _condition(doc, c["emotion"], 0.7)["summary"]["shift"][c["feature"]]
            hi = _condition(doc, c["emotion"], 1.0)["summary"]["shift"][c["feature"]]
            grows = lo is not None and hi is not None and abs(hi) > abs(lo)
            assert c["status"] == ("PASS" if grows else "FAIL")
        elif c["kind"] == "wer":
            assert c["status"] == ("PASS" if s["wer"] <= be.WER_MAX else "FAIL")
        elif c["kind"] == "similarity":
            assert c["status"] == ("PASS" if s["similarity"] >= be.SIMILARITY_MIN else "FAIL")
        elif c["kind"] == "whisper_voiced":
            vr = s["features"]["voiced_ratio"]
            assert c["status"] == ("PASS" if vr < WHISPER_MAX_VOICED else "FAIL")
    n_dir = sum(len(EXPECTED[e]) for e in EMOTIONS)
    assert len(by_kind["direction"]) == 2 * n_dir and len(by_kind["grows"]) == n_dir
    assert len(by_kind["wer"]) == len(by_kind["similarity"]) == len(EMOTIONS)
    assert len(by_kind["whisper_voiced"]) == 2
    v = doc["verdict"]
    assert v["passed"] + v["failed"] + v["skipped"] == len(doc["checks"])
    assert len(v["failures"]) == v["failed"]


# --------------------------------------------------------------------------- verdict logic, no audio


def _summary(shift: dict[str, float], *, wer: float = 0.02, similarity: float = 0.9,
             voiced: float = 0.8) -> dict[str, Any]:
    return {"shift": {f: shift.get(f, 0.0) for f in FEATURES}, "agree": {},
            "features": {f: (voiced if f == "voiced_ratio" else 1.0) for f in FEATURES},
            "wer": wer, "similarity": similarity}


def _doc(conditions: dict[tuple[str, float], dict[str, Any]], intensities: list[float]) -> dict[str, Any]:
    return {"emotions": sorted({e for e, _ in conditions}), "intensities": intensities,
            "default_intensity": DEFAULT_INTENSITY,
            "conditions": [{"emotion": e, "intensity": i, "summary": s} for (e, i), s in conditions.items()]}


def _statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {f"{c['emotion']}: {c['check']}": c["status"] for c in be.checks(doc)}


def test_verdict_passes_when_every_promise_holds() -> None:
    sad = {f: -k for f, k in (("f0_median", 1.0), ("f0_range", 2.0), ("rate", 0.5), ("rms", 3.0))}
    whisper = {"voiced_ratio": -0.7, "rms": -6.0, "rate": -0.3}
    conds = {}
    for scale, at in ((0.3, 0.3), (0.8, DEFAULT_INTENSITY), (1.0, 1.0)):
        conds["sad", at] = _summary({f: v * scale for f, v in sad.items()})
        conds["whisper", at] = _summary({f: v * scale for f, v in whisper.items()}, voiced=0.1)
    found = be.checks(_doc(conds, [0.3, DEFAULT_INTENSITY, 1.0]))
    assert {c["status"] for c in found} == {"PASS"}
    assert be.verdict(found)["all_passed"]
    # 4 + 3 directions at two intensities, 4 + 3 growth checks, WER and similarity each, 2 whisper.
    assert len(found) == 7 * 2 + 7 + 2 + 2 + 2


def test_verdict_catches_each_broken_promise() -> None:
    conds = {
        ("sad", 0.3): _summary({"f0_median": -1.0, "f0_range": -1.0, "rate": -1.0, "rms": -1.0}),
        # rate moves the wrong way at the default, rms does not grow, WER too high
        ("sad", DEFAULT_INTENSITY): _summary({"f0_median": -2.0, "f0_range": -2.0, "rate": 0.1, "rms": -2.0},
                                             wer=0.07),
        ("sad", 1.0): _summary({"f0_median": -3.0, "f0_range": -3.0, "rate": -2.0, "rms": -0.5},
                               similarity=0.5),
        ("whisper", DEFAULT_INTENSITY): _summary({"voiced_ratio": -0.5, "rms": -1.0, "rate": -1.0},
                                                 voiced=0.3, similarity=0.74),
    }
    s = _statuses(_doc(conds, [0.3, DEFAULT_INTENSITY, 1.0]))
    d = f"{DEFAULT_INTENSITY:g}"
    assert s[f"sad: rate down at {d}"] == "FAIL" and s["sad: rate down at 1"] == "PASS"
    assert s["sad: rms shift larger at 1 than at 0.3"] == "FAIL"
    assert s["sad: rms down at 1"] == "PASS"
    assert s[f"sad: WER at {d}"] == "FAIL"
    assert s[f"sad: similarity at {d}"] == "PASS"  # 0.5 is at 1.0, not at the default
    assert s[f"whisper: similarity at {d}"] == "FAIL"
    assert s[f"whisper: voiced ratio at {d}"] == "FAIL"
    # The run has no whisper at 1.0 or 0.3: those checks are skipped, not passed.
    assert s["whisper: voiced ratio at 1"] == "skip"
    assert s["whisper: rms down at 1"] == "skip"
    assert s["whisper: rms shift larger at 1 than at 0.3"] == "skip"
    # A zero shift is no direction.
    conds["sad", DEFAULT_INTENSITY]["shift"]["f0_median"] = 0.0
    assert _statuses(_doc(conds, [0.3, DEFAULT_INTENSITY, 1.0]))[f"sad: f0_median down at {d}"] == "FAIL"


def test_summarize_arithmetic() -> None:
    rows: list[dict[str, Any]] = []
    for i, (f0, sim, e) in enumerate(((1.0, 0.8, 1), (3.0, 0.9, 0), (2.5, None, 2))):
        rows.append({"features": {f: f0 + k for k, f in enumerate(FEATURES)}, "audio_s": 2.0,
                     "diff": {f: f0 - 2.0 for f in FEATURES}, "similarity": sim, "word_errors": e,
                     "words": 8, "identical_to_neutral": i == 1})
    rows[2]["diff"]["rate"] = float("nan")
    s = be.summarize(rows, {"f0_median": +1, "rate": -1})
    assert s["features"]["f0_median"] == 2.5 and s["features"]["rms"] == 5.5
    assert s["shift"]["f0_median"] == 0.5
    assert s["shift"]["rate"] == 0.0  # median of -1 and +1; the NaN is left out
    assert s["similarity"] == pytest.approx(0.85) and s["similarity_n"] == 2
    assert s["wer"] == pytest.approx(3 / 24)
    assert s["agree"] == {"f0_median": pytest.approx(2 / 3), "rate": 0.5}
    assert s["identical_to_neutral"] == 1
