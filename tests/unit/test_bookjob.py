"""Chapter bookkeeping of audiobook assembly (pure: no storage, no ffmpeg)."""

from __future__ import annotations

from types import SimpleNamespace

from orchestrator.output.bookjob import ChapterSpec, chapter_file_stem, chapter_key, chapter_specs
from orchestrator.output.outline import BookOutline
from voicecast.settings import BookSettings


def _segs(n: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(idx=i, content_hash=f"{i:064x}", pause_after_s=0.35 if i % 3 else 0.9)
            for i in range(n)]


def test_chapter_specs_follow_the_outline_and_end_without_a_pause():
    outline = BookOutline.model_validate(
        {"chapters": [{"title": "One", "first": 0, "count": 3, "lead_s": 0.0},
                      {"title": "Two", "first": 3, "count": 4, "lead_s": 1.5}]})
    one, two = chapter_specs(_segs(7), outline)
    assert (one.title, len(one.hashes), one.pauses) == ("One", 3, (0.9, 0.35, 0.0))
    assert (two.title, two.hashes[0], two.lead_s) == ("Two", f"{3:064x}", 1.5)
    assert two.pauses[-1] == 0.0


def test_a_chapter_key_changes_only_with_what_shapes_the_chapter():
    book = BookSettings()
    ch = ChapterSpec(0, "One", ("a" * 64, "b" * 64), (0.35, 0.0))
    key = chapter_key(ch, book, 24000)
    assert key == chapter_key(ChapterSpec(5, "Renamed", ch.hashes, ch.pauses), book, 24000)
    assert key != chapter_key(ChapterSpec(0, "One", ("a" * 64, "c" * 64), ch.pauses), book, 24000)
    assert key != chapter_key(ChapterSpec(0, "One", ch.hashes, (0.5, 0.0)), book, 24000)
    assert key != chapter_key(ch, book.model_copy(update={"chapter_tail_s": 3.0}), 24000)


def test_chapter_file_names_are_numbered_and_safe():
    assert chapter_file_stem(0, "The Fox & the Grapes") == "01-The-Fox-the-Grapes"
    assert chapter_file_stem(11, "../../etc/passwd") == "12-..-..-etc-passwd"
    assert chapter_file_stem(2, "???") == "03-chapter"
