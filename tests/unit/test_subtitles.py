"""Subtitle parsing: SRT (strict, own parser), WebVTT, ASS/SSA."""

from __future__ import annotations

from pathlib import Path

import pytest
from audiocheck import ASS_STYLE as STYLE
from audiocheck import ASS_STYLE_FORMAT as STYLE_FORMAT

from orchestrator.inputs.subtitles import Cue, parse_subtitles, parse_subtitles_text
from voicecast.errors import InputError

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello there.

2
00:00:03,000 --> 00:00:05,250
<i>Two</i>
lines.
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def srt_error(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse_subtitles_text(text, "srt", "sub.srt")
    return info.value


# --------------------------------------------------------------------------- SRT


def test_srt_basic(tmp_path: Path) -> None:
    cues = parse_subtitles(write(tmp_path, "a.srt", SRT))
    assert cues == [
        Cue(index=1, start=1.0, end=2.5, text="Hello there.", speaker=None, line=1),
        Cue(index=2, start=3.0, end=5.25, text="<i>Two</i>\nlines.", speaker=None, line=5),
    ]


def test_srt_tolerates_bom_crlf_dots_blank_lines_and_coordinates(tmp_path: Path) -> None:
    text = (
        "\ufeff\r\n\r\n1\r\n00:00:01.000 --> 00:00:02.000  X1:10 X2:200 Y1:5 Y2:50 \r\n"
        "First.   \r\n\r\n\r\n   \r\n2\r\n00:00:03,5 --> 00:00:04,000\r\nSecond.\r\n"
    )
    cues = parse_subtitles(write(tmp_path, "a.srt", text.encode("utf-8")))
    assert [(c.start, c.end, c.text, c.line) for c in cues] == [
        (1.0, 2.0, "First.", 3),
        (3.5, 4.0, "Second.", 9),
    ]


def test_srt_missing_index_and_missing_blank_line() -> None:
    text = (
        "00:00:01,000 --> 00:00:02,000\nNo index.\n"
        "2\n00:00:03,000 --> 00:00:04,000\nNo blank line before me.\n"
        "00:00:05,000 --> 00:00:06,000\nNeither.\n"
    )
    cues = parse_subtitles_text(text, "srt", "x.srt")
    assert [c.text for c in cues] == ["No index.", "No blank line before me.", "Neither."]
    assert [c.line for c in cues] == [1, 3, 6]
    assert [c.index for c in cues] == [1, 2, 3]


def test_srt_missing_text_gives_empty_cue() -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\n\n2\n00:00:03,000 --> 00:00:04,000\nHi\n"
    cues = parse_subtitles_text(text, "srt", "x.srt")
    assert [c.text for c in cues] == ["", "Hi"]


def test_srt_text_after_blank_line_belongs_to_cue() -> None:
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\nOne\n\nstill one\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\nTwo\n"
    )
    cues = parse_subtitles_text(text, "srt", "x.srt")
    assert [c.text for c in cues] == ["One\nstill one", "Two"]


def test_srt_number_only_text_line_is_text() -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nThe year was\n1969\n"
    assert parse_subtitles_text(text, "srt", "x.srt")[0].text == "The year was\n1969"


def test_srt_bad_timing_line_names_line() -> None:
    err = srt_error(SRT + "\n3\n00:00:06,000 -> 00:00:07,000\nBroken.\n")
    assert err.line == 11
    assert "expected 'HH:MM:SS,mmm --> HH:MM:SS,mmm'" in str(err)
    assert str(err).startswith("sub.srt:11: ")


def test_srt_garbage_timing_after_index_names_line() -> None:
    err = srt_error("1\n00:00:01,000 --> 00:00:02,000\nA\n\n2\nnot a timing\nB\n")
    assert err.line == 6
    assert "expected 'HH:MM:SS,mmm --> HH:MM:SS,mmm'" in err.message


def test_srt_timing_missing_milliseconds() -> None:
    err = srt_error("1\n00:00:01 --> 00:00:02\nA\n")
    assert err.line == 2


def test_srt_seconds_out_of_range() -> None:
    err = srt_error("1\n00:00:61,000 --> 00:01:02,000\nA\n")
    assert err.line == 2


def test_srt_end_before_start_is_kept_for_the_planner() -> None:
    # Never on screen; the planner skips it with a warning (tests/unit/test_subtitles_wild.py).
    cues = parse_subtitles_text(SRT + "\n3\n00:00:09,000 --> 00:00:08,000\nBackwards.\n", "srt", "s.srt")
    assert (cues[2].start, cues[2].end, cues[2].line) == (9.0, 8.0, 10)


def test_srt_non_numeric_index_names_line() -> None:
    err = srt_error(SRT + "\nthree\n00:00:09,000 --> 00:00:10,000\nX\n")
    assert err.line == 10
    assert "'three'" in err.message


def test_srt_text_before_first_cue() -> None:
    err = srt_error("Hello world\nthis is not srt\n")
    assert err.line == 1


def test_srt_index_at_end_without_timing() -> None:
    err = srt_error(SRT + "\n3\n")
    assert err.line == 10


# --------------------------------------------------------------------------- files


def test_empty_file(tmp_path: Path) -> None:
    p = write(tmp_path, "empty.srt", "")
    with pytest.raises(InputError, match="no subtitle cues found") as info:
        parse_subtitles(p)
    assert info.value.file == str(p)


def test_whitespace_only_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no subtitle cues found"):
        parse_subtitles(write(tmp_path, "blank.srt", "\n  \n\n"))


def test_vtt_without_cues(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no subtitle cues found"):
        parse_subtitles(write(tmp_path, "a.vtt", "WEBVTT\n\nNOTE nothing here\n"))


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.srt"
    with pytest.raises(InputError, match="not found") as info:
        parse_subtitles(p)
    assert str(p) in str(info.value)


def test_directory_is_an_error(tmp_path: Path) -> None:
    d = tmp_path / "dir.srt"
    d.mkdir()
    with pytest.raises(InputError):
        parse_subtitles(d)


def test_unknown_extension_lists_supported(tmp_path: Path) -> None:
    p = write(tmp_path, "a.sub", SRT)
    with pytest.raises(InputError) as info:
        parse_subtitles(p)
    msg = str(info.value)
    assert str(p) in msg
    for ext in (".srt", ".vtt", ".ass", ".ssa"):
        assert ext in msg


def test_cp1252_fallback(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nCafé crème\n"
    p = write(tmp_path, "latin.srt", text.encode("cp1252"))
    cues = parse_subtitles(p)
    assert cues[0].text == "Café crème"
    assert "Windows-1252" in caplog.text


def test_undecodable_file_names_line(tmp_path: Path) -> None:
    # 0x81 is undefined in both UTF-8 (as a lead byte) and Windows-1252.
    data = b"1\n00:00:01,000 --> 00:00:02,000\nbad \x81 byte\n"
    with pytest.raises(InputError, match="UTF-8") as info:
        parse_subtitles(write(tmp_path, "bad.srt", data))
    assert info.value.line == 3


def test_binary_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="binary"):
        parse_subtitles(write(tmp_path, "x.srt", b"\x00\x01\x02\x03"))


def test_utf16_with_bom(tmp_path: Path) -> None:
    cues = parse_subtitles(write(tmp_path, "u16.srt", SRT.encode("utf-16")))
    assert [c.text for c in cues][0] == "Hello there."


def test_vtt_content_in_srt_file_is_read_as_vtt(tmp_path: Path) -> None:
    p = write(tmp_path, "a.srt", "WEBVTT\n\n00:01.000 --> 00:02.000\nHi\n")
    assert parse_subtitles(p)[0].start == 1.0


def test_parse_text_unknown_format() -> None:
    with pytest.raises(InputError, match="supported"):
        parse_subtitles_text(SRT, "txt", "x.txt")


# --------------------------------------------------------------------------- WebVTT

VTT = """WEBVTT - a title
Kind: captions

NOTE this is a comment
that spans lines

STYLE
::cue { color: yellow }

intro
00:01.000 --> 00:02.500 align:start position:10%
<v Roger Bingham>We are in New York City

00:00:03.000 --> 00:00:04.000
<v.loud Neil>Hello</v> <c.yellow>there</c>

1:00:00.000 --> 1:00:01.000
Plain line
second line
"""


def test_vtt_parse(tmp_path: Path) -> None:
    cues = parse_subtitles(write(tmp_path, "a.vtt", VTT))
    assert [(c.index, c.start, c.end, c.speaker, c.line) for c in cues] == [
        (1, 1.0, 2.5, "Roger Bingham", 10),
        (2, 3.0, 4.0, "Neil", 14),
        (3, 3600.0, 3601.0, None, 17),
    ]
    assert cues[0].text == "<v Roger Bingham>We are in New York City"
    assert cues[2].text == "Plain line\nsecond line"


def test_vtt_missing_header_names_line_1(tmp_path: Path) -> None:
    p = write(tmp_path, "a.vtt", "00:01.000 --> 00:02.000\nHi\n")
    with pytest.raises(InputError, match="WEBVTT") as info:
        parse_subtitles(p)
    assert info.value.line == 1
    assert info.value.file == str(p)


def test_vtt_bad_timing_names_line() -> None:
    text = "WEBVTT\n\n00:01.000 --> 00:02.000\nOK\n\n00:03 --> 00:04.000\nBad\n"
    with pytest.raises(InputError) as info:
        parse_subtitles_text(text, "vtt", "a.vtt")
    assert info.value.line == 6


def test_vtt_block_without_timing_names_line() -> None:
    text = "WEBVTT\n\nid-1\nno timing here\n"
    with pytest.raises(InputError) as info:
        parse_subtitles_text(text, "vtt", "a.vtt")
    assert info.value.line == 4


def test_vtt_end_before_start_is_kept_for_the_planner() -> None:
    text = "WEBVTT\n\n00:05.000 --> 00:02.000\nBackwards\n"
    cue, = parse_subtitles_text(text, "vtt", "a.vtt")
    assert (cue.start, cue.end, cue.line) == (5.0, 2.0, 3)


# --------------------------------------------------------------------------- ASS

ASS = "\n".join(
    [
        "[Script Info]",
        "Title: test",
        "ScriptType: v4.00+",
        "",
        "[V4+ Styles]",
        STYLE_FORMAT,
        STYLE,
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
        r"Dialogue: 0,0:00:01.00,0:00:02.50,Default,Alice,0,0,0,,{\an8}Hello, world\Nagain",
        "Comment: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,a translator note",
        "Dialogue: 0,0:00:05.00,0:00:06.20,Signs,,0,0,0,,Second, with comma",
        "",
    ]
)


def test_ass_parse(tmp_path: Path) -> None:
    cues = parse_subtitles(write(tmp_path, "a.ass", ASS))
    assert [(c.index, c.start, c.end, c.speaker, c.style, c.line) for c in cues] == [
        (1, 1.0, 2.5, "Alice", "Default", 11),
        (2, 5.0, 6.2, None, "Signs", 13),
    ]
    assert cues[0].text == r"{\an8}Hello, world\Nagain"
    assert cues[1].text == "Second, with comma"


def test_ssa_extension(tmp_path: Path) -> None:
    cues = parse_subtitles(write(tmp_path, "a.ssa", ASS))
    assert len(cues) == 2


def test_ass_bad_time_names_line() -> None:
    bad = ASS.replace("0:00:05.00,0:00:06.20", "0:00:05.00,soon")
    with pytest.raises(InputError, match="end time") as info:
        parse_subtitles_text(bad, "ass", "a.ass")
    assert info.value.line == 13


def test_ass_truncated_event_names_line() -> None:
    bad = ASS + "Dialogue: 0,0:00:07.00\n"
    with pytest.raises(InputError, match="fields") as info:
        parse_subtitles_text(bad, "ass", "a.ass")
    assert info.value.line == 14


def test_ass_only_comments_is_no_cues() -> None:
    text = ASS.replace("Dialogue:", "Comment:")
    with pytest.raises(InputError, match="no subtitle cues found"):
        parse_subtitles_text(text, "ass", "a.ass")
