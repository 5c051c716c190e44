"""Emotion tags: the syntax, every input format, mappings, defaults and errors (pure code)."""

from __future__ import annotations

from typing import Any

import pytest
from audiocheck import ASS_STYLE as STYLE
from audiocheck import ASS_STYLE_FORMAT as STYLE_FORMAT

from orchestrator.inputs.subtitles import parse_subtitles_text
from orchestrator.planning.cues import plan_cues
from orchestrator.planning.markup import EmotionRules, clean_cue
from orchestrator.planning.script import plan_script
from orchestrator.planning.segments import segment_hash
from voicecast.emotions import (
    DEFAULT_INTENSITY,
    EMOTIONS,
    EXPECTED,
    FEATURES,
    Directives,
    Emotion,
    Pause,
    TagError,
    Voice,
    parse_emotion,
    parse_tag,
    split_directives,
    split_tags,
)
from voicecast.errors import InputError


def test_every_emotion_parses_with_default_and_explicit_intensity() -> None:
    for name in EMOTIONS:
        e = parse_emotion(name)
        assert e.name == name
        assert e.intensity == (0.0 if name == "neutral" else DEFAULT_INTENSITY)
        assert parse_emotion(f"[{name.upper()} : 0.25]").intensity == (0.0 if name == "neutral" else 0.25)
    assert set(EXPECTED) == set(EMOTIONS)
    assert all(set(v) <= set(FEATURES) for v in EXPECTED.values())


@pytest.mark.parametrize("spec, why", [
    ("hapy", "unknown tag [hapy]"), ("sad:1.5", "outside 0-1"), ("sad:loud", "not a number"),
    ("like:", "needs a clip path"), ("sad:nan", "outside 0-1"),
])
def test_bad_specs_say_why(spec: str, why: str) -> None:
    with pytest.raises(TagError, match=why.replace("[", r"\[").replace("]", r"\]")):
        parse_emotion(spec)


def test_unknown_tag_lists_the_allowed_ones() -> None:
    with pytest.raises(TagError) as info:
        split_tags("[joyful] Hello", strict=True)
    for name in EMOTIONS:
        assert f"[{name}]" in str(info.value)
    assert "[like:CLIP.wav]" in str(info.value)


def test_split_tags() -> None:
    assert split_tags("[sad:0.6] I never saw her.") == (Emotion("sad", 0.6), "I never saw her.")
    assert split_tags("  [whisper]Over here") == (Emotion("whisper", DEFAULT_INTENSITY), "Over here")
    assert split_tags("No tag here.") == (None, "No tag here.")
    assert split_tags("[like:takes/a b.wav:0.5] Go") == (Emotion("like", 0.5, "takes/a b.wav"), "Go")
    assert split_tags("[like:take.wav] Go") == (Emotion("like", 1.0, "take.wav"), "Go")
    # a cue that is only a sound description is not a tag error
    assert split_tags("[MUSIC]") == (None, "[MUSIC]")
    # SDH spans before words are kept for the cleaner; fatal only when strict
    assert split_tags("[LAUGHS] Stop it", ignore_unknown=True) == (None, "[LAUGHS] Stop it")
    assert split_tags("[LAUGHS] Stop it") == (None, "[LAUGHS] Stop it")
    with pytest.raises(TagError, match="--strict-tags"):
        split_tags("[LAUGHS] Stop it", strict=True)
    with pytest.raises(TagError, match="more than one"):
        split_tags("[sad][happy] Both")
    with pytest.raises(TagError, match="start of the line"):
        split_tags("Hello [sad] there")
    # not tag-shaped (a space in the name): left alone
    assert split_tags("[door slams] Who is it?") == (None, "[door slams] Who is it?")


def test_clean_cue_takes_tags_after_markup_and_dashes() -> None:
    got = clean_cue(r"{\an8}<i>[happy:0.9] Hello</i>\Nthere", what="c")
    assert got == (Emotion("happy", 0.9), "Hello there")
    assert clean_cue("- [sad] No.", what="c") == (Emotion("sad", DEFAULT_INTENSITY), "No.")
    assert clean_cue("[LAUGHS] Stop it", what="c", ignore_unknown=True) == (None, "Stop it")
    assert clean_cue("[excited] (cheering) We won!", what="c") == (Emotion("excited", 0.7), "We won!")


SRT = """1
00:00:01,000 --> 00:00:02,000
[happy] We made it!

2
00:00:03,000 --> 00:00:04,000
Nothing special.

3
00:00:05,000 --> 00:00:06,000
[whisper:1] Over here.
"""

VTT = """WEBVTT

00:01.000 --> 00:02.000
<v Bob>[angry:0.9] Get out!

00:03.000 --> 00:04.000
<v Ann>Please stay.

00:05.000 --> 00:06.000
<v Bob>I said go.
"""

ASS = "\n".join([
    "[Script Info]", "ScriptType: v4.00+", "", "[V4+ Styles]", STYLE_FORMAT, STYLE,
    STYLE.replace("Style: Default", "Style: Shout"), "", "[Events]",
    "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    r"Dialogue: 0,0:00:01.00,0:00:02.00,Default,Narrator,0,0,0,,{\i1}[calm] Once upon a time",
    "Dialogue: 0,0:00:03.00,0:00:04.00,Shout,,0,0,0,,Watch out!",
    "Dialogue: 0,0:00:05.00,0:00:06.00,Default,Narrator,0,0,0,,And so it ended.",
    "Dialogue: 0,0:00:07.00,0:00:08.00,Default,,0,0,0,,The end.",
    "",
])


def emotions(plan: object) -> list[tuple[str, float, str]]:
    return [(s.emotion, s.intensity, s.text) for s in plan.segments]  # type: ignore[attr-defined]


def test_srt_tags() -> None:
    plan = plan_cues(parse_subtitles_text(SRT, "srt", "t.srt"), source="t.srt")
    assert emotions(plan) == [("happy", 0.7, "We made it!"), ("neutral", 0.0, "Nothing special."),
                              ("whisper", 1.0, "Over here.")]


def test_vtt_tags_and_speaker_mapping() -> None:
    rules = EmotionRules.from_options("calm:0.3", ["bob=sad"])
    plan = plan_cues(parse_subtitles_text(VTT, "vtt", "t.vtt"), source="t.vtt", emotions=rules)
    # own tag first, then the speaker's mapping, then the job default
    assert emotions(plan) == [("angry", 0.9, "Get out!"), ("calm", 0.3, "Please stay."),
                              ("sad", 0.7, "I said go.")]


def test_ass_tags_style_and_actor_mapping() -> None:
    rules = EmotionRules.from_options(None, ["Shout=angry:1", "NARRATOR=calm:0.5"])
    plan = plan_cues(parse_subtitles_text(ASS, "ass", "t.ass"), source="t.ass", emotions=rules)
    assert emotions(plan) == [("calm", 0.7, "Once upon a time"), ("angry", 1.0, "Watch out!"),
                              ("calm", 0.5, "And so it ended."), ("neutral", 0.0, "The end.")]


def test_actor_mapping_wins_over_style_mapping() -> None:
    rules = EmotionRules.from_options(None, ["Default=sad", "Narrator=happy"])
    plan = plan_cues(parse_subtitles_text(ASS, "ass", "t.ass"), source="t.ass", emotions=rules)
    assert [s.emotion for s in plan.segments] == ["calm", "neutral", "happy", "sad"]


def test_plain_script_tags_comments_and_lines() -> None:
    script = "# cast: one voice\n\n[excited] Here we go!\nJust words.\n[like:take.wav] Like that.\n"
    plan = plan_script(script, source="s.txt", emotions=EmotionRules.from_options("sad:0.2"))
    assert emotions(plan) == [("excited", 0.7, "Here we go!"), ("sad", 0.2, "Just words."),
                              ("like", 1.0, "Like that.")]
    assert [s.source_line for s in plan.segments] == [3, 4, 5]
    assert plan.segments[2].clip == "take.wav"
    assert all(s.start == s.end == s.max_end == 0.0 for s in plan.segments)


@pytest.mark.parametrize("fmt, text, line", [
    ("srt", SRT.replace("[happy]", "[hapy]"), 1),
    ("vtt", VTT.replace("I said go.", "I said [sad] go."), 9),
    ("ass", ASS.replace("Watch out!", "[angry][sad] Watch out!"), 12),
])
def test_tag_errors_name_file_and_line(fmt: str, text: str, line: int) -> None:
    cues = parse_subtitles_text(text, fmt, f"t.{fmt}")
    with pytest.raises(InputError) as info:
        plan_cues(cues, source=f"t.{fmt}")
    assert str(info.value).startswith(f"t.{fmt}:{line}: ")


def test_script_tag_error_names_the_line() -> None:
    with pytest.raises(InputError, match=r"^s\.txt:2: .*unknown tag \[angy\]"):
        plan_script("Fine.\n[angy] Not fine.\n", source="s.txt")


def test_bad_options_name_the_option() -> None:
    with pytest.raises(InputError, match="--emotion"):
        EmotionRules.from_options("furious")
    with pytest.raises(InputError, match="NAME=EMOTION"):
        EmotionRules.from_options(None, ["Bob"])


def test_merged_cues_keep_the_first_emotion_and_warn() -> None:
    srt = SRT.replace("00:00:03,000 --> 00:00:04,000", "00:00:01,000 --> 00:00:02,000")
    plan = plan_cues(parse_subtitles_text(srt, "srt", "t.srt"), source="t.srt")
    assert plan.segments[0].emotion == "happy"
    assert plan.segments[0].text == "We made it! Nothing special."
    assert any("different emotions" in w for w in plan.warnings)


def test_emotion_is_part_of_the_content_hash() -> None:
    plan = plan_cues(parse_subtitles_text(SRT, "srt", "t.srt"), source="t.srt")
    seg = plan.segments[0]
    kw: dict[str, Any] = dict(voice_id="v", voice_version=1, engine="e", engine_version="1", fit={})
    from dataclasses import replace
    assert segment_hash(seg, **kw) != segment_hash(replace(seg, intensity=0.9), **kw)
    assert segment_hash(seg, **kw) != segment_hash(replace(seg, emotion="sad"), **kw)
    # the tag itself is not in the text: a tagged and an untagged line differ only by emotion
    assert segment_hash(replace(seg, emotion="neutral", intensity=0.0), **kw) == segment_hash(
        plan_cues(parse_subtitles_text(SRT.replace("[happy] ", ""), "srt", "t.srt"),
                  source="t.srt").segments[0], **kw)


# --------------------------------------------------------------------------- [voice:] and [pause:]


def test_allowed_tags_list_voice_and_pause() -> None:
    with pytest.raises(TagError) as info:
        split_directives("[joyful] Hello", strict=True)
    assert "[voice:NAME]" in str(info.value) and "[pause:SECONDS]" in str(info.value)


def test_parse_tag_kinds() -> None:
    assert parse_tag("[voice: Mr.  Smith ]") == Voice("Mr. Smith")
    assert parse_tag("VOICE:O'Brien-2") == Voice("O'Brien-2")
    assert parse_tag("[pause:1.5]") == Pause(1.5) == parse_tag("[pause: 1.5s ]")
    assert parse_tag("[sad:0.2]") == Emotion("sad", 0.2)


@pytest.mark.parametrize("spec, why", [
    ("[voice:]", "needs a character name"), ("[voice:a/b]", "letters, digits"),
    ("[pause:0]", "more than 0"), ("[pause:-1]", "more than 0"), ("[pause:31]", "at most 30"),
    ("[pause:inf]", "at most 30"), ("[pause:soon]", "not a number"), ("[pause:]", "not a number"),
])
def test_bad_voice_and_pause_values(spec: str, why: str) -> None:
    with pytest.raises(TagError, match=why):
        parse_tag(spec)


def test_split_directives_leading_tags_in_any_order() -> None:
    a = split_directives("[voice:Fox] [sad] Hi")
    assert a == split_directives("[sad][voice:Fox] Hi")
    assert a == Directives(voice="Fox", emotion=Emotion("sad", DEFAULT_INTENSITY), rest="Hi")
    assert split_directives("No tags.") == Directives(rest="No tags.")


def test_split_directives_pauses() -> None:
    assert split_directives("[pause:1] [pause:0.5] Hi [pause:2]") == Directives(
        pause_before=1.5, pause_after=2.0, rest="Hi")
    assert split_directives("[pause:3]") == Directives(pause_before=3.0, rest="")
    with pytest.raises(TagError, match="start or the end of a line"):
        split_directives("Wait [pause:1] here.")
    # subtitles: timing is the file's
    for text in ("[pause:1] Hi", "Hi [pause:1]", "Hi [pause:1] there"):
        with pytest.raises(TagError, match=r"\[pause:\] works in scripts and audiobooks"):
            split_directives(text, pauses=False)


def test_split_directives_errors() -> None:
    with pytest.raises(TagError, match=r"more than one \[voice:\] tag"):
        split_directives("[voice:A][sad][voice:B] Hi")
    with pytest.raises(TagError, match="start of the line"):
        split_directives("Hi [voice:Fox] there")
    with pytest.raises(TagError, match="start of the line"):
        split_directives("Hi there [sad]")
    # a known name with a bad value is never a sound description
    with pytest.raises(TagError, match="outside 0-1"):
        split_directives("[sad:2] Hi", ignore_unknown=True)
    with pytest.raises(TagError, match="more than 0"):
        split_directives("Hi [pause:0] there")
    # unknown spans stay text, as before
    assert split_directives("[LAUGHS] [voice:Bo] Hi [door slams]", ignore_unknown=True) == Directives(
        voice="Bo", rest="[LAUGHS] Hi [door slams]")


def test_split_tags_keeps_its_contract_without_speakers_or_pauses() -> None:
    with pytest.raises(TagError, match="not supported here"):
        split_tags("[voice:Fox] Hi")
    with pytest.raises(TagError, match="works in scripts and audiobooks"):
        split_tags("[pause:1] Hi")


def test_speaker_tags_and_labels_pick_the_emotion_mapping() -> None:
    rules = EmotionRules.from_options(None, ["fox=sad:0.4", "MR. SMITH=happy"])
    plan = plan_script("[voice:Fox] Go away.\nMR. SMITH: Good day.\nFox: Not a label here.\n",
                       source="s.txt", emotions=rules)
    assert [(s.speaker, s.emotion, s.text) for s in plan.segments] == [
        ("Fox", "sad", "Go away."), ("MR. SMITH", "happy", "Good day."),
        (None, "neutral", "Fox: Not a label here."),
    ]
    # with Fox mapped, "Fox:" is a label
    plan = plan_script("Fox: Now it is.\n", source="s.txt", emotions=rules, characters=["Fox"])
    assert [(s.speaker, s.emotion, s.text) for s in plan.segments] == [("Fox", "sad", "Now it is.")]
