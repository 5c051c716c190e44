"""The EPUB book reader (:func:`read_epub`); ebooklib is imported on first use.

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
from pathlib import Path

from orchestrator.inputs.books.model import Book, Chapter, Paragraph, _collapse, _read_bytes, _speakable
from voicecast.errors import InputError

log = logging.getLogger(__name__)

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
