"""The pure parts of video dubbing (issue 16): language tags, what ffprobe's
JSON says, choosing a subtitle stream, what a container can carry, pairing
dubs with voices and languages, the duck envelope, the mux command."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from orchestrator.inputs.media import (
    MediaInfo,
    StreamInfo,
    check_container,
    media_info,
    select_subtitle_stream,
)
from orchestrator.inputs.subtitles import Cue
from orchestrator.options import pair_dubs
from orchestrator.output.assembly import Placement
from orchestrator.output.outline import DubTrackOutline
from orchestrator.output.video import Piece, duck_envelope, mix_args, mux_args, speech_spans
from orchestrator.planning.media import check_cue_times
from orchestrator.voices import split_narrators, track_narrator
from voicecast.errors import InputError, OutputError
from voicecast.languages import parse_language, same_language

# --------------------------------------------------------------------------- languages


@pytest.mark.parametrize(("tag", "norm", "t", "b"), [
    ("en", "en", "eng", "eng"), ("es", "es", "spa", "spa"), ("pt-BR", "pt-BR", "por", "por"),
    ("fr", "fr", "fra", "fre"), ("de", "de", "deu", "ger"), ("EN-us", "en-US", "eng", "eng"),
    ("spa", "es", "spa", "spa"), ("fre", "fr", "fra", "fre"),
])
def test_language_tags_and_container_codes(tag: str, norm: str, t: str, b: str) -> None:
    lang = parse_language(tag)
    assert (lang.tag, lang.iso639_2t, lang.iso639_2b) == (norm, t, b)
    assert lang.container_code(".mp4") == t and lang.container_code(".mov") == t
    assert lang.container_code(".mkv") == b and lang.container_code("webm") == b


@pytest.mark.parametrize("bad", ["xx", "english", "", "en-", "und", "e"])
def test_a_misspelt_language_is_refused_naming_the_option(bad: str) -> None:
    with pytest.raises(InputError) as e:
        parse_language(bad)
    assert e.value.field == "--lang" and "BCP 47" in e.value.message


def test_same_language_matches_by_language_subtag() -> None:
    es = parse_language("es")
    assert same_language(es, "spa") and same_language(es, "es-MX")
    assert not same_language(es, "eng") and not same_language(es, "und") and not same_language(es, None)


# --------------------------------------------------------------------------- probe


def _probe(**over: object) -> dict:
    data = {
        "format": {"format_name": "mov,mp4", "duration": "40.000"},
        "streams": [
            {"index": 0, "codec_type": "video", "codec_name": "h264", "avg_frame_rate": "25/1",
             "disposition": {"default": 1}},
            {"index": 1, "codec_type": "audio", "codec_name": "aac", "channels": 2, "sample_rate": "48000",
             "tags": {"language": "eng"}, "disposition": {"default": 1}},
            {"index": 2, "codec_type": "subtitle", "codec_name": "subrip", "tags": {"language": "eng"}},
            {"index": 3, "codec_type": "subtitle", "codec_name": "subrip", "tags": {"language": "spa"},
             "disposition": {"default": 1}},
            {"index": 4, "codec_type": "subtitle", "codec_name": "hdmv_pgs_subtitle",
             "tags": {"language": "fre"}},
            {"index": 5, "codec_type": "video", "codec_name": "mjpeg", "avg_frame_rate": "0/0",
             "disposition": {"attached_pic": 1}},
        ],
        "chapters": [{"id": 0}, {"id": 1}],
    }
    data.update(over)
    return data


def test_media_info_reads_streams_rate_and_length() -> None:
    info = media_info(Path("film.mp4"), _probe())
    assert info.duration_s == 40.0 and info.fps == Fraction(25) and info.frame_ms == 40.0
    assert [v.index for v in info.video] == [0]  # cover art is not a picture stream
    assert [a.codec for a in info.audio] == ["aac"] and info.audio[0].channels == 2
    assert [s.language for s in info.subtitles] == ["eng", "spa", "fre"] and info.chapters == 2


def test_media_info_takes_a_streams_length_when_the_format_has_none() -> None:
    data = _probe(format={"format_name": "matroska"})
    data["streams"][1]["duration"] = "12.5"
    assert media_info(Path("a.mkv"), data).duration_s == 12.5


@pytest.mark.parametrize(("data", "said"), [
    ({"format": {"duration": "3"}, "streams": [{"index": 0, "codec_type": "subtitle", "codec_name": "ass"}]},
     "no picture or sound"),
    ({"format": {"duration": "N/A"}, "streams": [{"index": 0, "codec_type": "audio", "codec_name": "aac"}]},
     "no length"),
    ({"format": {"duration": "0"}, "streams": [{"index": 0, "codec_type": "audio", "codec_name": "aac"}]},
     "no length"),
])
def test_media_info_refuses_what_is_not_media(data: dict, said: str) -> None:
    with pytest.raises(InputError) as e:
        media_info(Path("x.mp4"), data)
    assert said in e.value.message and e.value.file == "x.mp4"


# --------------------------------------------------------------------------- subtitle streams


def test_a_subtitle_stream_is_chosen_by_language_or_index() -> None:
    info = media_info(Path("film.mkv"), _probe())
    assert select_subtitle_stream(info, "stream:spa").index == 3
    assert select_subtitle_stream(info, "stream:es").index == 3
    assert select_subtitle_stream(info, "stream:eng").index == 2
    assert select_subtitle_stream(info, "stream:2").index == 2


@pytest.mark.parametrize(("spec", "said"), [
    ("stream:fr", "images of text"), ("stream:4", "run OCR on it first"),
    ("stream:de", "no subtitle stream in German"), ("stream:9", "no stream"),
    ("stream:1", "stream #1 is audio"), ("stream:klingonish", "neither a stream index nor a language"),
])
def test_a_stream_that_cannot_be_read_is_refused_listing_the_streams(spec: str, said: str) -> None:
    info = media_info(Path("film.mkv"), _probe())
    with pytest.raises(InputError) as e:
        select_subtitle_stream(info, spec)
    assert said in e.value.message and "#2 subrip, eng" in e.value.message and e.value.file == "film.mkv"


# --------------------------------------------------------------------------- containers


def _info(video: str | None = "h264", audio: str | None = "aac", subs: int = 0) -> MediaInfo:
    streams = []
    if video:
        streams.append(StreamInfo(0, "video", video))
    if audio:
        streams.append(StreamInfo(1, "audio", audio))
    streams += [StreamInfo(2 + k, "subtitle", "subrip") for k in range(subs)]
    return MediaInfo(Path("src.mp4"), "mp4", 10.0, Fraction(25) if video else None, tuple(streams))


def test_a_container_that_cannot_carry_the_picture_is_refused() -> None:
    with pytest.raises(OutputError) as e:
        check_container(Path("out.webm"), _info("h264"), keep_original=True)
    assert "cannot carry the source's h264 video" in e.value.message and ".mkv" in e.value.message
    with pytest.raises(OutputError):
        check_container(Path("out.mov"), _info("vp8"), keep_original=True)
    with pytest.raises(OutputError):
        check_container(Path("out.wav"), _info(), keep_original=True)
    assert check_container(Path("out.mkv"), _info("vp9", "opus"), keep_original=True) == []
    assert check_container(Path("out.webm"), _info("vp9", "opus"), keep_original=True) == []


def test_what_a_container_will_not_keep_is_warned_of() -> None:
    warned = check_container(Path("out.webm"), _info("vp9", "aac", subs=2), keep_original=True)
    assert any("re-encoded as opus" in w for w in warned)
    assert any("2 text subtitle stream(s) are converted to webvtt" in w for w in warned), warned
    pgs = MediaInfo(Path("src.mkv"), "matroska", 10.0, Fraction(25), (
        StreamInfo(0, "video", "h264"), StreamInfo(1, "subtitle", "hdmv_pgs_subtitle"),
        StreamInfo(2, "subtitle", "mov_text")))
    assert check_container(Path("out.mp4"), pgs, keep_original=True) == [
        "src.mkv: its 1 image subtitle stream(s) (PGS (Blu-ray)) are not carried into .mp4 "
        "(a .mkv output keeps them)"]  # the mov_text one goes in as it is
    assert not any("re-encoded" in w for w in check_container(Path("o.webm"), _info("vp9", "aac"),
                                                                keep_original=False))


# --------------------------------------------------------------------------- dubs


def test_dubs_pair_with_their_voices_and_languages_in_order(tmp_path: Path) -> None:
    dubs = pair_dubs([str(tmp_path / "a.srt"), "stream:spa"], None, ["jf_alpha", "jm_kumo"], ["en", "es"])
    assert [(d.subs, d.voice, d.lang) for d in dubs] == [
        (str(tmp_path / "a.srt"), "jf_alpha", "en"), ("stream:spa", "jm_kumo", "es")]
    one = pair_dubs(["stream:0", "stream:1"], None, ["v"], [])
    assert [(d.voice, d.lang) for d in one] == [("v", "en"), ("v", "en")]
    assert [d.subs for d in pair_dubs([], "asr", ["v"], ["en-us"])] == ["asr"]
    assert pair_dubs([], None, ["v"], []) == []


@pytest.mark.parametrize(("args", "field"), [
    ((["a.srt", "b.srt", "c.srt"], None, ["v1", "v2"], []), "--voice"),
    ((["a.srt", "b.srt"], None, ["v"], ["en", "es", "fr"]), "--lang"),
    ((["a.srt"], "asr", ["v"], []), "--timeline"),
    ((["a.srt"], None, ["v"], ["xx"]), "--lang"),
    ((["a.srt"], None, [], []), "--voice"),
])
def test_dubs_that_do_not_pair_up_name_the_option(args: tuple, field: str) -> None:
    with pytest.raises(InputError) as e:
        pair_dubs(*args)
    assert e.value.field == field


def test_narrators_are_split_from_character_voices() -> None:
    assert split_narrators(["jf_alpha", "Fox=jm_kumo", "narrator=af_x", "clips/ref.wav"]) == (
        ["jf_alpha", "af_x", "clips/ref.wav"], ["Fox=jm_kumo"])
    assert track_narrator(0) == "narrator" and track_narrator(1) == "narrator (dub 2)"


def test_a_cue_past_the_end_of_the_video_is_named() -> None:
    info = _info()  # 10 s at 25 fps
    check_cue_times([Cue(1, 1.0, 2.0, "a", line=1), Cue(2, 8.0, 10.04, "b", line=5)], info, "dub.srt")
    with pytest.raises(InputError) as e:
        check_cue_times([Cue(1, 1.0, 2.0, "a", line=1), Cue(2, 8.0, 10.1, "b", line=5)], info, "dub.srt")
    assert (e.value.file, e.value.line) == ("dub.srt", 5) and "past the end of src.mp4" in e.value.message
    with pytest.raises(InputError) as e:
        check_cue_times([Cue(3, 10.0, 12.0, "c", line=9)], info, "dub.srt")
    assert "cue 3 starts at 00:00:10.000" in e.value.message


# --------------------------------------------------------------------------- the duck envelope


def _expand(pieces: list[Piece]) -> np.ndarray:
    return np.concatenate([np.full(p.n, p.gain) if p.kind == "flat"
                           else np.linspace(p.gain, p.to, p.n, endpoint=False) for p in pieces])


def test_the_envelope_lowers_speech_and_ramps_around_it() -> None:
    sr, total = 1000, 10_000
    pieces = duck_envelope([(2000, 3000), (7000, 8000)], total, sr, depth_db=20, attack_s=0.1,
                           release_s=0.4, hold_s=0.5)
    g = _expand(pieces)
    assert len(g) == total and sum(p.n for p in pieces) == total
    assert np.allclose(g[2000:3000], 0.1) and np.allclose(g[7000:8000], 0.1)  # -20 dB while speaking
    assert np.allclose(g[:1900], 1.0) and np.allclose(g[3400:6900], 1.0) and np.allclose(g[8400:], 1.0)
    assert np.all(np.diff(g[1900:2000]) < 0) and np.all(np.diff(g[3000:3400]) > 0)  # fall, then rise
    assert abs(g[1900] - 1.0) < 1e-9 and abs(g[3399] - 1.0) < 0.01


def test_close_lines_stay_under_one_dip_and_edges_are_cut() -> None:
    sr = 1000
    g = _expand(duck_envelope([(0, 1000), (1500, 2500), (9800, 10_000)], 10_000, sr, depth_db=12,
                              attack_s=0.2, release_s=0.4, hold_s=0.6))
    low = 10 ** (-12 / 20)
    assert len(g) == 10_000
    assert np.allclose(g[0:2500], low)  # the 0.5 s gap is shorter than hold + ramps: no pumping
    assert np.allclose(g[9800:], low) and np.all(np.diff(g[9600:9800]) < 0)  # a fall; no room to rise
    assert duck_envelope([], 500, sr, depth_db=12, attack_s=0.2, release_s=0.4, hold_s=0.6) == [
        Piece("flat", 500, 1.0)]


def test_a_fall_cut_short_by_the_start_begins_part_way_down() -> None:
    g = _expand(duck_envelope([(50, 500)], 2000, 1000, depth_db=20, attack_s=0.1, release_s=0.1, hold_s=0))
    assert 0.1 < g[0] < 1.0 and np.allclose(g[50:500], 0.1)


def test_speech_spans_follow_the_placed_clips_at_the_mix_rate() -> None:
    placements = [Placement(0, "k0", 24000, 72000), Placement(1, "k1", 96000, 120000)]
    spans = speech_spans(placements, {0: 48000, 1: 96000}, 24000, 48000)
    assert spans == [(48000, 96000)]  # a clip with no audio plays nothing


# --------------------------------------------------------------------------- ffmpeg commands


def test_mix_graphs_for_each_mode() -> None:
    from orchestrator.output.video import MixInputs

    args, graph = mix_args(MixInputs(Path("t.ffconcat"), 40.0), -3.0, 48000)
    assert args[-1] == "t.ffconcat" and graph.endswith("[dub]anull[mix]") and "volume=-3.000dB" in graph
    args, graph = mix_args(MixInputs(Path("t.ffconcat"), 40.0, "duck", Path("src.mp4"), Path("e.ffconcat")),
                           0.0, 48000)
    assert "src.mp4" in args and "e.ffconcat" in args and "amultiply" in graph and "normalize=0" in graph
    args, graph = mix_args(MixInputs(Path("t.ffconcat"), 40.0, "bed", Path("bed.flac")), 0.0, 48000)
    assert "bed.flac" in args and "amultiply" not in graph and "amix=inputs=2" in graph


def test_the_mux_copies_the_picture_and_tags_each_track() -> None:
    info = MediaInfo(Path("src.mkv"), "matroska", 10.0, Fraction(25), (
        StreamInfo(0, "video", "h264"), StreamInfo(1, "audio", "aac"), StreamInfo(2, "subtitle", "subrip"),
        StreamInfo(3, "video", "mjpeg", attached_pic=True)))
    es = DubTrackOutline(index=0, lang="es", voice="jf_alpha", source="es.srt", first=0, count=3)
    fr = DubTrackOutline(index=1, lang="fr", voice="jm_kumo", source="fr.srt", first=3, count=2)
    args = mux_args(info, [(es, Path("d0.mka")), (fr, Path("d1.mka"))], Path("out.mkv"), keep_original=True,
                    subs=[(es, Path("es.srt"))])
    joined = " ".join(args)
    assert "-map 0:0" in joined and "-map 0:3" not in joined  # the picture, not the cover art
    assert "-map 1:a:0 -map 2:a:0 -map 0:1" in joined and "-map 3:s:0" in joined
    assert args[args.index("-c") + 1] == "copy" and "-c:v" not in args  # nothing of the picture re-encoded
    assert "language=spa" in args and "language=fre" in args  # ISO 639-2/B in Matroska
    assert args[args.index("-disposition:a:0") + 1] == "default"
    assert args[args.index("-disposition:a:1") + 1] == "0" and args[args.index("-disposition:a:2") + 1] == "0"
    assert "-map_chapters" in args and "-map_metadata" in args and "0:t?" in args
    mp4 = mux_args(info, [(fr, Path("d.mka"))], Path("out.mp4"), keep_original=False)
    assert "language=fra" in mp4 and "0:1" not in mp4 and "+faststart" in mp4 and "0:s?" not in mp4
    # MP4 keeps the source's text subtitles as mov_text; image ones cannot go there.
    assert "-map 0:2" in " ".join(mp4) and mp4[mp4.index("-c:s") + 1] == "mov_text"
    pgs = MediaInfo(Path("src.mkv"), "matroska", 10.0, Fraction(25), (
        StreamInfo(0, "video", "h264"), StreamInfo(1, "subtitle", "hdmv_pgs_subtitle"),
        StreamInfo(2, "subtitle", "ass")))
    webm = " ".join(mux_args(pgs, [(fr, Path("d.mka"))], Path("out.webm"), keep_original=False))
    assert "-map 0:2" in webm and "-map 0:1" not in webm and "-c:s webvtt" in webm
