"""Books (EPUB, Markdown, plain text) into chapters of paragraphs.

(Readers to be written; the data model below is shared with the prose planner.)
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
