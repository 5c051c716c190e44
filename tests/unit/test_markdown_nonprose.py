"""Markdown text that is not read aloud: tables, footnotes and note markers;
and a bare ``[Pause]`` in a play, which is a stage direction (a silence)."""

from __future__ import annotations

import pytest

from orchestrator.inputs.books import read_markdown
from orchestrator.planning.markup import EmotionRules
from orchestrator.planning.prose import DIRECTION_PAUSE_S, plan_book
from voicecast.settings import BookSettings

SETTINGS = BookSettings(announce=False)


def test_tables_and_footnote_definitions_are_not_read_and_are_counted() -> None:
    text = ("# One\n\nA note here[^a] and a mark<sup>2</sup>, x<sup>n+1</sup> kept.\n\n"
            "| name | age |\n|:---|---:|\n| Ann | 3 |\n\n"
            "[^a]: The body of the note.\n\nAfter.\n")
    book = read_markdown(text, source="t.md")
    assert [p.text for p in book.chapters[0].paragraphs] == [
        "A note here and a mark, xn+1 kept.", "After."]
    assert book.warnings == ("t.md: not read aloud: 1 footnote, 1 table",)


def test_a_paragraph_with_pipes_but_no_delimiter_row_is_text() -> None:
    book = read_markdown("# One\n\nEither | or.\nAnd more.\n", source="t.md")
    assert [p.text for p in book.chapters[0].paragraphs] == ["Either | or. And more."]
    assert book.warnings == ()


@pytest.mark.parametrize("brackets", ["skip", "speak"])
def test_a_bare_pause_in_a_play_is_a_silence_not_text(brackets: str) -> None:
    play = ("# The Visit\n\n## ACT ONE\n\n**VARYA.** I am here. [Pause] Come in![^1]\n\n"
            "**LOPAKHIN.** Hello.\n\n**VARYA.** Fine.\n\n[^1]: A note.\n")
    book = read_markdown(play, source="p.md")
    plan = plan_book(book, source="p.md", settings=SETTINGS,
                     emotions=EmotionRules.from_options(brackets=brackets))
    texts = [s.text for s in plan.segments]
    assert "I am here." in texts and "Come in!" in texts
    assert not any("[" in t or "Pause" in t or "^" in t for t in texts)
    here = next(s for s in plan.segments if s.text == "I am here.")
    assert here.speaker == "VARYA" and here.pause_after >= DIRECTION_PAUSE_S
