"""Which subtitle cues are spoken: the choices made cue by cue before planning.

Subtitle files in the wild carry much that is shown but must not be read
aloud. :func:`select_cues` (called by :func:`~orchestrator.planning.cues.plan_cues`)
skips it, in this order, and reports each kind in one warning with its count
and the first few lines (never one warning per cue):

1. **Never on screen**: cues that end when or before they start (hidden data,
   timing slips), and ASS lines made fully transparent from their first
   override block (``{\\alpha&HFF&}`` or ``{\\1a&HFF&}`` with no ``\\t``
   animation that could bring them back).
2. **ASS/SSA effect lines**: lines whose Effect field marks karaoke-template
   output or templates (``fx``, ``karaoke``, ``template ...``, ``code ...``):
   one line per syllable or per glyph, which would be read as "s i s t e r s".
   Karaoke *tags* (``\\k``, ``\\kf``, ``\\ko``, ``\\K``) in ordinary lines are
   override tags like any other: they are removed and the syllables join into
   their words (``{\\k20}sis{\\k15}ters`` is "sisters").
3. **Vector drawings** (``{\\p1}m 0 0 l 10 0 ...{\\p0}``): the drawing
   commands are removed; a line left with no text is skipped. **Furigana** in
   ASS/SSA text, written ``BASE|READING`` (Aegisub's karaoke furigana, some
   fansubs' ruby), keeps its base text only: ``漢字|かんじ`` is ``漢字``, and a
   ``#`` syllable (continuing the previous one) is dropped.
4. **Signs, songs and titles** (ASS/SSA only; ``--styles`` changes it). By
   default a line is skipped when

   * its style's name says it is not dialogue: it contains one of the words
     sign(s), TS, typeset(ting), kara(oke), song(s), lyric(s), insert, romaji,
     kanji, title(s), eyecatch, credit(s), staff, note(s), opening, ending, or
     the abbreviation OP or ED (written ``OP``/``op``, so a style named after
     a character called Ed is dialogue). Words are split at non-letters and
     at case changes: ``OP_Romaji``, ``SignsTop``, ``ED-Eng``, ``kara1``;
   * or its Name/Actor field is one of those sign or song words (fansubbers
     mark typesetting that way: actor ``TS``, ``Sign``, ``Song``);
   * or it is a **typeset sign**: positioned with ``\\pos`` or ``\\move`` *and*
     rotated, sheared, re-fonted or clipped (``\\frz``, ``\\frx``, ``\\fry``,
     ``\\fr``, ``\\fax``, ``\\fay``, ``\\org``, ``\\fn``, ``\\clip``,
     ``\\iclip``). Position alone is not enough: dialogue is positioned too,
     to keep it clear of on-screen text.

   ``--styles NAME,NAME`` speaks exactly the lines in those styles (names are
   matched ignoring case; every line in them, typeset or not) and
   ``--styles all`` every style. Naming a style no line uses is an error that
   lists the file's styles.
5. **Duplicates**: cues with the same start, end and visible text (override
   blocks and tags aside) are spoken once: the first in the file. ASS files
   draw a border or shadow layer under the text this way.

Advert and credit cues (:func:`is_advert`) are recognised on the cleaned text
by the planner, which skips them with a warning too.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from orchestrator.inputs.subtitles import Cue
from voicecast.errors import InputError

__all__ = ["Selection", "describe", "is_advert", "select_cues"]

#: How many examples a grouped warning names.
EXAMPLES = 5

_ASS_BLOCK = re.compile(r"\{[^{}]*\}")
_ASS_SPLIT = re.compile(r"(\{[^{}]*\})")
_DRAWING = re.compile(r"\\p(\d+)")
_FURIGANA = re.compile(r"\|[^\s{}|\\]*")
_INVISIBLE = re.compile(r"\\(?:1a|alpha)&H[Ff]{2}&?")
_TRANSFORM = re.compile(r"\\t\(")
_POSITIONED = re.compile(r"\\(?:pos|move)\(")
_TYPESET = re.compile(r"\\(?:fr[xyz]?-?[\d.]|fa[xy]|org\(|fn|i?clip\()")
_TAG = re.compile(r"</?(?:[A-Za-z][^<>]*|\d[\d:.]*)>")
_WS = re.compile(r"\s+")
_EFFECT_LINE = re.compile(r"^(?:fx|karaoke|kara|template|code)\b", re.IGNORECASE)

# Words of a style name (see the module docstring): upper-case runs, capitalised
# words, lower-case words and digit runs.
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SIGN_WORDS = frozenset({
    "sign", "signs", "ts", "typeset", "typesetting", "kara", "karaoke", "song", "songs", "lyric",
    "lyrics", "insert", "romaji", "kanji", "title", "titles", "eyecatch", "credit", "credits", "staff",
    "note", "notes", "opening", "ending",
})
_SIGN_ABBREVIATIONS = frozenset({"op", "ed"})
_SIGN_ACTORS = frozenset({"sign", "signs", "ts", "typeset", "typesetting", "kara", "karaoke", "song",
                          "songs", "lyric", "lyrics"})

# Adverts and credits, on cleaned text. A credit must open the cue ("Subtitles
# by ...", not "it was translated by monks"); an address may be anywhere.
_CREDIT = re.compile(
    r"^(?:downloaded\s+from|(?:english\s+)?(?:subtitles?|subtitled|subs|captions?|captioned|captioning"
    r"|transcripts?|transcribed|translations?|translated|ripped|encoded|sync(?:ed|hro(?:nised|nized)?)?"
    r"|re-?sync(?:ed)?|corrections?|corrected|timing|timed)"
    r"(?:\s+(?:and|&)\s+(?:corrections?|corrected|sync(?:ed)?|timing|improved))?"
    r"(?:\s+(?:made\s+possible|provided|sponsored|improved))?\s+by\b"
    r"|sous-titr\w*\s+(?:par|:)|traduction\s*(?:par|:)|synchro\w*\s*(?:par|:)"
    r"|support\s+us\s+and\s+become\s+vip|advertise\s+your\s+product)",
    re.IGNORECASE,
)
_ADDRESS = re.compile(
    r"https?://|\bwww\.|\b[\w-]+\.(?:com|org|net|info|tv|io|me|ru|de|fr|co\.uk)\b"
    r"|\b(?:opensubtitles|subscene|addic7ed|podnapisi|yify|yts)\b",
    re.IGNORECASE,
)


def is_advert(text: str) -> bool:
    """Whether cleaned cue text is an advert or a credit rather than dialogue:
    it opens with a credit ("Downloaded From ...", "Subtitles by ...", "Sync and
    corrections by ...", "Sous-titres par ...") or holds a web address or the
    name of a subtitle site."""
    return bool(_CREDIT.search(text) or _ADDRESS.search(text))


@dataclass
class Selection:
    """The cues to plan (in file order; a drawing's commands removed from its
    text) and one warning per kind of cue skipped. ``by_style`` counts the cues
    skipped as signs, songs and titles (for a helpful error when nothing is
    left)."""

    cues: list[Cue]
    warnings: list[str] = field(default_factory=list)
    by_style: int = 0


def where(cue: Cue) -> str:
    """``line N`` (or ``cue N`` without a line) for messages."""
    return f"line {cue.line}" if cue.line else f"cue {cue.index}"


def describe(cues: Sequence[Cue], text: bool = False) -> str:
    """The first few cues of a warning (with their text if ``text``) and how many
    more there are."""
    shown = [f"{clip(visible(c.text))!r} ({where(c)})" if text else where(c) for c in cues[:EXAMPLES]]
    more = f" and {len(cues) - EXAMPLES} more" if len(cues) > EXAMPLES else ""
    return ", ".join(shown) + more


def clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def visible(text: str) -> str:
    """A cue's text without ASS blocks or HTML-like tags, on one line: what the
    duplicate check compares and warnings quote."""
    text = _ASS_BLOCK.sub("", text)
    text = text.replace("\\N", " ").replace("\\n", " ").replace("\\h", " ")
    return _WS.sub(" ", _TAG.sub("", text)).strip()


def select_cues(cues: Sequence[Cue], *, source: str, styles: Sequence[str] = ()) -> Selection:
    """The cues to speak, by the rules of the module docstring. ``styles`` is
    ``--styles``: empty for the default choice, ``["all"]`` for every style, or
    the names of the styles to speak. Raises :class:`InputError` (field
    ``--styles``) when a named style is used by no cue."""
    sel = Selection(cues=[])
    used = Counter(c.style for c in cues if c.style is not None)
    hidden: list[Cue] = []
    effects: list[Cue] = []
    drawings: list[Cue] = []
    kept: list[Cue] = []
    for cue in cues:
        if cue.end <= cue.start or _invisible(cue.text):
            hidden.append(cue)
        elif cue.effect and _EFFECT_LINE.match(cue.effect):
            effects.append(cue)
        elif _DRAWING.search(cue.text) and (text := _without_drawings(cue.text)) != cue.text:
            if visible(text):
                kept.append(_base_text(replace(cue, text=text)))
            else:
                drawings.append(cue)
        else:
            kept.append(_base_text(cue))
    if hidden:
        sel.warnings.append(f"{source}: skipped {len(hidden)} cue(s) never on screen (zero or negative "
                            f"length, or fully transparent): {describe(hidden)}")
    if effects:
        sel.warnings.append(f"{source}: skipped {len(effects)} karaoke/effect line(s) (ASS Effect field "
                            f"fx, karaoke, template or code): {describe(effects)}")
    if drawings:
        sel.warnings.append(f"{source}: skipped {len(drawings)} vector drawing(s) (ASS \\p1): "
                            f"{describe(drawings)}")
    kept = _by_style(kept, source, styles, used, sel)
    sel.cues = _dedupe(kept, source, sel.warnings)
    return sel


def _invisible(text: str) -> bool:
    """Fully transparent from the first override block on, and never animated."""
    first = _ASS_BLOCK.match(text.lstrip())
    return bool(first and _INVISIBLE.search(first.group()) and not _TRANSFORM.search(text))


def _without_drawings(text: str) -> str:
    """``text`` with what is drawn in drawing mode (``\\p1`` up to ``\\p0``) removed."""
    out: list[str] = []
    drawing = False
    for piece in _ASS_SPLIT.split(text):
        if piece.startswith("{") and piece.endswith("}"):
            for m in _DRAWING.finditer(piece):
                drawing = int(m.group(1)) > 0
            out.append(piece)
        elif not drawing:
            out.append(piece)
    return "".join(out)


def _base_text(cue: Cue) -> Cue:
    """An ASS cue with furigana (``BASE|READING``) reduced to its base text."""
    if cue.style is None or "|" not in cue.text:
        return cue
    out: list[str] = []
    for piece in _ASS_SPLIT.split(cue.text):
        if not (piece.startswith("{") and piece.endswith("}")):
            piece = _FURIGANA.sub("", piece)
            piece = "" if piece == "#" else piece
        out.append(piece)
    return replace(cue, text="".join(out))


def _name_words(name: str) -> list[str]:
    return _NAME_WORDS.findall(name)


def sign_style(name: str) -> bool:
    """Whether a style's name says it holds signs, songs or titles (module docstring)."""
    for word in _name_words(name):
        low = word.lower()
        if low in _SIGN_WORDS or (low in _SIGN_ABBREVIATIONS and (word.isupper() or word.islower())):
            return True
    return False


def _sign_actor(name: str | None) -> bool:
    return bool(name) and any(w.lower() in _SIGN_ACTORS for w in _name_words(name or ""))


def _typeset(text: str) -> bool:
    blocks = "".join(_ASS_BLOCK.findall(text))
    return bool(_POSITIONED.search(blocks) and _TYPESET.search(blocks))


def _by_style(cues: list[Cue], source: str, styles: Sequence[str], used: Counter[str],
              sel: Selection) -> list[Cue]:
    """Rule 4: signs, songs and titles out, or exactly the styles asked for
    (``used``: how many lines of the file use each style)."""
    names = [s.strip() for s in styles if s.strip()]
    if any(n.lower() == "all" for n in names):
        return cues
    if names:
        if not used:
            sel.warnings.append(f"{source}: --styles ignored: the file has no styles (only ASS/SSA has)")
            return cues
        known = {s.lower() for s in used}
        unknown = [n for n in names if n.lower() not in known]
        if unknown:
            listed = ", ".join(f"{s} ({n})" for s, n in used.most_common())
            raise InputError(f"no line of {source} has style {unknown[0]!r}; its styles "
                             f"(lines): {listed}", field="--styles")
        wanted = {n.lower() for n in names}
        out = [c for c in cues if not c.style or c.style.lower() in wanted]
        skipped = [c for c in cues if c.style and c.style.lower() not in wanted]
        if skipped:
            counts = Counter(c.style or "" for c in skipped)
            sel.warnings.append(f"{source}: skipped {len(skipped)} line(s) in styles not chosen by "
                                f"--styles: {_counts(counts)}")
        sel.by_style = len(skipped)
        return out
    out, signs, typeset = [], [], []
    for c in cues:
        if c.style is None:  # SRT and WebVTT have no styles
            out.append(c)
        elif sign_style(c.style) or _sign_actor(c.speaker):
            signs.append(c)
        elif _typeset(c.text):
            typeset.append(c)
        else:
            out.append(c)
    hint = "speak them with --styles NAME,NAME or --styles all"
    if signs:
        counts = Counter(c.style or "" for c in signs)
        sel.warnings.append(f"{source}: skipped {len(signs)} sign/song/title line(s) by their style or "
                            f"actor: {_counts(counts)}; {hint}")
    if typeset:
        sel.warnings.append(f"{source}: skipped {len(typeset)} typeset sign line(s) (positioned and "
                            f"rotated, sheared, re-fonted or clipped): {describe(typeset, text=True)}; "
                            f"{hint}")
    sel.by_style = len(signs) + len(typeset)
    return out


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{name} ({n})" for name, n in counts.most_common())


def _dedupe(cues: list[Cue], source: str, warnings: list[str]) -> list[Cue]:
    """Rule 5: the first of cues with the same times and visible text."""
    seen: set[tuple[int, int, str]] = set()
    out: list[Cue] = []
    dups: list[Cue] = []
    for c in cues:
        text = visible(c.text)
        if not (text and math.isfinite(c.start * 1000) and math.isfinite(c.end * 1000)):
            out.append(c)
            continue
        key = (round(c.start * 1000), round(c.end * 1000), text)
        if key in seen:
            dups.append(c)
            continue
        seen.add(key)
        out.append(c)
    if dups:
        warnings.append(f"{source}: spoke {len(dups)} duplicate cue(s) once (same times and text, e.g. "
                        f"an ASS border layer): {describe(dups)}")
    return out
