"""Brackets are text unless they are tags; sound descriptions; misspelt tags;
errors reported together; mojibake and control characters (pure code)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.inputs.books import Book, Chapter, Paragraph, read_book
from orchestrator.inputs.subtitles import Cue, decode_text, parse_subtitles
from orchestrator.inputs.textfix import repair, repair_text
from orchestrator.planning.cues import plan_cues
from orchestrator.planning.markup import MAX_REPORTED, EmotionRules, clean_text, read_line
from orchestrator.planning.prose import BookPlan, plan_book
from orchestrator.planning.script import plan_script
from voicecast.emotions import TagError, find_tag, split_directives, suggest_tag, tag_kind
from voicecast.errors import InputError
from voicecast.settings import BookSettings

S = BookSettings(speak_titles=False, announce=False, max_segment_chars=300)


def cue(i: int, text: str) -> Cue:
    return Cue(i, float(i), i + 0.9, text, line=4 * i)


def kind(span: str) -> str:
    m = find_tag(span)
    assert m is not None
    return tag_kind(m)


def book(*paragraphs: str) -> Book:
    paras = tuple(Paragraph(p, line=3 + 2 * k) for k, p in enumerate(paragraphs))
    return Book("Book", (Chapter("One", paras, "b.md", line=1),), language="en")


def plan(b: Book, **rules: object) -> BookPlan:
    return plan_book(b, source="b.md", settings=S, emotions=EmotionRules(**rules))  # type: ignore[arg-type]


def texts(p: BookPlan) -> list[str]:
    return [s.text for s in p.segments]


# --------------------------------------------------------------------------- tag kinds


@pytest.mark.parametrize("name, near", [
    ("hapy", "happy"), ("vocie", "voice"), ("pasue", "pause"), ("angyr", "angry"), ("whipser", "whisper"),
    ("exicted", "excited"), ("suprised", "surprised"), ("nuetral", "neutral"), ("sda", "sad"),
    # derived words and other words are not slips
    ("angrily", None), ("happily", None), ("sadly", None), ("whispering", None), ("paused", None),
    ("applause", None), ("listens", None), ("gif", None), ("intro", None), ("sic", None), ("happy", None),
])
def test_suggest_tag(name: str, near: str | None) -> None:
    assert suggest_tag(name) == near


@pytest.mark.parametrize("span, expected", [
    ("[sad]", "tag"), ("[Excited]", "tag"), ("[SAD:0.5]", "tag"), ("[pause:1]", "tag"), ("[pause]", "tag"),
    ("[Pause]", "text"), ("[Voice]", "text"), ("[hapy]", "typo"), ("[Hapy:0.5]", "typo"),
    ("[vocie:Fox]", "typo"), ("[Hapy]", "text"), ("[GIF]", "text"), ("[Intro]", "text"),
    ("[Angrily]", "text"),
])
def test_tag_kind(span: str, expected: str) -> None:
    assert kind(span) == expected


# --------------------------------------------------------------------------- subtitles (SDH)


def test_sound_descriptions_are_skipped_with_one_grouped_warning() -> None:
    cues = [
        cue(1, "[Music]"), cue(2, "[Intro] Welcome back."), cue(3, "(laughs) Stop it."),
        cue(4, "<v Ann>We're good.</v>\n<i>Laughter</i>"), cue(5, "♪ la la la ♪"), cue(6, "♫"),
        cue(7, "[Music]"), cue(8, "<i>I love you.</i>"), cue(9, "[MAN (whispering)] Here."),
    ]
    p = plan_cues(cues, source="x.vtt")
    assert [s.text for s in p.segments] == [
        "Welcome back.", "Stop it.", "We're good.", "I love you.", "Here."]
    sound = [w for w in p.warnings if "skipped" in w]
    assert sound == ["x.vtt: skipped 8 sound description(s) and music line(s): [Music] ×2, [Intro], "
                     "(laughs), (Laughter), ♪ la la la ♪, ..."]


def test_an_italic_line_that_is_not_a_sound_is_spoken() -> None:
    assert clean_text("<i>Laughter and applause</i>") == ""
    assert clean_text("<i>Laughter is the best medicine.</i>") == "Laughter is the best medicine."
    assert clean_text("Music") == "Music"  # not in italics: words


def test_unknown_leading_tags_are_fatal_only_when_strict() -> None:
    cues = [cue(1, "[Intro] Welcome back."), cue(2, "Fine.")]
    assert plan_cues(cues, source="x.srt").segments[0].text == "Welcome back."
    with pytest.raises(InputError, match=r"^x\.srt:4: cue 1: unknown tag \[Intro\].*--strict-tags"):
        plan_cues(cues, source="x.srt", emotions=EmotionRules(strict=True))
    # a cue that is only a sound description is never an error
    assert plan_cues([cue(1, "[Intro]"), cue(2, "Hi.")], source="x.srt",
                     emotions=EmotionRules(strict=True)).segments[0].text == "Hi."


def test_strict_and_ignore_contradict() -> None:
    with pytest.raises(InputError, match="--strict-tags"):
        EmotionRules.from_options(ignore_unknown=True, strict=True)


def test_a_misspelt_tag_says_did_you_mean() -> None:
    with pytest.raises(InputError, match=r"^x\.srt:4: cue 1: unknown tag \[hapy\]: did you mean \[happy\]\?"):
        plan_cues([cue(1, "[hapy] Hello.")], source="x.srt")
    with pytest.raises(TagError, match=r"did you mean \[voice:Fox\]"):
        split_directives("[vocie:Fox] Hi.")
    with pytest.raises(TagError, match=r"did you mean \[pause:1\]"):
        split_directives("[Pasue:1] Hi.")
    # --ignore-unknown-tags: a sound description like any other
    assert plan_cues([cue(1, "[hapy] Hello.")], source="x.srt",
                     emotions=EmotionRules(ignore_unknown=True)).segments[0].text == "Hello."
    # capitalised: a sound description or stage direction, not a slip
    assert read_line("[Hapy] Hello.", what="c").text == "Hello."


def test_emotion_names_written_as_sound_descriptions_mid_line() -> None:
    assert read_line("I can't. [SAD] Fine.", what="c").text == "I can't. Fine."
    with pytest.raises(TagError, match="start of the line"):
        read_line("I can't. [sad] Fine.", what="c")


# --------------------------------------------------------------------------- errors together


def test_errors_are_collected_and_reported_together() -> None:
    script = "Fine.\n[hapy] One.\nFine.\n[sad][angry] Two.\nHi [pause:0] there.\n"
    with pytest.raises(InputError) as info:
        plan_script(script, source="s.txt")
    message = str(info.value)
    assert message.startswith("s.txt: 3 markup errors:\n")
    assert [ln.split(": ")[0].strip() for ln in message.splitlines()[1:]] == ["s.txt:2", "s.txt:4", "s.txt:5"]
    assert "did you mean [happy]" in message


def test_a_single_error_is_reported_as_itself() -> None:
    with pytest.raises(InputError, match=r"^x\.srt:8: cue 2: more than one emotion tag"):
        plan_cues([cue(1, "Hi."), cue(2, "[sad][happy] No.")], source="x.srt")


def test_many_errors_are_capped() -> None:
    n = MAX_REPORTED + 5
    with pytest.raises(InputError) as info:
        plan_cues([cue(i, "[hapy] Hi.") for i in range(1, n + 1)], source="x.srt")
    lines = str(info.value).splitlines()
    assert lines[0] == f"x.srt: {n} markup errors:"
    assert len(lines) == 1 + MAX_REPORTED + 1 and lines[-1] == "  and 5 more"


def test_book_errors_are_collected_over_chapters() -> None:
    b = Book("B", (Chapter("C1", (Paragraph("[hapy] Hi.", 3),), "b.md", 1),
                   Chapter("C2", (Paragraph("Fine.", 7), Paragraph("Then [vocie:Fox]“Hi.”", 9)), "b.md", 5)))
    with pytest.raises(InputError) as info:
        plan(b)
    assert str(info.value).splitlines()[1:] == [
        "  b.md:3: paragraph: unknown tag [hapy]: did you mean [happy]?",
        "  b.md:9: paragraph: unknown tag [vocie:Fox]: did you mean [voice:Fox]?",
    ]


# --------------------------------------------------------------------------- books


def test_citation_keys_are_skipped_by_default_and_read_on_request() -> None:
    b = book("Animated images [GIF] are everywhere [1]. See [Smith 2001, p. 4].", "[2] A note.")
    p = plan(b)
    assert texts(p) == ["Animated images are everywhere.", "See.", "A note."]
    assert p.warnings == ["b.md: skipped 4 bracketed span(s) that are not tags (citation keys, notes, "
                          "stage directions; --brackets speak reads them): "
                          "[GIF], [1], [Smith 2001, p. 4], [2]"]
    assert texts(plan(b, brackets="speak")) == [
        "Animated images [GIF] are everywhere [1].", "See [Smith 2001, p. 4].", "[2] A note."]


def test_stage_directions_in_a_book_are_never_fatal() -> None:
    b = book("[Listens] No. [Pause] They have to collect their luggage. [Excited] I shall faint!",
             "[Excited] I shall faint in a minute.", "[Pause]")
    p = plan(b)
    assert [(s.text, s.emotion) for s in p.segments] == [
        ("No.", "neutral"), ("They have to collect their luggage.", "neutral"), ("I shall faint!", "neutral"),
        # at the start of a paragraph an emotion name is a tag
        ("I shall faint in a minute.", "excited"),
    ]
    assert any("read 1 emotion name(s) in the middle of a paragraph as stage directions" in w
               and "[Excited]" in w for w in p.warnings)
    spoken = plan(b, brackets="speak")
    assert texts(spoken)[:2] == ["[Listens] No.", "[Pause] They have to collect their luggage."]


def test_ignore_unknown_tags_applies_to_books() -> None:
    with pytest.raises(InputError, match=r"did you mean \[happy\]"):
        plan(book("[hapy] Hello."))
    assert texts(plan(book("[hapy] Hello."), ignore_unknown=True)) == ["Hello."]


def test_strict_tags_in_books() -> None:
    with pytest.raises(InputError, match=r"unknown tag \[GIF\]"):
        plan(book("[GIF] Hello."), strict=True)
    with pytest.raises(InputError, match=r"unknown tag \[Editor\]"):
        plan(book("Then [Editor]“Hi.”"), strict=True)


# --------------------------------------------------------------------------- mojibake, control characters


@pytest.mark.parametrize("raw, fixed", [
    ("When we e-mailedâ\x80\x94 to", "When we e-mailed— to"),
    ("an old abbÃ© with a book", "an old abbé with a book"),
    ("I\x92m here", "I’m here"),
    ("bell\x07 and \x1b[31mred\x1b[0m text", "bell and red text"),
    ("page\x0cbreak\x0bhere\x7f", "page break here"),
    ("C1 \x81left", "C1 left"),
])
def test_repair_text(raw: str, fixed: str) -> None:
    assert repair_text(raw) == fixed


@pytest.mark.parametrize("clean", [
    "Plain ASCII, with tab\tand\r\nlines.", "“Curly” quotes, ‘single’ — dashes… ﬁne ligatures",
    "ＦＵＬＬ width, e\u0301 decomposed", "日本語の文章です。", "Straße, naïve, café, Ørsted", "&amp; stays",
])
def test_clean_text_is_unchanged(clean: str) -> None:
    assert repair(clean) == repair(clean).__class__(clean)


def test_every_reader_repairs_its_text(tmp_path: Path) -> None:
    vtt = tmp_path / "t.vtt"
    vtt.write_bytes("WEBVTT\n\n00:01.000 --> 00:02.000\nWhen we e-mailedâ\x80\x94 him\x07.\n".encode())
    assert plan_cues(parse_subtitles(vtt), source=str(vtt)).segments[0].text == "When we e-mailed— him."
    md = tmp_path / "b.md"
    md.write_bytes("# Book\n\n## One\n\nAn old abbÃ© with a book.\x1b[0m\n".encode())
    assert read_book(md).chapters[0].paragraphs[0].text == "An old abbé with a book."
    # line numbers do not move: a page break is a space
    assert decode_text(b"a\x0cb\nc", "x") == "a b\nc"


def test_control_characters_are_removed_from_cues() -> None:
    assert clean_text("Hi\x07 there\x1b[1m!") == "Hi there!"
    assert re.fullmatch(r"[^\x00-\x08\x0b-\x1f\x7f-\x9f]*", clean_text("".join(map(chr, range(0, 160)))))
