"""Chapter bookkeeping of audiobook assembly (pure: no storage, no encoding)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from orchestrator.output.audiobook import AAC_FRAME, adts_frames, m4b_layout
from orchestrator.output.bookjob import (
    ChapterSpec,
    aac_key,
    chapter_file_stem,
    chapter_key,
    chapter_specs,
    m4b_keys,
)
from orchestrator.output.outline import BookOutline
from voicecast.media import MediaError
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


def test_a_chapter_stream_key_follows_its_master_and_the_m4b_settings():
    book, master, soxr = BookSettings(), "chapters/" + "a" * 64 + ".flac", "aresample=24000:resampler=soxr"
    key = aac_key(master, book, 24000, soxr)
    assert key.startswith("chapters/") and key.endswith(".aac")
    assert key == aac_key(master, book, 24000, soxr)
    assert key != aac_key("chapters/" + "b" * 64 + ".flac", book, 24000, soxr)
    assert key != aac_key(master, book, 44100, soxr)
    assert key != aac_key(master, book, 24000, "aresample=24000:filter_size=128")
    assert key != aac_key(master, book.model_copy(update={"m4b_bitrate": "96k"}), 24000, soxr)
    # The MP3's settings are not the stream's.
    assert key == aac_key(master, book.model_copy(update={"mp3_bitrate": "128k"}), 24000, soxr)


def test_an_m4b_key_changes_with_its_streams_titles_tags_and_cover():
    streams, titles, tags = ["chapters/1.aac", "chapters/2.aac"], ["One", "Two"], {"title": "Book"}
    m4b, layout = m4b_keys(streams, titles, tags, None, None)
    assert m4b.startswith("deliverables/") and m4b.endswith(".m4b")
    assert layout == m4b.removesuffix(".m4b") + ".json"
    assert (m4b, layout) == m4b_keys(list(streams), list(titles), dict(tags), None, "image/png")
    others = [m4b_keys(streams[::-1], titles, tags, None, None),
              m4b_keys(streams, ["One", "Deux"], tags, None, None),
              m4b_keys(streams, titles, {"title": "Book", "artist": "A"}, None, None),
              m4b_keys(streams, titles, tags, b"\x89PNG...", "image/png"),
              m4b_keys(streams, titles, tags, b"\x89PNG...", "image/jpeg")]
    assert len({m for m, _ in others} | {m4b}) == len(others) + 1


def _adts(payload: int, *, rate_index: int = 6, profile: int = 1, channels: int = 1,
          blocks: int = 1) -> bytes:
    """One ADTS frame (no CRC) around ``payload`` zero bytes."""
    length = 7 + payload
    head = bytes([
        0xFF, 0xF1,
        (profile << 6) | (rate_index << 2) | (channels >> 2),
        ((channels & 3) << 6) | (length >> 11),
        (length >> 3) & 0xFF,
        ((length & 7) << 5) | 0x1F,
        0xFC | (blocks - 1),
    ])
    return head + bytes(payload)


def test_adts_frames_are_counted_from_their_headers():
    stream = b"".join(_adts(n) for n in (4, 200, 93, 0, 1000))
    assert adts_frames(stream, 24000) == 5
    assert adts_frames(stream + _adts(10, blocks=3), 24000) == 8
    assert adts_frames(b"", 24000) == 0
    assert adts_frames(b"".join(_adts(50, rate_index=4) for _ in range(3)), 44100) == 3


@pytest.mark.parametrize("bad", [
    _adts(20) + _adts(20)[:-3],              # cut short
    _adts(20) + _adts(20)[:5],               # a header cut short
    _adts(20) + b"\x00" * 9,                 # not a frame
    _adts(20, rate_index=4),                 # 44.1 kHz, not 24 kHz
    _adts(20, profile=2),                    # not AAC-LC
    _adts(20, channels=2),                   # not mono
])
def test_adts_frames_refuse_what_is_not_one_mono_aac_lc_stream(bad):
    with pytest.raises(MediaError):
        adts_frames(bad, 24000)


def test_m4b_layout_starts_each_chapter_after_the_frames_before_it():
    # Chapters of 10, 4 and 7 frames (each: one of priming, then its audio). The edit
    # list skips the first priming frame; every later chapter's priming comes before
    # its start, at the end of the chapter before.
    layout = m4b_layout([10, 4, 7], 24000)
    assert layout.starts == (0, 10 * AAC_FRAME, 14 * AAC_FRAME)
    assert layout.length == 20 * AAC_FRAME
    assert layout.starts_s == [0.0, 10 * AAC_FRAME / 24000, 14 * AAC_FRAME / 24000]
    with pytest.raises(ValueError):
        m4b_layout([], 24000)
    with pytest.raises(ValueError):
        m4b_layout([3, 1], 24000)  # a stream with no audio after its priming
