"""The Markdown book reader (:func:`read_markdown`).

Markdown (``.md``, ``.markdown``)
---------------------------------
* **Front matter** (optional): the first line is ``---``, then ``key: value``
  lines (blank lines and ``#`` comments allowed; values may be quoted), then a
  ``---`` (or ``...``) line. ``title``, ``author`` and ``language`` fill the
  book's fields; every other key (``narrator`` included) goes to
  :attr:`Book.meta`, keys lower-cased. A missing closing line, or a line that
  is not ``key: value``, is an error with its line.
* **Metadata header**: at the top of the body (after any front matter),
  before the first paragraph of text and the second heading that is not
  metadata, a heading of any level (``# Title: Alice's Adventures in
  Wonderland``, ``## Author: Lewis Carroll``, ``## Year: 1865``) or a
  paragraph made only of lines (``Author: Lewis Carroll``) of the form ``Key:
  value``, with a key of
  :data:`~orchestrator.inputs.books.plaintext.HEADER_KEYS` (``Title``,
  ``Author``, ``Year``, ``Translator``, ``Language``, ``Narrator``, ...; any
  case), is metadata: neither a chapter nor text. Below a heading that is
  not metadata (``# Alice``), such a paragraph is metadata only when it gives
  the title, subtitle, author, translator, editor, illustrator, narrator or
  language (``Date: Monday`` there is a diary's first words). Title, author and language
  fill the book's fields, the others go to :attr:`Book.meta` (``year``,
  ``translator``, ...); front matter wins over the header. A heading ``by
  NAME`` there, after another heading, is the author. Rules (``-------``)
  and blank lines between header lines are skipped.
* **Chapters** start at ATX headings (``#`` to ``######``, then a space). The
  chapter level is decided from the headings after the metadata header:

  1. A **book-title heading**: when the shallowest level has a single heading,
     first of all, and other headings follow, that heading is the book's
     title (not spoken) -- if some level below it has more than one heading,
     or if the next level down (``#`` then ``##``) has headings.
  2. The **chapter level** is the shallowest level (title heading aside)
     with more than one heading: ``# Title`` then ``### One``, ``### Two``
     gives chapters One and Two. With no level used twice, it is the
     shallowest level (the title heading's next level when there is one).
  3. **Parts**: when every heading at that level names a part (``Part``,
     ``Book``, ``Volume`` or ``Act``, then a word: ``## Part One``) and a
     deeper level has more than one heading, the chapters are that deeper
     level.
  4. A heading **above the chapter level** (a part; not the title) is not a
     chapter of its own when the next chapter heading follows it directly:
     its title leads that chapter's title, joined with `` — `` (``Part One —
     Chapter 1``). When it has text of its own before its first chapter (an
     epigraph), it is a chapter titled with its title.
  5. Headings **below the chapter level** are spoken, each as its own
     paragraph.

  Setext headings (text underlined with ``===``) are not headings; the
  underline is skipped as a rule. A chapter heading with no text is an error.
* **Not read aloud**: fenced code blocks, HTML comments, rules, images,
  tables (a paragraph whose second line is a delimiter row ``|---|---|``),
  footnote definitions (``[^1]: text``) and note markers (``[^1]``, a short
  ``<sup>2</sup>``); tables and footnotes are counted in one warning.
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
* **Book title**: front matter ``title``, else the header's ``Title:``, else
  the book-title heading (see above), else the file name without its suffix.
* **Plays**: a book in which at least :data:`PLAY_MIN_LABELS` paragraphs
  start with a speech label in bold -- ``**LOPAKHIN.**``, ``**LOPAKHIN:**``,
  ``**LOPAKHIN**.``, or ``**LOPAKHIN**`` alone on the paragraph's first line
  -- naming at least two characters, is a play. The name is one to five ALL
  CAPS words (``**THE VOICE OF VARYA.**``); a bold word in mixed case
  (``**Curtain.**``) is not a label. In a play:

  - a labelled paragraph is its character's (:attr:`Paragraph.speaker`; map
    a voice with ``--voice LOPAKHIN=VOICE``); the label is not spoken. A
    label alone in its paragraph names the next paragraph's speaker. Without
    bold, ``NAME. text`` is a label too when NAME was labelled in bold
    elsewhere or has two or more words (``VOICE AT THE DOOR. Ermolai!``);
  - an unlabelled paragraph continues the speech of the paragraph before it
    (a song, a long speech), unless a heading or a paragraph made only of
    stage directions comes between: then it is the narrator's;
  - **stage directions** are a bracketed span in italics (``_[Blows out
    candle]_``, ``*[Exit]*``), a bracketed span that is not a voicecast tag
    (``[Enter Anya]``; ``[sad]`` stays a tag), or a whole paragraph in bold
    or italics (``**Curtain.**``). They are kept in the text, brackets
    included, as :attr:`Paragraph.directions`; the planner gives them to the
    narrator, or skips them (``--brackets``; see
    :mod:`orchestrator.planning.prose`).

  A book with fewer labels is not a play: ``**Note.**`` is bold text.
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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from orchestrator.inputs.books.model import Book, _assemble, _collapse, _Item, _speakable
from orchestrator.inputs.books.plaintext import header_field
from voicecast.emotions import find_tag, tag_kind
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
# Note markers: a footnote reference ``[^1]`` and a short superscript ``<sup>2</sup>``.
_NOTE_REF = re.compile(r"\[\^[^\]\s]{1,40}\]")
_SUP_MARK = re.compile(r"<sup>\s*[\w*†‡§]{1,4}\s*</sup>", re.IGNORECASE)
# A footnote definition ``[^1]: text`` (a paragraph of its own).
_NOTE_DEF = re.compile(r"^ {0,3}\[\^[^\]\s]{1,40}\]:")
# A table's delimiter row: ``|---|:--:|`` (GitHub-flavoured Markdown).
_TABLE_RULE = re.compile(r"^ {0,3}\|?[ \t]*:?-{1,}:?[ \t]*(?:\|[ \t]*:?-{1,}:?[ \t]*)+\|?[ \t]*$")
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
    text = _NOTE_REF.sub("", text)
    text = _SUP_MARK.sub("", text)
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


@dataclass(frozen=True)
class _Block:
    """A block of the Markdown body: a heading (``level`` 1 to 6) or a
    paragraph (``level`` 0), its text with inline markup removed, its first
    line, and (paragraphs) its source lines as written, for plays."""

    level: int
    text: str
    line: int
    raw: tuple[str, ...] = ()


def _markdown_blocks(lines: list[str], start: int, source: str,
                     skipped: dict[str, int] | None = None) -> list[_Block]:
    """Blocks of the Markdown body, with code, comments, rules and images gone;
    tables and footnote definitions are not read aloud (counted in ``skipped``)."""
    blocks: list[_Block] = []
    skipped = skipped if skipped is not None else {}
    para: list[str] = []
    para_line = 0
    fence: str | None = None
    fence_line = 0
    in_comment = False
    comment_line = 0

    def flush() -> None:
        nonlocal para
        if para:
            if len(para) >= 2 and "|" in para[0] and _TABLE_RULE.match(para[1]):
                skipped["table"] = skipped.get("table", 0) + 1
            elif _NOTE_DEF.match(para[0]):
                skipped["footnote"] = skipped.get("footnote", 0) + 1
            else:
                blocks.append(_Block(0, _strip_inline(" ".join(para)), para_line, tuple(para)))
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
            blocks.append(_Block(len(m.group(1)), _strip_inline(m.group(2) or ""), number))
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


# Metadata a plain "Key: value" paragraph may give under a heading.
_BYLINE_FIELDS = frozenset({"title", "subtitle", "author", "translator", "editor", "illustrator",
                            "narrator", "language"})
# "## by Lewis Carroll" under the title: the author.
_BY = re.compile(r"^by\s+(\S.{0,79})$", re.IGNORECASE)
# Headings that name a part of the book rather than a chapter.
_PART = re.compile(r"^(?:part|book|volume|act)\s+\S", re.IGNORECASE)
# A speech label at the start of a paragraph: **NAME.**, **NAME:**, **NAME**. or __NAME.__
_SPEECH = re.compile(
    r"^[ \t]*(\*\*|__)[ \t]*(?P<name>[^*_\[\]]+?)[ \t]*(?P<in>[.:])?\1(?P<out>[.:])?(?:[ \t]+|$)"
)
_NAME = re.compile(r"[^\W\d_][\w .'’-]*")
# The same without bold, in a play: "VOICE AT THE DOOR. Ermolai!"
_PLAIN_SPEECH = re.compile(r"^[ \t]*(?P<name>[^\W\d_][^.:!?]{0,39}?)(?P<in>[.:])[ \t]+(?=\S)")
# A paragraph all in bold or italics (**Curtain.**); in a play, a stage direction.
_WHOLE_EMPHASIS = re.compile(r"(\*\*|__|\*|_)(?=\S)((?:(?!\1).)+?)(?<=\S)\1")
# Stage directions: a bracketed span in italics (_[Exit]_, *[Exit]*), or in brackets alone.
_DIRECTION = re.compile(r"(?<!\w)([_*])\[([^\[\]]+)\]\1(?!\w)|\[([^\[\]]+)\](?!\()")
_DIRECTION_HOLD = re.compile("\ue002(\\d+)\ue003")
#: A book is a play when at least this many paragraphs start with a speech
#: label, naming at least two characters.
PLAY_MIN_LABELS = 3


def _metadata_header(lines: list[str], start: int) -> dict[str, str]:
    """Metadata from the top of the body (rules in the module docstring); the
    lines read are blanked in ``lines`` so that they are neither chapters nor text."""
    meta: dict[str, str] = {}
    i, titled = start, False
    while i < len(lines):
        line = lines[i]
        if not line.strip() or _RULE.match(line):
            i += 1
            continue
        if m := _ATX.match(line):
            text = _strip_inline(m.group(2) or "")
            if found := header_field(text):
                meta.setdefault(*found)
            elif titled and (by := _BY.match(text)):
                meta.setdefault("author", by.group(1))
            elif titled:
                break  # a second ordinary heading: the chapters have begun
            else:
                titled = True  # an ordinary heading (the title?): the header may go on below it
                i += 1
                continue
            lines[i] = ""
            i += 1
            continue
        end = i
        while end < len(lines) and lines[end].strip() and not _ATX.match(lines[end]):
            end += 1
        fields = [header_field(_strip_inline(raw)) for raw in lines[i:end]]
        # Under a heading, "Date: Monday" may be a chapter's first words: only authorship there.
        if not all(f and (not titled or f[0] in _BYLINE_FIELDS) for f in fields):
            break
        for k in range(i, end):
            found = fields[k - i]
            assert found is not None  # checked just above
            meta.setdefault(*found)
            lines[k] = ""
        i = end
    return meta


def _structure(headings: list[_Block]) -> tuple[_Block | None, int]:
    """``(book-title heading or None, chapter level)`` by the rule of the
    module docstring."""
    if not headings:
        return None, 1
    top = min(h.level for h in headings)
    title: _Block | None = None
    rest = headings
    if len(headings) > 1 and headings[0].level == top and sum(h.level == top for h in headings) == 1:
        title, rest = headings[0], headings[1:]
    counts = Counter(h.level for h in rest)
    repeated = sorted(level for level, n in counts.items() if n > 1)
    if repeated:
        level = repeated[0]
        deeper = [d for d in repeated if d > level]
        if deeper and all(_PART.match(h.text) for h in rest if h.level == level):
            level = deeper[0]  # "Part One", "Part Two": the chapters are the level below
        return title, level
    if title is not None and min(counts) == title.level + 1:
        return title, title.level + 1
    return None, top


def _speech_label(raw: tuple[str, ...], known: frozenset[str] = frozenset(), *,
                  plain: bool = False) -> tuple[str, tuple[str, ...]] | None:
    """``(NAME, the paragraph's lines without the label)`` when a paragraph
    starts with a speech label (module docstring), else None. ``plain``: also a
    label without bold (``NAME. text``), if NAME is in ``known`` (casefolded)
    or has more than one word."""
    m = _SPEECH.match(raw[0])
    bold = m is not None
    if m is None and plain:
        m = _PLAIN_SPEECH.match(raw[0])
    if m is None:
        return None
    name = " ".join(m.group("name").split())
    rest = raw[0][m.end():]
    if (
        not _NAME.fullmatch(name)
        or name != name.upper()
        or len(name.split()) > 5
        or len(name) > 40
        or (bold and not (m.group("in") or m.group("out") or not rest.strip()))  # **NAME** text: emphasis
        or (not bold and name.casefold() not in known and len(name.split()) < 2)  # "NO. I won't."
    ):
        return None
    return name, ((rest,) if rest.strip() else ()) + raw[1:]


def _play_paragraph(raw: tuple[str, ...]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A play paragraph's text with inline markup removed and its stage
    directions as spans of that text (their brackets kept, italics removed)."""
    joined = _NOTE_REF.sub("", " ".join(raw)).strip()  # a note marker is not a direction
    if whole := _WHOLE_EMPHASIS.fullmatch(joined):
        text = _strip_inline(whole.group(2))  # **Curtain.**: all of it a direction
        return text, ((0, len(text)),) if text else ()
    directions: list[str] = []

    def hold(m: re.Match[str]) -> str:
        content = m.group(2) if m.group(2) is not None else m.group(3)
        if m.group(3) is not None and (tag := find_tag(m.group(0))) and tag.end() == len(m.group(0)) \
                and tag_kind(tag) == "tag":
            return m.group(0)  # a voicecast tag, not a direction
        directions.append(f"[{_strip_inline(content)}]")
        return f"\ue002{len(directions) - 1}\ue003"

    text = _strip_inline(_DIRECTION.sub(hold, joined))
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _DIRECTION_HOLD.finditer(text):
        out.append(text[pos:m.start()])
        begin = sum(len(part) for part in out)
        out.append(directions[int(m.group(1))])
        spans.append((begin, begin + len(out[-1])))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out), tuple(spans)


def _only_directions(text: str, spans: tuple[tuple[int, int], ...]) -> bool:
    rest, pos = [], 0
    for begin, end in spans:
        rest.append(text[pos:begin])
        pos = end
    rest.append(text[pos:])
    return bool(spans) and not _speakable("".join(rest))


def _paragraph_items(blocks: list[_Block]) -> dict[int, _Item]:
    """A play's paragraphs as items with their speaker and stage directions,
    by block index; empty when the book is not a play (module docstring)."""
    labels = {k: found for k, b in enumerate(blocks) if b.level == 0 and (found := _speech_label(b.raw))}
    known = frozenset(name.casefold() for name, _ in labels.values())
    if len(labels) < PLAY_MIN_LABELS or len(known) < 2:
        return {}
    items: dict[int, _Item] = {}
    current: str | None = None  # who speaks an unlabelled paragraph: the speech goes on
    for k, block in enumerate(blocks):
        if block.level:
            current = None
            continue
        found = labels.get(k) or _speech_label(block.raw, known, plain=True)
        speaker, raw = found or (current, block.raw)
        current = speaker
        if not raw:  # a label alone: it names the next paragraph's speaker, and is not spoken
            items[k] = _Item("para", "", block.line)
            continue
        text, spans = _play_paragraph(raw)
        if found is None and _only_directions(text, spans):
            speaker = current = None  # a stage direction between speeches: the narrator's
        items[k] = _Item("para", text, block.line, speaker, spans)
    return items


def read_markdown(text: str, *, source: str) -> Book:
    """Read a Markdown book (rules in the module docstring). ``source`` names
    the file in errors and in :attr:`Chapter.source`; its stem is the fallback
    book title."""
    lines = text.lstrip("\ufeff").splitlines()
    meta, start = _front_matter(lines, source)
    for key, value in _metadata_header(lines, start).items():
        meta.setdefault(key, value)
    skipped: dict[str, int] = {}
    blocks = _markdown_blocks(lines, start, source, skipped)
    title_heading, chapter_level = _structure([b for b in blocks if b.level])
    play = _paragraph_items(blocks)

    book_title = meta.pop("title", None) or (title_heading.text if title_heading else "") or Path(source).stem
    items: list[_Item] = []
    parts: list[_Block] = []  # headings above the chapter level not yet followed by text

    def open_parts() -> None:
        # A part heading with text of its own before its first chapter is a chapter itself.
        if parts:
            items.append(_Item("heading", " — ".join(p.text for p in parts), parts[0].line))
            parts.clear()

    for k, block in enumerate(blocks):
        if block is title_heading:
            continue
        if block.level and block.level <= chapter_level:
            if not _speakable(block.text):
                raise InputError(
                    "chapter heading has no title; write the title after the '#' marks",
                    file=source,
                    line=block.line,
                )
            if block.level < chapter_level:
                parts.append(block)
            else:
                items.append(_Item("heading", " — ".join([*(p.text for p in parts), block.text]), block.line))
                parts.clear()
            continue
        item = play.get(k) or _Item("para", block.text, block.line)
        if _speakable(item.text):
            open_parts()
        items.append(item)
    open_parts()
    marker = "#" * chapter_level
    chapters = _assemble(
        items,
        source=source,
        book_title=book_title,
        fix=f"start each chapter with a '{marker} Title' heading followed by its paragraphs, "
        f"separated by blank lines",
    )
    not_read = [f"{n} {what}{'s' if n > 1 else ''}" for what, n in sorted(skipped.items())]
    return Book(
        title=book_title,
        chapters=chapters,
        author=meta.pop("author", None),
        language=meta.pop("language", None),
        meta=meta,
        warnings=(f"{source}: not read aloud: {', '.join(not_read)}",) if not_read else (),
    )
