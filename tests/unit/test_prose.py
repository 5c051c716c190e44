"""The prose planner: sentences, pauses, speakers, quotations, emotions, errors (pure code)."""

from __future__ import annotations

import pytest

from orchestrator.inputs.books import Book, Chapter, Paragraph
from orchestrator.planning.markup import EmotionRules
from orchestrator.planning.prose import BookPlan, plan_book, split_sentences
from orchestrator.planning.segments import PlannedSegment
from voicecast.errors import InputError
from voicecast.settings import BookSettings

# No announcement: these tests are about the paragraphs (it has tests of its own).
S = BookSettings(speak_titles=False, announce=False, sentence_pause_s=0.3, clause_pause_s=0.2,
                 paragraph_pause_s=0.9, title_pause_s=1.5, max_segment_chars=300)


def book(*paragraphs: str, title: str = "One", source: str = "b.md") -> Book:
    paras = tuple(Paragraph(p, line=3 + 2 * k) for k, p in enumerate(paragraphs))
    return Book("Book", (Chapter(title, paras, source, line=1),), language="en")


def plan(b: Book, settings: BookSettings = S, **kw: object) -> BookPlan:
    return plan_book(b, source="b.md", settings=settings, **kw)  # type: ignore[arg-type]


def rows(p: BookPlan) -> list[tuple[str, str | None, float]]:
    return [(s.text, s.speaker, s.pause_after) for s in p.segments]


def texts(p: BookPlan) -> list[str]:
    return [s.text for s in p.segments]


# --------------------------------------------------------------------------- sentences


def test_split_sentences_keeps_text_exact() -> None:
    text = "Mr. Smith went to Washington. He said hi!  Then he left... Later, “did he?” Yes."
    got = split_sentences(text)
    assert got == ["Mr. Smith went to Washington.", "He said hi!", "Then he left...", "Later, “did he?”",
                   "Yes."]
    assert all(s in text for s in got)
    assert split_sentences("   ") == []
    # unknown languages fall back to English; region subtags are ignored
    assert split_sentences("One. Two.", "xx-YY") == split_sentences("One. Two.", "en-GB") == ["One.", "Two."]


def test_one_sentence_is_one_segment_with_pauses() -> None:
    p = plan(book("First one. Second one!\nThird,  spread over\n lines?", "Next paragraph."))
    assert rows(p) == [
        ("First one.", None, 0.3), ("Second one!", None, 0.3), ("Third, spread over lines?", None, 0.9),
        ("Next paragraph.", None, 0.0),  # the chapter's last: the assembler adds the tail
    ]
    s = p.segments[0]
    assert (s.start, s.end, s.max_end, s.chapter, s.source_line) == (0.0, 0.0, 0.0, 0, 3)
    assert (s.emotion, s.intensity) == ("neutral", 0.0)
    assert [s.source_line for s in p.segments] == [3, 3, 3, 5]


def test_titles_are_spoken_with_their_pause() -> None:
    b = book("Once upon a time.", "The end.", title="Chapter  One")
    p = plan(b, BookSettings(**{**S.model_dump(), "speak_titles": True}))
    assert rows(p) == [("Chapter One", None, 1.5), ("Once upon a time.", None, 0.9), ("The end.", None, 0.0)]
    assert p.segments[0].source_line == 1
    assert texts(plan(b)) == ["Once upon a time.", "The end."]


def test_brackets_and_parentheses_are_read_and_whitespace_collapsed() -> None:
    b = book("He paused (he always did) and wrote [sic] the   word.", "* * *", "— ", "After.")
    speak = EmotionRules(brackets="speak")
    assert texts(plan(b, emotions=speak)) == ["He paused (he always did) and wrote [sic] the word.", "After."]
    # by default bracketed text that is not a tag is skipped; parentheses are read
    assert texts(plan(b)) == ["He paused (he always did) and wrote the word.", "After."]


def test_editing_one_sentence_changes_exactly_one_segment() -> None:
    before = plan(book("Alpha is here. Beta is there. Gamma goes.", "Delta. [voice:Fox]“Eps.” Zeta."))
    after = plan(book("Alpha is here. Beta was there, once. Gamma goes.", "Delta. [voice:Fox]“Eps.” Zeta."))
    assert len(before.segments) == len(after.segments)
    pairs = zip(before.segments, after.segments, strict=True)
    changed = [(a.idx, a.text, b.text) for a, b in pairs if a != b]
    assert changed == [(1, "Beta is there.", "Beta was there, once.")]


# --------------------------------------------------------------------------- long sentences


def test_long_sentence_is_cut_at_clause_punctuation_under_the_limit() -> None:
    clause = "the quick brown fox paid 1,000 coins at 10:30 to the lazy dog"
    sentence = f"{clause}, {clause}; {clause}, {clause}: {clause}, {clause}."
    settings = BookSettings(**{**S.model_dump(), "max_segment_chars": 130})
    p = plan(book(sentence, "Short."), settings)
    pieces = texts(p)[:-1]
    # the semicolon is preferred (it lies in the middle half), then the colon in what is left;
    # "1,000" and "10:30" are never cut (no space after the mark)
    assert pieces == [f"{clause}, {clause};", f"{clause}, {clause}:", f"{clause}, {clause}."]
    assert all(len(t) <= 130 for t in pieces)
    assert " ".join(pieces) == sentence
    # pieces of one sentence are joined by the clause pause
    assert [s.pause_after for s in p.segments[:-1]] == [0.2] * (len(pieces) - 1) + [0.9]


def test_long_sentence_without_punctuation_is_cut_at_spaces() -> None:
    sentence = " ".join(["word"] * 100) + "."
    p = plan(book(sentence), BookSettings(**{**S.model_dump(), "max_segment_chars": 100}))
    assert all(len(t) <= 100 for t in texts(p))
    assert " ".join(texts(p)) == sentence
    # one unbroken "word" longer than the limit is cut hard rather than looping
    p = plan(book("x" * 250), BookSettings(**{**S.model_dump(), "max_segment_chars": 100}))
    assert "".join(texts(p)) == "x" * 250 and all(len(t) <= 100 for t in texts(p))


# --------------------------------------------------------------------------- pauses


def test_pause_tags_anywhere() -> None:
    p = plan(book("[pause:2] Start here. Then [pause:1.5] go on. [pause:0.5]", "[pause:3]",
                  "Next. [pause:1]"))
    # a leading pause before the chapter's first segment is the chapter's lead
    assert p.chapters[0].lead_s == 2.0
    assert rows(p) == [
        ("Start here.", None, 0.3),
        ("Then", None, 0.2 + 1.5),  # cut mid-sentence: a clause pause plus the asked-for one
        ("go on.", None, 0.9 + 0.5 + 3.0),  # paragraph end, trailing pause, a scene-break paragraph
        ("Next.", None, 1.0),  # chapter end: only the asked-for silence
    ]


def test_pause_after_title_goes_after_the_title() -> None:
    p = plan(book("[pause:1] Hello."), BookSettings(**{**S.model_dump(), "speak_titles": True}))
    assert rows(p) == [("One", None, 2.5), ("Hello.", None, 0.0)]
    assert p.chapters[0].lead_s == 0.0


# --------------------------------------------------------------------------- speakers


def test_paragraph_voice_by_tag_and_by_label() -> None:
    p = plan(book("[voice:Fox] I want grapes. Now.", "MR. SMITH: Good day.", "Crow: Caw.",
                  "Note: this is read.", "Fox: Mapped names need a map.", "[voice:Crow] BOB: the tag wins."),
             characters=["crow"])
    assert rows(p)[:2] == [("I want grapes.", "Fox", 0.3), ("Now.", "Fox", 0.9)]
    assert [(s.text, s.speaker) for s in p.segments[2:]] == [
        ("Good day.", "MR. SMITH"), ("Caw.", "Crow"), ("Note: this is read.", None),
        ("Fox: Mapped names need a map.", None),  # Fox was not in characters
        ("the tag wins.", "Crow"),
    ]
    assert p.speakers == {"Fox": 3, "MR. SMITH": 5, "Crow": 7}


def test_quoted_dialogue_attribution_curly() -> None:
    p = plan(book("[voice:Fox]“What fine grapes,” said the Fox. [voice:Fox]“But sour.” He left."))
    assert rows(p) == [
        ("“What fine grapes,”", "Fox", 0.2),  # the sentence goes on in another voice
        ("said the Fox.", None, 0.3),
        ("“But sour.”", "Fox", 0.3),
        ("He left.", None, 0.0),
    ]


def test_quoted_dialogue_attribution_straight_single_and_guillemets() -> None:
    p = plan(book('[voice:Ann] "Go," she said, [voice:Ann]"now".',
                  "[voice:Bob]'Don’t,' he said. [voice:Eve]«Non», dit-elle.",
                  "“Unattributed,” said someone."))
    assert [(s.text, s.speaker) for s in p.segments] == [
        ('"Go,"', "Ann"), ("she said,", None), ('"now".', "Ann"),  # trailing punctuation goes with it
        ("'Don’t,'", "Bob"), ("he said.", None), ("«Non»,", "Eve"), ("dit-elle.", None),
        ("“Unattributed,” said someone.", None),  # no guessing
    ]


def test_quotation_inside_a_voiced_paragraph_and_multi_sentence_quotes() -> None:
    p = plan(book("[voice:Crow] I said: [voice:Fox]“No, I will not. It is late.” And I left."))
    assert [(s.text, s.speaker) for s in p.segments] == [
        ("I said:", "Crow"), ("“No, I will not. It is late.”", "Fox"), ("And I left.", "Crow"),
    ]  # pysbd keeps a quoted passage together


def test_unclosed_quotation_runs_to_the_paragraph_end_with_a_warning() -> None:
    p = plan(book("[voice:Fox]“Grapes are sour. So sour.", "Narration."))
    assert [(s.text, s.speaker) for s in p.segments] == [
        ("“Grapes are sour.", "Fox"), ("So sour.", "Fox"), ("Narration.", None),
    ]
    assert p.warnings == ["b.md:3: the quotation after [voice:Fox] is not closed; it runs to the end of the "
                          "paragraph"]


def test_speakers_keep_their_first_spelling_and_line() -> None:
    p = plan(book("Intro.", "[voice:Fox]“Hi.”", "[voice:FOX]“Again.”", "[voice:Crow] Caw."))
    assert p.speakers == {"Fox": 5, "Crow": 9}
    assert [s.speaker for s in p.segments] == [None, "Fox", "Fox", "Crow"]


# --------------------------------------------------------------------------- emotions


def test_emotions_per_paragraph_and_per_quotation() -> None:
    rules = EmotionRules.from_options("calm:0.3", ["fox=happy:0.8"])
    p = plan(book("[sad] It rained. [voice:Fox]“Still.”",
                  "[voice:Fox][angry:0.9]“Sour!” he said. [voice:Fox]“Grapes.”",
                  "[voice:Fox] [excited] Mine."), emotions=rules)
    assert [(s.text, s.emotion, s.intensity) for s in p.segments] == [
        ("It rained.", "sad", 0.7), ("“Still.”", "sad", 0.7),  # the paragraph's tag covers its quotes
        ("“Sour!”", "angry", 0.9), ("he said.", "calm", 0.3), ("“Grapes.”", "happy", 0.8),
        ("Mine.", "excited", 0.7),
    ]


def test_leading_tags_in_any_order() -> None:
    a = plan(book("[voice:Fox] [sad] Hi."))
    b = plan(book("[sad][voice:Fox] Hi."))
    assert a.segments == b.segments
    assert (a.segments[0].speaker, a.segments[0].emotion) == ("Fox", "sad")


# --------------------------------------------------------------------------- chapters


def test_idx_runs_across_chapters_and_ranges_match() -> None:
    b = Book("B", (
        Chapter("One", (Paragraph("Alpha went. Beta came.", 2),), "b.md", 1),
        Chapter("Empty", (Paragraph("* * *", 5),), "b.md", 4),
        Chapter("Three", (Paragraph("[pause:2] C.", 0), Paragraph("D.", 0)), "b.epub#c3.xhtml", 0),
    ))
    p = plan(b)
    assert [s.idx for s in p.segments] == list(range(4))
    assert [(c.index, c.title, c.first, c.count, c.lead_s, c.source, c.line) for c in p.chapters] == [
        (0, "One", 0, 2, 0.0, "b.md", 1), (1, "Empty", 2, 0, 0.0, "b.md", 4),
        (2, "Three", 2, 2, 2.0, "b.epub#c3.xhtml", 0),
    ]
    assert [s.chapter for s in p.segments] == [0, 0, 2, 2]
    assert [s.pause_after for s in p.segments] == [0.3, 0.0, 0.9, 0.0]
    assert [s.source_line for s in p.segments] == [2, 2, 0, 0]
    assert any("chapter 2 (Empty) has no speakable text" in w for w in p.warnings)
    assert all(isinstance(s, PlannedSegment) for s in p.segments)


def test_nothing_to_speak_is_an_error() -> None:
    with pytest.raises(InputError, match=r"^b\.md: no speakable text"):
        plan(book("* * *", "[pause:1]"))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("text, why", [
    ("[hapy] Hello.", r"unknown tag \[hapy\]: did you mean \[happy\]\?$"),
    ("Hello [voice:Fox] there.", r"must come right before a quotation mark"),
    ("Hello [sad] there.", r"\[sad\] in the middle of a paragraph"),
    ("[voice:Fox]“Hello [sad] there.”", r"\[sad\] inside a quotation"),
    ("[voice:Fox]“Hello [voice:Bob] there.”", r"inside a quotation"),
    ("[voice:Fox][voice:Bob] Hi.", r"more than one \[voice:\] tag"),
    ("Then [voice:Fox][voice:Bob]“Hi.”", r"more than one \[voice:\] tag"),
    ("[sad][happy] Hi.", r"more than one emotion tag"),
    ("[voice:Fox][sad][happy]“Hi.”", r"more than one emotion tag"),
    ("Wait [pause:0] here.", r"more than 0 and at most 30"),
    ("Wait [pause:long] here.", r"not a number of seconds"),
    ("[voice:] Hi.", r"needs a character name"),
    ("Then [vocie:Fox]“Hi.”", r"unknown tag \[vocie:Fox\]"),
])
def test_markup_errors_name_file_and_line(text: str, why: str) -> None:
    with pytest.raises(InputError, match=rf"^b\.md:5: paragraph: .*{why}"):
        plan(book("Fine.", text))


def test_errors_without_lines_name_the_chapter_source_and_paragraph() -> None:
    b = Book("B", (Chapter("C", (Paragraph("Fine."), Paragraph("[hapy] No.")), "b.epub#ch1.xhtml"),))
    with pytest.raises(InputError, match=r"^b\.epub#ch1\.xhtml: paragraph 2: unknown tag \[hapy\]"):
        plan(b)


def test_bracketed_words_elsewhere_are_text() -> None:
    b = book("He wrote [sic] it. [Editor] notes.")
    speak = EmotionRules(brackets="speak")
    assert texts(plan(b, emotions=speak)) == ["He wrote [sic] it.", "[Editor] notes."]
    assert texts(plan(b)) == ["He wrote it.", "notes."]


def test_paragraph_voice_then_quotation_voice() -> None:
    p = plan(book("[voice:Crow] [voice:Fox]“Hi,” I said."))
    assert [(s.text, s.speaker) for s in p.segments] == [("“Hi,”", "Fox"), ("I said.", "Crow")]


def test_pause_inside_a_quotation_and_nested_quotes() -> None:
    p = plan(book("[voice:Fox]“He said ‘don’t’ twice. [pause:1] Then left.” Done."))
    assert rows(p) == [("“He said ‘don’t’ twice.", "Fox", 0.3 + 1.0), ("Then left.”", "Fox", 0.3),
                       ("Done.", None, 0.0)]
