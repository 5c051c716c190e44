"""Word error rate (pure; no model is loaded)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from voicecast.evaluation import similarity, wer, word_errors


def test_identical_is_zero() -> None:
    assert wer("the cat sat on the mat", "the cat sat on the mat") == 0.0


def test_case_and_punctuation_do_not_count() -> None:
    assert wer("The cat sat.", "the cat, sat") == 0.0


def test_normalized_numbers_match() -> None:
    assert wer("It costs $5.50 at 10:30.", "It costs five dollars and fifty cents at ten thirty") == 0.0
    assert wer("Born in 1999", "born in nineteen ninety-nine") == 0.0


@pytest.mark.parametrize(
    ("ref", "hyp", "errors", "n"),
    [
        ("a b c d", "a x c d", 1, 4),  # substitution
        ("a b c d", "a c d", 1, 4),  # deletion
        ("a b c d", "a b x c d", 1, 4),  # insertion
        ("a b c d", "", 4, 4),  # everything deleted
        ("a b", "x y z w", 4, 2),  # can exceed 1.0
        ("a b c", "c b a", 2, 3),
    ],
)
def test_edit_operations(ref: str, hyp: str, errors: int, n: int) -> None:
    assert word_errors(ref, hyp) == (errors, n)
    assert wer(ref, hyp) == pytest.approx(errors / n)


def test_empty_reference() -> None:
    assert wer("", "") == 0.0
    assert wer("", "something") == 1.0


def test_similarity_is_cosine() -> None:
    assert similarity([1.0, 0.0], [2.0, 0.0]) == pytest.approx(1.0)
    assert similarity([1.0, 0.0], [0.0, 3.0]) == pytest.approx(0.0)
    assert similarity([1.0, 1.0], [-1.0, -1.0]) == pytest.approx(-1.0)
    assert similarity([0.0, 0.0], [1.0, 0.0]) == 0.0


def test_imports_are_cheap() -> None:
    # Workers import these modules at start; the models load on first use only.
    code = (
        "import sys, voicecast.evaluation, workers.engines.kokoro; "
        "print(sorted(m for m in ('onnxruntime', 'torch', 'faster_whisper', 'resemblyzer') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
