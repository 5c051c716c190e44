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
    assert get_engine().name == "kokoro"


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
        engine.synthesize(SynthesisRequest(text="Bonjour.", style=voice, language="de"))
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
        engine.predict_duration(SynthesisRequest(text="Bonjour.", style=voice, language="de"))


# --------------------------------------------------------------------------- lexicon and inline phonemes

# Phonemes of text without ⟦spans⟧, recorded (en-us, espeak-ng of espeakng-loader
# as installed) before inline phonemes were added: the span-aware front end must
# leave them exactly as they were.
RECORDED_PHONEMES = {
    "Dr. Smith arrived at 10:30 to review the quarterly results.":
        "dˈɑːktɚ smˈɪθ ɚɹˈIvd æt tˈɛn θˈɜːɾi tə ɹᵻvjˈuː ðə kwˈɔːɹɾɚli ɹɪzˈʌlts.",
    "The museum opened in 1999 and welcomed 1,200 visitors on its first day.":
        "ðə mjuːzˈiəm ˈOpənd ɪn nˈIntiːn nˈIntinˈIn ænd wˈɛlkʌmd wˈʌn θˈWzənd tˈuː hˈʌndɹɪd "
        "vˈɪzɪɾɚz ˌɔn ɪts fˈɜːst dˈA.",
    "Would you like tea, coffee, or a glass of cold water?":
        "wʊd juː lˈIk tˈiː, kˈɔfi, ɔːɹ ɐ ɡlˈæs ʌv kˈOld wˈɔːɾɚ?",
    "I would rather not. I think so!": "ˈI wʊd ɹˈæðɚ nˈɑːt. ˈI θˈɪŋk sˈO!",
    "\u201cHello,\u201d she said \u2014 and then... nothing.": "\"həlˈO,\" ʃiː sˈɛd — ænd ðˈɛn… nˈʌθɪŋ.",
    "Aesop wrote fables; Hermione read them (twice).": "ˈiːsəp ɹˈOt fˈAbəlz; hɜːmˈIəni ɹˈiːd ðˌɛm (twˈIs).",
    "Mr. Nguyen paid $5.50 for 3 kg of apples on Jan. 21st.":
        "mˈɪstɚ nˈuːjɛn pˈAd fˈIv dˈɑːlɚz ænd fˈɪfti sˈɛnts fɔːɹ θɹˈiː kˈɪləɡɹˌæmz ʌv ˈæpəlz ˌɔn "
        "ʤˈænjuːˌɛɹi twˈɛntifˈɜːst.",
    "The U.S. Army met at 7 a.m. \u2014 e.g. early.":
        "ðə jˌuːˈɛs ˈɑːɹmi mˈɛt æt sˈɛvən ˌAˈɛm — fɔːɹ ɛɡzˈæmpəl ˈɜːli.",
    "Is it 50% off? Yes: half off, 24/7.": "ɪz ɪt fˈɪfti pɚsˈɛnt ˈɔf? jˈɛs: hˈæf ˈɔf, twˈɛntifˈɔːɹ sˈɛvən.",
    "Colour and color; the live wire sparked.": "kˈʌlɚɹ ænd kˈʌlɚ; ðə lˈIv wˈIɚ spˈɑːɹkt.",
    "He said 'no' -- twice. Then he left.": "hiː sˈɛd nˈO — twˈIs. ðˈɛn hiː lˈɛft.",
}

LEXICON = """\
Aesop = ee-sop
Nguyen = /wˈɪn/
"""


def test_phonemes_without_spans_unchanged(engine: KokoroEngine) -> None:
    for text, expected in RECORDED_PHONEMES.items():
        assert engine.phonemize(text) == expected, text
    # The same through the chunking that synthesize and predict_duration use.
    text = " ".join(RECORDED_PHONEMES)
    chunks = engine._chunks(text, "en-us")
    assert " ".join(c.phonemes for c in chunks) == " ".join(RECORDED_PHONEMES.values())


def test_lexicon_respelling_changes_only_its_sentence(engine: KokoroEngine) -> None:
    from voicecast.lexicon import parse_lexicon

    lex = parse_lexicon(LEXICON, source="test.lex")
    other = "The crow drank the water."
    text = f"Aesop wrote fables. {other}"
    assert lex.apply(text) == f"ee-sop wrote fables. {other}"
    before, after = engine.phonemize(text), engine.phonemize(lex.apply(text))
    other_ps = engine.phonemize(other)
    assert before.startswith("ˈiːsəp ") and after.startswith("ˈiːsˈɑːp ")
    assert before.endswith(" " + other_ps) and after.endswith(" " + other_ps)
    assert before.removesuffix(other_ps) != after.removesuffix(other_ps)


def test_phoneme_entry_is_spoken_verbatim(engine: KokoroEngine, voice: np.ndarray) -> None:
    from voicecast.lexicon import parse_lexicon

    lex = parse_lexicon(LEXICON, source="test.lex")
    text = lex.apply("Dr. Nguyen smiled. Nguyen's cat did not.")
    assert text == "Dr. ⟦wˈɪn⟧ smiled. ⟦wˈɪn⟧'s cat did not."
    ps = engine.phonemize(text)
    # Normalization still reads "Dr." before the name; the possessive follows the span.
    # The text after a span goes through espeak on its own.
    assert ps == "dˈɑːktɚ wˈɪn smˈIld. wˈɪnz " + engine.phonemize("cat did not.")
    assert engine.phonemize("Nguyen smiled.") != engine.phonemize(lex.apply("Nguyen smiled."))
    # Nothing inside a span is normalized or cut into sentences; espeak's
    # diphthongs are written as Kokoro's single symbols.
    assert engine.phonemize("Say ⟦ˈaɪ. ˈoʊ⟧ now.") == "sˈA ˈI. ˈO nˈW."
    assert engine.phonemize("Say ⟦ˈaɪ. ˈəʊ⟧ now.", "en-gb").startswith("sˈA ˈI. ˈQ ")
    assert engine.capabilities.phoneme_input
    assert {"w", "ˈ", "ɪ", "n"} <= engine.phoneme_symbols()

    request = SynthesisRequest(text=text, style=voice)
    res = engine.synthesize(request)
    assert res.phonemes == ps and res.meta["chunks"] == 1.0
    assert len(res.audio) > 1.0 * res.sample_rate and float(np.sqrt(np.mean(res.audio**2))) > 0.02
    assert engine.predict_duration(request) == pytest.approx(len(res.audio) / res.sample_rate, abs=0.003)


def test_bad_inline_phonemes(engine: KokoroEngine, voice: np.ndarray) -> None:
    with pytest.raises(InputError, match="U\\+0298"):
        engine.phonemize("Click ⟦ʘ⟧ here.")
    with pytest.raises(InputError, match="no speakable words"):
        engine.synthesize(SynthesisRequest(text="⟦⟧", style=voice))


def test_lexicon_changes_how_a_word_is_spoken(engine: KokoroEngine, voice: np.ndarray) -> None:
    from voicecast.lexicon import parse_lexicon

    lex = parse_lexicon("Aesop = ay-sop\n", source="test.lex")
    text = "Aesop told a story."
    default, respelled = text, lex.apply(text)
    assert engine.phonemize(default).split()[0] == "ˈiːsəp"
    assert engine.phonemize(respelled).split()[0] != "ˈiːsəp"
    a = engine.synthesize(SynthesisRequest(text=default, style=voice)).audio
    b = engine.synthesize(SynthesisRequest(text=respelled, style=voice)).audio
    assert len(a) != len(b) or not np.allclose(a, b, atol=1e-3)
