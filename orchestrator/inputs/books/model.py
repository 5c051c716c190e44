"""The book model every reader produces (:class:`Book`, :class:`Chapter`,
:class:`Paragraph`) and the helpers the readers share.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from voicecast.errors import InputError
from voicecast.settings import InputSettings


@dataclass(frozen=True)
class Paragraph:
    """One paragraph as written (markup such as ``[voice:Fox]`` kept), with the
    1-based line where it starts in the source file (0 when the format has no
    lines worth naming, e.g. inside an EPUB document).

    In a play (see :mod:`~orchestrator.inputs.books.markdown`), ``speaker`` is
    the character whose speech label the paragraph started with (the label is
    not in ``text``), and ``directions`` are the ``(start, end)`` spans of
    ``text`` that are stage directions, brackets included (``[Exit.]``; a
    paragraph all in bold, ``Curtain.``, has none)."""

    text: str
    line: int = 0
    speaker: str | None = None
    directions: tuple[tuple[int, int], ...] = ()


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
    #: What the reader skipped or repaired, for the user: one line per kind,
    #: with a count and a few examples ("skipped front matter (3): Title Page,
    #: Copyright, Contents; --front-matter reads it").
    warnings: tuple[str, ...] = ()


#: Where a book's notes are read: not at all, after the paragraph that refers to
#: them, or at the end of the chapter.
NoteMode = Literal["skip", "paragraph", "chapter"]


@dataclass(frozen=True)
class ReadOptions:
    """What a reader keeps besides the body of the book (the EPUB reader uses
    them; Markdown and plain text have no such structure)."""

    #: Read front matter (title page, copyright page, dedication, preface...).
    front_matter: bool = False
    #: Read back matter (appendices, index, glossary, colophon...).
    back_matter: bool = False
    notes: NoteMode = "skip"
    #: Decompression limits of an EPUB (``VOICECAST_INPUTS__EPUB_*``); None: the defaults.
    limits: InputSettings | None = field(default=None, compare=False)


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
    speaker: str | None = None  # a play's paragraph: see Paragraph
    directions: tuple[tuple[int, int], ...] = ()


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
            paras.append(Paragraph(item.text, item.line, item.speaker, item.directions))
    close()
    if not chapters:
        raise InputError(f"no chapters found: the book has no text to speak; {fix}", file=source)
    return tuple(chapters)
