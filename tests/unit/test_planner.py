"""Planning: text cleaning, overlap rules, track duration, content hashes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from orchestrator.inputs.subtitles import Cue, parse_subtitles, parse_subtitles_text
from orchestrator.planning.cues import plan_cues
from orchestrator.planning.markup import clean_text, split_label
from orchestrator.planning.script import plan_script
from orchestrator.planning.segments import PlannedSegment, segment_hash
from voicecast.errors import InputError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "trailer.srt"


def cue(index: int, start: float, end: float, text: str = "Line", **kw: object) -> Cue:
    kw.setdefault("line", index * 10)
    return Cue(index=index, start=start, end=end, text=text or "", **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- cleaning


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<i>Hello</i> <b>world</b>", "Hello world"),
        ('<font color="#ffcc00">Gold</font> leaf', "Gold leaf"),
        ("<v Roger Bingham>We are <c.loud>here</c></v>", "We are here"),
        ("karaoke <00:00:01.000>time", "karaoke time"),
        (r"{\an8}{\i1}Top{\i0} line", "Top line"),
        (r"first\Nsecond\nthird", "first second third"),
        (r"non\hbreaking", "non breaking"),
        ("two\nlines", "two lines"),
        ("- Hi.\n- Hello.", "Hi. Hello."),
        ("—Who?\n–Me.", "Who? Me."),
        ("-5 degrees tonight", "-5 degrees tonight"),
        ("  lots   of\t space  ", "lots of space"),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("[MUSIC]", ""),
        ("(door slams)", ""),
        ("♪ la la la ♪", ""),
        ("♪ singing\nalong ♪", ""),
        ("♪ la la ♪\nStop that.", "Stop that."),
        ("[sighs] Fine, [laughs] you win.", "Fine, you win."),
        ("I said [coughs], no.", "I said, no."),
        ("[man\nwhispering] Go now.", "Go now."),
        ("[crowd (distant) cheering]", ""),
        ("- [gasps]\n- What was that?", "What was that?"),
        ("...", ""),
        ("", ""),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


# --------------------------------------------------------------------------- planning


def test_plan_basic_and_max_end() -> None:
    plan = plan_cues(
        [cue(1, 1.0, 2.0, "<i>One</i>", speaker="A"), cue(2, 3.0, 4.5, "Two")],
        source="x.srt",
    )
    a, b = plan.segments
    assert (a.idx, a.text, a.start, a.end, a.max_end, a.speaker) == (0, "One", 1.0, 2.0, 3.0, "A")
    assert (b.idx, b.text, b.start, b.end, b.max_end) == (1, "Two", 3.0, 4.5, 4.5)
    assert a.slot == pytest.approx(1.0)
    assert a.source_line == 10 and a.cue_indices == (1,)
    assert a.emotion == "neutral" and a.intensity == 0.0
    assert plan.duration == 4.5
    assert plan.warnings == []


def test_sorts_by_start() -> None:
    plan = plan_cues([cue(1, 5.0, 6.0, "Later"), cue(2, 1.0, 2.0, "Earlier")], source="x")
    assert [s.text for s in plan.segments] == ["Earlier", "Later"]
    assert [s.idx for s in plan.segments] == [0, 1]


def test_drops_empty_and_sdh_cues_with_warning() -> None:
    plan = plan_cues(
        [cue(1, 0.0, 1.0, "[MUSIC]"), cue(2, 1.0, 2.0, "Hi"), cue(3, 2.0, 3.0, "")],
        source="x.srt",
    )
    assert [s.text for s in plan.segments] == ["Hi"]
    assert len(plan.warnings) == 2
    assert plan.warnings[0] == "x.srt: skipped 1 sound description(s) and music line(s): [MUSIC]"
    assert "dropped 2" in plan.warnings[1]
    assert "line 10" in plan.warnings[1] and "line 30" in plan.warnings[1]
    # The timeline still runs to the end of the dropped cue.
    assert plan.duration == 3.0
    assert plan.segments[0].max_end == 3.0


def test_no_speakable_text() -> None:
    with pytest.raises(InputError, match="no speakable text") as info:
        plan_cues([cue(1, 0.0, 1.0, "(silence)"), cue(2, 1.0, 2.0, "♪")], source="x.srt")
    assert info.value.file == "x.srt"


def test_no_cues_at_all() -> None:
    with pytest.raises(InputError, match="no speakable text"):
        plan_cues([], source="x.srt")


@pytest.mark.parametrize(("start", "end"), [(2.0, 2.0), (2.0, 1.0)])
def test_zero_or_negative_length_is_skipped_naming_line(start: float, end: float) -> None:
    plan = plan_cues([cue(1, 0.0, 1.0), cue(2, start, end, line=7)], source="x.srt")
    assert [s.cue_indices for s in plan.segments] == [(1,)]
    assert plan.warnings == ["x.srt: skipped 1 cue(s) never on screen (zero or negative length, "
                             "or fully transparent): line 7"]


def test_zero_length_sdh_cue_is_just_dropped() -> None:
    plan = plan_cues([cue(1, 0.0, 1.0), cue(2, 2.0, 2.0, "[beep]")], source="x")
    assert len(plan.segments) == 1


def test_simultaneous_cues_merge() -> None:
    plan = plan_cues(
        [cue(1, 1.000, 2.0, "Top line"), cue(2, 1.008, 2.5, "Bottom line"), cue(3, 3.0, 4.0)],
        source="x.srt",
    )
    first = plan.segments[0]
    assert first.text == "Top line Bottom line"
    assert (first.start, first.end, first.max_end) == (1.0, 2.5, 3.0)
    assert first.cue_indices == (1, 2)
    assert first.source_line == 10
    assert len(plan.segments) == 2
    assert any("line 10" in w and "line 20" in w for w in plan.warnings)


def test_exactly_10ms_apart_still_merges() -> None:
    plan = plan_cues([cue(1, 1.0, 2.0, "A"), cue(2, 1.01, 2.0, "B")], source="x")
    assert [s.text for s in plan.segments] == ["A B"]


def test_simultaneous_cues_keep_file_order() -> None:
    plan = plan_cues([cue(1, 1.0, 2.0, "First"), cue(2, 1.0, 2.0, "Second")], source="x")
    assert plan.segments[0].text == "First Second"


def test_simultaneous_different_speakers_warns() -> None:
    plan = plan_cues(
        [cue(1, 1.0, 2.0, "Hi", speaker="Ann"), cue(2, 1.0, 2.0, "Yo", speaker="Bob")],
        source="x",
    )
    assert plan.segments[0].speaker == "Ann"
    assert any("Ann" in w and "Bob" in w for w in plan.warnings)


def test_overlap_clips_previous_slot() -> None:
    plan = plan_cues([cue(1, 1.0, 3.0, "Early"), cue(2, 2.0, 4.0, "Late")], source="x.srt")
    a, b = plan.segments
    assert (a.start, a.end, a.max_end) == (1.0, 2.0, 2.0)
    assert (b.start, b.end) == (2.0, 4.0)
    assert len(plan.warnings) == 1
    assert "line 10" in plan.warnings[0] and "line 20" in plan.warnings[0]


def test_contained_cue_clips_previous() -> None:
    plan = plan_cues([cue(1, 0.0, 10.0, "Long"), cue(2, 3.0, 5.0, "Inside")], source="x")
    a, b = plan.segments
    assert (a.end, a.max_end) == (3.0, 3.0)
    assert (b.start, b.end, b.max_end) == (3.0, 5.0, 10.0)
    assert plan.duration == 10.0


def test_short_clipped_slot_merges_into_later() -> None:
    plan = plan_cues(
        [
            cue(1, 1.0, 3.0, "Wait", speaker="Ann"),
            cue(2, 1.2, 4.0, "for me", speaker="Bob"),
            cue(3, 5.0, 6.0, "Next"),
        ],
        source="x.srt",
    )
    assert len(plan.segments) == 2
    merged = plan.segments[0]
    assert merged.text == "Wait for me"
    assert (merged.start, merged.end, merged.max_end) == (1.0, 4.0, 5.0)
    assert merged.cue_indices == (1, 2)
    assert merged.speaker == "Bob"
    assert any("merged" in w and "line 10" in w and "line 20" in w for w in plan.warnings)


def test_clip_exactly_at_threshold_keeps_both() -> None:
    plan = plan_cues([cue(1, 1.0, 3.0, "A"), cue(2, 1.25, 4.0, "B")], source="x")
    assert [s.text for s in plan.segments] == ["A", "B"]
    assert plan.segments[0].slot == pytest.approx(0.25)


def test_segments_never_overlap_and_max_end_bounds() -> None:
    cues = [
        cue(1, 0.0, 2.0),
        cue(2, 0.005, 1.0),
        cue(3, 1.5, 3.0),
        cue(4, 1.6, 2.0),
        cue(5, 2.5, 2.6),
        cue(6, 4.0, 5.0),
        cue(7, 4.9, 7.0),
    ]
    plan = plan_cues(cues, source="x", track_end=8.0)
    segs = plan.segments
    for a, b in zip(segs, segs[1:], strict=False):
        assert a.end <= b.start
        assert a.max_end == b.start
    assert segs[-1].max_end == 8.0
    for s in segs:
        assert s.start < s.end <= s.max_end
    assert sorted(i for s in segs for i in s.cue_indices) == [1, 2, 3, 4, 5, 6, 7]


def test_track_end() -> None:
    plan = plan_cues([cue(1, 1.0, 2.0)], source="x", track_end=10.0)
    assert plan.duration == 10.0
    assert plan.segments[0].max_end == 10.0


def test_track_end_before_last_cue_names_duration() -> None:
    with pytest.raises(InputError) as info:
        plan_cues([cue(1, 1.0, 2.0), cue(2, 3.0, 5.0)], source="x", track_end=4.0)
    assert info.value.field == "duration"
    assert str(info.value).startswith("duration: ")


def test_track_end_may_cut_trailing_sound_cue() -> None:
    plan = plan_cues([cue(1, 1.0, 2.0), cue(2, 3.0, 9.0, "[MUSIC]")], source="x", track_end=5.0)
    assert plan.duration == 5.0


# --------------------------------------------------------------------------- hashing

FIT = {"policy": "borrow", "max_stretch": 1.3}


def seg(**kw: object) -> PlannedSegment:
    base: dict[str, object] = dict(
        idx=0,
        text="Hello there.",
        start=10.0,
        end=12.5,
        max_end=13.0,
        speaker="A",
        source_line=5,
        cue_indices=(1,),
    )
    base.update(kw)
    return PlannedSegment(**base)  # type: ignore[arg-type]


def h(s: PlannedSegment, **kw: object) -> str:
    args: dict[str, object] = dict(
        voice_id="narrator", voice_version=1, engine="kokoro", engine_version="1.0", fit=FIT
    )
    args.update(kw)
    return segment_hash(s, **args)  # type: ignore[arg-type]


def test_hash_is_sha256_hex_and_stable() -> None:
    value = h(seg())
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert h(seg()) == value
    assert h(seg(), fit=dict(reversed(list(FIT.items())))) == value


def test_hash_ignores_position_on_the_track() -> None:
    base = h(seg())
    assert h(seg(start=100.0, end=102.5, max_end=103.0)) == base
    assert h(seg(idx=7, source_line=99, cue_indices=(3, 4), speaker="B")) == base
    # Float noise below a millisecond does not matter either.
    assert h(seg(start=0.1 + 0.2, end=0.3 + 2.5, max_end=0.3 + 3.0)) == base


@pytest.mark.parametrize(
    "change",
    [
        {"seg": {"text": "Hello there!"}},
        {"seg": {"end": 12.6}},
        {"seg": {"max_end": 14.0}},
        {"seg": {"emotion": "happy"}},
        {"seg": {"intensity": 0.5}},
        {"voice_version": 2},
        {"voice_id": "other"},
        {"engine": "piper"},
        {"engine_version": "1.1"},
        {"fit": {**FIT, "max_stretch": 1.2}},
    ],
)
def test_hash_changes_with_what_shapes_audio(change: dict[str, object]) -> None:
    seg_kw = change.pop("seg", {})
    assert h(seg(**seg_kw), **change) != h(seg())  # type: ignore[arg-type]


def test_hash_intensity_rounding() -> None:
    assert h(seg(intensity=0.5)) == h(seg(intensity=0.50004))
    assert h(seg(intensity=0.0)) == h(seg(intensity=-0.0))


# --------------------------------------------------------------------------- end to end


def test_srt_to_plan() -> None:
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\n[MUSIC]\n\n"
        "2\n00:00:02,500 --> 00:00:04,000\n<i>- Hi.</i>\n<i>- Hello.</i>\n\n"
        "3\n00:00:03,500 --> 00:00:05,000\nOverlap.\n"
    )
    plan = plan_cues(parse_subtitles_text(text, "srt", "t.srt"), source="t.srt")
    assert [(s.text, s.start, s.end, s.source_line) for s in plan.segments] == [
        ("Hi. Hello.", 2.5, 3.5, 5),
        ("Overlap.", 3.5, 5.0, 10),
    ]
    # skipped [MUSIC], its cue dropped, the clipped overlap, and the dash dialogue spoken by one voice
    assert len(plan.warnings) == 4
    assert "skipped 1 sound description" in plan.warnings[0]
    assert any("dash dialogue" in w for w in plan.warnings)


def test_bundled_example() -> None:
    cues = parse_subtitles(EXAMPLE)
    plan = plan_cues(cues, source=str(EXAMPLE))
    assert len(plan.segments) >= 20
    assert plan.duration >= 60.0
    assert plan.warnings == []
    texts = " ".join(s.text for s in plan.segments)
    assert "<" not in texts and "Dr." in texts and re.search(r"\d", texts)


def test_bundled_example_pacing() -> None:
    """Slots suit natural speech: about 14.5 characters a second, sane gaps."""
    segs = plan_cues(parse_subtitles(EXAMPLE), source="ex").segments
    for s in segs:
        natural = max(1.2, len(s.text) / 14.5)
        assert s.slot >= 1.2
        assert abs(s.slot - natural) <= 0.1 * natural, (s.source_line, s.text, s.slot)
    for a, b in zip(segs, segs[1:], strict=False):
        assert 0.2 - 1e-6 <= b.start - a.end <= 1.5 + 1e-6, a.source_line


def test_replace_keeps_frozen_dataclass_semantics() -> None:
    s = seg()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.text = "x"  # type: ignore[misc]
    assert dataclasses.replace(s, emotion="sad").emotion == "sad"


def test_new_segment_fields_default_and_stay_out_of_the_hash() -> None:
    s = seg()
    assert (s.chapter, s.pause_after) == (-1, 0.0)
    # where a segment sits (chapter, the silence after it) is the assembler's business
    assert h(dataclasses.replace(s, chapter=3, pause_after=1.5)) == h(s)


# --------------------------------------------------------------------------- speakers


@pytest.mark.parametrize(("text", "characters", "label", "rest"), [
    ("FOX: Hello.", (), "FOX", "Hello."),
    ("MR. SMITH: Good day.", (), "MR. SMITH", "Good day."),
    ("O'BRIEN: Hi.", (), "O'BRIEN", "Hi."),
    ("JEAN-LUC PICARD: Engage.", (), "JEAN-LUC PICARD", "Engage."),
    ("Fox: Hello.", ("fox",), "Fox", "Hello."),
    ("Mr. Smith: Good day.", ("MR.  SMITH",), "Mr. Smith", "Good day."),
    ("[MUSIC] FOX: Hi.", (), "FOX", "[MUSIC] Hi."),
    # not labels: spoken as written
    ("Note: this is spoken.", (), None, "Note: this is spoken."),
    ("Fox: not mapped.", ("crow",), None, "Fox: not mapped."),
    ("fox: lower case.", ("fox",), None, "fox: lower case."),
    ("ONE TWO THREE FOUR: too long.", (), None, "ONE TWO THREE FOUR: too long."),
    ("R2D2: digits.", (), None, "R2D2: digits."),
    ("At 10:30 we left.", (), None, "At 10:30 we left."),
    ("FOX:no space", (), None, "FOX:no space"),
])
def test_split_label(text: str, characters: tuple[str, ...], label: str | None, rest: str) -> None:
    assert split_label(text, characters) == (label, rest)


def test_cue_speakers_from_tags_and_labels() -> None:
    plan = plan_cues(
        [
            cue(1, 1.0, 2.0, "<v Ann>[voice:Fox] [sad] Hi", speaker="Ann"),
            cue(2, 3.0, 4.0, "- BOB: Hello", speaker="Ann"),
            cue(3, 5.0, 6.0, "Crow: [happy] Caw [laughs] caw."),
            cue(4, 7.0, 8.0, "Note: not a label.", speaker="Ann"),
            cue(5, 9.0, 10.0, "[voice:Eve] CROW: the tag wins."),
        ],
        source="x.srt", characters=["crow"],
    )
    assert [(s.speaker, s.emotion, s.text) for s in plan.segments] == [
        ("Fox", "sad", "Hi"), ("BOB", "neutral", "Hello"), ("Crow", "happy", "Caw caw."),
        ("Ann", "neutral", "Note: not a label."), ("Eve", "neutral", "the tag wins."),
    ]


def test_cue_speaker_tag_errors_name_the_line() -> None:
    for text, why in [("[voice:A][voice:B] Hi", r"more than one \[voice:\]"),
                      ("Hi [voice:A] there", "start of the line"),
                      ("[pause:1] Hi", r"\[pause:\] works in scripts and audiobooks"),
                      ("FOX: [sad] [angry] Hi", "more than one emotion tag")]:
        with pytest.raises(InputError, match=rf"^x\.srt:20: cue 2: .*{why}"):
            plan_cues([cue(1, 1.0, 2.0), cue(2, 3.0, 4.0, text)], source="x.srt")


def test_script_speakers_and_pauses() -> None:
    script = "\n".join([
        "[pause:1]",  # before the first line: the plan's lead
        "NARRATOR: Once.",
        "[voice:Fox] [pause:0.5] Twice. [pause:2]",
        "[pause:3]",
        "(sighs) [pause:0.25]",  # nothing to speak: dropped with a warning, its pause kept
        "Thrice.",
    ])
    plan = plan_script(script, source="s.txt")
    assert plan.lead_s == 1.0
    assert [(s.text, s.speaker, s.pause_after, s.source_line) for s in plan.segments] == [
        ("Once.", "NARRATOR", 0.5, 2), ("Twice.", "Fox", 5.25, 3), ("Thrice.", None, 0.0, 6),
    ]
    assert plan.warnings == ["s.txt: skipped 1 sound description(s) and music line(s): (sighs)",
                             "s.txt: dropped 1 line(s) with no speakable text: line 5"]


def test_script_pause_in_the_middle_is_an_error() -> None:
    with pytest.raises(InputError, match=r"^s\.txt:2: script line: \[pause:1\] goes at the start or the end"):
        plan_script("Fine.\nWait [pause:1] here.\n", source="s.txt")
    with pytest.raises(InputError, match=r"^s\.txt:1: .*at most 30"):
        plan_script("[pause:45]\nHi.\n", source="s.txt")
