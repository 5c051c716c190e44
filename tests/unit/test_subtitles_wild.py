"""Subtitle files as they come from the wild: byte order marks, cues never on
screen, fansub ASS (karaoke, drawings, signs, songs, layers, furigana, --styles),
several speakers in one cue (WebVTT voices, dash dialogue), adverts and credits.

Every fixture is written here; see orchestrator/planning/cue_select.py and cues.py
for the rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.inputs.subtitles import Cue, parse_subtitles, parse_subtitles_text
from orchestrator.planning.cues import plan_cues
from orchestrator.planning.segments import Plan
from voicecast.errors import InputError

SRT = "1\n00:00:01,000 --> 00:00:02,500\nHello there.\n\n2\n00:00:03,000 --> 00:00:05,000\nBye, then.\n"


def plan_of(text: str, fmt: str, **kw: object) -> Plan:
    return plan_cues(parse_subtitles_text(text, fmt, f"t.{fmt}"), source=f"t.{fmt}", **kw)  # type: ignore[arg-type]


def texts(plan: Plan) -> list[str]:
    return [s.text for s in plan.segments]


def check_invariants(plan: Plan) -> None:
    """Ordered, never overlapping, each inside its slot or borrowable gap."""
    segs = plan.segments
    for k, s in enumerate(segs):
        nxt = segs[k + 1].start if k + 1 < len(segs) else plan.duration
        assert 0 <= s.start < s.end <= s.max_end <= nxt + 1e-9, (k, s)


# --------------------------------------------------------------------------- byte order marks


@pytest.mark.parametrize(("bom", "codec"), [
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
])
def test_every_unicode_bom(tmp_path: Path, bom: bytes, codec: str) -> None:
    text = SRT.replace("Hello there.", "Héllo thère ✓").replace("\n", "\r\n")
    path = tmp_path / "bom.srt"
    path.write_bytes(bom + text.encode(codec))
    cues = parse_subtitles(path)
    assert [c.text for c in cues] == ["Héllo thère ✓", "Bye, then."]
    assert (cues[0].start, cues[1].end) == (1.0, 5.0)


def test_truncated_utf32_names_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "bad.srt"
    path.write_bytes(b"\xff\xfe\x00\x00" + SRT.encode("utf-32-le")[:-1])
    with pytest.raises(InputError, match="invalid UTF-32"):
        parse_subtitles(path)


# --------------------------------------------------------------------------- never on screen


def test_zero_and_negative_length_cues_are_skipped_with_one_warning() -> None:
    text = (SRT + "\n3\n00:00:06,000 --> 00:00:06,000\nHidden data\n\n"
            "4\n00:00:08,000 --> 00:00:07,000\nBackwards\n\n5\n00:00:09,000 --> 00:00:10,000\nLast.\n")
    plan = plan_of(text, "srt")
    assert texts(plan) == ["Hello there.", "Bye, then.", "Last."]
    assert plan.warnings == ["t.srt: skipped 2 cue(s) never on screen (zero or negative length, or fully "
                             "transparent): line 9, line 13"]


def test_only_zero_length_cues_is_no_speakable_text() -> None:
    with pytest.raises(InputError, match="no speakable text.*1 more skipped"):
        plan_of("1\n00:00:01,000 --> 00:00:01,000\nHidden\n", "srt")


# --------------------------------------------------------------------------- fansub ASS


def ass(*events: str, styles: tuple[str, ...] = ("Default", "Signs", "OP_Romaji", "Ed")) -> str:
    style_lines = "\n".join(f"Style: {s},Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,"
                            "100,100,0,0,1,2,2,2,10,10,10,1" for s in styles)
    return (
        "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\n"
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
        "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, "
        f"Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n{style_lines}\n\n[Events]\n"
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
        + "\n".join(events) + "\n"
    )


def ev(start: str, end: str, text: str, style: str = "Default", name: str = "", layer: int = 0,
       effect: str = "", kind: str = "Dialogue") -> str:
    return f"{kind}: {layer},0:00:{start},0:00:{end},{style},{name},0,0,0,{effect},{text}"


FANSUB = ass(
    ev("00.50", "01.00", "Timing note for the editor", kind="Comment"),
    ev("01.00", "03.00", r"{\k20}Wa{\k15}tch {\kf30}out{\ko10}!"),
    # karaoke-template output: one line per syllable, all at once
    *[ev("03.00", "05.00", rf"{{\pos({100 + 20 * k},40)\fad(100,100)}}{syl}", "Default", effect="fx")
      for k, syl in enumerate("sisters")],
    ev("03.00", "05.00", r"{\k30}sis{\k40}ters, {\k20}sing", style="OP_Romaji"),
    ev("05.00", "07.00", r"{\an7\pos(10,10)\p1}m 0 0 l 100 0 100 100 0 100{\p0}"),
    ev("07.00", "09.00", r"{\p1}m 0 0 l 10 0 10 10{\p0}I drew that."),
    ev("09.00", "11.00", "NEXT EPISODE", style="Signs"),
    ev("09.00", "11.00", r"{\pos(320,40)\frz12\fnImpact}CAFE ROSE"),
    ev("09.00", "11.00", "Closed today", name="TS"),
    ev("11.00", "13.00", r"{\pos(320,400)}Look up there!"),
    ev("13.00", "15.00", r"{\bord4\blur2}I'm home.", layer=0),
    ev("13.00", "15.00", r"{\bord0}I'm home.", layer=1),
    ev("15.00", "17.00", "Welcome back.", style="Ed"),
    ev("17.00", "19.00", r"{\alpha&HFF&}Invisible"),
    ev("19.00", "21.00", "漢字|かんじ を読む"),
)


def test_fansub_ass_speaks_the_dialogue_only() -> None:
    plan = plan_of(FANSUB, "ass")
    assert texts(plan) == ["Watch out!", "I drew that.", "Look up there!", "I'm home.", "Welcome back.",
                           "漢字 を読む"]
    check_invariants(plan)
    w = "\n".join(plan.warnings)
    assert "skipped 1 cue(s) never on screen" in w  # the transparent line
    assert "skipped 7 karaoke/effect line(s)" in w
    assert "skipped 1 vector drawing(s)" in w
    assert ("skipped 3 sign/song/title line(s) by their style or actor: "
            "OP_Romaji (1), Signs (1), Default (1)") in w
    assert "skipped 1 typeset sign line(s)" in w and "'CAFE ROSE'" in w
    assert "spoke 1 duplicate cue(s) once" in w
    assert "--styles" in w
    # one line per kind, not one per cue
    assert len(plan.warnings) == 6


def test_styles_option_chooses_the_spoken_styles() -> None:
    plan = plan_of(FANSUB, "ass", styles=["signs", "OP_Romaji"])
    assert texts(plan) == ["sisters, sing", "NEXT EPISODE"]
    assert any("not chosen by --styles: Default (" in w for w in plan.warnings)


def test_styles_all_speaks_signs_and_typeset_too() -> None:
    got = texts(plan_of(FANSUB, "ass", styles=["all"]))
    assert "CAFE ROSE" in " ".join(got) and "NEXT EPISODE" in " ".join(got)
    assert "m 0 0" not in " ".join(got)  # drawings are never text
    assert not any(t == "s" for t in got)  # nor karaoke-template syllables


def test_unknown_style_lists_the_files_styles() -> None:
    with pytest.raises(InputError, match=r"no line of t.ass has style 'Dialog'.*Default \(\d+\)") as info:
        plan_of(FANSUB, "ass", styles=["Dialog"])
    assert info.value.field == "--styles"


def test_styles_on_a_file_without_styles_is_a_warning() -> None:
    plan = plan_of(SRT, "srt", styles=["Default"])
    assert len(plan.segments) == 2
    assert plan.warnings == ["t.srt: --styles ignored: the file has no styles (only ASS/SSA has)"]


def test_only_sign_styles_hints_at_styles_option() -> None:
    with pytest.raises(InputError, match="--styles"):
        plan_of(ass(ev("01.00", "02.00", "A sign", style="Signs")), "ass")


@pytest.mark.parametrize(("name", "sign"), [
    ("Signs", True), ("sign_top", True), ("TS", True), ("OP", True), ("op-romaji", True), ("ED_Eng", True),
    ("Karaoke", True), ("SongLyrics", True), ("Title", True), ("TLNotes", True), ("Insert Song", True),
    ("Default", False), ("Ed", False), ("Edward", False), ("Main", False), ("Italics", False),
    ("Flashback", False), ("Opera", False), ("Top", False), ("Alt", False),
])
def test_sign_style_names(name: str, sign: bool) -> None:
    from orchestrator.planning.cue_select import sign_style

    assert sign_style(name) is sign


def test_clean_ass_is_unchanged() -> None:
    """Dialogue-only ASS plans as before: positioned lines and \\an8 are dialogue."""
    plan = plan_of(ass(ev("01.00", "02.00", r"{\an8}Up here.", name="Ann"),
                       ev("03.00", "04.00", r"{\pos(10,10)}Over here.", name="Bo")), "ass")
    assert [(s.text, s.speaker) for s in plan.segments] == [("Up here.", "Ann"), ("Over here.", "Bo")]
    assert plan.warnings == []


# --------------------------------------------------------------------------- several speakers in a cue


VTT = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Ann>Are you coming?</v>
<v Bob>No, I am staying right here.</v>

00:00:05.000 --> 00:00:06.000
<v Ann>Fine.

00:00:07.000 --> 00:00:08.000
<v Ann>Come.</v> <v Ann>Now.</v>
"""


def test_vtt_voices_in_one_cue_share_its_slot() -> None:
    plan = plan_of(VTT, "vtt")
    first, second = plan.segments[:2]
    assert [(s.text, s.speaker) for s in plan.segments] == [
        ("Are you coming?", "Ann"), ("No, I am staying right here.", "Bob"), ("Fine.", "Ann"),
        ("Come. Now.", "Ann")]
    # the 3 s slot split in order, in proportion to the text (15 vs 28 characters, 0.25 s floor each)
    assert (first.start, second.end) == (1.0, 4.0)
    assert first.end == second.start == pytest.approx(1.0 + 0.25 + 2.5 * 15 / 43, abs=1e-3)
    assert first.max_end == first.end and second.max_end == 5.0
    assert first.cue_indices == second.cue_indices == (1,)
    check_invariants(plan)
    assert plan.warnings == []


def test_dash_dialogue_with_known_speakers_is_split() -> None:
    srt = "1\n00:00:01,000 --> 00:00:03,000\n- FOX: Hi.\n- HARE: Hello, Fox.\n"
    plan = plan_of(srt, "srt")
    assert [(s.text, s.speaker) for s in plan.segments] == [("Hi.", "FOX"), ("Hello, Fox.", "HARE")]
    check_invariants(plan)


def test_dash_dialogue_in_ass_with_actor_and_label() -> None:
    plan = plan_of(ass(ev("01.00", "04.00", r"{\i1}- We should go.\N- BOB: Not yet.", name="Ann")), "ass")
    assert [(s.text, s.speaker) for s in plan.segments] == [("We should go.", "Ann"), ("Not yet.", "BOB")]


def test_dash_dialogue_with_unknown_speakers_stays_one_line() -> None:
    srt = ("1\n00:00:01,000 --> 00:00:03,000\n<i>- Hi.</i>\n<i>- Hello.</i>\n\n"
           "2\n00:00:04,000 --> 00:00:05,000\nIt costs\n-5 degrees\n")
    plan = plan_of(srt, "srt")
    assert texts(plan) == ["Hi. Hello.", "It costs -5 degrees"]
    assert plan.warnings == ["t.srt: 1 cue(s) of dash dialogue with speakers that cannot be told apart, "
                             "each spoken by one voice (label the turns 'NAME: ...' to split them): line 1"]


def test_split_cue_merged_with_a_simultaneous_one_is_one_line() -> None:
    cues = [Cue(1, 1.0, 3.0, "- FOX: Hi.\n- HARE: Yo.", line=1), Cue(2, 1.0, 2.0, "Also.", line=5)]
    plan = plan_cues(cues, source="x.srt")
    assert [(s.text, s.speaker) for s in plan.segments] == [("Hi. Yo. Also.", "FOX")]


def test_short_split_slot_keeps_each_turn_a_share() -> None:
    cues = [Cue(1, 1.0, 1.3, "- FOX: A very long first turn indeed.\n- HARE: B.", line=1)]
    segs = plan_cues(cues, source="x.srt").segments
    assert [round(s.end - s.start, 3) for s in segs] == [0.15, 0.15]


# --------------------------------------------------------------------------- adverts and credits


def test_adverts_and_credits_are_skipped_with_one_warning() -> None:
    srt = "\n\n".join(
        f"{k}\n00:00:{k:02d},000 --> 00:00:{k:02d},900\n{text}"
        for k, text in enumerate([
            "Downloaded From www.SubsSite.org", "Subtitles by The Team", "Sync and corrections by someone",
            "<font color=#ff0>Visit example.com for more</font>", "It was translated by monks.",
            "Ripped by nobody", "Real dialogue here.",
        ], 1)
    ) + "\n"
    plan = plan_of(srt, "srt")
    assert texts(plan) == ["It was translated by monks.", "Real dialogue here."]
    assert len(plan.warnings) == 1
    assert plan.warnings[0].startswith("t.srt: skipped 5 advert/credit cue(s): "
                                       "'Downloaded From www.SubsSite.org' (line 1), "
                                       "'Subtitles by The Team' (line 5)")


def test_styles_flag_reaches_the_render_options() -> None:
    from orchestrator.cli import build_parser
    from orchestrator.options import RenderOptions

    args = build_parser().parse_args(["plan", "x.ass", "--styles", "Default, Alt"])
    assert args.styles == ["Default", "Alt"]
    assert RenderOptions.from_cli(voices=["v"], styles=args.styles).styles == ["Default", "Alt"]
