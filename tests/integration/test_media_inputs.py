"""Text subtitle streams read out of real containers by ffmpeg (issue 16):
SubRip in Matroska, mov_text in MP4, WebVTT in WebM and ASS (styles and actors
kept) in Matroska, parsed by the subtitle readers as a file would be."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from audiocheck import ASS_STYLE, ASS_STYLE_FORMAT, make_srt
from mediagen import make_video

from orchestrator.inputs.media import probe_media, select_subtitle_stream, subtitle_stream_text
from orchestrator.inputs.subtitles import parse_subtitles_text
from voicecast.settings import InputSettings

LINES = ["The first line is here.", "And this is the second one.", "A third line ends it."]


@pytest.mark.parametrize(("container", "codec"), [("mkv", "subrip"), ("mp4", "mov_text"), ("webm", "webvtt")])
def test_a_text_stream_reads_back_as_its_cues(tmp_path: Path, container: str, codec: str) -> None:
    cues = make_srt(tmp_path / "eng.srt", LINES, first=1.0, gap=1.0)
    src = make_video(tmp_path / f"v.{container}", seconds=12.0, container=container,  # type: ignore[arg-type]
                     subtitle_streams=[(tmp_path / "eng.srt", "eng")])
    info = probe_media(src, InputSettings())
    stream = select_subtitle_stream(info, "stream:en")
    assert stream.codec == codec
    text, fmt = subtitle_stream_text(info, stream, InputSettings())
    got = parse_subtitles_text(text, fmt, "stream")
    assert [c.text for c in got] == LINES
    # Times as the container keeps them (Matroska and WebM shift a file by its audio priming: <= 25 ms).
    assert all(abs(a.start - b.start) <= 0.025 for a, b in zip(got, cues, strict=True))


def test_an_ass_stream_keeps_its_styles_and_actors(tmp_path: Path) -> None:
    ass = tmp_path / "s.ass"
    ass.write_text("[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\n" + ASS_STYLE_FORMAT + "\n" + ASS_STYLE
                   + "\nStyle: Sign,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,"
                   "100,100,0,0,1,2,2,8,10,10,10,1\n\n[Events]\n"
                   "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
                   "Dialogue: 0,0:00:01.00,0:00:03.00,Default,Mara,0,0,0,,Where were you?\n"
                   "Dialogue: 0,0:00:02.00,0:00:04.00,Sign,,0,0,0,,{\\pos(10,10)}EXIT\n"
                   "Dialogue: 0,0:00:05.00,0:00:07.00,Default,Tom,0,0,0,,Out.\n")
    video = make_video(tmp_path / "v.mkv", seconds=10.0, container="mkv")
    src = tmp_path / "ass.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-i", str(ass), "-map", "0", "-map", "1",
                    "-c", "copy", "-metadata:s:s:0", "language=eng", str(src)], check=True)
    info = probe_media(src, InputSettings())
    stream = select_subtitle_stream(info, "stream:eng")
    text, fmt = subtitle_stream_text(info, stream, InputSettings())
    assert (stream.codec, fmt) == ("ass", "ass")
    cues = parse_subtitles_text(text, fmt, "stream")
    assert [(c.style, c.speaker) for c in cues] == [("Default", "Mara"), ("Sign", None), ("Default", "Tom")]
