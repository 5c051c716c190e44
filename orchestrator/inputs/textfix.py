"""Repairing the text of any input before it is read: mojibake and control characters.

Every reader passes its text through :func:`repair_text` once: subtitle files,
scripts, Markdown and plain-text books through
:func:`orchestrator.inputs.subtitles.decode_text`, EPUB documents in the EPUB
reader. It does two things and nothing else, so that text that was already
clean is returned unchanged (and so are the content hashes of its segments):

1. **Mojibake** is repaired with `ftfy <https://ftfy.readthedocs.io>`_: UTF-8
   that was decoded as Windows-1252 or Latin-1 somewhere upstream, once or more
   (``e-mailedâ\\x80\\x94`` → ``e-mailed—``, ``abbÃ©`` → ``abbé``), and C1
   control characters standing for Windows-1252 punctuation (``I\\x92m`` →
   ``I’m``). ftfy changes text only where the change makes it plainly better;
   its other fixes are turned off here, because they change clean text:
   quotes stay curly (the audiobook planner reads quotation marks), ligatures,
   full-width letters and Unicode normalisation stay as written, HTML entities
   are left to the planner (:mod:`orchestrator.planning.markup`), and line
   breaks are kept (errors name lines).
2. **Control characters** are removed: terminal escape sequences
   (``\\x1b[31m``), C0 controls other than tab, line feed and carriage return
   (BEL, backspace, ESC...), DEL, C1 controls left after step 1, and the
   invisible format characters ftfy removes (a stray BOM inside the text,
   deprecated formatting characters). A form feed or vertical tab (a page break
   in old text files) becomes a space, so that line numbers do not move.

Pure code (ftfy is pure Python): no file, no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Repair", "repair", "repair_text"]

# Terminal escape sequences: CSI (ESC [ ... final byte) or a two-character escape.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
# C0 controls but tab, LF, CR (FF and VT are page breaks, below), and DEL.
_C0 = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_PAGE_BREAK = re.compile(r"[\x0b\x0c]")
# C1 controls: ftfy reads them as Windows-1252 first; what it leaves is removed.
_C1 = re.compile(r"[\x80-\x9f]")


@dataclass(frozen=True)
class Repair:
    """Text after :func:`repair`, with what was done to it: ``lines`` is the
    number of lines whose mojibake was repaired, ``controls`` the number of
    control characters removed (or, for page breaks, made spaces)."""

    text: str
    lines: int = 0
    controls: int = 0

    def summary(self) -> str | None:
        """One line for the user ("repaired mojibake on 3 lines; removed 2
        control characters"), or None when nothing was changed."""
        parts = []
        if self.lines:
            parts.append(f"repaired mis-decoded text (mojibake) on {self.lines} line(s)")
        if self.controls:
            parts.append(f"removed {self.controls} control character(s)")
        return "; ".join(parts) or None


def _config() -> object:
    from ftfy import TextFixerConfig

    return TextFixerConfig(
        unescape_html=False, remove_terminal_escapes=True, fix_encoding=True, restore_byte_a0=True,
        replace_lossy_sequences=True, decode_inconsistent_utf8=True, fix_c1_controls=True,
        fix_latin_ligatures=False, fix_character_width=False, uncurl_quotes=False,
        fix_line_breaks=False, fix_surrogates=True, remove_control_chars=True, normalization=None,
        explain=False,
    )


def repair(text: str) -> Repair:
    """Repair ``text`` by the rules in the module docstring, saying what changed."""
    text, controls = _ESCAPE.subn("", text)
    text, n = _PAGE_BREAK.subn(" ", text)
    controls += n
    text, n = _C0.subn("", text)
    controls += n
    if text.isascii():
        return Repair(text, 0, controls)  # the common case: no mojibake is ASCII, no ftfy call
    import ftfy  # imported here: only the control role reads inputs

    fixed = ftfy.fix_text(text, _config())  # type: ignore[arg-type]
    lines = 0
    if fixed != text:
        before, after = text.split("\n"), fixed.split("\n")
        lines = (sum(1 for a, b in zip(before, after, strict=True) if a != b)
                 if len(before) == len(after) else 1)
    fixed, n = _C1.subn("", fixed)
    return Repair(fixed, lines, controls + n)


def repair_text(text: str) -> str:
    """``text`` with mojibake repaired and control characters removed (see the
    module docstring); clean text is returned unchanged."""
    return repair(text).text
