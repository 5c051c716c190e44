"""Enrollment by search on a real reference (short budget): the steps run, the
figures it stores are consistent, and the profile it stores is what renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicecast.audio import to_wav_bytes
from voicecast.settings import Settings
from voicecast.storage import LocalStore, reference_key
from workers import voices
from workers.engines import SynthesisRequest, get_engine
from workers.reference import load_references

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_search_enrollment_on_a_real_reference(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, enroll={"method": "search", "budget_s": 15})
    ref = load_references([REPO / "examples" / "reference.wav"])
    store = LocalStore(tmp_path / "objects")
    key = reference_key(ref.sha256)
    store.put_bytes(key, to_wav_bytes(ref.audio, ref.sample_rate))
    steps: list[tuple[int, int, str]] = []

    meta = voices.enroll_reference(key, "v-test", 1, store=store, settings=settings,
                                   progress=lambda d, t, n: steps.append((d, t, n)))

    # 1. every bundled voice and the mix of the two best were scored, then at
    #    least one generation of the search.
    engine = get_engine(settings.engine)
    n_bundled = len(engine.bundled_voices())
    assert meta["candidates"] >= n_bundled + 1 + voices.POPULATION
    assert [name for name, _ in meta["ranking"]] and len(meta["ranking"]) == n_bundled
    assert meta["generations"] and meta["search_score"] >= meta["start_score"]
    assert meta["generations"] == sorted(meta["generations"])
    # Progress: monotonic, ends complete.
    done = [d for d, _, _ in steps]
    assert done == sorted(done) and steps[-1][0] == steps[-1][1] and steps[-1][2] == "done"
    # 3. the kept style beats the start on the held-back sentences, or the start is kept.
    start_sim, start_wer = meta["check"]["start"]
    chosen_sim, chosen_wer = meta["check"]["chosen"]
    if meta["check"]["offset_kept"]:
        assert chosen_sim > start_sim and chosen_wer <= start_wer + voices.MAX_WER_RISE
        assert meta["method"].startswith("search:")
    else:
        assert (chosen_sim, chosen_wer) == (start_sim, start_wer)
    assert chosen_wer <= 0.15
    assert meta["similarity"] == chosen_sim

    # 4. the stored profile carries an equaliser, and speak() applies it.
    profile = voices.VoiceProfile.from_bytes(store.get_bytes(meta["profile_key"]))
    assert profile.eq.shape == (511,)
    assert not np.allclose(profile.eq, np.eye(1, 511, 255).ravel(), atol=1e-3)  # not a pass-through
    text = "Every line keeps the voice it was enrolled with."
    raw = engine.synthesize(SynthesisRequest(text=text, style=profile.style)).audio
    spoken = voices.speak(engine, profile, text)
    assert len(spoken) == len(raw) and not np.allclose(spoken, raw, atol=1e-3)

    # Enrolling the same version again is a storage hit.
    again = voices.enroll_reference(key, "v-test", 1, store=store, settings=settings)
    assert again["cached"] is True and again["profile_key"] == meta["profile_key"]


def test_nearest_method_is_the_bundled_voice_unchanged(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, enroll={"method": "nearest"})
    ref = load_references([REPO / "examples" / "reference.wav"])
    store = LocalStore(tmp_path / "objects")
    key = reference_key(ref.sha256)
    store.put_bytes(key, to_wav_bytes(ref.audio, ref.sample_rate))
    meta = voices.enroll_reference(key, "v-near", 1, store=store, settings=settings)
    profile = voices.VoiceProfile.from_bytes(store.get_bytes(meta["profile_key"]))
    name = meta["method"].split(":", 1)[1]
    assert meta["method"].startswith("nearest:") and meta["ranking"][0][0] == name
    engine = get_engine(settings.engine)
    assert np.array_equal(profile.style, engine.bundled_voices()[name]) and profile.eq.size == 0
