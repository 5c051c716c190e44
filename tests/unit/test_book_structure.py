"""Books as they come from the wild: Markdown and plain-text metadata headers,
the chapter heading level, parts, Markdown plays (speech labels, stage
directions) and the title/author announcement (pure code; fixtures of our own)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.inputs.books import Book, Chapter, Paragraph, read_book, read_markdown, read_plain_text
from orchestrator.planning.markup import EmotionRules
from orchestrator.planning.prose import DIRECTION_PAUSE_S, BookPlan, announcement, plan_book
from orchestrator.voices import assign_voices, parse_voice_map
from voicecast.errors import InputError
from voicecast.settings import BookSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fables.md"
S = BookSettings(sentence_pause_s=0.3, clause_pause_s=0.2, paragraph_pause_s=0.9, title_pause_s=1.5)
QUIET = BookSettings(**{**S.model_dump(), "speak_titles": False, "announce": False})
SPEAK = EmotionRules(brackets="speak")
SKIP = EmotionRules(brackets="skip")


def titles(book: Book) -> list[str]:
    return [c.title for c in book.chapters]


def texts(book: Book, chapter: int | None = None) -> list[str]:
    chapters = book.chapters if chapter is None else book.chapters[chapter:chapter + 1]
    return [p.text for c in chapters for p in c.paragraphs]


def rows(plan: BookPlan) -> list[tuple[str, str | None]]:
    return [(s.text, s.speaker) for s in plan.segments]


# --------------------------------------------------------------------------- metadata headers


HEADER_MD = """# Title: The Lantern Keeper

## Author: Ann Writer

## Year: 1899

### Translator: B. Translator

-------

## Chapter 1 - The Light

It was dark.

## Chapter 2 - The Storm

It was darker.
"""


def test_markdown_metadata_headings_are_the_books_metadata_not_chapters() -> None:
    book = read_markdown(HEADER_MD, source="keeper.md")
    assert (book.title, book.author) == ("The Lantern Keeper", "Ann Writer")
    assert book.meta == {"year": "1899", "translator": "B. Translator"}
    assert titles(book) == ["Chapter 1 - The Light", "Chapter 2 - The Storm"]
    assert [c.line for c in book.chapters] == [11, 15]
    assert texts(book) == ["It was dark.", "It was darker."]


def test_markdown_metadata_lines_without_headings_and_front_matter_first() -> None:
    text = ("---\ntitle: From Front Matter\n---\n\nTitle: From Header\nAuthor: *Ann* Writer\n"
            "Language: fr\n\n# One\n\nUn.\n\n# Two\n\nDeux.\n")
    book = read_markdown(text, source="x.md")
    assert (book.title, book.author, book.language) == ("From Front Matter", "Ann Writer", "fr")
    assert titles(book) == ["One", "Two"]
    assert texts(book) == ["Un.", "Deux."]


def test_markdown_by_line_under_the_title_is_the_author() -> None:
    book = read_markdown("# The Book\n\n## by Ann Writer\n\n### One\n\nx\n\n### Two\n\ny\n", source="b.md")
    assert (book.title, book.author, titles(book)) == ("The Book", "Ann Writer", ["One", "Two"])


def test_markdown_key_value_text_is_not_metadata() -> None:
    # "Note:" is no metadata key; a header line after text is text; a mixed paragraph is text.
    text = "Note: read slowly.\n\n# One\n\nTitle: not a header here.\n\n# Two\n\nAuthor: me\nand more.\n"
    book = read_markdown(text, source="n.md")
    assert (book.title, book.author) == ("n", None)
    assert titles(book) == ["n", "One", "Two"]
    assert texts(book) == ["Note: read slowly.", "Title: not a header here.", "Author: me and more."]


def test_plain_text_metadata_header_paragraphs() -> None:
    text = "Title: The Lantern Keeper\n\nAuthor: Ann Writer\nYear: 1899\nTranslated by: B. T.\n\n" \
           "CHAPTER I.\n\nIt was dark.\n"
    book = read_plain_text(text, source="keeper.txt")
    assert (book.title, book.author) == ("The Lantern Keeper", "Ann Writer")
    assert book.meta == {"year": "1899", "translator": "B. T."}
    assert titles(book) == ["CHAPTER I"]
    assert texts(book) == ["It was dark."]


# --------------------------------------------------------------------------- chapter level


def test_markdown_level3_chapters_under_a_title() -> None:
    text = "# My Book\n\n### One\n\na\n\n### Two\n\nb\n\n#### A scene\n\nc\n"
    book = read_markdown(text, source="x.md")
    assert (book.title, titles(book)) == ("My Book", ["One", "Two"])
    assert texts(book, 1) == ["b", "A scene", "c"]  # below the chapter level: spoken


def test_markdown_parts_lead_their_first_chapter() -> None:
    text = ("# Book\n\n## Part One\n\n### Chapter 1\n\na\n\n### Chapter 2\n\nb\n\n"
            "## Part Two\n\nAn epigraph.\n\n### Chapter 3\n\nc\n")
    book = read_markdown(text, source="x.md")
    assert titles(book) == ["Part One — Chapter 1", "Chapter 2", "Part Two", "Chapter 3"]
    assert texts(book, 2) == ["An epigraph."]
    assert [c.line for c in book.chapters] == [5, 9, 13, 17]
    # A single heading above the chapters is a part too; without part names, the level that
    # occurs twice is the chapter level and what is under it is spoken.
    book = read_markdown("# B\n\n## Book I\n\n### One\n\na\n\n### Two\n\nb\n", source="x.md")
    assert titles(book) == ["Book I — One", "Two"]
    book = read_markdown("## Alpha\n\n### a\n\nx\n\n## Beta\n\n### b\n\ny\n", source="x.md")
    assert titles(book) == ["Alpha", "Beta"] and texts(book) == ["a", "x", "b", "y"]


def test_markdown_part_heading_with_nothing_after_it_is_an_empty_chapter() -> None:
    with pytest.raises(InputError, match="empty chapter 'Part Two'") as info:
        read_markdown("# B\n\n## Part One\n\n### 1\n\na\n\n### 2\n\nb\n\n## Part Two\n", source="x.md")
    assert info.value.line == 13


# --------------------------------------------------------------------------- plays


PLAY = """# Title: The Two Gardeners

## Author: A. Playwright

## ACT ONE

_[A garden at dawn. ROSE enters with a rake.]_

**ROSE.**
Good morning. _[Yawns]_ It is early.

**THORN.**
_[Excited]_ Too early! [Enter the DOG] Where is the dog?

**ROSE.**

Gone. _[Pause]_ Gone for good.

The dog ran off at night, you know.

THE OLD DOG. Woof.

_[Exit ROSE.]_

The garden is quiet.

**Curtain.**

## ACT TWO

**THORN:** [sad] _Still_ no dog.
"""


def test_markdown_play_speakers_and_stage_directions() -> None:
    book = read_markdown(PLAY, source="play.md")
    assert (book.title, book.author, titles(book)) == ("The Two Gardeners", "A. Playwright",
                                                        ["ACT ONE", "ACT TWO"])
    paras = book.chapters[0].paragraphs
    got = [(p.speaker, p.text, [p.text[a:b] for a, b in p.directions]) for p in paras]
    assert got == [
        (None, "[A garden at dawn. ROSE enters with a rake.]",
         ["[A garden at dawn. ROSE enters with a rake.]"]),
        ("ROSE", "Good morning. [Yawns] It is early.", ["[Yawns]"]),
        ("THORN", "[Excited] Too early! [Enter the DOG] Where is the dog?", ["[Excited]", "[Enter the DOG]"]),
        ("ROSE", "Gone. [Pause] Gone for good.", ["[Pause]"]),  # the label alone names the next one's
        ("ROSE", "The dog ran off at night, you know.", []),  # the speech goes on
        ("THE OLD DOG", "Woof.", []),  # a plain label of two words
        (None, "[Exit ROSE.]", ["[Exit ROSE.]"]),
        (None, "The garden is quiet.", []),  # after a stage direction: the narrator's
        (None, "Curtain.", ["Curtain."]),  # all in bold: a direction
    ]
    assert paras[1].line == 9
    [last] = book.chapters[1].paragraphs
    assert (last.speaker, last.text, last.directions) == ("THORN", "[sad] Still no dog.", ())


def test_bold_words_are_not_a_play_without_enough_labels() -> None:
    text = "# One\n\n**NOTE.** Read this.\n\n**WARNING.** And this.\n\nPlain text.\n"
    book = read_markdown(text, source="x.md")
    assert [(p.speaker, p.text, p.directions) for p in book.chapters[0].paragraphs] == [
        (None, "NOTE. Read this.", ()), (None, "WARNING. And this.", ()), (None, "Plain text.", ())]


def test_a_play_is_planned_with_character_voices_and_narrated_directions() -> None:
    book = read_markdown(PLAY, source="play.md")
    plan = plan_book(book, source="play.md", settings=S, emotions=SPEAK)
    assert rows(plan) == [
        ("The Two Gardeners, by A. Playwright.", None),
        ("ACT ONE", None),
        ("A garden at dawn.", None), ("ROSE enters with a rake.", None),
        ("Good morning.", "ROSE"), ("Yawns", None), ("It is early.", "ROSE"),
        ("Excited", None), ("Too early!", "THORN"), ("Enter the DOG", None), ("Where is the dog?", "THORN"),
        ("Gone.", "ROSE"), ("Gone for good.", "ROSE"),
        ("The dog ran off at night, you know.", "ROSE"),
        ("Woof.", "THE OLD DOG"),
        ("Exit ROSE.", None),
        ("The garden is quiet.", None),
        ("Curtain.", None),
        ("ACT TWO", None),
        ("Still no dog.", "THORN"),
    ]
    segs = {s.text: s for s in plan.segments}
    assert segs["Excited"].emotion == "neutral"  # a stage direction, not the emotion tag
    assert segs["Still no dog."].emotion == "sad"
    assert segs["Yawns"].pause_after == 0.3  # a direction ends a sentence
    assert segs["Gone."].pause_after == pytest.approx(0.3 + DIRECTION_PAUSE_S)  # [Pause]: silence
    assert list(plan.speakers) == ["ROSE", "THORN", "THE OLD DOG"]
    # --voice ROSE=... maps her; the others are an error, or the narrator's with --unmapped narrator.
    vmap = parse_voice_map(["af_heart", "rose=jf_alpha", "Thorn=jm_kumo"])
    with pytest.raises(InputError, match="THE OLD DOG"):
        assign_voices(plan.speakers, vmap, source="play.md")
    assigned, warnings = assign_voices(plan.speakers, vmap, source="play.md", unmapped="narrator")
    assert assigned == {"rose": "rose", "thorn": "thorn", "the old dog": "narrator"}
    assert len(warnings) == 1 and "THE OLD DOG" in warnings[0]


def test_stage_directions_skipped_with_one_warning() -> None:
    book = read_markdown(PLAY, source="play.md")
    plan = plan_book(book, source="play.md", settings=QUIET, emotions=SKIP)
    assert all(s.speaker for s in plan.segments if s.text != "The garden is quiet.")
    assert [s.text for s in plan.segments][:4] == ["Good morning.", "It is early.", "Too early!",
                                                    "Where is the dog?"]
    [warning] = [w for w in plan.warnings if "stage direction" in w]
    assert warning == ("play.md: skipped 6 stage direction(s) ([A garden at dawn. ROSE enters with a...], "
                       "[Yawns], [Excited], ...); --brackets speak reads them")
    # A [Pause] direction is a pause either way.
    assert next(s for s in plan.segments if s.text == "Gone.").pause_after == pytest.approx(
        0.3 + DIRECTION_PAUSE_S)


# --------------------------------------------------------------------------- announcement


def _book(title: str, author: str | None, *, language: str = "en", first: str = "One") -> Book:
    chapter = Chapter(first, (Paragraph("Words here.", 3),), "b.md", 1)
    return Book(title, (chapter,), author=author, language=language)


@pytest.mark.parametrize(("title", "author", "language", "expected"), [
    ("Emma", "Jane Austen", "en", "Emma, by Jane Austen."),
    ("What Is Art?", "Leo Tolstoy", "en-GB", "What Is Art? By Leo Tolstoy."),
    ("Madame Bovary", "Gustave Flaubert", "fr", "Madame Bovary, de Gustave Flaubert."),
    ("Sagan", "A. N. Other", "sv", "Sagan. A. N. Other."),
    ("Untold Tales", None, "en", "Untold Tales."),
    ("b", None, "en", None),  # only the file name: nothing to announce
    ("b", "Ann Writer", "en", "b, by Ann Writer."),
])
def test_announcement_text(title: str, author: str | None, language: str, expected: str | None) -> None:
    assert announcement(_book(title, author, language=language), "dir/b.md") == expected


def test_the_book_opens_with_its_title_and_author_unless_turned_off() -> None:
    book = _book("Emma", "Jane Austen")
    plan = plan_book(book, source="b.md", settings=S)
    assert [(s.text, s.chapter, s.pause_after, s.speaker) for s in plan.segments] == [
        ("Emma, by Jane Austen.", 0, 1.5, None), ("One", 0, 1.5, None), ("Words here.", 0, 0.0, None)]
    assert (plan.chapters[0].first, plan.chapters[0].count) == (0, 3)
    off = BookSettings(**{**S.model_dump(), "announce": False})
    assert [s.text for s in plan_book(book, source="b.md", settings=off).segments] == ["One", "Words here."]
    # A first chapter titled with the book's title (its foreword) is not titled again.
    plan = plan_book(_book("Emma", "Jane Austen", first="EMMA"), source="b.md", settings=S)
    assert [s.text for s in plan.segments] == ["Emma, by Jane Austen.", "Words here."]


def test_every_format_is_announced(tmp_path: Path) -> None:
    md = tmp_path / "keeper.md"
    md.write_text(HEADER_MD)
    txt = tmp_path / "keeper.txt"
    txt.write_text("Title: The Lantern Keeper\nAuthor: Ann Writer\n\nCHAPTER I.\n\nIt was dark.\n")
    for path in (md, txt):
        plan = plan_book(read_book(path), source=str(path), settings=S)
        assert plan.segments[0].text == "The Lantern Keeper, by Ann Writer.", path
    # An EPUB's book: the same planner, from its metadata.
    epub = Book("The Small Book", (Chapter("Morning", (Paragraph("Sun."),), "s.epub#c1"),),
                author="Ann Author")
    assert [s.text for s in plan_book(epub, source="s.epub", settings=S).segments] == [
        "The Small Book, by Ann Author.", "Morning", "Sun."]


def test_the_example_book_is_announced_in_place_of_its_foreword_title() -> None:
    book = read_book(EXAMPLE)
    plan = plan_book(book, source=str(EXAMPLE), settings=BookSettings(),
                     characters=["Fox", "Tortoise", "Hare"])
    assert plan.segments[0].text == ("Three Fables of Aesop, by Aesop, translated by George Fyler "
                                     "Townsend (1867).")
    assert plan.segments[1].text.startswith("Here are three fables of Aesop")
    assert [(c.title, c.count) for c in plan.chapters] == [
        ("Three Fables of Aesop", 2), ("The Fox and the Grapes", 5), ("The Crow and the Pitcher", 6),
        ("The Hare and the Tortoise", 11)]


# --------------------------------------------------------------------------- property


@given(
    st.lists(st.lists(st.sampled_from(["The fox ran.", "It rained.", "Slowly, the hare won."]), min_size=1,
                      max_size=3), min_size=2, max_size=5),
    st.integers(min_value=1, max_value=5),
    st.booleans(),
    st.booleans(),
)
def test_chapters_are_the_headings_that_divide_the_book(body: list[list[str]], level: int, titled: bool,
                                                        header: bool) -> None:
    """Whatever the heading level of the chapters, with or without a title
    heading above them and a metadata header: one chapter per heading, every
    paragraph kept, in order."""
    top = "# Title: The Race\n\n## Author: Ann Writer\n\n" if header else ""
    if titled:
        top += "#" * level + " The Race\n\n"
        level += 1
    text = top + "\n\n".join(f"{'#' * level} Chapter {k}\n\n" + "\n\n".join(paras)
                             for k, paras in enumerate(body, 1))
    book = read_markdown(text, source="race.md")
    assert titles(book) == [f"Chapter {k}" for k in range(1, len(body) + 1)]
    assert [[p.text for p in c.paragraphs] for c in book.chapters] == body
    assert book.title == ("The Race" if header or titled else "race")
    assert book.author == ("Ann Writer" if header else None)


def test_markdown_header_ends_where_the_chapters_begin() -> None:
    text = "# Alice\n\nAuthor: L. C.\n\n## One\n\nDate: Monday\n\nIt rained.\n\n## Two\n\nYear: 1865\n"
    book = read_markdown(text, source="a.md")
    assert (book.title, book.author, book.meta, titles(book)) == ("Alice", "L. C.", {}, ["One", "Two"])
    assert texts(book) == ["Date: Monday", "It rained.", "Year: 1865"]
    book = read_markdown("# Diary\n\nDate: Monday\n\nIt rained.\n", source="d.md")
    assert (titles(book), texts(book)) == (["Diary"], ["Date: Monday", "It rained."])
