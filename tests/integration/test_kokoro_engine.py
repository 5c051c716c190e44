"""The Kokoro engine renders real, intelligible English speech (slow: runs the model)."""

from __future__ import annotations

import numpy as np
import pytest

from voicecast import evaluation
from voicecast.errors import InputError, VoiceError
from voicecast.settings import EngineSettings
from workers.engines import Engine, get_engine
from workers.engines import kokoro as kokoro_mod
from workers.engines.base import SynthesisRequest
from workers.engines.kokoro import KokoroEngine

pytestmark = pytest.mark.slow

SENTENCES = (
    "Dr. Smith arrived at 10:30 to review the quarterly results.",
    "The museum opened in 1999 and welcomed 1,200 visitors on its first day.",
    "Would you like tea, coffee, or a glass of cold water?",
)


@pytest.fixture(scope="module")
def engine() -> KokoroEngine:
    return KokoroEngine(EngineSettings())


@pytest.fixture(scope="module")
def voice(engine: KokoroEngine) -> np.ndarray:
    return engine.bundled_voices()["jf_alpha"]


@pytest.fixture(scope="module")
def renders(engine: KokoroEngine, voice: np.ndarray) -> dict[float, list]:
    return {
        speed: [engine.synthesize(SynthesisRequest(text=t, style=voice, speed=speed)) for t in SENTENCES]
        for speed in (1.0, 1.25)
    }


def test_engine_contract(engine: KokoroEngine) -> None:
    assert isinstance(engine, Engine)
    assert engine.name == "kokoro"
    assert engine.capabilities.sample_rate == 24000
    assert engine.capabilities.native_rate
    sha = kokoro_mod.expected_model_sha256()
    assert sha[:12] in engine.version and f"g2p{kokoro_mod.G2P_VERSION}" in engine.version
    assert get_engine("kokoro").name == "kokoro"


def test_bundled_voices(engine: KokoroEngine) -> None:
    voices = engine.bundled_voices()
    assert set(voices) == {"jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"}
    for pack in voices.values():
        assert pack.shape == (510, 256) and pack.dtype == np.float32


def test_renders_audio(renders: dict[float, list]) -> None:
    for text, res in zip(SENTENCES, renders[1.0], strict=True):
        audio = res.audio
        assert res.sample_rate == 24000
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0
        seconds = len(audio) / res.sample_rate
        # About 2.5-4.5 words per second, plus the model's edge silence.
        words = len(text.split())
        assert words / 5 < seconds < words / 1.5 + 1.5, (text, seconds)
        assert float(np.sqrt(np.mean(audio**2))) > 0.02
        assert abs(float(audio.mean())) < 1e-3
        assert res.phonemes and res.meta["chunks"] == 1.0


def test_speed_shortens(renders: dict[float, list]) -> None:
    normal = sum(len(r.audio) for r in renders[1.0])
    fast = sum(len(r.audio) for r in renders[1.25])
    assert 0.72 < fast / normal < 0.9


def test_intelligible(renders: dict[float, list]) -> None:
    errors = words = 0
    for text, res in zip(SENTENCES, renders[1.0], strict=True):
        heard = evaluation.transcribe(res.audio, res.sample_rate)
        e, n = evaluation.word_errors(text, heard)
        errors, words = errors + e, words + n
    assert errors / words <= 0.10


def test_single_style_vector(engine: KokoroEngine, voice: np.ndarray) -> None:
    res = engine.synthesize(SynthesisRequest(text="Yes.", style=voice[100]))
    assert len(res.audio) > 0.3 * res.sample_rate


def test_bad_requests(engine: KokoroEngine, voice: np.ndarray) -> None:
    with pytest.raises(InputError):
        engine.synthesize(SynthesisRequest(text="   \n ", style=voice))
    with pytest.raises(InputError):
        engine.synthesize(SynthesisRequest(text="\u2026 !", style=voice))
    with pytest.raises(InputError):
        engine.synthesize(SynthesisRequest(text="Bonjour.", style=voice, language="fr-fr"))
    with pytest.raises(VoiceError):
        engine.synthesize(SynthesisRequest(text="Hi.", style=np.zeros((10, 128), np.float32)))
    with pytest.raises(ValueError):
        engine.synthesize(SynthesisRequest(text="Hi.", style=voice, speed=3.0))


def test_phonemize_uses_normalization(engine: KokoroEngine) -> None:
    ps = engine.phonemize("Mr. Smith paid $5.")
    assert "." not in ps.split("smˈɪθ")[0]  # "Mr." is not a sentence end
    assert "dˈɑːlɚz" in ps
    assert not any(ch.isdigit() for ch in ps)


def test_long_text_is_chunked(engine: KokoroEngine) -> None:
    sentence = "This sentence is here to make the text long enough to need several model calls."
    chunks = engine._chunks(" ".join([sentence] * 12), "en-us")
    assert len(chunks) > 1
    assert all(0 < len(c.tokens) <= kokoro_mod.CHUNK_TOKENS for c in chunks)
    assert all(c.pause_after == kokoro_mod.SENTENCE_PAUSE_S for c in chunks)
    # A run-on sentence is cut at its commas.
    run_on = ", ".join(["and then the quick brown fox jumped over the lazy dog"] * 20) + "."
    chunks = engine._chunks(run_on, "en-us")
    assert len(chunks) > 1
    assert all(len(c.tokens) <= kokoro_mod.CHUNK_TOKENS for c in chunks)
    assert chunks[0].pause_after == kokoro_mod.CLAUSE_PAUSE_S
    assert chunks[-1].phonemes.endswith(".")


def test_split_long_cuts_between_words_beyond_the_context() -> None:
    words = " ".join(["wˈɜːd"] * 200)  # one clause of 1199 phonemes
    pieces = kokoro_mod._split_long(words, soft=250, hard=510)
    assert "".join(p.replace(" ", "") for p, _ in pieces) == words.replace(" ", "")
    assert all(len(p) <= 250 for p, _ in pieces)
    assert [pause for _, pause in pieces[:-1]] == [kokoro_mod.WORD_PAUSE_S] * (len(pieces) - 1)
    assert pieces[-1][1] == kokoro_mod.SENTENCE_PAUSE_S
    assert kokoro_mod._split_long("ʃˈɔːɹt.") == [("ʃˈɔːɹt.", kokoro_mod.SENTENCE_PAUSE_S)]


def test_join_inserts_documented_pauses() -> None:
    sr = kokoro_mod.SAMPLE_RATE
    tone = (0.5 * np.sin(np.arange(sr) * 2 * np.pi * 220 / sr)).astype(np.float32)
    silence = np.zeros(sr // 2, np.float32)
    piece = np.concatenate([silence, tone, silence])
    joined = kokoro_mod._join([piece, piece], [kokoro_mod.SENTENCE_PAUSE_S])
    # Outer silence kept; inner silence cut to 20 ms margins around the pause.
    expected = 2 * (0.5 + 1.0) + 2 * 0.02 + kokoro_mod.SENTENCE_PAUSE_S
    assert len(joined) / sr == pytest.approx(expected, abs=0.011)


def test_corrupt_model_cache_is_rebuilt(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KOKORO_JA_CACHE", str(tmp_path))
    cached = tmp_path / "kokoro-v1.0.int8.onnx"
    cached.write_bytes(b"truncated")
    path = kokoro_mod.verified_model_path()
    assert path == cached
    assert path.stat().st_size > 50_000_000
    assert kokoro_mod._sha256(path) == kokoro_mod.expected_model_sha256()


def test_predict_duration_matches_synthesize(engine: KokoroEngine, voice: np.ndarray,
                                             renders: dict[float, list]) -> None:
    """The duration probe gives the length `synthesize` returns (one model call: exact)."""
    cases = [(speed, text, res) for speed, rs in renders.items()
             for text, res in zip(SENTENCES, rs, strict=True)]
    for speed in (0.8, 1.2):
        text = SENTENCES[2]
        cases.append((speed, text, engine.synthesize(SynthesisRequest(text=text, style=voice, speed=speed))))
    for speed, text, res in cases:
        predicted = engine.predict_duration(SynthesisRequest(text=text, style=voice, speed=speed))
        assert predicted == pytest.approx(len(res.audio) / res.sample_rate, abs=0.003), (speed, text)
    # Faster is shorter, on the predictor too; a bad request fails as in synthesize.
    lengths = [engine.predict_duration(SynthesisRequest(text=SENTENCES[0], style=voice, speed=s))
               for s in (0.87, 1.0, 1.15)]
    assert lengths[0] > lengths[1] > lengths[2]
    with pytest.raises(ValueError):
        engine.predict_duration(SynthesisRequest(text="Hi.", style=voice, speed=3.0))
    with pytest.raises(InputError):
        engine.predict_duration(SynthesisRequest(text="Bonjour.", style=voice, language="fr-fr"))
