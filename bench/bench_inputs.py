"""Input bench: ``voicecast plan`` over a folder of real-world inputs.

A developer tool (not a test): for every input under a folder (default
``../shared/corpus``: EPUB, Markdown, plain text, SRT, WebVTT, ASS/SSA) it runs
``python -m orchestrator.cli plan FILE --json`` in a subprocess with a fresh
data folder (so nothing is read from or left in the user's store), and
reports per file:

- **status**: the exit code (0: planned; 2: a user error, its message shown);
- **chapters** and **segments** planned, and the number of warnings;
- **matter**: chapters whose title names front or back matter (title page,
  copyright, contents, licence, ...: :data:`MATTER_TITLE`), listed under the table;
- **kept**: the share of the source's *body text* that the planned segments
  speak (below);
- **residue**: segments that still hold text no one should hear, by kind:

  ========  =========================================================
  markup    ``<...>`` tags
  entity    HTML entities ``&name;`` / ``&#123;``
  ass       ASS override blocks ``{\\...}`` or ``\\N``/``\\h`` escapes
  digits    a segment made only of digits (page numbers, cue numbers)
  mojibake  UTF-8 read as Windows-1252/Latin-1 (``â\\x80``, ``Ã©``, ``Â``)
  bracket   bracketed text ``[...]`` (sound descriptions, stage directions)
  note      a note marker glued to a word: ``Savannah1``, ``currency.1``,
            ``Hofgarten,10``, or a page number glued before one (``209fallen``)
  ========  =========================================================

How "kept" is measured
----------------------
Both sides are reduced to *words*: maximal runs of letters and digits
(Unicode ``\\w`` without ``_``), NFKC-normalised and casefolded. ``kept`` is the
multiset overlap ``sum(min(planned[w], body[w])) / sum(body[w])``: the share of
the body's words that appear in the plan as often, so words the planner adds
(a title/author announcement, chapter numbers) cannot raise it above what was
actually kept, and words it drops or mangles (glued note markers, split
karaoke syllables) lower it. ``extra`` is the other side: planned words beyond
the body's count, per body word (front matter read as chapters, a title/author
announcement, duplicated lines). The body text is extracted here, independently of
voicecast's readers, and deliberately simply:

- **EPUB**: the spine documents in order, except ``linear="no"`` ones, the
  navigation document (manifest ``properties="nav"``), documents the EPUB 2
  guide lists as cover, title page, contents, copyright, colophon, and
  documents whose ``<body>`` or only top-level section carries an
  ``epub:type`` of front/back matter that is not prose (:data:`NONBODY_TYPES`:
  cover, title page, contents, copyright, colophon, index, ...). Inside a
  document, the text of every element except ``head``/``script``/``style``/
  ``nav``, ruby readings (``rt``/``rp``), and elements typed as page breaks,
  note references or note bodies (:data:`SKIP_TYPES`), and ``<pre>`` code.
- **Subtitles**: the text of each cue/dialogue line, parsed here (SRT/VTT:
  blocks of text after their timing line; ASS/SSA: the ``Text`` field of
  ``Dialogue:`` lines, ``Comment:`` lines excluded, drawing-mode ``{\\p1}``
  lines excluded), with ``<...>`` tags and ``{...}`` blocks stripped and sound
  descriptions (``[...]``, ``(...)``, ``♪...``) removed.
- **Markdown**: the file without YAML front matter, fenced code, link targets,
  images, HTML tags, bracketed text (stage directions, tags) and markup
  characters (the heading/emphasis markers are not words anyway).
- **Plain text**: the file.

Duplicated subtitle text (ASS layers) counts in the body as often as it
appears, so a plan that speaks a duplicated line once keeps less than 100 %.

Usage::

    .venv/bin/python bench/bench_inputs.py [FOLDER ...] [--json] [--out FILE] [--jobs N]

Prints a Markdown table (and the residue examples under it); ``--out`` also
writes it to a file (``bench/results/inputs.md``); ``--json`` prints the rows
as JSON instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
SUFFIXES = {".epub", ".md", ".markdown", ".txt", ".srt", ".vtt", ".ass", ".ssa"}

#: ``epub:type`` values of whole documents that are not the book's prose.
NONBODY_TYPES = {
    "cover", "titlepage", "halftitlepage", "fulltitle", "copyright-page", "colophon", "toc",
    "landmarks", "loi", "lot", "page-list", "index", "imprint", "imprimatur", "errata",
    "seriespage", "other-credits", "contributors",
}
#: EPUB 2 guide reference types of documents that are not the book's prose.
NONBODY_GUIDE = {"cover", "title-page", "toc", "copyright-page", "colophon", "index", "loi", "lot"}
#: ``epub:type`` values of inline elements whose text is not read.
SKIP_TYPES = {"pagebreak", "noteref", "footnote", "endnote", "footnotes", "endnotes", "rearnote",
              "rearnotes", "note", "annoref", "annotation", "toc", "landmarks", "page-list"}
SKIP_TAGS = {"head", "script", "style", "nav", "rt", "rp", "pre", "svg:title", "title"}

RESIDUE: dict[str, re.Pattern[str]] = {
    "markup": re.compile(r"<[A-Za-z/!][^<>]{0,200}>"),
    "entity": re.compile(r"&(?:#\d{1,7}|#x[0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"),
    "ass": re.compile(r"\{\\[^{}]*\}|\\[Nnh]"),
    "digits": re.compile(r"^\W*\d[\d\W]*$"),
    "mojibake": re.compile("[âÃÂ][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
                           "\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039"
                           "\u203a\u20ac\u2122]"),
    "bracket": re.compile(r"\[[^\[\]]{0,200}\]"),
    # A lowercase letter (or closing punctuation) then 1-3 digits ending the word, not after
    # a backslash (an ASS tag named in text); or digits glued before a word, not an ordinal.
    "note": re.compile(r"(?<![\w\\-])(?:[^\W\d_]*[a-z][.,;:!?\")”]?\d{1,3}(?![\d.,]?\d)(?!\w)"
                       r"|\d{1,4}(?!(?i:st|nd|rd|th|s|er|e|ème|o|a|º|ª)\b)[^\W\d_]{2,})"),
}
#: Chapter titles that name front or back matter (the ``matter`` column).
MATTER_TITLE = re.compile(
    r"\b(title ?page|half ?title|copyright|imprint|colophon|(table of )?contents|brief contents|toc|"
    r"licen[cs]e|gutenberg|about (the|this) (author|book|e?book|publisher)|also by|index|"
    r"acknowledge?ments?|cover|dedication|front ?matter|back ?matter|landmarks|list of)\b", re.I)
_WORD = re.compile(r"[^\W_]+")
_NS_OPS = "http://www.idpf.org/2007/ops"


def words(text: str) -> list[str]:
    """The words of ``text`` as compared (see the module docstring)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


# ----------------------------------------------------------------------------- body text


def _epub_body(path: Path) -> str:
    from lxml import etree

    with zipfile.ZipFile(path) as z:
        container = etree.fromstring(z.read("META-INF/container.xml"))
        opf_path = container.xpath("//*[local-name()='rootfile']/@full-path")[0]
        opf = etree.fromstring(z.read(opf_path))
        base = PurePosixPath(opf_path).parent
        manifest = {}
        nav = set()
        for item in opf.xpath("//*[local-name()='manifest']/*[local-name()='item']"):
            manifest[item.get("id")] = item.get("href")
            if "nav" in (item.get("properties") or "").split():
                nav.add(item.get("href"))
        guide_skip = {unquote(ref.get("href", "").split("#")[0])
                      for ref in opf.xpath("//*[local-name()='guide']/*[local-name()='reference']")
                      if (ref.get("type") or "").lower() in NONBODY_GUIDE}
        parts: list[str] = []
        for ref in opf.xpath("//*[local-name()='spine']/*[local-name()='itemref']"):
            href = manifest.get(ref.get("idref"))
            if href is None or ref.get("linear") == "no" or href in nav or unquote(href) in guide_skip:
                continue
            name = str(base / unquote(href)) if str(base) != "." else unquote(href)
            try:
                data = z.read(name)
            except KeyError:
                continue
            parts.append(_xhtml_body(data))
        return "\n".join(parts)


def _types(el: Any) -> set[str]:
    return set((el.get(f"{{{_NS_OPS}}}type") or el.get("role", "").removeprefix("doc-") or "").split())


def _xhtml_body(data: bytes) -> str:
    from lxml import etree

    try:
        root = etree.fromstring(data, etree.XMLParser(recover=True, resolve_entities=False))
    except etree.XMLSyntaxError:
        root = None
    if root is None:
        root = etree.fromstring(data, etree.HTMLParser())
    body = next(iter(root.xpath("//*[local-name()='body']")), root)
    # A document typed as non-body matter, on its body or its only top-level section.
    top = [c for c in body if isinstance(c.tag, str)]
    doc_types = _types(body) | (_types(top[0]) if len(top) == 1 else set())
    if doc_types & NONBODY_TYPES:
        return ""
    out: list[str] = []

    def walk(el: Any) -> None:
        if not isinstance(el.tag, str):  # comments, processing instructions
            if el.tail:
                out.append(el.tail)
            return
        local = etree.QName(el).localname
        if local in SKIP_TAGS or _types(el) & SKIP_TYPES:
            pass
        else:
            if el.text:
                out.append(el.text)
            for child in el:
                walk(child)
            if local in ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "section",
                         "td", "tr", "blockquote", "dd", "dt"):
                out.append("\n")
        if el.tail:
            out.append(el.tail)

    for child in body:
        walk(child)
    if body.text:
        out.insert(0, body.text)
    return "".join(out)


def _decode(data: bytes) -> str:
    for bom, enc in ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
                     (b"\xef\xbb\xbf", "utf-8-sig"), (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le")):
        if data.startswith(bom):
            return data[len(bom):].decode(enc, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


_SOUND = re.compile(r"\[[^\]]*\]|\([^)]*\)|♪[^♪]*(?:♪|$)")
_TAG = re.compile(r"<[^>]*>|\{[^}]*\}")


def _cue_text(text: str) -> str:
    text = text.replace("\\N", " ").replace("\\n", " ").replace("\\h", " ")
    return _SOUND.sub(" ", _TAG.sub("", text))


def _subtitle_body(path: Path) -> str:
    text = _decode(path.read_bytes()).replace("\r\n", "\n").replace("\r", "\n")
    if path.suffix.lower() in (".ass", ".ssa"):
        out = []
        fields: list[str] | None = None
        for line in text.split("\n"):
            if line.lower().startswith("format:") and fields is None and "text" in line.lower():
                candidate = [f.strip().lower() for f in line.split(":", 1)[1].split(",")]
                if "start" in candidate:
                    fields = candidate
            if line.startswith("Dialogue:"):
                n = len(fields) if fields else 10
                value = line.split(":", 1)[1].split(",", n - 1)[-1]
                if re.search(r"\{[^}]*\\p[1-9]", value):
                    continue  # a vector drawing, not text
                out.append(_cue_text(value))
        return "\n".join(out)
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip("\n").split("\n")
        for i, line in enumerate(lines):
            if "-->" in line:
                out.extend(_cue_text(t) for t in lines[i + 1:])
                break
    return "\n".join(out)


def _markdown_body(path: Path) -> str:
    text = _decode(path.read_bytes())
    text = re.sub(r"\A---\n.*?\n(?:---|\.\.\.)\n", "", text, flags=re.S)  # YAML front matter
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)  # fenced code
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)  # images
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)
    # Bracketed stage directions and tags are not the body (a play's _[Listens]_).
    return re.sub(r"\[[^\]\n]*\]", " ", text)


def body_text(path: Path) -> str:
    """The source's body text, extracted as the module docstring says."""
    ext = path.suffix.lower()
    if ext == ".epub":
        return _epub_body(path)
    if ext in (".srt", ".vtt", ".ass", ".ssa"):
        return _subtitle_body(path)
    if ext in (".md", ".markdown"):
        return _markdown_body(path)
    return _decode(path.read_bytes())


def kept_share(planned: Iterable[str], body: str) -> tuple[float | None, float | None]:
    """``(kept, extra)``: the multiset share of the body's words found in the planned
    texts, and the planned words beyond the body's as a share of the body's words
    (front matter read, announcements, text read twice). None: no body words."""
    src = Counter(words(body))
    total = sum(src.values())
    if not total:
        return None, None
    got = Counter(w for t in planned for w in words(t))
    kept = sum(min(n, got[w]) for w, n in src.items())
    extra = sum(max(0, n - src.get(w, 0)) for w, n in got.items())
    return kept / total, extra / total


# ----------------------------------------------------------------------------- the bench


@dataclass
class Row:
    file: str
    status: int
    kind: str = ""
    chapters: int = 0
    segments: int = 0
    warnings: int = 0
    body_words: int = 0
    kept: float | None = None
    extra: float | None = None
    residue: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0
    chapter_titles: list[str] = field(default_factory=list)
    #: Chapter titles that look like front or back matter (:data:`MATTER_TITLE`).
    matter: list[str] = field(default_factory=list)


def residue(texts: list[str]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Segments with each kind of residue, and up to three examples (the match in context)."""
    counts: dict[str, int] = {k: 0 for k in RESIDUE}
    examples: dict[str, list[str]] = {}
    for t in texts:
        for kind, rx in RESIDUE.items():
            m = rx.search(t)
            if m:
                counts[kind] += 1
                ex = examples.setdefault(kind, [])
                if len(ex) < 3:
                    a, b = max(0, m.start() - 25), min(len(t), m.end() + 25)
                    ex.append(("…" if a else "") + t[a:b] + ("…" if b < len(t) else ""))
    return counts, examples


def run_one(path: Path, extra: list[str], timeout: float) -> Row:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vc-bench-") as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
        env["VOICECAST_DATA_DIR"] = data
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "orchestrator.cli", "plan", str(path), "--json", *extra],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return Row(file=path.name, status=124, error=f"timed out after {timeout:.0f} s",
                       seconds=time.monotonic() - t0)
    row = Row(file=path.name, status=proc.returncode, seconds=time.monotonic() - t0)
    try:
        body = body_text(path)
    except Exception as e:  # the bench's own extraction: say so, keep going
        body = ""
        row.error = f"body text not extracted: {type(e).__name__}: {e}"
    row.body_words = len(words(body))
    if proc.returncode != 0:
        row.error = (proc.stderr.strip().splitlines() or ["(no message)"])[-1][:300]
        return row
    plan = json.loads(proc.stdout)
    texts = [s["text"] for s in plan["segments"]]
    row.kind = plan["kind"]
    row.chapters = len(plan["chapters"])
    row.chapter_titles = [c["title"] for c in plan["chapters"]]
    row.matter = [t for t in row.chapter_titles if MATTER_TITLE.search(t)]
    row.segments = len(texts)
    row.warnings = len(plan["warnings"])
    row.kept, row.extra = kept_share(texts, body)
    row.residue, row.examples = residue(texts)
    return row


def find_inputs(folders: list[Path]) -> list[Path]:
    out: list[Path] = []
    for folder in folders:
        if folder.is_file():
            out.append(folder)
            continue
        out += sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                      and p.name.lower() != "readme.md")
    return out


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def markdown(rows: list[Row], folders: list[Path]) -> str:
    kinds = list(RESIDUE)
    lines = [
        "# Input bench (`bench/bench_inputs.py`)",
        "",
        f"`voicecast plan --json` over {', '.join(str(f) for f in folders)}; "
        "kept = share of the source's body words the plan speaks (multiset overlap; "
        "see the script's docstring); extra = planned words beyond the body's (front matter, "
        "announcements, repeats) per body word; matter = chapters titled like front/back matter; "
        "residue = segments holding each kind of leftover.",
        "",
        "| file | status | kind | chapters | matter | segments | warnings | body words | kept | extra | "
        + " | ".join(kinds) + " | s |",
        "|" + " --- |" * (11 + len(kinds)),
    ]
    for r in rows:
        kept = f"{100 * r.kept:.1f} %" if r.kept is not None else "-"
        extra = f"{100 * r.extra:.1f} %" if r.extra is not None else "-"
        res = [str(r.residue.get(k, 0)) if r.status == 0 else "-" for k in kinds]
        lines.append(f"| {_md_cell(r.file)} | {r.status} | {r.kind or '-'} | {r.chapters} | "
                     f"{len(r.matter)} | {r.segments} | "
                     f"{r.warnings} | {r.body_words} | {kept} | {extra} | " + " | ".join(res)
                     + f" | {r.seconds:.1f} |")
    ok = sum(1 for r in rows if r.status == 0)
    lines += ["", f"{ok} of {len(rows)} files planned (exit 0)."]
    errors = [r for r in rows if r.error]
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- **{_md_cell(r.file)}** (exit {r.status}): {_md_cell(r.error)}" for r in errors]
    with_examples = [r for r in rows if r.examples]
    if with_examples:
        lines += ["", "## Residue examples", ""]
        for r in with_examples:
            lines.append(f"- **{_md_cell(r.file)}**")
            for kind, ex in r.examples.items():
                shown = "; ".join(f"`{_md_cell(e).replace('`', '')}`" for e in ex)
                lines.append(f"  - {kind} ({r.residue[kind]}): {shown}")
    matter = [r for r in rows if r.matter]
    if matter:
        lines += ["", "## Chapters titled like front or back matter", ""]
        lines += [f"- **{_md_cell(r.file)}**: " + ", ".join(f"“{_md_cell(t)[:60]}”" for t in r.matter)
                  for r in matter]
    books = [r for r in rows if r.chapter_titles]
    if books:
        lines += ["", "## Chapters (first 12 titles)", ""]
        for r in books:
            titles = ", ".join(f"“{_md_cell(t)[:50]}”" for t in r.chapter_titles[:12])
            more = f", … (+{len(r.chapter_titles) - 12})" if len(r.chapter_titles) > 12 else ""
            lines.append(f"- **{_md_cell(r.file)}**: {titles}{more}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("folders", nargs="*", type=Path, default=[DEFAULT_CORPUS],
                    help=f"folders (searched recursively) or files (default {DEFAULT_CORPUS})")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown table to this file")
    ap.add_argument("--jobs", type=int, default=1, help="plans run at once (default 1)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per file (default 600)")
    ap.add_argument("--plan-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for `voicecast plan` (repeatable), "
                         "e.g. --plan-arg=--ignore-unknown-tags")
    args = ap.parse_args(argv)
    inputs = find_inputs(args.folders)
    if not inputs:
        print(f"no inputs under {', '.join(map(str, args.folders))}", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda p: run_one(p, args.plan_arg, args.timeout), inputs))
    table = markdown(rows, args.folders)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2, ensure_ascii=False))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
