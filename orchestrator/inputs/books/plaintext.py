"""The plain-text book reader (:func:`read_plain_text`).

Plain text (``.txt``)
---------------------
* **Paragraphs** are separated by blank lines; hard-wrapped lines are joined
  with a space; leading and trailing spaces of each line are removed. A line
  made only of ``*``, ``#``, ``~``, ``-``, ``=``, ``_``, ``•`` and spaces (``* *
  *``, ``***``, ``#``, ``~``) is a scene break: it ends the paragraph and is
  skipped.
* **Chapter heading**: a line that stands alone (a blank line, a scene break or
  the start of the text before it; a blank line, a scene break or the end after
  it; but see *Subtitle*) and matches, ignoring case, one of:

  - ``Chapter``, ``Part`` or ``Book``, then a number: digits (``3``), a Roman
    numeral (``XII``) or number words (``Twelve``, ``Twenty-One``, ``the
    First``, ``the Last``);
  - ``Prologue``, ``Epilogue``, ``Preface``, ``Introduction``, ``Foreword``,
    ``Afterword`` or ``Interlude``, optionally followed by a number;

  then either nothing (a final ``.`` allowed), or a separator (``.``, ``:``,
  ``-``, ``–``, ``—``) and a title of at most 80 characters. Examples:
  ``CHAPTER I.``, ``Chapter 3: The Storm``, ``Chapter Twelve``, ``Part One —
  Arrival``, ``Prologue``. A prologue-type word may also be followed by ``to``
  or ``of`` and up to 80 characters that do not end with ``.`` (``Preface to
  the Second Edition``). Anything else is text: ``Chapter and verse were
  quoted.`` is never a heading, and neither is ``Chapter 3 The Storm`` (no
  separator). The heading line, minus a final ``.``, is the chapter title.
* **Subtitle**: when the heading line is bare (keyword and number only), a
  subtitle is joined to it with ``": "`` (``CHAPTER I.`` + ``Down the
  Rabbit-Hole`` → ``CHAPTER I: Down the Rabbit-Hole``). The subtitle is either
  a second line directly under the heading (at most 80 characters), or else the
  next paragraph when it is a single line of at most 60 characters that ends
  with a letter or digit, is not a heading itself, and is followed by a
  paragraph that is not a heading (so the chapter keeps some text). A heading
  line with more lines under it, or a titled heading with any line under it, is
  ordinary text.
* **Header**: leading paragraphs made only of metadata lines (``Key: value``
  with a key of :data:`HEADER_KEYS`: ``Title:``, ``Author:``, ``Year:``,
  ``Translator:``, ``Language:``, ``Narrator:``, ...; any case) are metadata,
  not text: title, author and language fill the book's fields, the others go
  to :attr:`Book.meta` (``Translated by:`` as ``translator``, ``Year:`` as
  ``year``). The first value of a key wins. In a Project Gutenberg file,
  everything up to the ``*** START OF THE PROJECT GUTENBERG EBOOK`` line is
  the header (the same keys are read from it) and everything from ``*** END
  OF THE PROJECT GUTENBERG EBOOK`` on is dropped.
* **Book title**: the header's ``Title:``, else the file name without suffix.
  Text before the first heading becomes a first chapter titled with the book
  title; a text with no heading at all is one chapter titled with the book
  title (not an error; only a text with no words is "no chapters").
* Line numbers (:attr:`Paragraph.line`, :attr:`Chapter.line`) are as for
  Markdown.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from orchestrator.inputs.books.model import Book, _assemble, _Item

_NUMBER_WORDS = (
    "eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|"
    "nineteenth|twentieth|thirtieth|fortieth|fiftieth|sixtieth|seventieth|eightieth|"
    "ninetieth|hundredth|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|"
    "last|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|"
    "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|one|two|three|four|five|"
    "six|seven|eight|nine|ten"
)
_NUMBER = (
    r"(?:\d+|m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})"
    rf"|(?:the\s+)?(?:{_NUMBER_WORDS})(?:[-\s](?:{_NUMBER_WORDS}))?)"
)
_HEADING = re.compile(
    r"^(?:(?:chapter|part|book)\s+(?P<num>" + _NUMBER + r")"
    r"|(?P<word>prologue|epilogue|preface|introduction|foreword|afterword|interlude)"
    r"(?:\s+" + _NUMBER + r")?)"
    r"(?:(?P<bare>\.?)|\s*[.:\-–—]\s*(?P<title>\S.{0,79})|\s+(?P<to>(?:to|of)\s.{0,79}))$",
    re.IGNORECASE,
)
_SCENE_BREAK = re.compile(r"^[*#~\-=_•\s]+$")
#: Metadata keys a header may give (as written, any case) and the field each
#: fills: ``title``, ``author`` and ``language`` fill the book's fields, the
#: others go to :attr:`Book.meta` under the name on the right.
HEADER_KEYS: dict[str, str] = {
    "title": "title", "subtitle": "subtitle", "author": "author", "authors": "author",
    "translator": "translator", "translators": "translator", "translated by": "translator",
    "editor": "editor", "edited by": "editor", "illustrator": "illustrator",
    "illustrated by": "illustrator", "year": "year", "date": "date", "published": "date",
    "release date": "date", "publisher": "publisher", "language": "language", "narrator": "narrator",
    "read by": "narrator", "series": "series", "source": "source", "license": "license",
    "licence": "license", "copyright": "copyright", "isbn": "isbn",
}
_HEADER_KEY = re.compile(
    r"^(" + "|".join(sorted((k.replace(" ", r"\s+") for k in HEADER_KEYS), key=len, reverse=True))
    + r")\s*:\s*(\S.*)$",
    re.IGNORECASE,
)
_GUTENBERG_START = re.compile(r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
_GUTENBERG_END = re.compile(r"^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)


def header_field(line: str) -> tuple[str, str] | None:
    """``(field, value)`` when ``line`` is a metadata line such as ``Author:
    Lewis Carroll`` (a key of :data:`HEADER_KEYS`, a colon, a value), else None."""
    m = _HEADER_KEY.match(line.strip())
    if m is None:
        return None
    return HEADER_KEYS[" ".join(m.group(1).lower().split())], m.group(2).strip()


def _heading(line: str) -> tuple[str, bool] | None:
    """``(title, bare)`` when ``line`` matches the chapter-heading pattern;
    ``bare`` when it is only keyword and number (a subtitle may follow)."""
    m = _HEADING.match(line)
    if m is None:
        return None
    if m.group("to") is not None and (m.group("word") is None or line.endswith((".", ",", ";"))):
        return None  # "Introduction to the problem was swift." is a sentence
    # The regex's Roman-numeral part may match nothing: "Chapter" alone is not a heading.
    if m.group("word") is None and not (m.group("num") or "").strip():
        return None
    bare = m.group("bare") is not None
    return (line[:-1].rstrip() if bare and line.endswith(".") else line), bare


def _block_heading(block: list[str]) -> tuple[str, bool] | None:
    """``(title, bare)`` when a paragraph (lines between blank lines) is a
    chapter heading: one heading line, or a bare heading line and a subtitle
    line of at most 80 characters (then ``bare`` is False: nothing more joins)."""
    if len(block) > 2:
        return None
    heading = _heading(block[0])
    if heading is None or len(block) == 1:
        return heading
    if heading[1] and len(block[1]) <= 80:
        return f"{heading[0]}: {block[1]}", False
    return None  # a paragraph that merely starts like a heading


def _is_subtitle(block: list[str]) -> bool:
    return (
        len(block) == 1
        and len(block[0]) <= 60
        and block[0][-1].isalnum()
        and _heading(block[0]) is None
    )


def read_plain_text(text: str, *, source: str) -> Book:
    """Read a plain-text book by the chapter-heading rule of the module
    docstring. ``source`` names the file in errors and in
    :attr:`Chapter.source`; its stem is the fallback book title."""
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines()]
    meta: dict[str, str] = {}
    first, last = 0, len(lines)
    start = next((i for i, line in enumerate(lines) if _GUTENBERG_START.match(line)), None)
    if start is not None:
        for line in lines[:start]:
            if found := header_field(line):
                meta.setdefault(*found)
        first = start + 1
    end = next((i for i in range(first, len(lines)) if _GUTENBERG_END.match(lines[i])), None)
    if end is not None:
        last = end

    # Blocks: runs of text lines between blank lines and scene breaks, with their first line number.
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for index in range(first, last):
        line = lines[index]
        if not line or _SCENE_BREAK.match(line):
            if current:
                blocks.append((index - len(current) + 1, current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append((last - len(current) + 1, current))

    # Leading paragraphs made only of metadata lines are the header (one
    # paragraph of "Title:/Author:" lines, or one line each between blank lines).
    while blocks and start is None and all(header_field(line) for line in blocks[0][1]):
        for line in blocks.pop(0)[1]:
            found = header_field(line)
            assert found is not None  # checked just above
            meta.setdefault(*found)

    items: list[_Item] = []
    i = 0
    while i < len(blocks):
        number, block = blocks[i]
        heading = _block_heading(block)
        if heading is None:
            items.append(_Item("para", html.unescape(" ".join(block)), number))
            i += 1
            continue
        title, bare = heading
        # A subtitle paragraph must leave the chapter some text of its own.
        if (
            bare
            and i + 2 < len(blocks)
            and _is_subtitle(blocks[i + 1][1])
            and _block_heading(blocks[i + 2][1]) is None
        ):
            title = f"{title}: {blocks[i + 1][1][0]}"
            i += 1
        items.append(_Item("heading", html.unescape(title), number))
        i += 1

    book_title = meta.pop("title", None) or Path(source).stem
    chapters = _assemble(
        items,
        source=source,
        book_title=book_title,
        fix="write the text as paragraphs separated by blank lines; chapters start at a line "
        "such as 'Chapter 1' or 'CHAPTER I.' standing alone between blank lines",
    )
    return Book(
        title=book_title,
        chapters=chapters,
        author=meta.pop("author", None),
        language=meta.pop("language", None),
        meta=meta,
    )
