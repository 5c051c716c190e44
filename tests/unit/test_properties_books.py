"""Property tests of the Markdown and plain-text book readers: any text gives a book
or a :class:`VoicecastError`, never another exception; a book read has chapters with
titles and speakable paragraphs, and the words written come back in order.

Imports only names that stay in ``orchestrator.inputs.books`` whatever its layout.
Runs under the deterministic Hypothesis profile of tests/conftest.py.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.inputs.books import read_markdown, read_plain_text
from voicecast.errors import VoicecastError

MD_FRAGMENTS = [
    "", "# The Book", "## Chapter One", "### Part", "#", "#NoSpace", "Title\n=====", "Sub\n---", "---",
    "title: A Title", "author: Someone", "+++", "```", "~~~", "> quoted line", "* item", "1. item",
    "| a | b |", "<!-- comment -->", "<div>html</div>", "![img](x.png)", "[link](http://x)", "**bold**",
    "_it_", "[sad] Sadly.", "[voice:Fox] Hi there.", "[pause:2]", "[pause:0]", "[voice:]", "Fox: Hello.",
    "    indented code", "\\# escaped", "***", "Once upon a time.", "The end.",
]
TXT_FRAGMENTS = [
    "", "CHAPTER I", "Chapter 1", "CHAPTER II. THE HARE", "Chapter One: Start", "PART ONE", "BOOK 1",
    "*** START OF THE PROJECT GUTENBERG EBOOK X ***", "*** END OF THE PROJECT GUTENBERG EBOOK X ***",
    "Title: A Book", "Author: Someone", "Language: English", "THE END", "Once upon a time.",
    "[voice:Fox] Hi.", "[angry:0.9] No!", "[pause:1.5]", "CONTENTS", "I", "II.", "   ",
]


def _texts(fragments: list[str]) -> st.SearchStrategy[str]:
    lines = st.lists(st.one_of(st.sampled_from(fragments), st.text(max_size=30)), max_size=30)
    return st.one_of(st.text(), lines.map("\n".join), lines.map("\r\n".join))


def _check(reader, text: str) -> None:  # type: ignore[no-untyped-def]
    try:
        book = reader(text, source="books/t.md")
    except VoicecastError:
        return
    assert isinstance(book.title, str)
    assert book.chapters, "a book read has at least one chapter"
    for ch in book.chapters:
        assert isinstance(ch.title, str)
        for p in ch.paragraphs:
            assert isinstance(p.text, str) and p.text.strip()
            assert p.line >= 0


@given(_texts(MD_FRAGMENTS))
def test_markdown_gives_a_book_or_a_user_error(text: str) -> None:
    _check(read_markdown, text)


@given(_texts(TXT_FRAGMENTS))
def test_plain_text_gives_a_book_or_a_user_error(text: str) -> None:
    _check(read_plain_text, text)


# --- well-formed books keep their words in order ---------------------------------------------

sentence = st.lists(st.sampled_from(["fox", "hare", "ran", "slowly", "and", "the", "won"]), min_size=2,
                    max_size=8).map(lambda ws: " ".join(ws).capitalize() + ".")
chapters = st.lists(st.lists(sentence, min_size=1, max_size=4), min_size=1, max_size=5)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@given(chapters)
def test_markdown_keeps_chapters_and_words(body: list[list[str]]) -> None:
    text = "# The Race\n\n" + "\n\n".join(
        f"## Chapter {k}\n\n" + "\n\n".join(paras) for k, paras in enumerate(body, 1)
    )
    book = read_markdown(text, source="race.md")
    assert [c.title for c in book.chapters] == [f"Chapter {k}" for k in range(1, len(body) + 1)]
    assert [[p.text for p in c.paragraphs] for c in book.chapters] == body


@given(chapters)
def test_plain_text_keeps_chapters_and_words(body: list[list[str]]) -> None:
    text = "\n\n\n".join(f"CHAPTER {k}\n\n" + "\n\n".join(paras) for k, paras in enumerate(body, 1))
    book = read_plain_text(text, source="race.txt")
    got = [w for c in book.chapters for p in c.paragraphs for w in _words(p.text)]
    assert got == [w for paras in body for p in paras for w in _words(p)]
    assert len(book.chapters) == len(body)
