"""Books (EPUB, Markdown, plain text) into chapters of paragraphs.

:func:`read_book` picks the reader by the file's suffix (case-insensitive):
``.epub`` → :func:`read_epub`, ``.md``/``.markdown`` → :func:`read_markdown`,
``.txt`` → :func:`read_plain_text`. A book becomes a :class:`Book`: metadata
and a tuple of :class:`Chapter`, each a title and a tuple of
:class:`Paragraph`. The rules below are the whole contract; anything they do
not mention is spoken as ordinary text.

The rules are written where they apply: those common to every format in
:mod:`orchestrator.inputs.books.model`, the format's own in
:mod:`~orchestrator.inputs.books.markdown`,
:mod:`~orchestrator.inputs.books.plaintext` and
:mod:`~orchestrator.inputs.books.epub`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from orchestrator.inputs.books.epub import read_epub
from orchestrator.inputs.books.markdown import read_markdown
from orchestrator.inputs.books.model import Book, Chapter, NoteMode, Paragraph, ReadOptions, _read_bytes
from orchestrator.inputs.books.plaintext import read_plain_text
from orchestrator.inputs.subtitles import decode_text
from voicecast.errors import InputError

__all__ = [
    "BOOK_FORMATS",
    "Book",
    "Chapter",
    "NoteMode",
    "Paragraph",
    "ReadOptions",
    "read_book",
    "read_epub",
    "read_markdown",
    "read_plain_text",
]

log = logging.getLogger(__name__)

BOOK_FORMATS: tuple[str, ...] = (".epub", ".md", ".markdown", ".txt")


def read_book(path: Path, options: ReadOptions | None = None) -> Book:
    """Read a book file into chapters, choosing the reader by its suffix
    (``.epub``, ``.md``/``.markdown``, ``.txt``; see the module docstring for
    the rules). ``options`` say what is read besides the body (front and back
    matter, notes: EPUB only). Raises :class:`InputError` naming the file for
    anything that cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in BOOK_FORMATS:
        raise InputError(
            f"not a book file ({suffix or 'no suffix'}); voicecast reads books as "
            f"{', '.join(BOOK_FORMATS)}: rename the file or convert it",
            file=path,
        )
    if suffix == ".epub":
        book = read_epub(path, options)
    else:
        text = decode_text(_read_bytes(path), str(path), "book (save an EPUB with a .epub suffix)")
        if suffix == ".txt":
            book = read_plain_text(text, source=str(path))
        else:
            book = read_markdown(text, source=str(path))
    log.debug("%s: %d chapters, %d paragraphs", path, len(book.chapters),
              sum(len(c.paragraphs) for c in book.chapters))
    return book
