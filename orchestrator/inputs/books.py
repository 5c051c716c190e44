"""Books (EPUB, Markdown, plain text) into chapters of paragraphs.

:func:`read_book` picks the reader by the file's suffix (case-insensitive):
``.epub`` → :func:`read_epub`, ``.md``/``.markdown`` → :func:`read_markdown`,
``.txt`` → :func:`read_plain_text`. A book becomes a :class:`Book`: metadata
and a tuple of :class:`Chapter`, each a title and a tuple of
:class:`Paragraph`. The rules below are the whole contract; anything they do
not mention is spoken as ordinary text.

Rules common to every format
----------------------------
* Paragraph text is whitespace-collapsed (line breaks become single spaces)
  and stripped; a paragraph with no letter or digit in it (``* * *``, ``—``,
  ``...``) is dropped. HTML entities (``&amp;``, ``&#8217;``) are decoded;
  typographic quotes and dashes are kept as they are.
* voicecast tags — ``[name]`` or ``[name:value]`` not followed by ``(``, such
  as ``[voice:Fox]``, ``[pause:1.5]``, ``[sad:0.6]`` — are kept untouched.
* **No chapters**: a book that yields no chapter at all (an empty file, only
  blank lines or markup, an EPUB whose documents have no text) is an error.
* **Empty chapter**: a chapter heading followed by no speakable paragraph
  before the next chapter heading (or the end) is an error naming the
  chapter's title and its line (EPUB: its document). Delete the heading or give
  the chapter its text; a table of contents at the start of a text file is the
  usual cause.
* Text files are decoded as UTF-8 (with or without BOM), as UTF-16 when they
  start with a BOM, else as Windows-1252 with a logged warning; a file with NUL
  bytes (binary) or bytes that are none of these is an error. Errors are
  :class:`~voicecast.errors.InputError` naming the file (and line).

Markdown (``.md``, ``.markdown``)
---------------------------------
* **Front matter** (optional): the first line is ``---``, then ``key: value``
  lines (blank lines and ``#`` comments allowed; values may be quoted), then a
  ``---`` (or ``...``) line. ``title``, ``author`` and ``language`` fill the
  book's fields; every other key (``narrator`` included) goes to
  :attr:`Book.meta`, keys lower-cased. A missing closing line, or a line that
  is not ``key: value``, is an error with its line.
* **Chapters** start at ATX headings (``#`` then a space): level 1 (``# Title``)
  normally. When the file has **no** level-1 heading but has level-2 ones, or
  has **exactly one** level-1 heading that comes before all its level-2
  headings, level-2 headings (``## Title``) are the chapters and that single
  ``#`` heading is the book's title (not spoken). Headings below the chapter
  level are spoken, each as its own paragraph. Setext headings (text underlined
  with ``===``) are not headings; the underline is skipped as a rule. A chapter
  heading with no text is an error.
* **Title text** (headings and paragraphs alike) has inline Markdown removed:
  ``*x*``, ``_x_``, ``**x**``, ``__x__``, ``~~x~~`` → ``x``; ``[text](url)`` →
  ``text``; ```code``` → ``code``; ``<https://url>`` → ``https://url``; inline
  HTML tags dropped; backslash escapes (``\\*``) give the character.
  Underscores inside words (``snake_case``) are not emphasis.
* **Paragraphs** are separated by blank lines; the lines of one paragraph are
  joined with a space (a trailing ``\\`` or two spaces, Markdown's hard break,
  is just a space). Each list item (``- ``, ``* ``, ``+ ``, ``1. ``, ``1) ``) is
  its own paragraph, marker removed; block-quote markers (``>``) are removed
  and the text kept.
* **Skipped**: fenced code blocks (``````` or ``~~~``; an unclosed fence is an
  error), HTML comments ``<!-- -->`` (may span lines; an unclosed one is an
  error), horizontal rules and scene breaks (``---``, ``***``, ``* * *``,
  ``___``), and images ``![alt](src)``.
* **Book title**: front matter ``title``, else the single ``#`` book-title
  heading (see above), else the file name without its suffix.
* **Text before the first chapter heading** (after the front matter and the
  book-title heading), such as a foreword, becomes a first chapter titled with
  the book title, if it has speakable text. A file with no chapter headings at
  all is therefore one chapter titled with the book title.
* :attr:`Paragraph.line` is the 1-based line of the paragraph's first line;
  :attr:`Chapter.line` is the line of its heading (for the untitled first
  chapter, the line of its first paragraph).

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
* **Header**: a first paragraph made only of ``Title:``, ``Author:``,
  ``Language:`` or ``Narrator:`` lines is metadata, not text: title, author
  and language fill the book's fields, narrator goes to :attr:`Book.meta`. In a
  Project Gutenberg file, everything up to the ``*** START OF THE PROJECT
  GUTENBERG EBOOK`` line is the header (those four keys are read from it) and
  everything from ``*** END OF THE PROJECT GUTENBERG EBOOK`` on is dropped.
* **Book title**: the header's ``Title:``, else the file name without suffix.
  Text before the first heading becomes a first chapter titled with the book
  title; a text with no heading at all is one chapter titled with the book
  title (not an error; only a text with no words is "no chapters").
* Line numbers (:attr:`Paragraph.line`, :attr:`Chapter.line`) are as for
  Markdown.

EPUB (``.epub``)
----------------
* Read with ebooklib. A file that is not a ZIP archive, a ZIP without
  ``META-INF/container.xml``, a damaged EPUB and a DRM-encrypted EPUB are
  errors (never a traceback).
* **Chapters** are the XHTML documents of the spine, in spine order, one
  chapter per document. Skipped: the navigation document, the cover page,
  non-linear documents (``linear="no"``: notes, covers) and documents with no
  text at all (image pages).
* **Chapter title**: the table-of-contents entry that points at the document
  (first one if several; ``#fragment`` ignored), else the document's first
  ``h1``–``h3`` heading, else ``Chapter N`` (N counts the chapters kept).
* **Paragraphs**, in document order: the text of each block element (``p``,
  ``div``, ``li``, ``blockquote``, ``pre``, ``h1``–``h6``, table cells...); a
  nested block ends the text around it, so ``<div>a<p>b</p>c</div>`` gives
  ``a``, ``b``, ``c``. ``<br>`` is a space; ``script``, ``style`` and ``head``
  are skipped; image ``alt`` text is not read. The first ``h1``–``h3`` heading
  is not spoken when it gave the title, or when it and the TOC title are the
  same or one contains the other (case-insensitive); otherwise it is the first
  paragraph.
* A document with a TOC entry whose only text is its title heading is an
  empty chapter (error); one without a TOC entry is skipped. A part's
  divider page (a heading-only document whose TOC entry has the part's
  chapters nested under it) is not a chapter: its title leads the next
  chapter's ("Part One — The Storm").
* **Metadata**: Dublin Core ``title`` (else the file name), ``creator``
  (authors joined with ``, ``), ``language``; ``identifier``, ``publisher`` and
  ``date`` go to :attr:`Book.meta`. **Cover**: the image marked
  ``cover-image`` in the manifest, else the one named by
  ``<meta name="cover">``; a book without one has ``cover=None``.
* :attr:`Chapter.source` is ``"<file>#<document>"``; EPUB lines are 0.
"""

from __future__ import annotations

import html
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.inputs.subtitles import decode_text
from voicecast.errors import InputError


@dataclass(frozen=True)
class Paragraph:
    """One paragraph as written (markup such as ``[voice:Fox]`` kept), with the
    1-based line where it starts in the source file (0 when the format has no
    lines worth naming, e.g. inside an EPUB document)."""

    text: str
    line: int = 0


@dataclass(frozen=True)
class Chapter:
    """A chapter: its title, its paragraphs, and where it came from (the file,
    or ``file#item`` for an EPUB document) and the line of its heading."""

    title: str
    paragraphs: tuple[Paragraph, ...]
    source: str
    line: int = 0


@dataclass(frozen=True)
class Book:
    """A whole book: metadata and chapters in reading order."""

    title: str
    chapters: tuple[Chapter, ...]
    author: str | None = None
    language: str | None = None
    #: Cover image bytes and MIME type, when the book has one.
    cover: bytes | None = None
    cover_type: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------

log = logging.getLogger(__name__)

BOOK_FORMATS: tuple[str, ...] = (".epub", ".md", ".markdown", ".txt")

#: A voicecast tag (same grammar as :mod:`voicecast.emotions`), not a link text.
_TAG = re.compile(r"\[\s*[A-Za-z][\w-]*\s*(?::[^\]]*)?\](?!\()")


def read_book(path: Path) -> Book:
    """Read a book file into chapters, choosing the reader by its suffix
    (``.epub``, ``.md``/``.markdown``, ``.txt``; see the module docstring for
    the rules). Raises :class:`InputError` naming the file for anything that
    cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in BOOK_FORMATS:
        raise InputError(
            f"not a book file ({suffix or 'no suffix'}); voicecast reads books as "
            f"{', '.join(BOOK_FORMATS)}: rename the file or convert it",
            file=path,
        )
    if suffix == ".epub":
        book = read_epub(path)
    else:
        text = decode_text(_read_bytes(path), str(path), "book (save an EPUB with a .epub suffix)")
        if suffix == ".txt":
            book = read_plain_text(text, source=str(path))
        else:
            book = read_markdown(text, source=str(path))
    log.debug("%s: %d chapters, %d paragraphs", path, len(book.chapters),
              sum(len(c.paragraphs) for c in book.chapters))
    return book


# --------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------


def _read_bytes(path: Path, *, probe: bool = False) -> bytes:
    """The file's bytes (only checks it can be opened when ``probe``), with
    missing, directory and permission problems as errors naming the file."""
    try:
        if probe:
            with path.open("rb"):
                return b""
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError("book file not found; check the path", file=path) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a book file", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the book file: {exc.strerror or exc}", file=path) from None


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _collapse(text: str) -> str:
    return " ".join(text.split())


@dataclass
class _Item:
    """One parsed block before chapters are formed: a chapter heading or a paragraph."""

    kind: str  # "heading" or "para"
    text: str
    line: int


def _assemble(items: list[_Item], *, source: str, book_title: str, fix: str) -> tuple[Chapter, ...]:
    """Chapters from headings and paragraphs: paragraphs before the first
    heading form a chapter titled ``book_title``; a heading with no paragraph
    after it is an error (``fix`` says what a heading looks like)."""
    chapters: list[Chapter] = []
    title: str | None = None
    line = 0
    paras: list[Paragraph] = []

    def close() -> None:
        if title is None:  # text before the first heading (foreword, or a book without headings)
            if paras:
                chapters.append(Chapter(book_title, tuple(paras), source, paras[0].line))
            return
        if not paras:
            raise InputError(
                f"empty chapter {title!r}: its heading is followed by no text before the next "
                f"chapter heading or the end of the file; add the chapter's text or delete the "
                f"heading (a table of contents is the usual cause)",
                file=source,
                line=line,
            )
        chapters.append(Chapter(title, tuple(paras), source, line))

    for item in items:
        if item.kind == "heading":
            close()
            title, line, paras = item.text, item.line, []
        elif _speakable(item.text):
            paras.append(Paragraph(item.text, item.line))
    close()
    if not chapters:
        raise InputError(f"no chapters found: the book has no text to speak; {fix}", file=source)
    return tuple(chapters)


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_RULE = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,}|(?:=[ \t]*){3,})$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)")
_QUOTE = re.compile(r"^[ \t]{0,3}>[ \t]?")
_FRONT_KEY = re.compile(r"^([A-Za-z][\w-]*)[ \t]*:[ \t]*(.*?)[ \t]*$")

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]+)>")
_HTML_TAG = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>")
_EMPHASIS = (
    re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"),
    re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"),
    re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"),
    re.compile(r"\*(?=\S)(.+?)(?<=\S)\*"),
    re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"),
)
# Private-use characters: placeholders for text that inline stripping must not touch.
_HOLD = re.compile("\ue000(\\d+)\ue001")


def _strip_inline(text: str) -> str:
    """Text of one Markdown paragraph or heading with inline markup removed,
    voicecast tags and code-span contents kept verbatim."""
    held: list[str] = []

    def hold(value: str) -> str:
        held.append(value)
        return f"\ue000{len(held) - 1}\ue001"

    text = _ESCAPE.sub(lambda m: hold(m.group(1)), text)
    text = _CODE_SPAN.sub(lambda m: hold(m.group(2).strip()), text)
    text = _TAG.sub(lambda m: hold(m.group(0)), text)
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(lambda m: hold(m.group(1)), text)
    text = _HTML_TAG.sub("", text)
    for pattern in _EMPHASIS:
        # Repeat so that nested emphasis (**a *b* c**) is fully removed.
        previous = None
        while previous != text:
            previous, text = text, pattern.sub(r"\1", text)
    while _HOLD.search(text):  # held text may itself hold escapes
        text = _HOLD.sub(lambda m: held[int(m.group(1))], text)
    return _collapse(html.unescape(text))


def _front_matter(lines: list[str], source: str) -> tuple[dict[str, str], int]:
    """``(key → value, index of the first body line)`` of optional front matter."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        raise InputError(
            "front matter is not closed: the file starts with '---' but has no closing '---' "
            "line; add one after the 'key: value' lines (or delete the first line if it is not "
            "front matter)",
            file=source,
            line=1,
        )
    meta: dict[str, str] = {}
    for i in range(1, end):
        raw = lines[i].strip()
        if not raw or raw.startswith("#"):
            continue
        m = _FRONT_KEY.match(raw)
        if m is None:
            raise InputError(
                "front matter line is not 'key: value'; write one 'key: value' per line between "
                "the '---' lines (title, author, language, narrator, ...)",
                file=source,
                line=i + 1,
            )
        value = m.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if value:
            meta[m.group(1).lower()] = value
    return meta, end + 1


def _markdown_blocks(lines: list[str], start: int, source: str) -> list[tuple[str, int, str, int]]:
    """Blocks of the Markdown body: ``("heading", level, text, line)`` and
    ``("para", 0, text, line)``, with code, comments, rules and images gone."""
    blocks: list[tuple[str, int, str, int]] = []
    para: list[str] = []
    para_line = 0
    fence: str | None = None
    fence_line = 0
    in_comment = False
    comment_line = 0

    def flush() -> None:
        nonlocal para
        if para:
            blocks.append(("para", 0, _strip_inline(" ".join(para)), para_line))
            para = []

    for index in range(start, len(lines)):
        number = index + 1
        line = lines[index]
        if fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            continue
        # HTML comments may span lines; a line made only of comment is ignored
        # (it neither adds text nor separates paragraphs).
        visible, had_comment = [], in_comment
        rest = line
        while rest:
            if in_comment:
                end = rest.find("-->")
                if end < 0:
                    rest = ""
                    break
                in_comment, rest = False, rest[end + 3:]
            else:
                begin = rest.find("<!--")
                if begin < 0:
                    visible.append(rest)
                    break
                visible.append(rest[:begin])
                in_comment, had_comment, comment_line = True, True, number
                rest = rest[begin + 4:]
        line = "".join(visible)
        if had_comment and not line.strip():
            continue
        if m := _FENCE.match(line):
            flush()
            fence, fence_line = m.group(1), number
            continue
        while m := _QUOTE.match(line):
            line = line[m.end():]
        if not line.strip():
            flush()
            continue
        if m := _ATX.match(line):
            flush()
            blocks.append(("heading", len(m.group(1)), _strip_inline(m.group(2) or ""), number))
            continue
        if _RULE.match(line):
            flush()
            continue
        if m := _LIST_ITEM.match(line):
            flush()
            line = line[m.end():]
            if not line.strip():
                continue
        stripped = line.strip()
        if stripped.endswith("\\") and not stripped.endswith("\\\\"):
            stripped = stripped[:-1]  # Markdown hard line break: just a space here
        if not para:
            para_line = number
        para.append(stripped)
    flush()
    if fence is not None:
        raise InputError(
            f"code block opened with {fence} is never closed; add a closing {fence} line",
            file=source,
            line=fence_line,
        )
    if in_comment:
        raise InputError(
            "HTML comment '<!--' is never closed; add '-->' where it ends",
            file=source,
            line=comment_line,
        )
    return blocks


def read_markdown(text: str, *, source: str) -> Book:
    """Read a Markdown book (rules in the module docstring). ``source`` names
    the file in errors and in :attr:`Chapter.source`; its stem is the fallback
    book title."""
    lines = text.lstrip("\ufeff").splitlines()
    meta, start = _front_matter(lines, source)
    blocks = _markdown_blocks(lines, start, source)

    level1 = [b for b in blocks if b[0] == "heading" and b[1] == 1]
    level2 = [b for b in blocks if b[0] == "heading" and b[1] == 2]
    title_heading: tuple[str, int, str, int] | None = None
    chapter_level = 1
    if level2 and (not level1 or (len(level1) == 1 and level1[0][3] < level2[0][3])):
        chapter_level = 2
        title_heading = level1[0] if level1 else None

    book_title = meta.pop("title", None) or (title_heading[2] if title_heading else "") or Path(source).stem
    items: list[_Item] = []
    for kind, level, value, number in blocks:
        if kind == "heading" and level == chapter_level:
            if not _speakable(value):
                raise InputError(
                    "chapter heading has no title; write the title after the '#' marks",
                    file=source,
                    line=number,
                )
            items.append(_Item("heading", value, number))
        elif (kind, level, value, number) != title_heading:
            items.append(_Item("para", value, number))
    marker = "#" * chapter_level
    chapters = _assemble(
        items,
        source=source,
        book_title=book_title,
        fix=f"start each chapter with a '{marker} Title' heading followed by its paragraphs, "
        f"separated by blank lines",
    )
    return Book(
        title=book_title,
        chapters=chapters,
        author=meta.pop("author", None),
        language=meta.pop("language", None),
        meta=meta,
    )


# --------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------

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
_HEADER_KEY = re.compile(r"^(title|author|language|narrator)\s*:\s*(\S.*)$", re.IGNORECASE)
_GUTENBERG_START = re.compile(r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
_GUTENBERG_END = re.compile(r"^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)


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
            if m := _HEADER_KEY.match(line):
                meta.setdefault(m.group(1).lower(), m.group(2).strip())
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

    if blocks and start is None and all(_HEADER_KEY.match(line) for line in blocks[0][1]):
        for line in blocks[0][1]:
            m = _HEADER_KEY.match(line)
            assert m is not None  # checked just above
            meta.setdefault(m.group(1).lower(), m.group(2).strip())
        blocks.pop(0)

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


# --------------------------------------------------------------------------
# EPUB
# --------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    "p div li ul ol dl dt dd blockquote pre h1 h2 h3 h4 h5 h6 table thead tbody tfoot tr td th "
    "caption section article header footer main figure figcaption aside nav address hr body "
    "center details summary".split()
)
_SKIP_TAGS = frozenset({"script", "style", "head", "template", "noscript"})
_TITLE_HEADINGS = ("h1", "h2", "h3")
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")
_XML_DECLARATION_STR = re.compile(r"^\s*<\?xml[^>]*\?>")
_XML_ENCODING = re.compile(rb"""encoding\s*=\s*["']([\w.:-]+)["']""")


def _document_blocks(content: bytes | str) -> list[tuple[str, str]]:
    """``(tag, text)`` of each block of an XHTML document, in document order
    (rules in the module docstring); ``tag`` is the innermost block element."""
    import lxml.etree
    import lxml.html

    if isinstance(content, bytes):
        # lxml refuses a str with an XML declaration, and the bytes may not be UTF-8.
        data, encoding = content, "utf-8"
        if m := _XML_DECLARATION.match(data):
            if enc := _XML_ENCODING.search(m.group(0)):
                encoding = enc.group(1).decode("ascii")
            data = data[m.end():]
        try:
            content = data.decode(encoding, errors="replace")
        except LookupError:  # an encoding name Python does not know
            content = data.decode("utf-8", errors="replace")
    else:
        content = _XML_DECLARATION_STR.sub("", content, count=1)
    if not content.strip():
        return []
    try:
        root = lxml.html.document_fromstring(content)
    except (lxml.etree.ParserError, ValueError):
        return []
    body = root.find("body")
    if body is None:
        body = root

    out: list[tuple[str, str]] = []
    buf: list[str] = []
    stack: list[str] = []

    def flush() -> None:
        text = _collapse(html.unescape("".join(buf)))  # entities lxml left (double-escaped)
        buf.clear()
        if text:
            out.append((stack[-1] if stack else "body", text))

    def walk(el: lxml.html.HtmlElement) -> None:
        tag = el.tag.rsplit("}", 1)[-1].lower() if isinstance(el.tag, str) else None
        if tag is None or tag in _SKIP_TAGS:  # comments, processing instructions, scripts
            buf.append(el.tail or "")
            return
        block = tag in _BLOCK_TAGS
        if block:
            flush()
            stack.append(tag)
        elif tag == "br":
            buf.append(" ")
        buf.append(el.text or "")
        for child in el:
            walk(child)
        if block:
            flush()
            stack.pop()
        buf.append(el.tail or "")

    walk(body)
    flush()
    return out


def _toc_titles(toc: object, parents: set[str] | None = None) -> dict[str, str]:
    """``document href → title`` from ebooklib's nested TOC (first entry wins).
    The hrefs of entries that have children (parts) are added to ``parents``."""
    titles: dict[str, str] = {}

    def visit(node: object) -> None:
        if isinstance(node, tuple) and len(node) == 2 and isinstance(node[1], (list, tuple)):
            href = getattr(node[0], "href", None)
            if parents is not None and isinstance(href, str) and href and node[1]:
                parents.add(_norm_href(href))
        if isinstance(node, (list, tuple)):
            for child in node:
                visit(child)
            return
        href = getattr(node, "href", None)
        title = _collapse(str(getattr(node, "title", "") or ""))
        if isinstance(href, str) and href and _speakable(title):
            titles.setdefault(_norm_href(href), title)

    visit(toc)
    return titles


def _norm_href(href: str) -> str:
    import posixpath
    from urllib.parse import unquote

    return posixpath.normpath(unquote(href.split("#", 1)[0]))


def _same_title(a: str, b: str) -> bool:
    a, b = a.casefold(), b.casefold()
    return a in b or b in a


def _check_epub_container(path: Path) -> None:
    """Errors for what is not an EPUB at all, before ebooklib sees it."""
    import lxml.etree

    _read_bytes(path, probe=True)
    if not zipfile.is_zipfile(path):
        with path.open("rb") as fh:
            if fh.read(4) == b"PK\x03\x04":  # starts like a ZIP: cut short or damaged
                raise InputError(
                    "damaged EPUB: the ZIP archive is truncated or corrupt; re-download it or "
                    "export it again",
                    file=path,
                )
        raise InputError(
            "not an EPUB: the file is not a ZIP archive (an EPUB is one); if it is a text or "
            "Markdown book, give it a .txt or .md suffix, else re-export it as EPUB",
            file=path,
        )
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            encryption = (
                zf.read("META-INF/encryption.xml") if "META-INF/encryption.xml" in names else None
            )
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"damaged EPUB ({exc}); re-download or re-export it", file=path) from None
    if "META-INF/container.xml" not in names:
        raise InputError(
            "a ZIP archive but not an EPUB: it has no META-INF/container.xml; give a real "
            ".epub file (export it again from the editor that made it)",
            file=path,
        )
    if encryption:
        # Font obfuscation also lives in encryption.xml; only encrypted documents mean DRM.
        try:
            tree = lxml.etree.fromstring(encryption, lxml.etree.XMLParser(recover=True))
        except (lxml.etree.XMLSyntaxError, ValueError):
            tree = None
        uris = [] if tree is None else [
            str(el.get("URI", "")) for el in tree.iter() if isinstance(el.tag, str)
            and el.tag.endswith("CipherReference")
        ]
        if any(uri.lower().endswith((".html", ".xhtml", ".htm")) for uri in uris):
            raise InputError(
                "the EPUB is DRM-protected (its documents are encrypted) and cannot be read; "
                "use a DRM-free copy",
                file=path,
            )


def read_epub(path: Path) -> Book:
    """Read an EPUB book with ebooklib (rules in the module docstring). Raises
    :class:`InputError` naming the file for a file that is not an EPUB, a
    damaged or DRM-protected one, no chapters, or an empty chapter."""
    import ebooklib
    from ebooklib import epub

    path = Path(path)
    _check_epub_container(path)
    try:
        ebook = epub.read_epub(str(path), options={"ignore_ncx": True})
    except Exception as exc:  # ebooklib raises anything from KeyError to lxml errors on bad input
        log.debug("ebooklib could not read %s", path, exc_info=True)
        detail = str(exc).strip() or type(exc).__name__
        raise InputError(
            f"damaged EPUB, cannot be read ({detail}); re-download it or export it again "
            f"(epubcheck shows what is wrong)",
            file=path,
        ) from None

    def dc(name: str) -> list[str]:
        return [_collapse(str(v)) for v, _ in ebook.get_metadata("DC", name) if v and str(v).strip()]

    parts: set[str] = set()
    toc = _toc_titles(ebook.toc, parts)
    part_title: str | None = None
    basenames: dict[str, str] = {}
    for href, title in toc.items():
        basenames.setdefault(href.rsplit("/", 1)[-1], title)

    chapters: list[Chapter] = []
    for entry in ebook.spine:
        idref, linear = entry if isinstance(entry, tuple) else (entry, "yes")
        item = ebook.get_item_with_id(idref)
        if (
            item is None
            or str(linear).lower() == "no"
            or isinstance(item, (epub.EpubNav, epub.EpubCoverHtml))
            or item.get_type() != ebooklib.ITEM_DOCUMENT
        ):
            continue
        name = item.file_name
        where = f"{path}#{name}"
        blocks = _document_blocks(item.content or b"")
        speakable = [(tag, text) for tag, text in blocks if _speakable(text)]
        if not speakable:
            log.debug("%s: no text, skipped", where)
            continue
        toc_title = toc.get(_norm_href(name)) or basenames.get(name.rsplit("/", 1)[-1])
        heading_at = next((i for i, (tag, _) in enumerate(speakable) if tag in _TITLE_HEADINGS), None)
        heading = speakable[heading_at][1] if heading_at is not None else None
        title = toc_title or heading or f"Chapter {len(chapters) + 1}"
        if heading_at is not None and (toc_title is None or _same_title(toc_title, heading or "")):
            del speakable[heading_at]
        if not speakable:
            if toc_title is None:
                log.debug("%s: only a heading and no TOC entry, skipped", where)
                continue
            if _norm_href(name) in parts:
                # A part's divider page ("Part One", its chapters nested under it in
                # the TOC): not a chapter of its own; its title leads the next one's.
                part_title = title
                continue
            raise InputError(
                f"empty chapter {title!r}: document {name} has a table-of-contents entry but no "
                f"text besides its title; fix the EPUB (e.g. in Calibre or Sigil) by adding the "
                f"text or removing the document from the spine and the table of contents",
                file=where,
            )
        if part_title:
            title, part_title = f"{part_title} — {title}", None
        chapters.append(Chapter(title, tuple(Paragraph(text, 0) for _, text in speakable), where, 0))

    if not chapters:
        raise InputError(
            "no chapters found: no document in the EPUB's spine has text (an EPUB's chapters "
            "are its spine's XHTML documents; an image-only or scanned book cannot be read)",
            file=path,
        )

    cover, cover_type = _epub_cover(ebook, ebooklib)
    meta = {key: values[0] for key in ("identifier", "publisher", "date") if (values := dc(key))}
    authors = dc("creator")
    languages = dc("language")
    return Book(
        title=(dc("title") or [path.stem])[0],
        chapters=tuple(chapters),
        author=", ".join(dict.fromkeys(authors)) or None,
        language=languages[0] if languages else None,
        cover=cover,
        cover_type=cover_type,
        meta=meta,
    )


def _epub_cover(ebook: object, ebooklib: object) -> tuple[bytes | None, str | None]:
    """The cover image's bytes and MIME type, or ``(None, None)``."""
    for item in ebook.get_items_of_type(ebooklib.ITEM_COVER):  # type: ignore[attr-defined]
        if item.content:
            return bytes(item.content), item.media_type
    # EPUB 2: <meta name="cover" content="image-id"/>; ebooklib files it under
    # "cover" or "meta" depending on how the OPF declares its namespaces.
    metas = ebook.get_metadata("OPF", "cover") + ebook.get_metadata("OPF", "meta")  # type: ignore[attr-defined]
    for _, attrs in metas:
        if (attrs or {}).get("name") == "cover" and (attrs or {}).get("content"):
            item = ebook.get_item_with_id(attrs["content"])  # type: ignore[attr-defined]
            if item is not None and str(item.media_type or "").startswith("image/") and item.content:
                return bytes(item.content), item.media_type
    return None, None
