"""Languages of a job (issue 17): what an input declares, sentence splitting per
language, the refusal of a language the engine does not speak."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.inputs.subtitles import declared_language_of
from orchestrator.planning.prose import split_sentences
from voicecast.errors import InputError
from voicecast.languages import declared_language


@pytest.mark.parametrize(("value", "tag"), [
    ("fr", "fr"), ("French", "fr"), ("English", "en"), ("en-US", "en-US"), ("spa", "es"),
    ("Português", "pt"), ("pt-BR", "pt-BR"), ("", None), ("xx", None), (None, None),
])
def test_what_an_input_declares(value: str | None, tag: str | None) -> None:
    found = declared_language(value)
    assert (found.tag if found else None) == tag


def test_a_subtitle_file_declares_its_language_in_its_header_or_name(tmp_path: Path) -> None:
    (tmp_path / "a.vtt").write_text("WEBVTT\nKind: captions\nLanguage: es\n\n00:00.000 --> 00:01.000\nHola\n")
    (tmp_path / "film.fr.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nSalut\n")
    (tmp_path / "film.pt-BR.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nOi\n")
    (tmp_path / "film.final.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nx\n")
    (tmp_path / "b.ass").write_text("[Script Info]\nLanguage: it\n\n[Events]\nDialogue: 0,0:00:00.00,"
                                    "0:00:01.00,Default,,0,0,0,,Ciao\n")
    # A cue's text that happens to say "Language:" is not a header.
    (tmp_path / "c.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nLanguage: de\n")
    assert [declared_language_of(tmp_path / n) for n in
            ("a.vtt", "film.fr.srt", "film.pt-BR.srt", "film.final.srt", "b.ass", "c.srt")] == [
        "es", "fr", "pt-BR", None, "it", None]


@pytest.mark.parametrize(("language", "text", "sentences"), [
    ("es", "Hola, Sr. García. ¿Qué tal? ¡Muy bien! Adiós.",
     ["Hola, Sr. García.", "¿Qué tal?", "¡Muy bien!", "Adiós."]),
    ("fr", "Bonjour M. Dupont. Comment allez-vous ? Très bien !",
     ["Bonjour M. Dupont.", "Comment allez-vous ?", "Très bien !"]),
    ("it", "Buongiorno, sig. Rossi. Come sta? Bene.", ["Buongiorno, sig. Rossi.", "Come sta?", "Bene."]),
    ("hi", "मैं ठीक हूँ। आप कैसे हैं?", ["मैं ठीक हूँ।", "आप कैसे हैं?"]),
])
def test_sentences_are_split_by_the_languages_rules(language: str, text: str, sentences: list[str]) -> None:
    assert split_sentences(text, language) == sentences


def test_a_lang_tag_sets_a_lines_language() -> None:
    from orchestrator.inputs.subtitles import Cue
    from orchestrator.planning.cues import plan_cues
    from orchestrator.planning.script import plan_script

    cues = [Cue(1, 1.0, 3.0, "[lang:fr] Bonjour tout le monde.", line=1),
            Cue(2, 4.0, 6.0, "[sad] [lang:es] Adiós.", line=5), Cue(3, 7.0, 9.0, "Plain English.", line=9)]
    plan = plan_cues(cues, source="a.srt")
    assert [(g.text, g.language, g.emotion) for g in plan.segments] == [
        ("Bonjour tout le monde.", "fr", "neutral"), ("Adiós.", "es", "sad"),
        ("Plain English.", "", "neutral")]
    script = plan_script("[lang:pt-br] Olá.\nHello.\n", source="a.txt")
    assert [g.language for g in script.segments] == ["pt-BR", ""]


@pytest.mark.parametrize(("text", "said"), [
    ("[lang:xx] Hi.", "[lang:xx]: not a language code"),
    ("[lang:fr] [lang:es] Hi.", "more than one [lang:] tag"),
    ("[lnag:fr] Hi.", "did you mean [lang:fr]"),
])
def test_a_bad_lang_tag_is_named(text: str, said: str) -> None:
    from orchestrator.inputs.subtitles import Cue
    from orchestrator.planning.cues import plan_cues
    from voicecast.errors import InputError

    with pytest.raises(InputError) as e:
        plan_cues([Cue(1, 1.0, 3.0, text, line=1)], source="a.srt")
    assert said in str(e.value)


def test_a_book_refuses_lang_tags() -> None:
    from orchestrator.inputs.books.markdown import read_markdown
    from orchestrator.planning.prose import plan_book
    from voicecast.errors import InputError
    from voicecast.settings import BookSettings

    book = read_markdown("# One\n\n[lang:fr] Bonjour.\n\nAnd [lang:es] here.\n", source="b.md")
    with pytest.raises(InputError, match=r"\[lang:\] tags work in subtitles and scripts"):
        plan_book(book, source="b.md", settings=BookSettings())


def test_characters_languages_come_from_lang_name_tag() -> None:
    from orchestrator.options import split_speaker_langs

    plain, named = split_speaker_langs(["es", "Pierre=FR", " Ana = pt-br "])
    assert plain == ["es"] and named == {"Pierre": "fr", "Ana": "pt-BR"}
    for values, said in ((["Pierre=fr", "pierre=es"], "'pierre' has two languages (Pierre=fr and pierre=es)"),
                         (["=fr"], "give the character's name before '='"),
                         (["Pierre=frnch"], "'frnch' is not a language code")):
        with pytest.raises(InputError) as info:
            split_speaker_langs(values)
        assert info.value.field == "--lang" and said in info.value.message, info.value.message


def test_lexicons_for_every_language_and_for_one(tmp_path: Path) -> None:
    from orchestrator.options import split_lexicons

    every, french = tmp_path / "all.lex", tmp_path / "fr.lex"
    every.write_text("a = b\n")
    odd = tmp_path / "es=odd.lex"  # a file whose name looks like TAG=FILE is that file
    odd.write_text("a = b\n")
    assert split_lexicons([str(every), f"FR={french}"]) == (str(every), {"fr": str(french)})
    assert split_lexicons([str(odd)]) == (str(odd), {})
    assert split_lexicons([]) == (None, {})
    for values, said in (([str(every), str(odd)], "two lexicons for every language"),
                         ([f"fr={french}", f"fr-FR={french}", f"fr={every}"], "two lexicons for fr"),
                         ([f"xx={french}"], "'xx' is not a language code")):
        with pytest.raises(InputError) as info:
            split_lexicons(values)
        assert info.value.field == "--lexicon" and said in info.value.message, info.value.message


def test_stored_options_normalise_their_languages() -> None:
    from orchestrator.options import RenderOptions

    opts = RenderOptions.from_cli(voices=["jf_alpha"], speaker_langs={"Pierre": "FR"},
                                  lang_lexicons={"PT-br": "/x/pt.lex"})
    assert opts.speaker_langs == {"Pierre": "fr"} and opts.lang_lexicons == {"pt-BR": "/x/pt.lex"}
    assert RenderOptions.from_stored(opts.stored()) == opts
    with pytest.raises(InputError) as info:
        RenderOptions.from_cli(voices=["jf_alpha"], speaker_langs={"Pierre": "zz"})
    assert info.value.field == "--lang" and "'zz' is not a language code" in info.value.message
