"""The Kokoro engine's languages beyond English: espeak-ng G2P in Spanish, French,
Italian, Brazilian Portuguese and Hindi, mapped onto Kokoro's vocabulary; the
BCP 47 tags it takes and the ones it refuses; English exactly as before.

espeak-ng is a real tool (and the synthesis tests run the model), hence integration.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from voicecast.errors import InputError
from voicecast.settings import EngineSettings
from workers.engines import get_engine
from workers.engines.base import SynthesisRequest
from workers.engines.kokoro import G2P_VERSION, LANGUAGES, KokoroEngine, KokoroFrontend, phoneme_symbols
from workers.engines.kokoro.frontend import _split_sentences

#: A few sentences per language, with numbers and a date (what normalization
#: writes out is :mod:`voicecast.textnorm_intl`'s business, not checked here).
SENTENCES: dict[str, tuple[str, ...]] = {
    "es": (
        "El 3 de mayo de 2024 llegaron 25 personas al hotel.",
        "¿Dónde está la estación? ¡Qué bonito día!",
        "La chica come churros con chocolate a las 8.",
    ),
    "fr": (
        "Le 14 juillet 1789, 600 personnes ont marché sur la Bastille.",
        "« Bonjour », dit-il. Le week-end, je joue au football.",
        "Nous avons acheté 3 croissants pour 4 euros.",
    ),
    "it": (
        "Il 2 giugno 1946 nacque la Repubblica italiana.",
        "La pizza è buona, ma il ragazzo preferisce lo zucchero.",
        "Giorgio ha comprato 12 gelati per 30 euro.",
    ),
    "pt-BR": (
        "No dia 7 de setembro de 1822, o Brasil ficou independente.",
        "Olá, tudo bem? Eu tenho 18 anos e moro no Rio de Janeiro.",
        "A estação de trem abre às 6 horas da manhã.",
    ),
    "hi": (
        "15 अगस्त 1947 को भारत आज़ाद हुआ।",
        "नमस्ते, आप कैसे हैं? मैं ठीक हूँ।",
        "भारत की राजधानी दिल्ली है और वहाँ 2 करोड़ लोग रहते हैं।",
    ),
}

#: One short line per language for the real renders.
SPOKEN = {
    "es": "Hoy es lunes y hace mucho sol.",
    "fr": "Aujourd'hui, il fait beau à Paris.",
    "it": "Oggi andiamo al mare con gli amici.",
    "pt-BR": "Hoje vamos à praia com os amigos.",
    "hi": "आज मौसम बहुत अच्छा है।",
}

#: Phonemes of English text as the frontend gave them before the other
#: languages were added (en-us and en-gb, espeak-ng of espeakng-loader as
#: installed): English must stay exactly as it was measured.
ENGLISH_BEFORE = (
    ("The quick brown fox jumps over the lazy dog near the river bank.", "en-us",
     "ðə kwˈɪk bɹˈWn fˈɑːks ʤˈʌmps ˌOvɚ ðə lˈAzi dˈɑːɡ nˌɪɹ ðə ɹˈɪvɚ bˈæŋk."),
    ("On 4 July 2023 she flew 3,500 km to meet Dr. Jones at 9:15 p.m.", "en-us",
     "ˌɔn fˈɔːɹ ʤuːlˈI twˈɛnti twˈɛntiθɹˈiː ʃiː flˈuː θɹˈiː θˈWzənd fˈIv hˈʌndɹɪd kɪlˈɑːmɪɾɚz tə "
     "mˈiːt dˈɑːktɚ ʤˈOnz æt nˈIn fˈɪftiːn pˌiːˈɛm."),
    ("Why not? It's only £12.50 — about the price of two coffees!", "en-us",
     "wˌI nˈɑːt? ɪts ˈOnli twˈɛlv pˈWndz ænd fˈɪfti pˈɛns — ɐbˌWt ðə pɹˈIs ʌv tˈuː kˈɔfiz!"),
    ("I'd rather go home; it's late, and the trains stop at midnight.", "en-us",
     "Id ɹˈæðɚ ɡˌO hˈOm; ɪts lˈAt, ænd ðə tɹˈAnz stˈɑːp æt mˈɪdnIt."),
    ("The colour of the boat was orange and the weather was awful.", "en-gb",
     "ðə kˈʌləɹ ɒvðə bˈQt wɒz ˈɒɹɪnʤ and ðə wˈɛðə wɒz ˈɔːfəl."),
    ("Say ⟦təmˈɑːtoʊ⟧ twice, then ⟦ˈaɪ⟧'s turn.", "en-us",
     "sˈA təmˈɑːtO twˈIs, ðˈɛn ˈIz tˈɜːn."),
    ("Whose turn is it? Hers, I think... or maybe not.", "en-gb",
     "hˌuːz tˈɜːn ɪz ɪt? hˈɜːz, ˈI θˈɪŋk… ɔː mˈAbiː nˈɒt."),
)


@pytest.fixture(scope="module")
def frontend() -> KokoroFrontend:
    return KokoroFrontend()


# --------------------------------------------------------------------------- tags

@pytest.mark.parametrize(("tag", "voice"), [
    ("en", "en-us"), ("en-US", "en-us"), ("en-us", "en-us"), ("en_US", "en-us"), ("", "en-us"),
    ("en-GB", "en-gb"), ("en-gb", "en-gb"), ("en-UK", "en-gb"),
    ("es", "es"), ("es-ES", "es"), ("es-MX", "es"), ("es-419", "es"), ("spa", "es"),
    ("fr", "fr-fr"), ("fr-FR", "fr-fr"), ("fr-CA", "fr-fr"), ("fr-fr", "fr-fr"),
    ("it", "it"), ("it-IT", "it"),
    ("pt", "pt-br"), ("pt-BR", "pt-br"), ("pt-br", "pt-br"),
    ("hi", "hi"), ("hi-IN", "hi"),
])
def test_language_tags_map_to_espeak_voices(frontend: KokoroFrontend, tag: str, voice: str) -> None:
    assert frontend.language(tag) == voice


def test_declared_languages(frontend: KokoroFrontend) -> None:
    assert LANGUAGES == ("en-US", "en-GB", "es", "fr", "it", "pt-BR", "hi")
    assert KokoroEngine.capabilities.languages == LANGUAGES
    assert [frontend.language(t) for t in LANGUAGES] == ["en-us", "en-gb", "es", "fr-fr", "it", "pt-br", "hi"]


@pytest.mark.parametrize(("tag", "message"), [
    ("pt-PT", r"only Brazilian Portuguese \(pt-BR\), not Portuguese \(Portugal\) \(pt-PT\)"),
    ("ja", r"cannot speak Japanese \(ja\): .*not installed"),
    ("ja-JP", r"cannot speak Japanese"),
    ("zh", r"cannot speak Mandarin Chinese \(zh\): .*not installed"),
    ("zh-Hans-CN", r"cannot speak Mandarin Chinese"),
    ("cmn", r"cannot speak Mandarin Chinese"),
    ("de", r"does not speak German \(de\); it speaks American English \(en-US\), British English "
           r"\(en-GB\), Spanish \(es\), French \(fr\), Italian \(it\), Brazilian Portuguese \(pt-BR\), "
           r"Hindi \(hi\)"),
    ("xx", r"'xx' is not a language code; the Kokoro engine speaks .*Hindi \(hi\)"),
    ("english", r"'english' is not a language code"),
])
def test_other_languages_are_refused(frontend: KokoroFrontend, tag: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        frontend.language(tag)
    assert info.value.field == "--lang"
    with pytest.raises(InputError):
        frontend.phonemize("Hello.", tag)


# --------------------------------------------------------------------------- phonemes

@pytest.mark.parametrize("tag", list(SENTENCES))
def test_sentences_phonemize_into_the_vocabulary(frontend: KokoroFrontend, tag: str) -> None:
    symbols = phoneme_symbols()
    voice = frontend.language(tag)
    for text in SENTENCES[tag]:
        ps = frontend.phonemize(text, tag)
        assert ps and sum(c.isalpha() for c in ps) >= len(text) // 4, (text, ps)
        assert set(ps) <= symbols, (text, sorted(set(ps) - symbols))
        assert not any(c.isdigit() for c in ps)
        assert "^" not in ps and "-" not in ps and "(en)" not in ps, ps
        assert ps[-1] in ".?!", ps
        chunks = frontend.chunks(text, voice)
        assert " ".join(c.phonemes for c in chunks) == ps
        assert all(c.tokens and len(c.tokens) == len(c.phonemes) for c in chunks)


def test_tied_affricates_and_diphthongs_become_single_symbols(frontend: KokoroFrontend) -> None:
    assert "ʧˈuros" in frontend.phonemize("Los churros.", "es")
    assert "tɾˈAnta" in frontend.phonemize("Treinta.", "es")  # tied e^ɪ
    ps = frontend.phonemize("La pizza e lo zucchero a Giorgio.", "it")
    assert "ʦː" in ps and "ʣˈukː" in ps and "ʤˈɔrʤo" in ps
    assert "ʤˈiæ" in frontend.phonemize("Um dia.", "pt-BR")
    # A word espeak reads in English keeps no "(en)" language flags.
    ps = frontend.phonemize("Le week-end, je joue au football.", "fr")
    assert "wˈiːkˈɛnd" in ps and "(" not in ps
    # Guillemets are quotes (normalised to plain ones, as English's curly quotes are), parentheses kept.
    ps = frontend.phonemize("« Oui » (non).", "fr")
    assert ps.count('"') == 2 and "«" not in ps and "wˈi" in ps and "(nˈɔ̃)" in ps, ps


def test_hindi_sentences_end_at_the_danda(frontend: KokoroFrontend) -> None:
    text = "मैं ठीक हूँ। यह मेरा घर है॥ भारत बड़ा है।यह सच है।"
    assert _split_sentences(text, "hi") == ["मैं ठीक हूँ।", "यह मेरा घर है॥", "भारत बड़ा है।", "यह सच है।"]
    ps = frontend.phonemize(text, "hi")
    # Each danda spoken as a full stop. (espeak writes the flap of "बड़ा" as "r.",
    # as Kokoro's reference frontend passed it on: a "." inside a word.)
    assert len(re.findall(r"\.(?: |$)", ps)) == 4 and "bˈʌr.aː" in ps
    # Each sentence through espeak on its own: the same phonemes sentence by sentence.
    parts = [frontend.phonemize(s, "hi") for s in _split_sentences(text, "hi")]
    assert ps == " ".join(parts)
    # Long Hindi text is cut into model calls at the dandas.
    long = " ".join(["भारत की राजधानी दिल्ली है और यह एक बहुत बड़ा शहर है।"] * 12)
    chunks = frontend.chunks(long, "hi")
    assert len(chunks) > 1 and all(c.phonemes.endswith(".") for c in chunks)


def test_sentences_cut_per_language() -> None:
    assert _split_sentences("¿Qué? ¡Sí! «Hola». Adiós.", "es") == ["¿Qué?", "¡Sí!", "«Hola».", "Adiós."]
    assert _split_sentences("« C'est fini. » Il part. « Oui ! » Non.", "fr-fr") == [
        "« C'est fini. »", "Il part.", "« Oui ! »", "Non."]
    # English is cut as before (a spaced closing mark is not a closer there).
    assert _split_sentences("Yes. » No.", "en-us") == ["Yes.", "» No."]


def test_inline_phonemes_in_other_languages(frontend: KokoroFrontend) -> None:
    ps = frontend.phonemize("Il s'appelle ⟦ʒɑ̃⟧ et il a 3 ans.", "fr")
    assert " ʒɑ̃ " in ps and ps.endswith(".") and not any(c.isdigit() for c in ps)
    assert ps.startswith(frontend.phonemize("Il s'appelle", "fr").rstrip(".") + " ʒɑ̃ ")
    # The untied affricates and diphthongs of a span become Kokoro's symbols; no "'s" rule.
    assert frontend.phonemize("Dijo ⟦tʃˈeɪ⟧.", "es").split()[1] == "ʧˈA."
    with pytest.raises(InputError, match="U\\+0298"):
        frontend.phonemize("Hola ⟦ʘ⟧.", "es")


def test_english_is_unchanged(frontend: KokoroFrontend) -> None:
    for text, voice, before in ENGLISH_BEFORE:
        assert frontend.phonemize(text, voice) == before, text
        assert " ".join(c.phonemes for c in frontend.chunks(text, voice)) == before, text


# --------------------------------------------------------------------------- real speech

@pytest.fixture(scope="module")
def engine() -> KokoroEngine:
    engine = get_engine(EngineSettings())
    assert isinstance(engine, KokoroEngine)
    return engine


def test_version_names_the_g2p(engine: KokoroEngine) -> None:
    assert G2P_VERSION >= 2 and f"-g2p{G2P_VERSION}-" in engine.version


@pytest.mark.slow
@pytest.mark.parametrize("tag", list(SPOKEN))
def test_each_language_is_spoken(engine: KokoroEngine, tag: str) -> None:
    text = SPOKEN[tag]
    style = engine.bundled_voices()["jf_alpha"]
    request = SynthesisRequest(text=text, style=style, language=tag)
    res = engine.synthesize(request)
    audio = res.audio
    assert audio.dtype == np.float32 and np.all(np.isfinite(audio))
    assert float(np.sqrt(np.mean(audio**2))) > 0.02
    seconds = len(audio) / res.sample_rate
    assert 0.04 * len(text) < seconds < 0.25 * len(text), (text, seconds)
    assert res.phonemes == engine.phonemize(text, tag) and res.meta["chunks"] == 1.0
    # One model call: the duration probe gives the render's exact length.
    predicted = engine.predict_duration(request)
    assert predicted == pytest.approx(seconds, abs=0.003)
    faster = engine.predict_duration(SynthesisRequest(text=text, style=style, speed=1.25, language=tag))
    assert faster < predicted


@pytest.mark.parametrize("tag", ["en", "en-US", "en-gb", "en-UK", "en-AU", "en-IN", "eng", "es", "es-MX",
                                 "es-419", "spa", "fr", "fr-CA", "fra", "it", "pt", "pt-BR", "pt-PT", "por",
                                 "hi", "hi-IN", "ja", "zh", "zh-Hans-CN", "cmn", "de", "nl-BE"])
def test_the_control_role_refuses_what_the_engine_would(frontend: KokoroFrontend, tag: str) -> None:
    """The control role refuses a language before anything renders, from the
    engine's facts (:func:`spoken_form`); the engine's frontend must agree, or a
    job would fail only when its first line reached a worker."""
    from voicecast.languages import parse_language, spoken_form

    form = spoken_form(parse_language(tag), KokoroEngine.capabilities.languages,
                       KokoroEngine.capabilities.any_region)
    try:
        voice: str | None = frontend.language(tag)
    except InputError:
        voice = None
    assert (form is None) == (voice is None), (tag, form, voice)
    if form is not None:  # and the form the control role names is the one the engine speaks
        assert frontend.language(form) == voice


def test_unspoken_languages_refused_by_the_engine(engine: KokoroEngine) -> None:
    style = engine.bundled_voices()["jf_alpha"]
    for tag in ("ja", "zh", "pt-PT"):
        request = SynthesisRequest(text="テスト。", style=style, language=tag)
        with pytest.raises(InputError):
            engine.synthesize(request)
        with pytest.raises(InputError):
            engine.predict_duration(request)
