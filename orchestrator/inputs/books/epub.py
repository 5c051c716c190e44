"""The EPUB book reader (:func:`read_epub`); ebooklib is imported on first use.

EPUB (``.epub``)
----------------
* Read with ebooklib. A file that is not a ZIP archive, a ZIP without
  ``META-INF/container.xml``, a damaged EPUB and a DRM-encrypted EPUB are
  errors (never a traceback). **Bounded**: before anything is decompressed,
  the archive's central directory is checked against ``VOICECAST_INPUTS__*``
  limits (number of entries, each entry's and the total uncompressed size,
  the compression ratio of a large entry: a zip bomb is refused naming the
  entry), then every entry is decompressed once in 1 MiB steps to check that
  it holds no more than the directory says (a lying directory is refused
  too), and only then handed to ebooklib. Compression other than stored and
  deflate (which the EPUB standard allows alone) is an error. A file the manifest lists but the archive lacks
  is an error only when it is a document of the spine that is read; any other
  (an unused stylesheet, a stray manifest entry) is a warning.
* **What is read: the body of the book.** The reading order is the spine's
  linear documents (``linear="no"`` ones, such as notes and covers, are not
  read; the navigation document and the cover page neither). The book says
  which parts are front and back matter, and they are skipped by default:

  - EPUB 3 ``epub:type`` (or ARIA ``role="doc-…"``) on a document's ``body``
    or a ``section``: ``frontmatter``, ``titlepage``, ``cover``,
    ``dedication``, ``epigraph``, ``foreword``, ``preface``... are front
    matter; ``backmatter``, ``appendix``, ``index``, ``glossary``,
    ``bibliography`` back matter; ``copyright-page``, ``colophon``,
    ``imprint``, ``acknowledgments``, ``contributors``, ``errata`` are front or
    back matter by where they stand. A type nested in a ``bodymatter`` or
    ``chapter`` element (a chapter's epigraph) stays body.
  - The landmarks of the EPUB 3 navigation document and the EPUB 2 ``<guide>``:
    what comes before the ``bodymatter`` landmark (EPUB 2: ``text``) is front
    matter, what comes from a ``backmatter`` landmark on back matter, and a
    landmark of a type above (``title-page``, ``copyright-page``, ``cover``...)
    marks its document.
  - For what the book does not mark: a page that is only links (a table of
    contents), a short page with ``©``, "copyright", "all rights reserved",
    "ISBN" or a licence (a copyright page), a short page with a web address and
    "visit"/"newsletter"/... (a publisher's promotion), a short part whose
    table-of-contents title is "Title Page", "Cover", "Copyright",
    "Contents"..., a short page of headings repeating the book's title (a
    title page), and the Project Gutenberg header and licence (before
    ``*** START OF …`` and from ``*** END OF …``).

  ``ReadOptions.front_matter`` / ``back_matter`` (``--front-matter``,
  ``--back-matter``) read them. Tables of contents, lists of illustrations and
  the like are never read. What was skipped is said in :attr:`Book.warnings`.
* **Chapters follow the table of contents** (the EPUB 3 navigation document's
  ``toc``, else the EPUB 2 NCX), including entries that point into the middle
  of a document (``file.xhtml#id``: the document is split at that element).
  Level: the top level; a single top-level entry stands for its children; an
  entry whose own text is only a heading (a part: "Part One") stands for its
  children and its title leads its first chapter's ("Part One — The Storm");
  deeper entries are sections of their chapter. A document the table of
  contents does not point at continues the chapter before it, unless it starts
  with an ``h1``–``h3`` heading (then it is a chapter of its own, titled by
  it). A book without a table of contents has one chapter per document.
* **Fixed-layout books** (``rendition:layout`` ``pre-paginated``: one page per
  document) follow the table of contents the same way: the pages between two
  entries are one chapter, and a paragraph that does not end a sentence is
  joined with the next one (sentences run across pages and text boxes).
* **Chapter title**: the table-of-contents entry, else the chapter's first
  ``h1``–``h3`` heading, else ``Chapter N`` (N counts the chapters kept). A
  heading group (``<hgroup>``: "I" and "The Period") is one heading, its parts
  joined with ``: ``. The first heading is not spoken when it gave the title,
  or when it and the TOC title are the same or one contains the other
  (case, spaces and punctuation aside); otherwise it is the first paragraph.
* A chapter whose table-of-contents entry points at a document that has no
  text besides its title heading is an empty chapter (error), unless the title
  names a part ("Part…", "Book…", "Volume…"): then it leads the next
  chapter's. A document with no text at all (an image page) is skipped.
* **Paragraphs**, in document order: the text of each block element (``p``,
  ``div``, ``li``, ``blockquote``, ``h1``–``h6``, ``figcaption``...); a nested
  block ends the text around it, so ``<div>a<p>b</p>c</div>`` gives ``a``,
  ``b``, ``c``. ``<br>`` is a space; ``script``, ``style`` and ``head`` are
  skipped; image ``alt`` text is not read. Mojibake is repaired and control
  characters removed (:mod:`orchestrator.inputs.textfix`).
* **Not read aloud**: page-break markers (``epub:type="pagebreak"``,
  ``role="doc-pagebreak"``, ``class="pagenum"``...; a word hyphenated across
  one is joined again); note references (``epub:type="noteref"``,
  ``role="doc-noteref"``, a link whose text is a marker such as ``1`` or
  ``*`` in a ``<sup>``); poem line numbers (``class="linenum"``..., or a
  number floated right); ruby readings (``<rt>``, ``<rp>``: the base text is
  read); code listings (``<pre>``, a block that is only ``<code>``); tables
  (they do not read as sentences); text of SVG ``<title>``/``<desc>`` (SVG
  text lines are joined with spaces). **Notes** (``epub:type`` ``footnote``,
  ``endnote``, ``rearnote``, ``note``, ``annotation``, ``role="doc-footnote"``
  / ``doc-endnote``, a ``footnotes``/``endnotes``/``rearnotes`` section, the
  target of a marker link that starts with the marker) are skipped, or read
  after the paragraph that refers to them (``notes="paragraph"``) or at the end
  of its chapter (``notes="chapter"``), their leading marker dropped.
* **Metadata**: Dublin Core ``title`` (else the file name), ``creator``
  (authors joined with ``, ``), ``language``; ``identifier``, ``publisher`` and
  ``date`` go to :attr:`Book.meta`. **Cover**: the image marked
  ``cover-image`` in the manifest, else the one named by
  ``<meta name="cover">``; a book without one has ``cover=None``.
* :attr:`Chapter.source` is ``"<file>#<document>"`` (the chapter's first
  document); EPUB lines are 0.
"""

from __future__ import annotations

import html
import logging
import posixpath
import re
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from orchestrator.inputs.books.model import (
    Book,
    Chapter,
    Paragraph,
    ReadOptions,
    _collapse,
    _read_bytes,
    _speakable,
)
from voicecast.errors import InputError
from voicecast.settings import InputSettings, env_name

log = logging.getLogger(__name__)

_BLOCK_TAGS = frozenset(
    "p div li ul ol dl dt dd blockquote pre h1 h2 h3 h4 h5 h6 table thead tbody tfoot tr td th "
    "caption section article header footer main figure figcaption aside nav address hr body "
    "center details summary hgroup svg".split()
)
_SKIP_TAGS = frozenset({"script", "style", "head", "template", "noscript"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "hgroup"})
_TITLE_HEADINGS = frozenset({"h1", "h2", "h3", "hgroup"})
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")
_XML_DECLARATION_STR = re.compile(r"^\s*<\?xml[^>]*\?>")
_XML_ENCODING = re.compile(rb"""encoding\s*=\s*["']([\w.:-]+)["']""")
_OPS_NS = "{http://www.idpf.org/2007/ops}"
_OPF_NS = "{http://www.idpf.org/2007/opf}"
_NCX_NS = "{http://www.daisy.org/z3986/2005/ncx/}"

# --- The book's semantics (EPUB 3 structural semantics, ARIA doc-* roles, EPUB 2 guide) ---
#: Never read: lists of the book's own places.
_NAV_TYPES = frozenset("toc toc-brief landmarks loi lot lov loa page-list".split())
_FRONT_TYPES = frozenset(
    "frontmatter cover titlepage halftitlepage fulltitle covertitle seriespage dedication epigraph "
    "foreword preface frontispiece".split()
)
_BACK_TYPES = frozenset("backmatter appendix index glossary bibliography".split())
#: Front or back matter by where they stand.
_EITHER_TYPES = frozenset(
    "copyright-page colophon imprint imprimatur acknowledgments contributors other-credits "
    "credits errata".split()
)
_BODY_TYPES = frozenset(
    "bodymatter chapter part division volume subchapter prologue epilogue introduction "
    "conclusion preamble".split()
)
_NOTE_TYPES = frozenset("footnote endnote rearnote note annotation".split())
_NOTES_SECTION_TYPES = frozenset("footnotes endnotes rearnotes".split())
#: EPUB 2 guide types (and other spellings) in the EPUB 3 vocabulary.
_TYPE_ALIASES = {
    "title-page": "titlepage", "acknowledgements": "acknowledgments", "text": "bodymatter",
    "start": "bodymatter", "notes": "rearnotes", "copyright": "copyright-page", "credits": "credits",
}

# --- Inline non-prose ---
_PAGE_CLASS = re.compile(r"\b(page-?num(ber)?|pageno|page-?break|pagebreak|pg-?num)\b", re.I)
_LINENUM_CLASS = re.compile(r"\b(line-?num(ber)?|lineno|lnum|verse-?num|linenumber)\b", re.I)
_RIGHT = re.compile(r"float\s*:\s*right|text-align\s*:\s*right|\bright\b|\bmargin-?num", re.I)
_MARKER = re.compile(r"^[\[(]?(\d{1,3}|[*†‡§¶#]{1,3}|[a-z])[\])]?$", re.I)
_NOTE_CLASS = re.compile(r"note|fn|foot", re.I)
_LEADING_MARKER = re.compile(r"^\s*(?:[\[(]?\d{1,3}[\])]?[.:]?|[*†‡§¶]{1,3})\s+(?=\S)")
_ARROWS = "↩↑⤴^\ufe0e\ufe0f \u00a0"
_BACKLINK = re.compile(r"^[\s↩↑⤴^]*(back|return|↩|↑|⤴)?[\s↩↑⤴^]*$", re.I)

# --- Heuristics for books that do not say ---
_COPYRIGHT = re.compile(
    r"©|\(c\)\s*\d{4}|\bcopyright\b|all rights reserved|\bISBN\b|creative commons|"
    r"\blicen[cs]ed under\b|\blicenciado bajo\b|\bdroits réservés\b|\bderechos reservados\b",
    re.I,
)
_PROMO = re.compile(
    r"\b(newsletter|sign up|subscribe|visit|follow us|also by|more books|download|"
    r"make your own books)\b|www\.|https?://",
    re.I,
)
_URL = re.compile(r"www\.|https?://|\.com\b", re.I)
_PG_START = re.compile(r"\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG", re.I)
_PG_END = re.compile(r"\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG|^End of (the )?Project Gutenberg", re.I)
_PG_CLASS = re.compile(r"\bpg-(boilerplate|header|footer)\b", re.I)
_NAV_TITLE = re.compile(r"^(table of )?contents$|^toc$|^índice$|^sommaire$|^inhalt(sverzeichnis)?$", re.I)
_FRONT_TITLE = re.compile(r"^(title( page)?|half[- ]title|cover( page)?|front cover)$", re.I)
_EITHER_TITLE = re.compile(r"^(copyright( page)?|imprint|colophon|legal notice)$", re.I)
_PART_TITLE = re.compile(r"^(part|book|volume|vol\.|section)\b", re.I)
_SENTENCE_END = re.compile(r"[.!?…:;\"”’»)\]]\s*$")
_SHORT_WORDS = 300


# --------------------------------------------------------------------------
# One document into blocks
# --------------------------------------------------------------------------


@dataclass
class _Block:
    """One paragraph-to-be of a document."""

    tag: str  # innermost block element ("hgroup" for a heading group)
    text: str
    #: From the book's own semantics: "body", "front", "back", "either", "nav" or None.
    cls: str | None
    #: Set when the block belongs to a note: the note's key ("doc#id"), "" for a notes
    #: section's own heading.
    note: str | None = None
    refs: list[str] = field(default_factory=list)  # note keys referred to from this block
    link_chars: int = 0  # characters inside internal links
    external: bool = False  # holds a link out of the book
    skip: str | None = None  # why it is not read (set while the book is put together)

    @property
    def heading(self) -> bool:
        return self.tag in _HEADINGS


@dataclass
class _Doc:
    name: str  # the item's file name, relative to the OPF
    blocks: list[_Block]
    ids: dict[str, tuple[int, int]]  # element id → (first block, block after it)
    fixed: bool = False
    start: int = 0  # index of its first block in the book's flow


@dataclass
class _Counts:
    pagebreaks: int = 0
    noterefs: int = 0
    linenums: int = 0
    ruby: int = 0
    tables: int = 0
    code: int = 0
    repaired: int = 0
    heuristic_refs: dict[str, str] = field(default_factory=dict)  # note key → marker


def _types(el: Any) -> set[str]:
    """The element's structural semantics: ``epub:type`` tokens and ARIA
    ``doc-*`` roles, in the EPUB 3 vocabulary."""
    raw = " ".join(v for v in (el.get("epub:type"), el.get(f"{_OPS_NS}type")) if v).lower().split()
    for role in (el.get("role") or "").lower().split():
        if role.startswith("doc-"):
            raw.append(role[4:])
    out = set()
    for token in raw:
        token = token.rsplit(":", 1)[-1] if token.startswith(("z3998:", "epub:")) else token
        out.add(_TYPE_ALIASES.get(token, token))
    return out


def _classify(types: set[str], parent: str | None) -> str | None:
    """The class an element's types give its content, or None for none."""
    if types & _NAV_TYPES:
        return "nav"
    if parent == "body":  # a chapter's epigraph or dedication is the chapter's
        return "body"
    if types & _EITHER_TYPES:  # "frontmatter copyright-page" at the end of a book is back matter
        return "either"
    if "frontmatter" in types:
        return "front"
    if "backmatter" in types:
        return "back"
    if types & _FRONT_TYPES:
        return "front"
    if types & _BACK_TYPES:
        return "back"
    if types & _BODY_TYPES:
        return "body"
    return parent


def _decode(content: bytes | str) -> str:
    if isinstance(content, bytes):
        # lxml refuses a str with an XML declaration, and the bytes may not be UTF-8.
        data, encoding = content, "utf-8"
        if m := _XML_DECLARATION.match(data):
            if enc := _XML_ENCODING.search(m.group(0)):
                encoding = enc.group(1).decode("ascii")
            data = data[m.end():]
        try:
            return data.decode(encoding, errors="replace")
        except LookupError:  # an encoding name Python does not know
            return data.decode("utf-8", errors="replace")
    return _XML_DECLARATION_STR.sub("", content, count=1)


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _parse_document(content: bytes | str, name: str, counts: _Counts) -> _Doc:
    """The blocks of an XHTML document, in document order (rules in the module
    docstring), with where each element id falls among them."""
    import lxml.etree
    import lxml.html

    from orchestrator.inputs.textfix import repair

    text = _decode(content)
    fixed = repair(text)
    counts.repaired += fixed.lines
    text = fixed.text
    doc = _Doc(name, [], {})
    if not text.strip():
        return doc
    try:
        root = lxml.html.document_fromstring(text)
    except (lxml.etree.ParserError, ValueError):
        return doc
    body = root.find("body")
    if body is None:
        body = root
    out = doc.blocks

    buf: list[str] = []
    refs: list[str] = []
    link = [0, False]  # characters in internal links, an external link seen
    # Per open block element: its tag; per element: class and note context.
    stack: list[str] = []
    merging = [0]  # inside an <hgroup>: nested headings are one block

    def pending() -> bool:
        return any(ch.isalnum() for part in buf for ch in part)

    def flush(cls: str | None, note: str | None) -> None:
        text = _collapse(html.unescape("".join(buf)))  # entities lxml left (double-escaped)
        buf.clear()
        if text:
            out.append(_Block(stack[-1] if stack else "body", text, cls, note, list(refs),
                              link[0], bool(link[1])))
        refs.clear()
        link[0], link[1] = 0, False

    def href_key(href: str) -> str:
        path, _, frag = href.partition("#")
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), unquote(path))) if path else name
        return f"{target}#{unquote(frag)}"

    def drop(el: Any) -> None:
        """Leave ``el``'s text out, keeping what follows it."""
        buf.append(el.tail or "")

    def walk(el: Any, cls: str | None, note: str | None, notes_section: bool, in_sup: bool) -> None:
        tag = _local(el.tag)
        if tag is None or tag in _SKIP_TAGS:  # comments, processing instructions, scripts
            drop(el)
            return
        types = _types(el)
        css = el.get("class") or ""
        inline = tag in ("span", "a", "small", "sup", "sub")
        # Only short elements can be markers; a big <div>'s text is not looked at.
        marked = _PAGE_CLASS.search(css) or _LINENUM_CLASS.search(css)
        own_text = el.text_content() if inline or marked else ""
        # --- inline non-prose, dropped with their text ---
        if "pagebreak" in types or (_PAGE_CLASS.search(css) and len(own_text.strip()) < 16):
            if own_text.strip() or el.get("title"):
                counts.pagebreaks += 1
            joined = "".join(buf)
            tail = el.tail or ""
            if re.search(r"\w-\s+$", joined) and re.match(r"[^\W\d_]", tail):
                buf[:] = [joined.rstrip()]  # "newly- <pagebreak>fallen" → "newly-fallen"
            buf.append(tail)
            return
        if tag in ("rt", "rp"):
            counts.ruby += tag == "rt"
            drop(el)
            return
        stripped = own_text.strip()
        if stripped.isdigit() and len(stripped) <= 4 and (
            _LINENUM_CLASS.search(css)
            or (inline and _RIGHT.search(css + " " + (el.get("style") or "")))  # a number set right
        ):
            counts.linenums += 1
            drop(el)
            return
        href = el.get("href") or "" if tag == "a" else ""
        if tag == "a" and href and stripped and not stripped.strip(_ARROWS):
            drop(el)  # "↩": a link back from a note to its reference
            return
        if tag == "a" and note is not None and (
            "backlink" in types or ("#" in href and _BACKLINK.match(stripped))
            or ("#" in href and _MARKER.match(stripped))
        ):
            drop(el)  # a note's link back to its reference
            return
        internal = "#" in href and not href.startswith(("http:", "https:", "mailto:"))
        if tag == "a" and internal and types & {"noteref", "annoref"} and not _MARKER.match(stripped):
            # A reference that wraps words ("The <a annoref>Emperor's</a> New Clothes"):
            # the words are read; the note is the reference's.
            if note is None:
                refs.append(href_key(href))
        elif tag == "a" and internal and (
            "noteref" in types or (
                _MARKER.match(stripped) and (
                    in_sup or el.find(".//sup") is not None or _NOTE_CLASS.search(css)
                    or _NOTE_CLASS.search(el.get("id") or "")
                )
            )
        ):
            counts.noterefs += 1
            key = href_key(href)
            if "noteref" not in types:
                counts.heuristic_refs.setdefault(key, stripped.strip("[]()"))
            if note is None:
                refs.append(key)
            drop(el)
            return
        if "noteref" in types:  # a noteref that is not a link (a <sup>)
            counts.noterefs += 1
            drop(el)
            return
        if tag == "table" or (tag == "pre") or (tag == "code" and _code_block(el)):
            if tag == "table":
                counts.tables += 1
            else:
                counts.code += 1
            if not merging[0]:
                flush(cls, note)
            drop(el)
            return
        if tag in ("title", "desc") and stack and "svg" in stack:
            drop(el)  # an SVG's accessible description, like an image's alt text
            return
        # --- context ---
        own_cls = _classify(types, cls)
        if _PG_CLASS.search(css) and own_cls is None:
            own_cls = "either"  # the Project Gutenberg header and licence
        el_id = el.get("id") or (el.get("name") if tag == "a" else None)
        own_note = note
        own_section = notes_section
        if types & _NOTES_SECTION_TYPES:
            own_section, own_note = True, ""
        if types & _NOTE_TYPES:
            own_note = f"{name}#{el_id}" if el_id else ""
        elif own_section and el_id and own_note == "" and tag in ("li", "aside", "div", "p", "section"):
            own_note = f"{name}#{el_id}"
        if tag == "a" and href:
            text_len = len(_collapse(own_text))
            if href.startswith(("http:", "https:", "mailto:", "www.")):
                link[1] = True
            else:
                link[0] += text_len
        block = tag in _BLOCK_TAGS and not merging[0]
        if block:
            flush(cls, note)
            stack.append(tag)
        elif merging[0] and tag in _BLOCK_TAGS and pending():
            buf.append(": ")
        elif tag == "br":
            buf.append(" ")
        start = len(out)
        if tag == "hgroup":
            merging[0] += 1
        buf.append(el.text or "")
        for child in el:
            walk(child, own_cls, own_note, own_section, in_sup or tag == "sup")
        if tag == "hgroup":
            merging[0] -= 1
        if tag in ("text", "tspan") and stack and "svg" in stack:
            buf.append(" ")  # SVG text lines are separate lines
        end = len(out)
        if block:
            flush(own_cls, own_note)
            stack.pop()
            end = len(out)
        elif pending():
            end += 1
        if el_id and el_id not in doc.ids:
            doc.ids[el_id] = (start, max(end, start))
        buf.append(el.tail or "")

    walk(body, None, None, False, False)
    flush(None, None)
    return doc


def _code_block(el: Any) -> bool:
    """Whether a ``<code>`` element is a block of its own (the only thing in its
    parent block), not a word in a sentence."""
    parent = el.getparent()
    return (
        parent is not None and _local(parent.tag) in _BLOCK_TAGS and not (parent.text or "").strip()
        and not (el.tail or "").strip() and len(parent) == 1
    )


# --------------------------------------------------------------------------
# The package: manifest, spine, guide, navigation
# --------------------------------------------------------------------------


@dataclass
class _TocEntry:
    title: str
    key: str | None  # "doc#id" or "doc#" (a whole document); None: a label without a link
    children: list[_TocEntry] = field(default_factory=list)


def _href_key(base: str, href: str) -> str:
    """``href`` (relative to the file ``base``, both relative to the OPF) as a
    ``doc#id`` key."""
    path, _, frag = href.strip().partition("#")
    target = posixpath.normpath(posixpath.join(posixpath.dirname(base), unquote(path))) if path else base
    return f"{target}#{unquote(frag)}"


def _xml(data: bytes) -> Any:
    import lxml.etree

    if not data or not data.strip():
        return None
    try:
        return lxml.etree.fromstring(data, lxml.etree.XMLParser(recover=True, resolve_entities=False))
    except (lxml.etree.XMLSyntaxError, ValueError):
        return None


def _text_of(el: Any) -> str:
    return _collapse("".join(el.itertext())) if el is not None else ""


def _nav_lists(data: bytes, base: str) -> tuple[list[_TocEntry], list[tuple[str, str]]]:
    """The ``toc`` of an EPUB 3 navigation document as a tree, and its landmarks
    as ``(type, key)``."""
    import lxml.etree
    import lxml.html

    try:
        root = lxml.html.document_fromstring(_decode(data))
    except (lxml.etree.ParserError, ValueError):
        return [], []
    toc: list[_TocEntry] = []
    landmarks: list[tuple[str, str]] = []

    def entries(ol: Any) -> list[_TocEntry]:
        out = []
        for li in ol:
            if _local(li.tag) != "li":
                continue
            label = next((c for c in li if _local(c.tag) in ("a", "span")), None)
            sub = next((c for c in li if _local(c.tag) == "ol"), None)
            href = label.get("href") if label is not None and _local(label.tag) == "a" else None
            out.append(_TocEntry(_text_of(label), _href_key(base, href) if href else None,
                                 entries(sub) if sub is not None else []))
        return out

    navs = [el for el in root.iter() if _local(el.tag) == "nav"]
    for nav in navs:
        types = _types(nav)
        ol = next((el for el in nav.iter() if _local(el.tag) == "ol"), None)
        if ol is None:
            continue
        if "toc" in types and not toc:
            toc = entries(ol)
        elif "landmarks" in types:
            for a in ol.iter():
                if _local(a.tag) == "a" and a.get("href"):
                    for t in _types(a):
                        landmarks.append((t, _href_key(base, a.get("href"))))
    if not toc and navs and not any(_types(n) for n in navs):
        ol = next((el for el in navs[0].iter() if _local(el.tag) == "ol"), None)
        toc = entries(ol) if ol is not None else []
    return toc, landmarks


def _ncx_toc(data: bytes, base: str) -> list[_TocEntry]:
    """The EPUB 2 NCX ``navMap`` as a tree."""
    root = _xml(data)
    if root is None:
        return []
    nav_map = next((el for el in root.iter() if _local(el.tag) == "navmap"), None)

    def points(parent: Any) -> list[_TocEntry]:
        out = []
        for point in parent:
            if _local(point.tag) != "navpoint":
                continue
            label = next((c for c in point if _local(c.tag) == "navlabel"), None)
            content = next((c for c in point if _local(c.tag) == "content"), None)
            src = content.get("src") if content is not None else None
            out.append(_TocEntry(_text_of(label), _href_key(base, src) if src else None, points(point)))
        return out

    return points(nav_map) if nav_map is not None else []


@dataclass
class _Package:
    opf_dir: str
    spine: list[tuple[str, bool, bool]]  # (idref, linear, pre-paginated)
    guide: list[tuple[str, str]]  # (type, key)
    nav_id: str | None
    ncx_id: str | None
    fixed: bool
    manifest: dict[str, str]  # id → href (relative to the OPF)


def _package(zf: zipfile.ZipFile) -> _Package | None:
    """What ebooklib does not keep of the OPF; None when it cannot be read
    (ebooklib then says why)."""
    try:
        container = _xml(zf.read("META-INF/container.xml"))
    except KeyError:
        return None
    if container is None:
        return None
    rootfile = next((el for el in container.iter() if _local(el.tag) == "rootfile"), None)
    opf_path = rootfile.get("full-path") if rootfile is not None else None
    try:
        opf = _xml(zf.read(opf_path)) if opf_path else None
    except KeyError:
        return None
    if opf is None:
        return None
    fixed = any(
        (el.get("property") or "").endswith("rendition:layout") and _text_of(el) == "pre-paginated"
        for el in opf.iter() if _local(el.tag) == "meta"
    )
    manifest: dict[str, str] = {}
    nav_id = ncx_id = None
    for item in opf.iter():
        if _local(item.tag) != "item" or not item.get("id") or not item.get("href"):
            continue
        manifest[item.get("id")] = posixpath.normpath(unquote(item.get("href")))
        if "nav" in (item.get("properties") or "").split():
            nav_id = item.get("id")
        if item.get("media-type") == "application/x-dtbncx+xml":
            ncx_id = ncx_id or item.get("id")
    spine_el = next((el for el in opf.iter() if _local(el.tag) == "spine"), None)
    spine = []
    if spine_el is not None:
        ncx_id = spine_el.get("toc") or ncx_id
        for ref in spine_el:
            if _local(ref.tag) == "itemref" and ref.get("idref"):
                props = (ref.get("properties") or "").split()
                page = "rendition:layout-pre-paginated" in props or (
                    fixed and "rendition:layout-reflowable" not in props)
                spine.append((ref.get("idref"), (ref.get("linear") or "yes").lower() != "no", page))
    guide = [
        (_TYPE_ALIASES.get(t, t), _href_key("x", ref.get("href")))
        for ref in opf.iter() if _local(ref.tag) == "reference" and ref.get("href")
        for t in [(ref.get("type") or "").lower().removeprefix("other.")]
    ]
    return _Package(posixpath.dirname(str(opf_path)), spine, guide, nav_id, ncx_id, fixed, manifest)


def _open_ebook(path: Path) -> tuple[Any, list[str]]:
    """ebooklib's book and the archive names the manifest lists but the archive
    lacks (read as empty; whether that matters is decided by the caller)."""
    from ebooklib import epub

    class Reader(epub.EpubReader):  # type: ignore[misc]
        missing: list[str]

        def read_file(self, name: str) -> bytes:
            try:
                return bytes(super().read_file(name))
            except KeyError:
                normal = posixpath.normpath(name)
                if not getattr(self, "opf_file", "") or normal in (
                    "META-INF/container.xml", posixpath.normpath(self.opf_file)
                ):
                    raise
                self.missing.append(normal)
                return b""

        # The table of contents is read by this module (nested, with fragments).
        def _parse_ncx(self, data: bytes) -> None:
            return None

        def _parse_nav(self, data: bytes, base_path: str, navtype: str = "toc") -> None:
            return None

    reader = Reader(str(path), {"ignore_ncx": True})
    reader.missing = []
    book = reader.load()
    reader.process()
    return book, reader.missing


# --------------------------------------------------------------------------
# The book
# --------------------------------------------------------------------------


def _norm_title(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _same_title(a: str, b: str) -> bool:
    a, b = _norm_title(a), _norm_title(b)
    return bool(a and b) and (a in b or b in a)


def _words(blocks: Iterable[_Block]) -> int:
    return sum(len(b.text.split()) for b in blocks)


@dataclass
class _Boundary:
    pos: int
    title: str | None  # None: from the chapter's heading
    toc: bool  # from the table of contents
    has_children: bool = False
    doc: str | None = None  # the document it points at


def _select(entries: list[_TocEntry], pos_of: Any, flow: list[_Block], top: bool) -> list[_Boundary]:
    """Chapter boundaries from the table of contents (level rules in the module
    docstring)."""
    def flat(items: list[_TocEntry]) -> Iterator[_TocEntry]:
        for e in items:
            if e.key is None or pos_of(e.key) is None:
                yield from flat(e.children)  # a label or a link out of the reading order
            else:
                yield e

    items = list(flat(entries))
    out: list[_Boundary] = []
    for e in items:
        pos = pos_of(e.key)
        kids = list(flat(e.children))
        if kids and (top and len(items) == 1 or _heading_only(flow, pos, min(pos_of(k.key) for k in kids))):
            out.append(_Boundary(pos, e.title or None, True, True, (e.key or "").partition("#")[0]))
            out += _select(e.children, pos_of, flow, top and len(items) == 1)
        else:
            out.append(_Boundary(pos, e.title or None, True, False, (e.key or "").partition("#")[0]))
    return out


def _heading_only(flow: list[_Block], start: int, end: int) -> bool:
    return all(b.heading or b.note is not None or not _speakable(b.text) for b in flow[start:end])


def read_epub(path: Path, options: ReadOptions | None = None) -> Book:
    """Read an EPUB book with ebooklib (rules in the module docstring). Raises
    :class:`InputError` naming the file for a file that is not an EPUB, a
    damaged or DRM-protected one, no chapters, or an empty chapter."""
    import ebooklib
    from ebooklib import epub

    options = options or ReadOptions()
    path = Path(path)
    _check_epub_container(path, options.limits or InputSettings())
    try:
        ebook, missing = _open_ebook(path)
        with zipfile.ZipFile(path) as zf:
            package = _package(zf)
    except Exception as exc:  # ebooklib raises anything from KeyError to lxml errors on bad input
        log.debug("ebooklib could not read %s", path, exc_info=True)
        detail = str(exc).strip() or type(exc).__name__
        raise InputError(
            f"damaged EPUB, cannot be read ({detail}); re-download it or export it again "
            f"(epubcheck shows what is wrong)",
            file=path,
        ) from None
    opf_dir = package.opf_dir if package else ""
    warnings: list[str] = []

    def dc(name: str) -> list[str]:
        return [_collapse(str(v)) for v, _ in ebook.get_metadata("DC", name) if v and str(v).strip()]

    title = (dc("title") or [path.stem])[0]
    counts = _Counts()

    # --- the reading order, parsed ---
    missing_names = {posixpath.relpath(m, opf_dir) if opf_dir else m for m in missing}
    docs: list[_Doc] = []
    flow: list[_Block] = []
    others: list[_Doc] = []  # non-linear documents: read for their notes only
    spine_info = {idref: (linear, page) for idref, linear, page in (package.spine if package else [])}
    for entry in ebook.spine:
        idref, linear_attr = entry if isinstance(entry, tuple) else (entry, "yes")
        item = ebook.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        linear = str(linear_attr).lower() != "no"
        name = item.file_name
        if posixpath.normpath(name) in missing_names:
            if linear and not isinstance(item, (epub.EpubNav, epub.EpubCoverHtml)):
                raise InputError(
                    f"damaged EPUB: document {name} of the reading order (spine) is missing from "
                    f"the archive; re-download the book or export it again",
                    file=path,
                )
            continue
        doc = _parse_document(item.content or b"", name, counts)
        doc.fixed = spine_info.get(idref, (True, False))[1]
        if not linear or isinstance(item, (epub.EpubNav, epub.EpubCoverHtml)):
            others.append(doc)
            continue
        doc.start = len(flow)
        docs.append(doc)
        flow.extend(doc.blocks)
    if missing_names:
        listed = sorted(missing_names)
        warnings.append(
            f"{path}: {len(listed)} file(s) listed in the EPUB's manifest are missing from the archive "
            f"and were not read ({', '.join(listed[:3])}{', ...' if len(listed) > 3 else ''})"
        )

    by_name = {d.name: d for d in docs}
    all_docs = {d.name: d for d in [*others, *docs]}

    def pos_of(key: str | None) -> int | None:
        if key is None:
            return None
        name, _, frag = key.partition("#")
        doc = by_name.get(name)
        if doc is None:
            return None
        if not frag:
            return doc.start
        at = doc.ids.get(frag)
        return doc.start + at[0] if at else doc.start

    # --- notes ---
    notes: dict[str, list[str]] = {}
    for doc in all_docs.values():
        for key, marker in counts.heuristic_refs.items():
            name, _, frag = key.partition("#")
            if name == doc.name and frag in doc.ids:
                first = doc.ids[frag][0]
                if first < len(doc.blocks) and doc.blocks[first].note is None and re.match(
                    rf"^\W*{re.escape(marker)}\b", doc.blocks[first].text
                ):
                    doc.blocks[first].note = key
        for block in doc.blocks:
            if block.note:
                notes.setdefault(block.note, []).append(block.text)

    # --- navigation: table of contents and landmarks ---
    toc: list[_TocEntry] = []
    landmarks: list[tuple[str, str]] = []
    if package and package.nav_id:
        nav_item = ebook.get_item_with_id(package.nav_id)
        if nav_item is not None and nav_item.content:
            toc, landmarks = _nav_lists(nav_item.content, nav_item.file_name)
    if not _has_links(toc) and package and package.ncx_id:
        ncx_item = ebook.get_item_with_id(package.ncx_id)
        if ncx_item is not None and ncx_item.content:
            toc = _ncx_toc(ncx_item.content, ncx_item.file_name)
    landmarks += package.guide if package else []

    # --- front, body and back matter ---
    _mark_matter(docs, landmarks, title)
    boundaries = _boundaries(docs, flow, toc, pos_of)
    _mark_by_titles(flow, boundaries)
    body_start, back_start = _limits(flow, landmarks, pos_of)
    skipped: dict[str, list[str]] = {"front": [], "back": [], "nav": []}
    for i, block in enumerate(flow):
        matter = _matter(block, i, body_start, back_start)
        if block.note is not None:
            block.skip = "note"
        elif matter == "nav":
            block.skip = "nav"
        elif matter == "front" and not options.front_matter:
            block.skip = "front"
        elif matter == "back" and not options.back_matter:
            block.skip = "back"

    # --- chapters ---
    chapters: list[Chapter] = []
    part_title: str | None = None
    read_notes: set[str] = set()
    fixed_book = any(d.fixed for d in docs)
    ends = [b.pos for b in boundaries[1:]] + [len(flow)]
    for boundary, end in zip(boundaries, ends, strict=True):
        region = flow[boundary.pos:end]
        at = _doc_at(docs, boundary.pos)
        doc_name = at.name if at else "?"
        where = f"{path}#{at.name if at else ''}"
        kept = [b for b in region if b.skip is None and _speakable(b.text)]
        reasons = Counter(b.skip for b in region if b.skip and b.skip != "note" and _speakable(b.text))
        label = boundary.title or next((b.text for b in region if b.heading), None)
        if kept and reasons:
            skipped[str(reasons.most_common(1)[0][0])].append(f"part of {label or doc_name}")
        if not kept and boundary.has_children and _heading_only(flow, boundary.pos, end):
            # A part's divider: its title leads its first chapter's, whatever its matter.
            part_title = boundary.title or next((b.text for b in region if b.heading), None)
            continue
        if not kept:
            if reasons:
                reason = reasons.most_common(1)[0][0]
                skipped[str(reason)].append(label or doc_name)
                continue
            headings = [b for b in region if b.heading and b.note is None]
            if boundary.has_children or (headings and not boundary.toc):
                if boundary.has_children:
                    part_title = boundary.title or (headings[0].text if headings else None)
                continue
            if headings and boundary.toc:
                if _PART_TITLE.match(boundary.title or ""):
                    part_title = boundary.title
                    continue
                raise InputError(
                    f"empty chapter {boundary.title!r}: document {doc_name} has a "
                    f"table-of-contents entry but no text besides its title; fix the EPUB (e.g. in "
                    f"Calibre or Sigil) by adding the text or removing the document from the spine "
                    f"and the table of contents",
                    file=where,
                )
            continue  # an image page, or two entries at one place
        heading_at = next((i for i, b in enumerate(kept) if b.tag in _TITLE_HEADINGS), None)
        if heading_at is None and kept[0].heading:
            heading_at = 0
        heading = kept[heading_at].text if heading_at is not None else None
        chapter_title = boundary.title or heading or f"Chapter {len(chapters) + 1}"
        if heading_at is not None and (boundary.title is None or _same_title(boundary.title, heading or "")):
            del kept[heading_at]
        if not kept:
            if boundary.has_children or _PART_TITLE.match(chapter_title):
                part_title = chapter_title
                continue
            if not boundary.toc:
                log.debug("%s: only a heading and no TOC entry, skipped", where)
                continue
            raise InputError(
                f"empty chapter {chapter_title!r}: document {doc_name} has a "
                f"table-of-contents entry but no text besides its title; fix the EPUB (e.g. in "
                f"Calibre or Sigil) by adding the text or removing the document from the spine and "
                f"the table of contents",
                file=where,
            )
        if part_title:
            chapter_title, part_title = f"{part_title} — {chapter_title}", None
        texts = _paragraph_texts(kept, notes, options.notes, read_notes, join=fixed_book)
        chapters.append(Chapter(chapter_title, tuple(Paragraph(t, 0) for t in texts), where, 0))

    if not chapters:
        if any(skipped.values()):
            raise InputError(
                "no chapters found: everything in the book is front or back matter "
                f"({', '.join(skipped['front'] + skipped['back'] + skipped['nav'])}); read it with "
                "--front-matter or --back-matter",
                file=path,
            )
        raise InputError(
            "no chapters found: no document in the EPUB's spine has text (an EPUB's chapters "
            "are its spine's XHTML documents; an image-only or scanned book cannot be read)",
            file=path,
        )

    warnings += _summary(path, skipped, counts, notes, read_notes, options)
    cover, cover_type = _epub_cover(ebook, ebooklib)
    meta = {key: values[0] for key in ("identifier", "publisher", "date") if (values := dc(key))}
    authors = dc("creator")
    languages = dc("language")
    return Book(
        title=title,
        chapters=tuple(chapters),
        author=", ".join(dict.fromkeys(authors)) or None,
        language=languages[0] if languages else None,
        cover=cover,
        cover_type=cover_type,
        meta=meta,
        warnings=tuple(warnings),
    )


def _has_links(toc: list[_TocEntry]) -> bool:
    return any(e.key or _has_links(e.children) for e in toc)


def _doc_at(docs: list[_Doc], pos: int) -> _Doc | None:
    for doc in docs:
        if doc.blocks and doc.start <= pos < doc.start + len(doc.blocks):
            return doc
    return docs[0] if docs else None


def _boundaries(docs: list[_Doc], flow: list[_Block], toc: list[_TocEntry], pos_of: Any) -> list[_Boundary]:
    """Where chapters start: the table of contents' entries, and the documents
    it does not point at that start with a heading or come before its first
    entry (every document, without a table of contents)."""
    chosen = _select(toc, pos_of, flow, True) if _has_links(toc) else []
    pointed = {k.partition("#")[0] for k in _keys(toc) if pos_of(k) is not None}
    starts = {b.pos for b in chosen}
    first_entry = min(starts) if starts else len(flow)
    for doc in docs:
        if any(b.pos == doc.start and b.doc in (None, doc.name) for b in chosen):
            continue  # (an entry for an image page before it has its position, not its text)
        first = next((b for b in doc.blocks if _speakable(b.text) and b.note is None), None)
        if first is None:
            continue
        if doc.fixed:  # pages continue the chapter before them; the first ones make one chapter
            new = not any(p <= doc.start for p in starts)
        else:
            new = (not chosen or doc.start < first_entry
                   or (first.tag in _TITLE_HEADINGS and doc.name not in pointed))
        if new:
            chosen.append(_Boundary(doc.start, None, False, doc=doc.name))
            starts.add(doc.start)
    chosen.sort(key=lambda b: b.pos)  # stable: a part before its first chapter at one place
    if not chosen or chosen[0].pos > 0:
        chosen.insert(0, _Boundary(0, None, False))
    return chosen


def _keys(toc: list[_TocEntry]) -> Iterator[str]:
    for e in toc:
        if e.key:
            yield e.key
        yield from _keys(e.children)


def _mark_matter(docs: list[_Doc], landmarks: list[tuple[str, str]],
                 title: str) -> None:
    """Classify what the book's markup leaves unclassified: landmarks and guide
    references of a type, then the heuristics (module docstring)."""
    for kind, key in landmarks:
        cls = _classify({kind}, None)
        if cls in (None, "body") or kind in ("frontmatter", "backmatter"):
            continue
        name, _, frag = key.partition("#")
        doc = next((d for d in docs if d.name == name), None)
        if doc is None:
            continue
        lo, hi = doc.ids.get(frag, (0, len(doc.blocks))) if frag else (0, len(doc.blocks))
        for block in doc.blocks[lo:hi]:
            if block.cls is None:
                block.cls = cls
    gutenberg_end = False
    for doc in docs:
        start = next((i for i, b in enumerate(doc.blocks) if _PG_START.search(b.text)), None)
        if start is not None:
            for block in doc.blocks[: start + 1]:
                block.cls = block.cls if block.cls == "nav" else "either"
        for block in doc.blocks:
            if not gutenberg_end and _PG_END.search(block.text):
                gutenberg_end = True
            if gutenberg_end:
                block.cls = "back"
        unknown = [b for b in doc.blocks if b.cls is None and b.note is None and _speakable(b.text)]
        speakable = [b for b in doc.blocks if b.note is None and _speakable(b.text)]
        if not unknown or len(unknown) < len(speakable):
            continue  # the book says what this document is (or part of it)
        label = _guess(unknown, title)
        if label:
            for block in unknown:
                block.cls = label


def _guess(blocks: list[_Block], title: str) -> str | None:
    """What an unmarked document is, by the heuristics (module docstring), or None."""
    words = _words(blocks)
    text = " ".join(b.text for b in blocks)
    prose = [b for b in blocks if not b.heading]
    chars = sum(len(b.text) for b in prose)
    if prose and len(prose) >= 2 and sum(b.link_chars for b in prose) >= 0.7 * chars:
        return "nav"
    if words <= _SHORT_WORDS and _COPYRIGHT.search(text):
        return "either"
    if words <= 200 and _PROMO.search(text) and (any(b.external for b in blocks) or _URL.search(text)):
        return "either"
    if words <= 60 and all(b.heading for b in blocks) and any(_same_title(b.text, title) for b in blocks):
        return "front"
    if words <= 6000 and re.search(r"project gutenberg", " ".join(b.text for b in blocks[:3]), re.I) and (
        re.search(r"licen[cs]e|gutenberg\.org", text, re.I)
    ):
        return "either"
    return None


def _mark_by_titles(flow: list[_Block], boundaries: list[_Boundary]) -> None:
    """A short unmarked chapter titled "Contents", "Title Page", "Copyright"... is one."""
    ends = [b.pos for b in boundaries[1:]] + [len(flow)]
    for boundary, end in zip(boundaries, ends, strict=True):
        name = re.sub(r"[^\w\s-]", "", (boundary.title or "")).strip()
        cls = ("nav" if _NAV_TITLE.match(name) else "front" if _FRONT_TITLE.match(name)
               else "either" if _EITHER_TITLE.match(name) else None)
        region = flow[boundary.pos:end]
        if cls and _words(region) <= _SHORT_WORDS:
            for block in region:
                if block.cls is None:
                    block.cls = cls


def _limits(flow: list[_Block], landmarks: list[tuple[str, str]], pos_of: Any) -> tuple[int, int]:
    """Where the body starts and the back matter starts, in the flow."""
    def landmark(kind: str) -> int | None:
        return next((p for k, key in landmarks if k == kind and (p := pos_of(key)) is not None), None)

    body = landmark("bodymatter")
    back = landmark("backmatter")
    back = len(flow) if back is None else back
    if body is None:
        # The first block the book says is body, or the first it says nothing of
        # (an unmarked prologue before chapters marked "chapter" is read).
        body = min(
            next((i for i, b in enumerate(flow) if b.cls == "body"), len(flow)),
            next((i for i, b in enumerate(flow) if b.cls is None and b.note is None
                  and _speakable(b.text)), len(flow)),
        )
    return body, max(back, body)


def _matter(block: _Block, i: int, body_start: int, back_start: int) -> str:
    if block.cls == "either":
        return "front" if i < body_start else "back"
    if block.cls in ("front", "back", "nav", "body"):
        return block.cls
    if i < body_start:
        return "front"
    return "back" if i >= back_start else "body"


def _paragraph_texts(blocks: list[_Block], notes: dict[str, list[str]], mode: str, read: set[str],
                     *, join: bool) -> list[str]:
    """The chapter's paragraphs, with its notes where ``mode`` puts them; a
    fixed-layout book's paragraphs that do not end a sentence are joined."""
    out: list[str] = []
    at_end: list[str] = []
    joinable = False
    for block in blocks:
        if join and joinable and not block.heading and out and not _SENTENCE_END.search(out[-1]):
            out[-1] = f"{out[-1]} {block.text}"
        else:
            out.append(block.text)
        joinable = not block.heading
        for key in block.refs:
            if mode == "skip" or key in read or key not in notes:
                continue
            read.add(key)
            texts = [t for t in (_LEADING_MARKER.sub("", t, count=1) for t in notes[key]) if _speakable(t)]
            (out if mode == "paragraph" else at_end).extend(texts)
            joinable = False
    return out + at_end


def _summary(path: Path, skipped: dict[str, list[str]], counts: _Counts, notes: dict[str, list[str]],
             read: set[str], options: ReadOptions) -> list[str]:
    """The grouped warnings: what was skipped, one line per kind."""
    def listing(items: list[str]) -> str:
        shown = ", ".join(dict.fromkeys(items[:4]))
        return f"{shown}{', ...' if len(items) > 4 else ''}"

    lines = []
    if skipped["front"]:
        lines.append(f"{path}: skipped front matter ({len(skipped['front'])}): {listing(skipped['front'])}; "
                     f"--front-matter reads it")
    if skipped["back"]:
        lines.append(f"{path}: skipped back matter ({len(skipped['back'])}): {listing(skipped['back'])}; "
                     f"--back-matter reads it")
    if skipped["nav"]:
        lines.append(f"{path}: skipped table-of-contents pages ({len(skipped['nav'])}): "
                     f"{listing(skipped['nav'])}")
    inline = []
    if counts.pagebreaks:
        inline.append(f"{counts.pagebreaks} page numbers")
    if counts.noterefs:
        inline.append(f"{counts.noterefs} note references")
    if counts.linenums:
        inline.append(f"{counts.linenums} line numbers")
    if counts.ruby:
        inline.append(f"{counts.ruby} ruby readings (the base text is read)")
    if counts.tables:
        inline.append(f"{counts.tables} tables")
    if counts.code:
        inline.append(f"{counts.code} code listings")
    if inline:
        lines.append(f"{path}: not read aloud: {', '.join(inline)}")
    unread = len([k for k in notes if k and k not in read])
    if unread:
        hint = "; --notes paragraph or --notes chapter reads them" if options.notes == "skip" else ""
        lines.append(f"{path}: skipped {unread} notes{hint}")
    if counts.repaired:
        lines.append(f"{path}: repaired mis-decoded text (mojibake) on {counts.repaired} line(s)")
    return lines


def _check_epub_container(path: Path, limits: InputSettings | None = None) -> None:
    """Errors for what is not an EPUB at all, or one too large to decompress
    (``limits``: :func:`_check_archive`), before ebooklib sees it."""
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
    _check_archive(path, limits or InputSettings())
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


#: Entries smaller than this are not judged by their compression ratio (a
#: small stylesheet of repeated rules compresses hundreds of times, harmlessly).
_RATIO_FLOOR = 1 << 20
#: Decompressed per step while an entry is checked.
_STEP = 1 << 20


def _check_archive(path: Path, limits: InputSettings) -> None:
    """Refuse a ZIP whose decompression would exceed ``limits``, reading only its
    directories and then each entry in bounded steps (nothing is held whole).

    First the end-of-directory record (the entry count, before the directory is
    parsed into memory), then each entry's declared sizes and ratio, then every
    deflated entry is inflated :data:`_STEP` bytes at a time and refused as soon
    as it yields more than declared: ebooklib, which reads each entry whole,
    never gets a stream larger than the checked sizes."""

    def fail(message: str, setting: str | None = None) -> InputError:
        hint = f" ({env_name('inputs', setting)})" if setting else ""
        return InputError(f"refused EPUB: {message}{hint}; this is not a book but a zip bomb or a "
                          "damaged archive", file=path)

    try:
        with path.open("rb") as fh:
            end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]  # the EOCD, zip64 aware
    except OSError:
        end = None
    if end is not None and end[zipfile._ECD_ENTRIES_TOTAL] > limits.epub_max_entries:  # type: ignore[attr-defined]
        raise fail(f"{end[zipfile._ECD_ENTRIES_TOTAL]} files in the archive, more than "  # type: ignore[attr-defined]
                   f"{limits.epub_max_entries}", "epub_max_entries")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"damaged EPUB ({exc}); re-download or re-export it", file=path) from None
    if len(infos) > limits.epub_max_entries:
        raise fail(f"{len(infos)} files in the archive, more than {limits.epub_max_entries}",
                   "epub_max_entries")
    total = 0
    for info in infos:
        name = info.filename
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InputError(f"{name} is compressed with method {info.compress_type}; an EPUB uses "
                             "stored or deflate only: re-export it", file=path)
        if info.file_size > limits.epub_max_entry_bytes:
            raise fail(f"{name} decompresses to {info.file_size} bytes, more than "
                       f"{limits.epub_max_entry_bytes}", "epub_max_entry_bytes")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR and ratio > limits.epub_max_ratio:
            raise fail(f"{name} is compressed {ratio:.0f} times, "
                       f"more than {limits.epub_max_ratio:g}", "epub_max_ratio")
        total += info.file_size
        if total > limits.epub_max_bytes:
            raise fail(f"the files decompress to more than {limits.epub_max_bytes} bytes",
                       "epub_max_bytes")
    try:
        with path.open("rb") as fh:
            for info in infos:
                if info.compress_type == zipfile.ZIP_DEFLATED:
                    _inflate_bounded(fh, info, fail)
    except OSError as exc:
        raise InputError(f"cannot read the EPUB ({exc.strerror or exc})", file=path) from None


def _inflate_bounded(fh: Any, info: zipfile.ZipInfo, fail: Any) -> None:
    """Inflate one deflated entry from its local header on, in bounded steps;
    ``fail`` (raised) once it yields more than its declared size."""
    fh.seek(info.header_offset)
    head = fh.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise fail(f"{info.filename} has no local header where the directory says")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    inflater = zlib.decompressobj(-15)
    left, produced = info.compress_size, 0
    try:
        while left > 0 and not inflater.eof:
            data = fh.read(min(_STEP, left))
            if not data:
                break
            left -= len(data)
            while data and not inflater.eof:
                produced += len(inflater.decompress(data, _STEP))
                if produced > info.file_size:
                    raise fail(f"{info.filename} decompresses to more than the {info.file_size} "
                               "bytes its directory entry says")
                data = inflater.unconsumed_tail
    except zlib.error:
        return  # damaged (or encrypted: DRM): not larger than declared; said later, when read


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
