"""EPUB books as they come from the wild (issue 12): front and back matter from
the book's own semantics and from heuristics, chapters from the table of
contents (fragments, parts, fixed layout), inline non-prose, notes, missing
manifest items. Each fixture is a small EPUB written here, file by file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from orchestrator.inputs.books import Book, ReadOptions, read_book
from orchestrator.inputs.books.epub import read_epub
from voicecast.errors import InputError

XHTML = (
    '<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml" '
    'xmlns:epub="http://www.idpf.org/2007/ops" lang="en"><head><title>t</title></head>{body}</html>'
)


def build(
    path: Path,
    docs: dict[str, str],
    *,
    spine: list[str | tuple[str, str]] | None = None,
    nav: str | None = None,
    ncx: str | None = None,
    guide: list[tuple[str, str]] = (),  # type: ignore[assignment]
    fixed: bool = False,
    missing: tuple[str, ...] = (),
    title: str = "The Book",
    author: str = "A. Writer",
) -> Path:
    """A minimal EPUB: ``docs`` maps a file name (under ``OEBPS/``) to its
    ``<body>`` element; ``nav`` is the navigation document's ``<body>``; ``ncx``
    the NCX ``navMap``'s content; ``missing`` manifest items not in the archive."""
    spine = spine if spine is not None else list(docs)
    items = [f'<item id="d{i}" href="{name}" media-type="application/xhtml+xml"/>'
             for i, name in enumerate(docs)]
    ids = {name: f"d{i}" for i, name in enumerate(docs)}
    if nav is not None:
        items.append('<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>')
    if ncx is not None:
        items.append('<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>')
    for i, name in enumerate(missing):
        items.append(f'<item id="m{i}" href="{name}" media-type="application/xhtml+xml"/>')
        ids[name] = f"m{i}"
    refs = []
    for entry in spine:
        name, linear = entry if isinstance(entry, tuple) else (entry, "yes")
        refs.append(f'<itemref idref="{ids[name]}" linear="{linear}"/>')
    layout = '<meta property="rendition:layout">pre-paginated</meta>' if fixed else ""
    spine_toc = ' toc="ncx"' if ncx is not None else ""
    guide_xml = "".join(f'<reference type="{t}" href="{h}" title="{t}"/>' for t, h in guide)
    opf = (
        '<?xml version="1.0" encoding="utf-8"?><package xmlns="http://www.idpf.org/2007/opf" '
        f'version="{"3.0" if nav is not None else "2.0"}" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:identifier id="id">x</dc:identifier><dc:title>{title}</dc:title>'
        f'<dc:creator>{author}</dc:creator><dc:language>en</dc:language>{layout}</metadata>'
        f'<manifest>{"".join(items)}</manifest>'
        f'<spine{spine_toc}>{"".join(refs)}</spine>'
        f'{f"<guide>{guide_xml}</guide>" if guide else ""}</package>'
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("META-INF/container.xml",
                    '<?xml version="1.0"?><container version="1.0" '
                    'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
                    '<rootfile full-path="OEBPS/content.opf" '
                    'media-type="application/oebps-package+xml"/></rootfiles></container>')
        zf.writestr("OEBPS/content.opf", opf)
        for name, body in docs.items():
            zf.writestr(f"OEBPS/{name}", XHTML.format(body=body))
        if nav is not None:
            zf.writestr("OEBPS/nav.xhtml", XHTML.format(body=nav))
        if ncx is not None:
            zf.writestr("OEBPS/toc.ncx",
                        '<?xml version="1.0"?><ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" '
                        f'version="2005-1"><head/><docTitle><text>{title}</text></docTitle>'
                        f"<navMap>{ncx}</navMap></ncx>")
    return path


def toc_nav(entries: str, landmarks: str = "") -> str:
    """A navigation document's body: ``entries`` is the toc's ``<ol>`` content."""
    marks = f'<nav epub:type="landmarks"><ol>{landmarks}</ol></nav>' if landmarks else ""
    return f'<body><nav epub:type="toc"><ol>{entries}</ol></nav>{marks}</body>'


def li(href: str, title: str, children: str = "") -> str:
    return f'<li><a href="{href}">{title}</a>{f"<ol>{children}</ol>" if children else ""}</li>'


def point(src: str, title: str, children: str = "") -> str:
    return f"<navPoint><navLabel><text>{title}</text></navLabel><content src=\"{src}\"/>{children}</navPoint>"


def texts(book: Book, index: int) -> list[str]:
    return [p.text for p in book.chapters[index].paragraphs]


def titles(book: Book) -> list[str]:
    return [c.title for c in book.chapters]


def warning(book: Book, word: str) -> str:
    found = [w for w in book.warnings if word in w]
    assert found, (word, book.warnings)
    return found[0]


# --------------------------------------------------------------------------
# Front and back matter
# --------------------------------------------------------------------------


def epub3_with_semantics(tmp_path: Path) -> Path:
    docs = {
        "title.xhtml": '<body epub:type="frontmatter"><section epub:type="titlepage">'
                       "<h1>The Book</h1><p>A. Writer</p></section></body>",
        "copyright.xhtml": '<body><section epub:type="copyright-page"><p>Copyright 2020 A. Writer. '
                           "All rights reserved.</p></section></body>",
        "contents.xhtml": '<body><nav epub:type="toc"><h1>Contents</h1><ol><li><a href="ch1.xhtml">One</a>'
                          '</li><li><a href="ch2.xhtml">Two</a></li></ol></nav></body>',
        "dedication.xhtml": '<body><section epub:type="dedication"><p>For my mother.</p></section></body>',
        "ch1.xhtml": '<body><section epub:type="chapter"><h1>One</h1>'
                     '<blockquote epub:type="epigraph"><p>A chapter epigraph is read.</p></blockquote>'
                     "<p>First words.</p></section></body>",
        "ch2.xhtml": '<body><section epub:type="bodymatter chapter"><h1>Two</h1><p>Second words.</p>'
                     "</section></body>",
        "appendix.xhtml": '<body epub:type="backmatter"><section epub:type="appendix"><h1>Appendix</h1>'
                          "<p>Tables of weights.</p></section></body>",
        "colophon.xhtml": '<body><section epub:type="colophon"><p>Set in Garamond.</p></section></body>',
    }
    nav = toc_nav(
        li("title.xhtml", "Title Page") + li("dedication.xhtml", "Dedication") + li("ch1.xhtml", "One")
        + li("ch2.xhtml", "Two") + li("appendix.xhtml", "Appendix") + li("colophon.xhtml", "Colophon"),
        '<li><a epub:type="bodymatter" href="ch1.xhtml">Start</a></li>',
    )
    return build(tmp_path / "sem.epub", docs, nav=nav)


def test_epub3_semantics_body_only_by_default(tmp_path: Path) -> None:
    book = read_book(epub3_with_semantics(tmp_path))
    assert titles(book) == ["One", "Two"]
    assert texts(book, 0) == ["A chapter epigraph is read.", "First words."]
    assert (book.title, book.author) == ("The Book", "A. Writer")  # announced by the planner
    front = warning(book, "front matter")
    assert "Title Page" in front and "Dedication" in front and "--front-matter" in front
    assert "Appendix" in warning(book, "back matter") and "Colophon" in warning(book, "back matter")
    assert "contents" in warning(book, "table-of-contents").lower()


def test_epub3_front_and_back_matter_options(tmp_path: Path) -> None:
    path = epub3_with_semantics(tmp_path)
    book = read_epub(path, ReadOptions(front_matter=True))
    assert titles(book) == ["Title Page", "Dedication", "One", "Two"]
    # the copyright page has no TOC entry: it continues the title page's chapter;
    # the contents page is never read
    assert texts(book, 0) == ["The Book", "A. Writer", "Copyright 2020 A. Writer. All rights reserved."]
    assert texts(book, 1) == ["For my mother."]
    assert not any("front matter" in w for w in book.warnings)
    book = read_epub(path, ReadOptions(back_matter=True))
    assert titles(book) == ["One", "Two", "Appendix", "Colophon"]


def test_landmark_bodymatter_makes_what_comes_before_front_matter(tmp_path: Path) -> None:
    docs = {"pre.xhtml": "<body><h1>Half Title</h1><p>Some words before the story.</p></body>",
            "ch1.xhtml": "<body><h1>One</h1><p>The story.</p></body>"}
    nav = toc_nav(li("pre.xhtml", "Before") + li("ch1.xhtml", "One"),
                  '<li><a epub:type="bodymatter" href="ch1.xhtml">Start</a></li>')
    book = read_book(build(tmp_path / "lm.epub", docs, nav=nav))
    assert titles(book) == ["One"]
    assert "Before" in warning(book, "front matter")


def test_epub2_guide_and_ncx(tmp_path: Path) -> None:
    docs = {
        "title.html": "<body><div><h1>The Book</h1><h3>A. Writer</h3></div></body>",
        "legal.html": "<body><p>This edition was produced with care.</p></body>",
        "toc.html": '<body><h1>Contents</h1><ul><li><a href="c1.html">CHAPTER I</a></li>'
                    '<li><a href="c2.html">CHAPTER II</a></li></ul></body>',
        "c1.html": "<body><h2>CHAPTER I</h2><p>It began.</p></body>",
        "c2.html": "<body><h2>CHAPTER II</h2><p>It ended.</p></body>",
    }
    ncx = (point("title.html", "Title Page") + point("legal.html", "Legal") + point("toc.html", "Contents")
           + point("c1.html", "CHAPTER I") + point("c2.html", "CHAPTER II"))
    path = build(tmp_path / "e2.epub", docs, ncx=ncx,
                 guide=[("toc", "toc.html"), ("title-page", "title.html"), ("text", "c1.html")])
    book = read_book(path)
    assert titles(book) == ["CHAPTER I", "CHAPTER II"]
    assert texts(book, 0) == ["It began."]
    assert "Legal" in warning(book, "front matter")
    # without a "text" reference the guide's types and the heuristics still tell
    path = build(tmp_path / "e2b.epub", docs, ncx=ncx, guide=[("toc", "toc.html"),
                                                              ("title-page", "title.html")])
    assert titles(read_book(path)) == ["Legal", "CHAPTER I", "CHAPTER II"]


def test_linear_no_documents_are_not_read(tmp_path: Path) -> None:
    docs = {"c1.xhtml": "<body><p>Read me.</p></body>", "n.xhtml": "<body><p>Not me.</p></body>"}
    book = read_book(build(tmp_path / "l.epub", docs, spine=["c1.xhtml", ("n.xhtml", "no")]))
    assert [p.text for c in book.chapters for p in c.paragraphs] == ["Read me."]


def test_heuristics_without_semantics(tmp_path: Path) -> None:
    docs = {
        "a.xhtml": '<body><h1>Contents</h1><p><a href="c1.xhtml">The Start</a></p>'
                   '<p><a href="c2.xhtml">The End</a></p></body>',
        "b.xhtml": "<body><p>© 2021 A. Writer. ISBN 978-0-00-000000-0</p></body>",
        "c1.xhtml": "<body><p>The Project Gutenberg eBook of X</p>"
                    "<p>*** START OF THE PROJECT GUTENBERG EBOOK X ***</p><h1>The Start</h1>"
                    "<p>Once upon a time.</p></body>",
        "c2.xhtml": "<body><h1>The End</h1><p>They lived happily.</p>"
                    "<p>*** END OF THE PROJECT GUTENBERG EBOOK X ***</p><p>The licence text.</p></body>",
        "promo.xhtml": '<body><p>Sign up for our newsletter at <a href="https://example.com">our site'
                       "</a>!</p></body>",
    }
    book = read_book(build(tmp_path / "h.epub", docs))
    assert titles(book) == ["The Start", "The End"]
    assert texts(book, 0) == ["Once upon a time."]
    assert texts(book, 1) == ["They lived happily."]
    assert warning(book, "table-of-contents")


# --------------------------------------------------------------------------
# Chapters from the table of contents
# --------------------------------------------------------------------------


def test_toc_pointing_into_one_file(tmp_path: Path) -> None:
    body = (
        '<body><section id="s0"><h1>Stories</h1>'
        '<section id="a"><h2>The Fox</h2><p>Fox text.</p><h3 id="a1">Part of the fox</h3><p>More fox.</p>'
        '</section><section id="b"><h2>The Bear</h2><p>Bear <span id="mid">text</span>.</p></section>'
        '<div id="c"><h2>The Owl</h2></div><p>Owl text.</p></section></body>'
    )
    nav = toc_nav(li("book.xhtml#s0", "Stories",
                     li("book.xhtml#a", "The Fox", li("book.xhtml#a1", "Part of the fox"))
                     + li("book.xhtml#b", "The Bear") + li("book.xhtml#c", "The Owl")))
    book = read_book(build(tmp_path / "one.epub", {"book.xhtml": body}, nav=nav))
    # a single top entry stands for its children; its heading-only text leads the first chapter
    assert titles(book) == ["Stories — The Fox", "The Bear", "The Owl"]
    assert texts(book, 0) == ["Fox text.", "Part of the fox", "More fox."]
    assert texts(book, 1) == ["Bear text."]
    assert texts(book, 2) == ["Owl text."]
    assert all(c.source.endswith("#book.xhtml") for c in book.chapters)


def test_parts_and_chapters_in_nested_toc(tmp_path: Path) -> None:
    docs = {"p1.xhtml": "<body><h1>Part One</h1></body>", "c1.xhtml": "<body><h1>Storm</h1><p>a</p></body>",
            "c2.xhtml": "<body><h1>Calm</h1><p>b</p></body>", "p2.xhtml": "<body><h1>Part Two</h1></body>",
            "c3.xhtml": "<body><h1>Dawn</h1><p>c</p><h2 id='x'>Section</h2><p>d</p></body>"}
    nav = toc_nav(li("p1.xhtml", "Part One", li("c1.xhtml", "Storm") + li("c2.xhtml", "Calm"))
                  + li("p2.xhtml", "Part Two", li("c3.xhtml", "Dawn", li("c3.xhtml#x", "Section"))))
    book = read_book(build(tmp_path / "parts.epub", docs, nav=nav))
    assert titles(book) == ["Part One — Storm", "Calm", "Part Two — Dawn"]
    assert texts(book, 2) == ["c", "Section", "d"]


def test_documents_without_toc_entry_continue_the_chapter(tmp_path: Path) -> None:
    docs = {"c1.xhtml": "<body><h1>One</h1><p>a</p></body>", "c1b.xhtml": "<body><p>a, continued</p></body>",
            "c2.xhtml": "<body><h1>Two</h1><p>b</p></body>"}
    nav = toc_nav(li("c1.xhtml", "One") + li("c2.xhtml", "Two"))
    book = read_book(build(tmp_path / "split.epub", docs, nav=nav))
    assert titles(book) == ["One", "Two"]
    assert texts(book, 0) == ["a", "a, continued"]


def test_hgroup_title_and_subtitle_spoken_once(tmp_path: Path) -> None:
    docs = {"c1.xhtml": '<body><section epub:type="chapter"><hgroup><h2>I</h2><p>The Period</p></hgroup>'
                        "<p>It was the best of times.</p></section></body>"}
    book = read_book(build(tmp_path / "hg.epub", docs, nav=toc_nav(li("c1.xhtml", "I: The Period"))))
    assert titles(book) == ["I: The Period"]
    assert texts(book, 0) == ["It was the best of times."]
    book = read_book(build(tmp_path / "hg2.epub", docs))  # no TOC: the group is the title
    assert titles(book) == ["I: The Period"]
    assert texts(book, 0) == ["It was the best of times."]


def test_fixed_layout_pages_joined_into_chapters(tmp_path: Path) -> None:
    docs = {
        "p1.xhtml": '<body><div style="position:absolute"><h1>The Bear</h1></div>'
                    '<div style="position:absolute"><p>Once upon a time there</p></div></body>',
        "p2.xhtml": "<body><p>was a bear who lived</p><p>in the woods.</p></body>",
        "p3.xhtml": "<body><h1>The Owl</h1><p>An owl hooted.</p></body>",
        "p4.xhtml": "<body><p>The end.</p></body>",
    }
    nav = toc_nav(li("p1.xhtml", "The Bear") + li("p3.xhtml", "The Owl"))
    book = read_book(build(tmp_path / "fxl.epub", docs, nav=nav, fixed=True))
    assert titles(book) == ["The Bear", "The Owl"]
    assert texts(book, 0) == ["Once upon a time there was a bear who lived in the woods."]
    assert texts(book, 1) == ["An owl hooted.", "The end."]


# --------------------------------------------------------------------------
# Inline non-prose and notes
# --------------------------------------------------------------------------


def test_page_breaks_line_numbers_ruby_code_tables_svg(tmp_path: Path) -> None:
    body = (
        '<body><h1>One</h1><p>the newly- <span epub:type="pagebreak" title="209" id="p209">209</span>fallen'
        ' snow</p><p>A <span role="doc-pagebreak" aria-label="12"/>quiet<span class="pagenum">[13]</span> '
        'day.</p><div class="poem"><p>Under the Hofgarten,<span class="linenum">10</span></p>'
        '<p>we stopped<span style="float: right">15</span></p></div>'
        "<p><ruby>山路<rp>(</rp><rt>やまみち</rt><rp>)</rp></ruby>を行く。</p>"
        "<pre>def f():\n    return 1</pre><p><code>x = 1</code></p><p>Call <code>f()</code> now.</p>"
        "<table><tr><td>1900</td><td>42</td></tr></table>"
        '<svg xmlns="http://www.w3.org/2000/svg"><title>A drawing</title><text>First line</text>'
        "<text>second line</text></svg></body>"
    )
    book = read_book(build(tmp_path / "inline.epub", {"c.xhtml": body}))
    assert texts(book, 0) == [
        "the newly-fallen snow", "A quiet day.", "Under the Hofgarten,", "we stopped", "山路を行く。",
        "Call f() now.", "First line second line",
    ]
    line = warning(book, "not read aloud")
    for what in ("2 page numbers", "2 line numbers", "1 ruby", "1 tables", "2 code"):
        assert what in line, line


NOTES_BODY = (
    '<body><h1>One</h1><p>Upper Savannah<a epub:type="noteref" href="#n1">1</a> was formed.</p>'
    '<p>A currency.<sup><a href="#fn2" id="r2">2</a></sup> And more.</p><p>Plain end.</p>'
    '<aside epub:type="footnote" id="n1"><p>1 The branch flowing S.W.</p></aside>'
    '<div class="notes"><p id="fn2"><a href="#r2">2</a>. Corrected here. <a href="#r2">↩</a></p></div>'
    "</body>"
)


def test_notes_skipped_by_default_and_references_dropped(tmp_path: Path) -> None:
    book = read_book(build(tmp_path / "n.epub", {"c.xhtml": NOTES_BODY}))
    assert texts(book, 0) == ["Upper Savannah was formed.", "A currency. And more.", "Plain end."]
    assert "2 note references" in warning(book, "not read aloud")
    assert "--notes paragraph or --notes chapter" in warning(book, "skipped 2 notes")


def test_notes_read_after_paragraph_or_at_chapter_end(tmp_path: Path) -> None:
    path = build(tmp_path / "n.epub", {"c.xhtml": NOTES_BODY})
    book = read_epub(path, ReadOptions(notes="paragraph"))
    assert texts(book, 0) == ["Upper Savannah was formed.", "The branch flowing S.W.",
                              "A currency. And more.", "Corrected here.", "Plain end."]
    book = read_epub(path, ReadOptions(notes="chapter"))
    assert texts(book, 0) == ["Upper Savannah was formed.", "A currency. And more.", "Plain end.",
                              "The branch flowing S.W.", "Corrected here."]
    assert not any("notes" in w for w in book.warnings if "skipped" in w)


def test_endnotes_document_outside_the_reading_order(tmp_path: Path) -> None:
    docs = {"c.xhtml": '<body><h1>One</h1><p>Text<a epub:type="noteref" href="notes.xhtml#e1">1</a>.</p>'
                       "</body>",
            "notes.xhtml": '<body><section epub:type="endnotes"><h1>Notes</h1><ol><li id="e1">'
                           "<p>An endnote.</p></li></ol></section></body>"}
    path = build(tmp_path / "en.epub", docs, spine=["c.xhtml", ("notes.xhtml", "no")])
    assert texts(read_book(path), 0) == ["Text."]
    assert texts(read_epub(path, ReadOptions(notes="chapter")), 0) == ["Text.", "An endnote."]


# --------------------------------------------------------------------------
# Damaged packages
# --------------------------------------------------------------------------


def test_missing_manifest_item_outside_the_spine_is_a_warning(tmp_path: Path) -> None:
    docs = {"c.xhtml": "<body><h1>One</h1><p>Text.</p></body>"}
    book = read_book(build(tmp_path / "m.epub", docs, missing=("a%20normal%20item.xml",)))
    assert texts(book, 0) == ["Text."]
    assert "a normal item.xml" in warning(book, "missing from the archive")


def test_missing_spine_document_is_an_error(tmp_path: Path) -> None:
    docs = {"c.xhtml": "<body><p>Text.</p></body>"}
    path = build(tmp_path / "m.epub", docs, spine=["c.xhtml", "gone.xhtml"], missing=("gone.xhtml",))
    with pytest.raises(InputError, match="damaged EPUB: document gone.xhtml") as info:
        read_book(path)
    assert str(info.value).startswith(str(path))
