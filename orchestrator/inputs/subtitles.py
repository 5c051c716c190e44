"""Subtitle files (SRT, WebVTT, ASS/SSA) into a flat list of timed cues.

This module only reads: it keeps each cue's raw text (markup, line breaks and
all) together with where it came from, so that every later complaint can name
the file and line. Cleaning the text and resolving overlaps is the planner's
job (:mod:`orchestrator.planning.cues`).

Formats:

* **SRT** has its own strict parser, because a dubbing job that silently skips
  a mangled cue produces a track with a hole in it. It tolerates what real files
  do (BOM, CRLF, extra or missing blank lines, ``.`` instead of ``,`` in times,
  a missing index line, trailing whitespace, position coordinates after the
  timing, blank lines inside a cue's text) and rejects what it cannot read with
  the line number: a bad timing line, a non-numeric index. A cue that ends
  before (or when) it starts is kept: it is never on screen, and the planner
  skips it with a warning.
* **WebVTT** has its own parser too: the ``WEBVTT`` header is required, NOTE,
  STYLE and REGION blocks are skipped, hours are optional, cue settings after
  the timing are ignored and the first ``<v Name>`` voice span gives the
  cue's speaker (a cue with several voices is split by the planner).
* **ASS/SSA** is read by pysubs2; only ``Dialogue`` events become cues
  (``Comment`` events are skipped), the Name/Actor field gives the speaker and
  the style, layer and effect are kept: which of them are spoken (signs,
  songs, karaoke effects, vector drawings, duplicate layers) is decided by the
  planner (:mod:`orchestrator.planning.cues`). Event lines are checked here
  first so that errors name their line.

Files are decoded as UTF-8 (BOM or not), UTF-16 or UTF-32 (either byte order)
when they start with a byte order mark, and otherwise as Windows-1252 with a
logged warning, since that is what most non-UTF-8 subtitle files in the wild
are. The decoded text then has its mojibake repaired (``e-mailedâ\x80\x94`` →
``e-mailed—``) and its control characters removed
(:mod:`orchestrator.inputs.textfix`), with a logged warning saying how much.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pysubs2

from voicecast.errors import InputError

__all__ = ["Cue", "SUPPORTED_FORMATS", "parse_subtitles", "parse_subtitles_text"]

log = logging.getLogger(__name__)

#: File extensions (without the dot) that :func:`parse_subtitles` accepts.
SUPPORTED_FORMATS: tuple[str, ...] = ("srt", "vtt", "ass", "ssa")


@dataclass(frozen=True)
class Cue:
    """One subtitle cue as written in the file.

    ``index`` is the cue's 1-based position in the file (not the number an SRT
    file writes above it), ``start``/``end`` are seconds, ``text`` is raw (tags,
    override blocks and line breaks kept), ``line`` is the 1-based line where
    the cue starts in the source (its index or timing line; for ASS the
    ``Dialogue:`` line; 0 if unknown). A cue may end before it starts or
    at its start (never on screen): the planner skips those with a warning.
    ASS/SSA cues also keep their ``style``, ``layer`` and ``effect`` fields,
    which the planner uses to tell dialogue from signs, songs and effects.
    """

    index: int
    start: float
    end: float
    text: str
    speaker: str | None = None
    line: int = 0
    style: str | None = None
    layer: int = 0
    effect: str | None = None


# --------------------------------------------------------------------------- files


def parse_subtitles(path: Path) -> list[Cue]:
    """Read a subtitle file and return its cues in file order.

    The format comes from the extension (``.srt``, ``.vtt``, ``.ass``,
    ``.ssa``); a file whose content plainly says otherwise (a ``WEBVTT`` header
    or an ``[Script Info]`` section) is read as what it is. Raises
    :class:`~voicecast.errors.InputError` naming the file (and line, where
    there is one) for anything it cannot use.
    """
    text, fmt = read_subtitles(path)
    return parse_subtitles_text(text, fmt, str(path))


def read_subtitles(path: Path) -> tuple[str, str]:
    """A subtitle file's text and the format to parse it as (its extension's,
    or what its content plainly is); :func:`parse_subtitles` without the
    parsing, for callers that need the text too."""
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    if ext not in SUPPORTED_FORMATS:
        supported = ", ".join("." + f for f in SUPPORTED_FORMATS)
        shown = path.suffix or "(none)"
        raise InputError(
            f"unsupported subtitle format {shown!r}; supported: {supported}", file=path
        )
    text = read_text(path)
    fmt = _sniff_format(text) or ext
    if fmt != ext:
        log.warning("%s: content is %s, not %s; reading it as %s", path, fmt, ext, fmt)
    return text, fmt


def read_text(path: Path) -> str:
    """A text file's content, decoded as described in the module docstring."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("subtitle file not found", file=path) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a subtitle file", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read subtitle file: {exc.strerror or exc}", file=path) from None
    return decode_text(data, str(path))


# Byte order marks, longest first: a UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def decode_text(data: bytes, source: str, what: str = "subtitle file") -> str:
    """:func:`_decode` the bytes, then repair mojibake and remove control characters
    (:func:`orchestrator.inputs.textfix.repair`, with a logged warning saying how much)."""
    from orchestrator.inputs.textfix import repair

    fixed = repair(_decode(data, source, what))
    if summary := fixed.summary():
        log.warning("%s: %s", source, summary)
    return fixed.text


def _decode(data: bytes, source: str, what: str) -> str:
    """Text of a file: UTF-8 (BOM or not); UTF-16 or UTF-32 (either byte order)
    when it starts with a byte order mark; else Windows-1252 with a logged
    warning (what most non-UTF-8 text files in the wild are). The BOM is not part
    of the text. ``what`` names the kind of file in error messages. Raises
    :class:`InputError` naming the file (and the line of a NUL byte or of the
    first bad byte)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec)
            except UnicodeDecodeError as exc:
                raise InputError(f"invalid {codec[:6].upper()} text ({exc.reason}); "
                                 "re-save the file as UTF-8", file=source) from None
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise InputError(f"binary data (NUL byte), not a text {what}", file=source, line=line)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise InputError(
            "unreadable text encoding: not UTF-8, UTF-16/UTF-32 (with BOM) or Windows-1252; "
            "re-save the file as UTF-8",
            file=source,
            line=bad_line,
        ) from None
    log.warning("%s:%d: not valid UTF-8; decoded the %s as Windows-1252 instead", source, bad_line, what)
    return text


def _sniff_format(text: str) -> str | None:
    head = text.lstrip("\ufeff \t\r\n")
    if re.match(r"WEBVTT(?:[ \t\r\n]|$)", head):
        return "vtt"
    if re.match(r"\[Script Info\]", head, re.IGNORECASE):
        return "ass" if re.search(r"\[V4\+ Styles\]", text, re.IGNORECASE) else "ssa"
    return None


def parse_subtitles_text(text: str, fmt: str, source: str) -> list[Cue]:
    """Parse subtitle ``text`` in format ``fmt`` (``srt``, ``vtt``, ``ass``, ``ssa``).

    ``source`` names the text in error messages (usually the file path).
    Returns the cues in file order; cues with empty text are kept (the planner
    drops them with a warning). Raises :class:`~voicecast.errors.InputError`
    when nothing usable is found or a line cannot be read.
    """
    fmt = fmt.lower().lstrip(".")
    if fmt not in SUPPORTED_FORMATS:
        supported = ", ".join(SUPPORTED_FORMATS)
        raise InputError(
            f"unsupported subtitle format {fmt!r}; supported: {supported}", file=source
        )
    # One newline convention and no BOM, so line numbers match what editors show.
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InputError("no subtitle cues found (the file is empty)", file=source)
    if fmt == "srt":
        cues = _parse_srt(text, source)
    elif fmt == "vtt":
        cues = _parse_vtt(text, source)
    else:
        cues = _parse_ass(text, fmt, source)
    if not cues:
        raise InputError("no subtitle cues found", file=source)
    return cues


# --------------------------------------------------------------------------- SRT

_SRT_FORMAT = "'HH:MM:SS,mmm --> HH:MM:SS,mmm'"
_SRT_EXPECTED = f"expected {_SRT_FORMAT}"
_SRT_TIME = r"(\d{1,3}):(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_SRT_TIMING = re.compile(rf"^{_SRT_TIME}\s*-->\s*{_SRT_TIME}(?:\s+.*)?$")
# Lines that are meant to be a timing line even if mangled: they contain the
# arrow, or start with an H:MM:SS time followed by some kind of separator.
# Deliberately narrow so that cue text such as "10:30 already?" is text.
_SRT_TIMING_LIKE = re.compile(r"-->|^\d{1,3}:\d{2}:\d{2}(?:[,.:]\d+)?\s*(?:-|=|>|–|—|to\b)")
_SRT_INDEX = re.compile(r"^\d+$")


def _srt_timing_like(s: str) -> bool:
    return bool(_SRT_TIMING_LIKE.search(s))


def _srt_time(groups: tuple[str, ...], raw: str, source: str, line: int) -> float:
    h, m, s, frac = groups
    if int(m) >= 60 or int(s) >= 60:
        raise InputError(
            f"{_SRT_EXPECTED}, got {raw!r} (minutes and seconds must be < 60)",
            file=source,
            line=line,
        )
    # "1,5" means 1.5 s: the digits are a decimal fraction, not a count of ms.
    return int(h) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def _parse_srt_timing(raw: str, source: str, line: int) -> tuple[float, float]:
    m = _SRT_TIMING.match(raw)
    if m is None:
        raise InputError(f"{_SRT_EXPECTED}, got {raw!r}", file=source, line=line)
    groups = m.groups()
    start = _srt_time(groups[:4], raw, source, line)
    end = _srt_time(groups[4:], raw, source, line)
    return start, end


def _parse_srt(text: str, source: str) -> list[Cue]:
    lines = [ln.rstrip() for ln in text.split("\n")]
    n = len(lines)
    # One per cue: (first line, start, end, text lines so far)
    blocks: list[tuple[int, float, float, list[str]]] = []
    in_text = False  # inside a cue's text (no blank line since its timing)
    i = 0
    while i < n:
        s = lines[i].strip()
        if not s:
            in_text = False
            i += 1
            continue
        nxt = lines[i + 1].strip() if i + 1 < n else ""
        timing_at: int | None = None
        if _srt_timing_like(s):
            timing_at = i  # cue without an index line
        elif _SRT_INDEX.match(s) and _srt_timing_like(nxt):
            timing_at = i + 1
        elif not in_text:
            # At the start of a block, so this should be an index or a timing line.
            if _SRT_INDEX.match(s):
                if not nxt:
                    raise InputError(
                        f"cue number {s} is not followed by a timing line {_SRT_FORMAT}",
                        file=source,
                        line=i + 1,
                    )
                raise InputError(
                    f"{_SRT_EXPECTED} after cue number {s}, got {nxt!r}", file=source, line=i + 2
                )
            if _srt_timing_like(nxt):
                raise InputError(
                    f"cue number must be an integer, got {s!r}", file=source, line=i + 1
                )
            if not blocks:
                raise InputError(
                    f"expected a cue number or a timing line {_SRT_FORMAT}, got {s!r}",
                    file=source,
                    line=i + 1,
                )
            # Text after a blank line inside a cue: some editors write that.
            blocks[-1][3].append(s)
            in_text = True
            i += 1
            continue
        else:
            blocks[-1][3].append(s)
            i += 1
            continue
        start, end = _parse_srt_timing(lines[timing_at].strip(), source, timing_at + 1)
        blocks.append((i + 1, start, end, []))
        in_text = True
        i = timing_at + 1
    return [
        Cue(index=k, start=start, end=end, text="\n".join(body), speaker=None, line=line)
        for k, (line, start, end, body) in enumerate(blocks, 1)
    ]


# --------------------------------------------------------------------------- WebVTT

_VTT_EXPECTED = "expected 'HH:MM:SS.mmm --> HH:MM:SS.mmm' (hours optional)"
_VTT_TIME = r"(?:(\d+):)?(\d{2}):(\d{2})[.,](\d{3})"
_VTT_TIMING = re.compile(rf"^{_VTT_TIME}\s+-->\s+{_VTT_TIME}(?:\s+.*)?$")
_VTT_VOICE = re.compile(r"<v(?:\.[^\s>]+)*\s+([^>]+?)\s*>")
_VTT_SKIP_BLOCKS = ("NOTE", "STYLE", "REGION")


def _vtt_time(parts: tuple[str | None, ...], raw: str, source: str, line: int) -> float:
    h, m, s, ms = parts
    assert m is not None and s is not None and ms is not None  # required groups
    if int(m) >= 60 or int(s) >= 60:
        raise InputError(
            f"{_VTT_EXPECTED}, got {raw!r} (minutes and seconds must be < 60)",
            file=source,
            line=line,
        )
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def _parse_vtt(text: str, source: str) -> list[Cue]:
    lines = [ln.rstrip() for ln in text.split("\n")]
    if not re.match(r"WEBVTT(?:[ \t]|$)", lines[0]):
        raise InputError("missing 'WEBVTT' header on the first line", file=source, line=1)
    # Blocks are runs of non-blank lines; a cue's text cannot contain a blank line.
    blocks: list[tuple[int, list[str]]] = []
    cur: list[str] = []
    cur_start = 0
    for no, ln in enumerate(lines, 1):
        if ln.strip():
            if not cur:
                cur_start = no
            cur.append(ln)
        elif cur:
            blocks.append((cur_start, cur))
            cur = []
    if cur:
        blocks.append((cur_start, cur))

    header_start, header = blocks[0]
    for k, ln in enumerate(header[1:], header_start + 1):
        if "-->" in ln:
            raise InputError(
                "expected a blank line between the WEBVTT header and the first cue",
                file=source,
                line=k,
            )

    cues: list[Cue] = []
    for first, block in blocks[1:]:  # blocks[0] is the header block
        head = block[0].strip()
        if any(head == kw or head.startswith((kw + " ", kw + "\t")) for kw in _VTT_SKIP_BLOCKS):
            continue
        if "-->" in head:
            t = 0
        elif len(block) > 1 and "-->" in block[1]:
            t = 1  # the first line is a cue identifier
        else:
            bad = first + 1 if len(block) > 1 else first
            got = block[1] if len(block) > 1 else block[0]
            raise InputError(f"{_VTT_EXPECTED}, got {got.strip()!r}", file=source, line=bad)
        raw = block[t].strip()
        line = first + t
        m = _VTT_TIMING.match(raw)
        if m is None:
            raise InputError(f"{_VTT_EXPECTED}, got {raw!r}", file=source, line=line)
        g = m.groups()
        start, end = _vtt_time(g[:4], raw, source, line), _vtt_time(g[4:], raw, source, line)
        body = "\n".join(ln.strip() for ln in block[t + 1 :])
        voice = _VTT_VOICE.search(body)
        cues.append(
            Cue(
                index=len(cues) + 1,
                start=start,
                end=end,
                text=body,
                speaker=voice.group(1) if voice else None,
                line=first,
            )
        )
    return cues


# --------------------------------------------------------------------------- ASS / SSA

# Same notion of a section heading as pysubs2, so both count the same event lines.
_ASS_SECTION = re.compile(r"^.{,3}\[[^]]*[a-z][^]]*]")
_ASS_NON_EVENT_SECTIONS = ("info", "aegisub", "fonts", "graphics")
_ASS_TIME = re.compile(r"^-?\d{1,2}:\d{1,2}:\d{1,2}(?:[.,]\d{1,3})?$")


def _ass_event_lines(text: str, source: str) -> list[int]:
    """Line numbers of the Dialogue/Comment lines pysubs2 will turn into events.

    Also checks each of them, since pysubs2 fills missing fields with defaults
    (a truncated line would become a 10-second cue) and reports bad times
    without a line number.
    """
    numbers: list[int] = []
    section = ""
    for no, raw in enumerate(text.split("\n"), 1):
        ln = raw.strip()
        if _ASS_SECTION.match(ln):
            section = ln.lower()
            continue
        if any(word in section for word in _ASS_NON_EVENT_SECTIONS):
            continue
        if not (ln.startswith("Dialogue:") or ln.startswith("Comment:")):
            continue
        fields = ln.split(":", 1)[1].strip().split(",", 9)
        if len(fields) < 10:
            raise InputError(
                f"event line has {len(fields)} fields, expected 10 "
                "(Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text)",
                file=source,
                line=no,
            )
        for name, value in (("start", fields[1]), ("end", fields[2])):
            if not _ASS_TIME.match(value.strip()):
                raise InputError(
                    f"bad {name} time {value.strip()!r}, expected 'H:MM:SS.cc'",
                    file=source,
                    line=no,
                )
        numbers.append(no)
    return numbers


def _parse_ass(text: str, fmt: str, source: str) -> list[Cue]:
    line_numbers = _ass_event_lines(text, source)
    # The style section says which dialect it is, whatever the extension says.
    if re.search(r"\[V4\+ Styles\]", text, re.IGNORECASE):
        fmt = "ass"
    elif re.search(r"\[V4 Styles\]", text, re.IGNORECASE):
        fmt = "ssa"
    try:
        subs = pysubs2.SSAFile.from_string(text, format_=fmt)
    except Exception as exc:  # pysubs2 raises assorted types on malformed input
        raise InputError(f"cannot read {fmt.upper()} file: {exc}", file=source) from None
    if len(subs.events) != len(line_numbers):  # should not happen; keep going without lines
        log.debug("%s: %d events but %d event lines", source, len(subs.events), len(line_numbers))
        line_numbers = [0] * len(subs.events)

    cues: list[Cue] = []
    for ev, line in zip(subs.events, line_numbers, strict=True):
        if ev.is_comment:
            continue
        start, end = ev.start / 1000, ev.end / 1000
        cues.append(
            Cue(
                index=len(cues) + 1,
                start=start,
                end=end,
                text=ev.text,
                speaker=ev.name.strip() or None,
                line=line,
                style=ev.style.strip() or None,
                layer=ev.layer if isinstance(ev.layer, int) else 0,
                effect=ev.effect.strip() or None,
            )
        )
    return cues


_RE_LANGUAGE_HEADER = re.compile(r"^\s*Language\s*:\s*(\S[^\r\n]*)$", re.I | re.M)


def declared_language_of(path: Path) -> str | None:
    """The language a subtitle file declares (:func:`declared_language_in`),
    or None when it cannot be read."""
    try:
        return declared_language_in(read_text(path), path)
    except InputError:
        return None


def declared_language_in(text: str, path: Path) -> str | None:
    """The language a subtitle file (or script) declares, as written: a WebVTT
    header's or an ASS ``[Script Info]`` section's ``Language:`` line in
    ``text``, else a language tag as the name's last part before the
    extension (``film.es.srt``, ``film.pt-BR.vtt``). ``None`` when it says
    none. Only the header is looked at: the part before the first cue."""
    from voicecast.languages import declared_language, parse_language

    head = text[: text.find("-->")] if "-->" in text else text[:4096]
    if "[Events]" in head:
        head = head[: head.find("[Events]")]
    m = _RE_LANGUAGE_HEADER.search(head)
    if m and declared_language(m.group(1).strip()) is not None:
        return m.group(1).strip()
    tail = Path(path.stem).suffix.lstrip(".")
    if 2 <= len(tail) <= 8 and tail.replace("-", "").isalpha():
        try:
            parse_language(tail, field=None)
            return tail
        except InputError:
            return None
    return None
