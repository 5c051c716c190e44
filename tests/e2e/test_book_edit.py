"""Editing one sentence of a 300-segment book re-renders exactly that sentence,
re-assembles one chapter, and leaves the rest of the audio sample-identical.

Runs the incremental benchmark's own procedure (bench/bench_incremental.py) on
a 3 x 100-sentence book of short sentences; its timing figures are printed,
never asserted.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_incremental",
                                                  REPO / "bench" / "bench_incremental.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_incremental"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_editing_one_sentence_rerenders_only_it(tmp_path):
    r = _bench().run(chapters=3, sentences=100, voice="jm_kumo", workdir=tmp_path,
                      short=True)
    print({k: v for k, v in r.items() if k != "rendered_texts"})
    assert r["segments"] >= 300
    assert r["rendered_texts"] == [r["edited_sentence"]]
    assert r["rendered_again"] == 1 and r["reused"] == r["segments"] - 1
    assert r["chapters_assembled"] == 1
    assert r["identical_chapters"] == 2
    [edited] = r["edited"]
    assert edited["identical_outside"], edited
