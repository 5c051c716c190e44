"""Book readers: Markdown, plain text and EPUB into chapters of paragraphs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from ebooklib import epub

from orchestrator.inputs.books import (
    BOOK_FORMATS,
    Book,
    read_book,
    read_epub,
    read_markdown,
    read_plain_text,
)
from voicecast.errors import InputError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def texts(book: Book, index: int = 0) -> list[str]:
    return [p.text for p in book.chapters[index].paragraphs]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------

MD = """---
title: "The Fox Book"
author: A. Writer
language: en
narrator: Bear
series: Tales
---

# The Fox Book

A short *foreword*, before any chapter.

## Chapter One

[voice:Fox] "Hello," said the **fox**,
and [pause:1.5] waited.

> A quoted
> passage.

- first item
- second [item](https://example.com) with `code`
1. numbered

```
code is skipped
```

<!-- a comment
spanning lines -->

![an image](pic.png)

* * *

### A scene

Text with snake_case_name and \\*stars\\* and &amp; entity.

## Chapter _Two_

Last words [sad:0.6].
"""


def test_markdown_front_matter_book_title_and_chapters() -> None:
    book = read_markdown(MD, source="books/fox.md")
    assert book.title == "The Fox Book"
    assert book.author == "A. Writer"
    assert book.language == "en"
    assert book.meta == {"narrator": "Bear", "series": "Tales"}
    assert [c.title for c in book.chapters] == ["The Fox Book", "Chapter One", "Chapter Two"]
    assert texts(book, 0) == ["A short foreword, before any chapter."]
    assert texts(book, 1) == [
        '[voice:Fox] "Hello," said the fox, and [pause:1.5] waited.',
        "A quoted passage.",
        "first item",
        "second item with code",
        "numbered",
        "A scene",
        "Text with snake_case_name and *stars* and & entity.",
    ]
    assert texts(book, 2) == ["Last words [sad:0.6]."]
    assert all(c.source == "books/fox.md" for c in book.chapters)


def test_markdown_line_numbers() -> None:
    book = read_markdown(MD, source="fox.md")
    lines = MD.splitlines()
    foreword, one, two = book.chapters
    assert foreword.line == lines.index("A short *foreword*, before any chapter.") + 1
    assert one.line == lines.index("## Chapter One") + 1
    assert two.line == lines.index("## Chapter _Two_") + 1
    assert one.paragraphs[0].line == lines.index('[voice:Fox] "Hello," said the **fox**,') + 1
    assert one.paragraphs[1].line == lines.index("> A quoted") + 1
    assert one.paragraphs[3].line == lines.index("- second [item](https://example.com) with `code`") + 1


def test_markdown_level1_chapters_and_title_from_stem() -> None:
    text = "# Chapter 1\n\nOne.\n\n## Section\n\nTwo\nlines.\n\n# Chapter 2\n\nThree.\n"
    book = read_markdown(text, source="dir/my-book.md")
    assert book.title == "my-book"
    assert [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2"]
    assert texts(book) == ["One.", "Section", "Two lines."]
    assert [c.line for c in book.chapters] == [1, 10]


def test_markdown_level2_without_level1() -> None:
    book = read_markdown("## A\n\ntext a\n\n## B\n\ntext b\n", source="x.md")
    assert [c.title for c in book.chapters] == ["A", "B"]
    assert book.title == "x"


def test_markdown_single_level1_after_level2_is_a_chapter() -> None:
    book = read_markdown("## A\n\ntext a\n\n# B\n\ntext b\n", source="x.md")
    # the lone '#' comes after a '##': level-1 chapters, '## A' is foreword text
    assert [c.title for c in book.chapters] == ["x", "B"]
    assert texts(book) == ["A", "text a"]
    book = read_markdown("# Only\n\n### Sub\n\ntext\n", source="x.md")
    assert [(c.title, book.title) for c in book.chapters] == [("Only", "x")]


def test_markdown_without_headings_is_one_chapter() -> None:
    book = read_markdown("Just some text.\n\nAnd more.\n", source="notes.md")
    assert [c.title for c in book.chapters] == ["notes"]
    assert texts(book) == ["Just some text.", "And more."]
    assert book.chapters[0].line == 1


def test_markdown_inline_markup() -> None:
    text = "# T\n\n***bold italic*** ~~gone~~ [a *b*](u) <em>x</em> <https://e.org> 5 * 3 [Fox][sad]\n"
    book = read_markdown(text, source="x.md")
    assert texts(book) == ["bold italic gone a b x https://e.org 5 * 3 [Fox][sad]"]


def test_markdown_empty_chapter_names_title_and_line() -> None:
    text = "# One\n\ntext\n\n# Two\n\n<!-- nothing -->\n\n# Three\n\nmore\n"
    with pytest.raises(InputError) as info:
        read_markdown(text, source="book.md")
    assert info.value.line == 5
    assert str(info.value).startswith("book.md:5: empty chapter 'Two'")


def test_markdown_no_chapters() -> None:
    for text in ("", "\n\n", "---\ntitle: X\n---\n", "# Only a title\n", "```\ncode\n```\n"):
        with pytest.raises(InputError) as info:
            read_markdown(text, source="empty.md")
        message = str(info.value)
        if text.startswith("# Only"):  # a chapter heading with nothing after it
            assert "empty chapter 'Only a title'" in message
        else:
            assert message.startswith("empty.md: no chapters found")
            assert "'# Title' heading" in message


def test_markdown_front_matter_errors() -> None:
    with pytest.raises(InputError) as info:
        read_markdown("---\ntitle: X\n\ntext\n", source="a.md")
    assert str(info.value).startswith("a.md:1: front matter is not closed")
    with pytest.raises(InputError) as info:
        read_markdown("---\ntitle: X\njust words\n---\n# C\n\nt\n", source="a.md")
    assert str(info.value).startswith("a.md:3: front matter line is not 'key: value'")


def test_markdown_unclosed_fence_and_comment() -> None:
    with pytest.raises(InputError, match="never closed") as info:
        read_markdown("# C\n\ntext\n\n```\ncode\n", source="a.md")
    assert info.value.line == 5
    with pytest.raises(InputError, match="never closed") as info:
        read_markdown("# C\n\ntext <!-- oops\n", source="a.md")
    assert info.value.line == 3


def test_markdown_heading_without_title() -> None:
    with pytest.raises(InputError, match="no title") as info:
        read_markdown("# A\n\nx\n\n#\n\ny\n", source="a.md")
    assert info.value.line == 5


# --------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------

TXT = """Title: Wonderland Tales
Author: L. C.

Some opening words,
hard-wrapped over lines.

CHAPTER I.
Down the Rabbit-Hole

Alice was beginning to get very tired
of sitting by her sister.

Chapter and verse were quoted.
And more followed.

* * *

After the break.
***
Right after a tight break.

Chapter 2: The Pool of Tears

Tears everywhere.

Chapter Twelve

The Storm

Wind.

Prologue

A prologue (placed late, but still a heading).

Part the First

Text of part one.
"""


def test_plain_text_heading_rule() -> None:
    book = read_plain_text(TXT, source="alice.txt")
    assert book.title == "Wonderland Tales"
    assert book.author == "L. C."
    assert [c.title for c in book.chapters] == [
        "Wonderland Tales",
        "CHAPTER I: Down the Rabbit-Hole",
        "Chapter 2: The Pool of Tears",
        "Chapter Twelve: The Storm",
        "Prologue",
        "Part the First",
    ]
    assert texts(book, 0) == ["Some opening words, hard-wrapped over lines."]
    assert texts(book, 1) == [
        "Alice was beginning to get very tired of sitting by her sister.",
        "Chapter and verse were quoted. And more followed.",
        "After the break.",
        "Right after a tight break.",
    ]
    assert texts(book, 3) == ["Wind."]
    lines = TXT.splitlines()
    assert book.chapters[1].line == lines.index("CHAPTER I.") + 1
    assert book.chapters[1].paragraphs[1].line == lines.index("Chapter and verse were quoted.") + 1
    assert book.chapters[0].line == lines.index("Some opening words,") + 1


@pytest.mark.parametrize(
    "line",
    ["Chapter 3", "CHAPTER XIV.", "Chapter Twenty-One", "chapter the last", "Book II — The Return",
     "Part One: Arrival", "Epilogue", "Interlude 2", "Preface to the Second Edition",
     "Introduction: Why"],
)
def test_plain_text_heading_variants(line: str) -> None:
    book = read_plain_text(f"Opening.\n\n{line}\n\nBody text.\n", source="b.txt")
    assert [c.title for c in book.chapters] == ["b", line.rstrip(".")]


@pytest.mark.parametrize(
    "line",
    ["Chapter and verse were quoted.", "Part of the problem was him.", "Book in hand, she left.",
     "Chapter 3 The Storm", "Introduction to the problem was swift.", "Chapter"],
)
def test_plain_text_not_headings(line: str) -> None:
    book = read_plain_text(f"Opening.\n\n{line}\n\nBody text.\n", source="b.txt")
    assert [c.title for c in book.chapters] == ["b"]
    assert texts(book) == ["Opening.", line, "Body text."]


def test_plain_text_without_headings_is_one_chapter() -> None:
    book = read_plain_text("One line\nwrapped.\n\n\nTwo.\n", source="dir/story.txt")
    assert book.title == "story"
    assert [(c.title, c.line, c.source) for c in book.chapters] == [("story", 1, "dir/story.txt")]
    assert texts(book) == ["One line wrapped.", "Two."]
    assert [p.line for p in book.chapters[0].paragraphs] == [1, 5]


def test_plain_text_subtitle_not_taken_when_only_paragraph() -> None:
    book = read_plain_text("Chapter 1\n\nShort line\n\nChapter 2\n\nText.\n", source="s.txt")
    assert [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2"]
    assert texts(book) == ["Short line"]


def test_plain_text_gutenberg_markers() -> None:
    text = (
        "The Project Gutenberg eBook of X\n\nTitle: Real Title\n\nAuthor: Someone\n\n"
        "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\nChapter 1\n\nStory.\n\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK X ***\n\nLicense text.\n"
    )
    book = read_plain_text(text, source="pg.txt")
    assert (book.title, book.author) == ("Real Title", "Someone")
    assert [c.title for c in book.chapters] == ["Chapter 1"]
    assert texts(book) == ["Story."]


def test_plain_text_empty_and_blank_files() -> None:
    for text in ("", "\n  \n", "* * *\n\n***\n"):
        with pytest.raises(InputError) as info:
            read_plain_text(text, source="empty.txt")
        assert str(info.value).startswith("empty.txt: no chapters found")
        assert "Chapter 1" in str(info.value)


def test_plain_text_empty_chapter() -> None:
    with pytest.raises(InputError) as info:
        read_plain_text("Chapter 1\n\nText.\n\nChapter 2\n\n\nChapter 3\n\nMore.\n", source="c.txt")
    assert str(info.value).startswith("c.txt:5: empty chapter 'Chapter 2'")


# --------------------------------------------------------------------------
# read_book and encodings
# --------------------------------------------------------------------------


def test_formats() -> None:
    assert BOOK_FORMATS == (".epub", ".md", ".markdown", ".txt")


def test_read_book_by_suffix_and_encodings(tmp_path: Path) -> None:
    md = write(tmp_path, "b.MD", "\ufeff# One\n\nText é.\n")
    assert read_book(md).chapters[0].title == "One"
    txt = write(tmp_path, "t.txt", "# One\n\nText.\n")  # .txt: '#' is a scene break, not a heading
    assert [c.title for c in read_book(txt).chapters] == ["t"]
    utf16 = write(tmp_path, "u.markdown", "# Ünï\n\ntext\n".encode("utf-16"))
    assert read_book(utf16).chapters[0].title == "Ünï"
    cp = write(tmp_path, "cp.txt", "caf\xe9 au lait\n".encode("cp1252"))
    assert texts(read_book(cp)) == ["café au lait"]


def test_read_book_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a book file"):
        read_book(write(tmp_path, "b.pdf", "x"))
    with pytest.raises(InputError, match="not found") as info:
        read_book(tmp_path / "missing.md")
    assert "missing.md" in str(info.value)
    with pytest.raises(InputError, match="directory"):
        read_book(_mkdir(tmp_path / "dir.epub"))
    bad = write(tmp_path, "bad.txt", b"ok\n\x81\x8d\x90\n")
    with pytest.raises(InputError, match="unreadable text encoding") as info:
        read_book(bad)
    assert str(info.value).startswith(f"{bad}:2: ")
    binary = write(tmp_path, "bin.md", b"abc\x00def")
    with pytest.raises(InputError, match="binary data") as info:
        read_book(binary)
    assert str(info.value).startswith(f"{binary}:1: ")
    with pytest.raises(InputError, match="no chapters found") as info:
        read_book(write(tmp_path, "empty.md", ""))
    assert "empty.md" in str(info.value)


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


# --------------------------------------------------------------------------
# EPUB
# --------------------------------------------------------------------------


def _html(uid: str, name: str, body: str, title: str = "") -> epub.EpubHtml:
    item = epub.EpubHtml(uid=uid, file_name=name, title=title, lang="en")
    item.content = f"<html><head><title>{title}</title></head><body>{body}</body></html>"
    return item


def make_epub(path: Path, docs: list[epub.EpubHtml], toc: list[object], *, cover: bool = True,
              title: str | None = "The Fox Book") -> Path:
    book = epub.EpubBook()
    book.set_identifier("id-123")
    if title:
        book.set_title(title)
    book.set_language("en")
    book.add_author("A. Writer")
    book.add_author("B. Helper")
    if cover:
        book.set_cover("cover.png", PNG)
    for doc in docs:
        book.add_item(doc)
    book.toc = toc
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = (["cover"] if cover else []) + ["nav", *docs]
    epub.write_epub(str(path), book)
    return path


def three_chapters() -> tuple[list[epub.EpubHtml], list[object]]:
    titlepage = _html("titlepage", "title.xhtml", '<p><img src="cover.png" alt="Cover"/></p>')
    c1 = _html("c1", "text/ch1.xhtml",
               "<h1>Chapter 1</h1><p>First  para,\n<em>emphasis</em>.</p>"
               "<p>Second<br/>line &amp; more [voice:Fox].</p>"
               "<script>skip()</script><ul><li>item one</li><li>item two</li></ul>")
    c2 = _html("c2", "text/ch2.xhtml",
               "<h2>Heading only</h2><div>Direct text<p>inner</p>tail</div>"
               "<blockquote><p>Quoted.</p></blockquote><h3>Sub</h3><pre>pre  text</pre>")
    c3 = _html("c3", "text/ch3.xhtml", "<section><p>No heading here.</p></section>")
    toc: list[object] = [
        epub.Link("text/ch1.xhtml", "Chapter 1", "c1"),
        (epub.Section("Part One"), [epub.Link("text/ch3.xhtml#start", "The Third", "c3")]),
    ]
    return [titlepage, c1, c2, c3], toc


def test_epub_chapters_metadata_and_cover(tmp_path: Path) -> None:
    docs, toc = three_chapters()
    path = make_epub(tmp_path / "fox.epub", docs, toc)
    book = read_book(path)
    assert book.title == "The Fox Book"
    assert book.author == "A. Writer, B. Helper"
    assert book.language == "en"
    assert book.meta.get("identifier") == "id-123"
    assert (book.cover, book.cover_type) == (PNG, "image/png")
    assert [c.title for c in book.chapters] == ["Chapter 1", "Heading only", "The Third"]
    assert texts(book, 0) == [
        "First para, emphasis.",
        "Second line & more [voice:Fox].",
        "item one",
        "item two",
    ]
    # <pre> is a code listing: not read aloud (issue 12)
    assert texts(book, 1) == ["Direct text", "inner", "tail", "Quoted.", "Sub"]
    assert texts(book, 2) == ["No heading here."]
    assert [c.source for c in book.chapters] == [
        f"{path}#text/ch1.xhtml", f"{path}#text/ch2.xhtml", f"{path}#text/ch3.xhtml"
    ]
    assert all(p.line == 0 for c in book.chapters for p in c.paragraphs)


def test_epub_untitled_document_and_no_cover(tmp_path: Path) -> None:
    docs = [_html("a", "a.xhtml", "<p>Alpha.</p>"), _html("b", "b.xhtml", "<h1>Only heading</h1>"),
            _html("c", "c.xhtml", "<p>Gamma.</p>")]
    path = make_epub(tmp_path / "plain.epub", docs, [], cover=False, title=None)
    book = read_epub(path)
    assert book.title == "plain"
    assert (book.cover, book.cover_type) == (None, None)
    # the heading-only document has no TOC entry: skipped, not an error
    assert [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2"]
    assert texts(book, 1) == ["Gamma."]


def test_epub_toc_title_differs_from_heading(tmp_path: Path) -> None:
    docs = [_html("a", "a.xhtml", "<h1>Chapter One</h1><p>Alpha.</p>")]
    path = make_epub(tmp_path / "t.epub", docs, [epub.Link("a.xhtml", "1. The Start", "a")])
    book = read_epub(path)
    assert book.chapters[0].title == "1. The Start"
    assert texts(book) == ["Chapter One", "Alpha."]


def test_epub_empty_chapter_with_toc_entry(tmp_path: Path) -> None:
    docs = [_html("a", "a.xhtml", "<p>Alpha.</p>"), _html("b", "b.xhtml", "<h1>Empty One</h1>")]
    toc = [epub.Link("a.xhtml", "A", "a"), epub.Link("b.xhtml", "Empty One", "b")]
    path = make_epub(tmp_path / "e.epub", docs, toc)
    with pytest.raises(InputError) as info:
        read_epub(path)
    message = str(info.value)
    assert message.startswith(f"{path}#b.xhtml: empty chapter 'Empty One'")


def test_epub_no_chapters(tmp_path: Path) -> None:
    docs = [_html("a", "a.xhtml", '<p><img src="x.png" alt="pic"/></p>')]
    path = make_epub(tmp_path / "images.epub", docs, [])
    with pytest.raises(InputError) as info:
        read_book(path)
    assert str(info.value).startswith(f"{path}: no chapters found")


def test_epub_not_a_zip(tmp_path: Path) -> None:
    path = write(tmp_path, "story.epub", "# Just markdown\n\nrenamed.\n")
    with pytest.raises(InputError) as info:
        read_book(path)
    assert str(info.value).startswith(f"{path}: not an EPUB: the file is not a ZIP archive")
    with pytest.raises(InputError, match="not a ZIP"):
        read_epub(write(tmp_path, "empty.epub", b""))


def test_epub_zip_that_is_not_an_epub(tmp_path: Path) -> None:
    path = tmp_path / "archive.epub"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(InputError) as info:
        read_epub(path)
    assert str(info.value).startswith(f"{path}: a ZIP archive but not an EPUB")


def test_epub_corrupt(tmp_path: Path) -> None:
    # container points at an OPF that does not exist
    path = tmp_path / "broken.epub"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("META-INF/container.xml",
                    '<?xml version="1.0"?><container version="1.0" '
                    'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
                    '<rootfile full-path="OEBPS/content.opf" '
                    'media-type="application/oebps-package+xml"/></rootfiles></container>')
    with pytest.raises(InputError) as info:
        read_epub(path)
    assert str(info.value).startswith(f"{path}: damaged EPUB")
    # a real EPUB with a document missing from the archive
    docs, toc = three_chapters()
    good = make_epub(tmp_path / "good.epub", docs, toc)
    damaged = tmp_path / "damaged.epub"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(damaged, "w") as dst:
        for info_ in src.infolist():
            if not info_.filename.endswith("ch2.xhtml"):
                dst.writestr(info_, src.read(info_.filename))
    with pytest.raises(InputError, match="damaged EPUB"):
        read_epub(damaged)
    # a truncated file
    truncated = write(tmp_path, "truncated.epub", good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError) as info:
        read_epub(truncated)
    assert str(info.value).startswith(f"{truncated}: damaged EPUB")


def test_epub_cover_from_meta(tmp_path: Path) -> None:
    book = epub.EpubBook()
    book.set_identifier("x")
    book.set_title("Meta Cover")
    book.set_language("de")
    book.add_item(epub.EpubImage(uid="img", file_name="images/c.png", media_type="image/png",
                                 content=PNG))
    book.add_metadata(None, "meta", "", {"name": "cover", "content": "img"})
    doc = _html("a", "a.xhtml", "<p>Hallo.</p>")
    book.add_item(doc)
    book.add_item(epub.EpubNav())
    book.spine = ["nav", doc]
    path = tmp_path / "m.epub"
    epub.write_epub(str(path), book)
    result = read_epub(path)
    assert (result.title, result.language, result.author) == ("Meta Cover", "de", None)
    assert (result.cover, result.cover_type) == (PNG, "image/png")


def test_epub_drm(tmp_path: Path) -> None:
    docs, toc = three_chapters()
    good = make_epub(tmp_path / "good.epub", docs, toc)
    drm = tmp_path / "drm.epub"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(drm, "w") as dst:
        for info_ in src.infolist():
            dst.writestr(info_, src.read(info_.filename))
        dst.writestr("META-INF/encryption.xml",
                     '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                     'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
                     '<enc:CipherData><enc:CipherReference URI="EPUB/text/ch1.xhtml"/>'
                     "</enc:CipherData></enc:EncryptedData></encryption>")
    with pytest.raises(InputError, match="DRM"):
        read_epub(drm)


def test_epub_part_divider_page_leads_the_next_chapter(tmp_path: Path) -> None:
    docs = [_html("p1", "part1.xhtml", "<h1>Part One</h1>"),
            _html("a", "a.xhtml", "<h1>The Storm</h1><p>Alpha.</p>"),
            _html("b", "b.xhtml", "<h1>The Calm</h1><p>Beta.</p>")]
    toc: list[object] = [(epub.Link("part1.xhtml", "Part One", "p1"),
                          [epub.Link("a.xhtml", "The Storm", "a"), epub.Link("b.xhtml", "The Calm", "b")])]
    book = read_epub(make_epub(tmp_path / "parts.epub", docs, toc, cover=False))
    assert [c.title for c in book.chapters] == ["Part One — The Storm", "The Calm"]
    assert texts(book, 0) == ["Alpha."]
