"""Property tests of the subtitle readers (SRT, WebVTT, ASS/SSA): whatever the text or
bytes, a reader returns cues or raises a :class:`VoicecastError`, never anything else;
well-formed files read back exactly what was written.

Runs under the deterministic Hypothesis profile of tests/conftest.py.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.inputs.subtitles import SUPPORTED_FORMATS, decode_text, parse_subtitles_text
from voicecast.errors import VoicecastError

# Pieces that reach the readers' branches: timing lines good and mangled, headers,
# sections, override blocks, NOTE/STYLE blocks, index numbers.
FRAGMENTS = [
    "", " ", "1", "2", "00:00:01,000 --> 00:00:02,500", "00:00:03.000 --> 00:00:02.000",
    "0:00:01,5 --> 0:00:02,75 X1:10", "00:01.000 --> 00:02.000 align:start", "-->", "10:30 already?",
    "1:02:03 - 1:02:04", "99:99:99,999 --> 00:00:00,000", "WEBVTT", "WEBVTT - title", "NOTE a note",
    "STYLE", "REGION", "<v Fox>Hello</v>", "<i>text</i>", "[Script Info]", "[V4+ Styles]", "[Events]",
    "ScriptType: v4.00+",
    "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    "Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,Hello",
    "Dialogue: 0,0:00:05.00,0:00:02.00,Default,Fox,0,0,0,,{\\i1}Back{\\i0}\\Nwards",
    "Dialogue: garbage", "Format: Start, End", "[sad] Hello.", "[voice:Fox] Hi", "FOX: Hello",
    "\ufeff", "\r", "\t", "♪ la la ♪",
]

lines = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=30)), max_size=25)
texts = st.one_of(st.text(), lines.map("\n".join), lines.map("\r\n".join))
formats = st.sampled_from(SUPPORTED_FORMATS)


def _parse_or_user_error(text: str, fmt: str) -> None:
    try:
        cues = parse_subtitles_text(text, fmt, "t.sub")
    except VoicecastError:
        return
    assert cues, "a reader returns cues or raises"
    for k, cue in enumerate(cues, 1):
        assert cue.index == k
        assert isinstance(cue.text, str) and isinstance(cue.start, float) and isinstance(cue.end, float)


@given(texts, formats)
def test_any_text_gives_cues_or_a_user_error(text: str, fmt: str) -> None:
    _parse_or_user_error(text, fmt)


@given(texts.map(lambda t: "WEBVTT\n\n" + t))
def test_any_vtt_body_gives_cues_or_a_user_error(text: str) -> None:
    _parse_or_user_error(text, "vtt")


@given(texts.map(lambda t: "[Script Info]\n[V4+ Styles]\n[Events]\n" + FRAGMENTS[23] + "\n" + t), formats)
def test_any_ass_events_give_cues_or_a_user_error(text: str, fmt: str) -> None:
    _parse_or_user_error(text, fmt)


@given(st.one_of(st.binary(), texts.map(lambda t: t.encode("utf-8")),
                 texts.map(lambda t: t.encode("utf-16")), texts.map(lambda t: t.encode("cp1252", "replace"))),
       formats)
def test_any_bytes_decode_and_parse_or_give_a_user_error(data: bytes, fmt: str) -> None:
    try:
        text = decode_text(data, "t.sub")
    except VoicecastError:
        return
    assert isinstance(text, str)
    _parse_or_user_error(text, fmt)


# --- well-formed files read back what was written ------------------------------------------

words = st.text(alphabet=st.sampled_from("abcdefghij KLMNOP.,!?'"), min_size=1, max_size=40).filter(
    lambda s: s.strip() != "" and s == s.strip()
)
# Whole milliseconds (SRT/VTT) or centiseconds (ASS), as the formats write them.
timed_cues = st.lists(
    st.tuples(st.integers(0, 10 * 3600 * 1000 - 1), st.integers(1, 60_000), words), min_size=1, max_size=12
)


def _clock(ms: int, sep: str) -> str:
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


@given(timed_cues)
def test_srt_round_trip(cues: list[tuple[int, int, str]]) -> None:
    text = "\n\n".join(
        f"{k}\n{_clock(start, ',')} --> {_clock(start + length, ',')}\n{body}"
        for k, (start, length, body) in enumerate(cues, 1)
    )
    got = parse_subtitles_text(text + "\n", "srt", "t.srt")
    assert [(round(c.start * 1000), round(c.end * 1000), c.text) for c in got] == [
        (s, s + n, b) for s, n, b in cues
    ]


@given(timed_cues)
def test_vtt_round_trip(cues: list[tuple[int, int, str]]) -> None:
    text = "WEBVTT\n\n" + "\n\n".join(
        f"{_clock(start, '.')} --> {_clock(start + length, '.')}\n{body}" for start, length, body in cues
    )
    got = parse_subtitles_text(text, "vtt", "t.vtt")
    assert [(round(c.start * 1000), round(c.end * 1000), c.text) for c in got] == [
        (s, s + n, b) for s, n, b in cues
    ]


@given(timed_cues)
def test_ass_round_trip(cues: list[tuple[int, int, str]]) -> None:
    def ass_clock(ms: int) -> str:
        h, rem = divmod(ms // 10, 360_000)
        m, rem = divmod(rem, 6000)
        s, cs = divmod(rem, 100)
        return f"{h}:{m:02d}:{s:02d}.{cs:02d}"

    cues = [(s // 10 * 10, max(10, n // 10 * 10), b) for s, n, b in cues]
    text = (
        "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\n"
        "Format: Name, Fontname, Fontsize\nStyle: Default,Arial,20\n\n[Events]\n" + FRAGMENTS[23] + "\n"
        + "\n".join(f"Dialogue: 0,{ass_clock(s)},{ass_clock(s + n)},Default,,0,0,0,,{b}" for s, n, b in cues)
    )
    got = parse_subtitles_text(text, "ass", "t.ass")
    assert [(round(c.start * 1000), round(c.end * 1000), c.text) for c in got] == [
        (s, s + n, b) for s, n, b in cues
    ]
