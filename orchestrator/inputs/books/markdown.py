"""The Markdown book reader (:func:`read_markdown`).

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
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from orchestrator.inputs.books.model import Book, _assemble, _collapse, _Item, _speakable
from voicecast.errors import InputError

#: A voicecast tag (same grammar as :mod:`voicecast.emotions`), not a link text.
_TAG = re.compile(r"\[\s*[A-Za-z][\w-]*\s*(?::[^\]]*)?\](?!\()")

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
