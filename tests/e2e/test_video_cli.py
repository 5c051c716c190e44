"""Video in, dubbed video out (issue 16), through `voicecast render` in embedded mode.

Sources are generated (tests/mediagen.py): an ffmpeg test pattern with real
speech (asterisk prompts) and a steady tone in its soundtrack, as H.264/AAC in
MP4 and VP9/Opus in WebM. Outputs are judged with ffprobe and ffmpeg only:
packet checksums of the copied picture, track tags, dispositions, lengths,
and the decoded dub track.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from audiocheck import SENTENCES, make_srt, onsets
from mediagen import (
    audio_tracks,
    decode_stream,
    make_image_subtitle_video,
    make_video,
    probe_json,
    speech_and_tone_soundtrack,
    tone_level_db,
    video_packet_md5s,
)

REPO = Path(__file__).resolve().parents[2]
SR = 16000
TONE_HZ = 997.0


def voicecast(env: dict[str, str], *args: str | Path,
              timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def report_of(stdout: str) -> dict:
    path = next(line.split("file://", 1)[1] for line in stdout.splitlines() if "fit report:" in line)
    return json.loads(Path(path).read_text())


def fps_of(path: Path) -> Fraction:
    v = next(s for s in probe_json(path)["streams"] if s["codec_type"] == "video")
    return Fraction(v["avg_frame_rate"])


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sources shared by the module: 40 s videos with speech and a tone, an SRT
    of 6 cues, a tone-only video (for duck), an MKV with two subtitle streams."""
    d = tmp_path_factory.mktemp("media")
    make_srt(d / "dub.srt", SENTENCES[:6], first=1.0, gap=1.6)
    make_video(d / "film.mp4", seconds=40.0, container="mp4")
    make_video(d / "film.webm", seconds=40.0, container="webm")
    speech_and_tone_soundtrack(d / "tone.wav", 40.0, tone_hz=TONE_HZ, tone_db=-20.0, speech=False)
    make_video(d / "tone.mp4", seconds=40.0, soundtrack=d / "tone.wav")
    return d


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One data folder for the module (voices and segments are shared, as a user's are)."""
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith("VOICECAST_")}
    return {**base, "VOICECAST_DATA_DIR": str(tmp_path_factory.mktemp("data")), "VOICECAST_WORKERS": "2"}


@pytest.mark.slow
@pytest.mark.parametrize("container", ["mp4", "webm"])
def test_dub_keeps_the_picture_and_tags_the_tracks(media: Path, env: dict[str, str], tmp_path: Path,
                                                  container: str) -> None:
    src, out = media / f"film.{container}", tmp_path / f"dubbed.{container}"
    cues = make_srt(tmp_path / "dub.srt", SENTENCES[:6], first=1.0, gap=1.6)
    proc = voicecast(env, "render", src, "--subs", tmp_path / "dub.srt", "--voice", "jf_alpha", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # The picture is the source's, packet for packet.
    assert video_packet_md5s(out) == video_packet_md5s(src)
    # The dub first (default, English, titled with its voice), the original second.
    tracks = audio_tracks(out)
    assert len(tracks) == 2, tracks
    dub, original = tracks
    assert dub["language"] == "eng" and dub["default"] is True
    assert "jf_alpha" in (dub["title"] or "") and "English dub" in dub["title"]
    assert original["default"] is False and original["language"] == audio_tracks(src)[0]["language"]
    assert dub["codec"] == ("opus" if container == "webm" else "aac")
    assert original["codec"] == audio_tracks(src)[0]["codec"]  # copied
    # As long as the source, within one frame.
    frame = 1 / float(fps_of(src))
    src_len = float(probe_json(src)["format"]["duration"])
    assert abs(float(probe_json(out)["format"]["duration"]) - src_len) <= frame + 1e-6
    # The dub speaks on its cues.
    audio = decode_stream(out, "a:0", SR)
    found = onsets(audio, SR, [c.start for c in cues])
    out_len = float(probe_json(out)["format"]["duration"])
    print(f"{container}: {len(video_packet_md5s(src))} picture packets identical; length {out_len:.3f} s "
          f"against {src_len:.3f} s; dub onsets - cues (ms): "
          f"{[round((f - c.start) * 1000) for f, c in zip(found, cues, strict=True)]}")
    assert np.allclose(found, [c.start for c in cues], atol=0.05), (found, cues)
    # The fit report counts in frames as well as milliseconds.
    report = report_of(proc.stdout)
    assert report["fps"] == "25" and abs(report["frame_ms"] - 40.0) < 1e-9
    assert all(r["track"] == 1 and r["lang"] == "en" and "error_frames" in r for r in report["segments"])


def test_an_mpeg_ts_source_that_starts_late(media: Path, env: dict[str, str], tmp_path: Path) -> None:
    """MPEG-TS starts its clock at 1.4 s, not 0. Cue times count from the
    start a player shows as 0: the dub lands on them there, and the picture
    and the original sound keep their offsets to each other."""
    src = tmp_path / "film.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-i", media / "film.mp4", "-map", "0", "-c", "copy", src],
                   check=True, timeout=120)

    def starts(path: Path) -> dict[str, float]:
        streams = probe_json(path)["streams"]
        return {s["codec_type"] + str(s["index"]): float(s["start_time"]) for s in streams}

    before = starts(src)
    assert min(before.values()) > 1.0, before  # the late clock this test is about
    out = tmp_path / "dubbed.mp4"
    cues = make_srt(tmp_path / "dub.srt", SENTENCES[:3], first=1.0, gap=1.6)
    proc = voicecast({**env, "VOICECAST_ENGINE__NAME": "null"}, "render", src, "--subs", tmp_path / "dub.srt",
                     "--voice", "jf_alpha", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = starts(out)  # video0, audio1 (the dub), audio2 (the original)
    assert after["audio1"] == pytest.approx(0.0, abs=0.001)
    assert after["video0"] - after["audio2"] == pytest.approx(before["video0"] - before["audio1"], abs=0.002)
    assert after["audio2"] == pytest.approx(after["audio1"], abs=0.001)
    found = onsets(decode_stream(out, "a:0", SR), SR, [c.start for c in cues])
    assert np.allclose(found, [c.start for c in cues], atol=0.05), (found, cues)


def test_a_characters_language_in_each_dub(media: Path, env: dict[str, str], tmp_path: Path) -> None:
    """``--lang NAME=TAG`` speaks that character's lines in its language in
    every dub of a video; the other lines take their dub's language."""
    make_srt(tmp_path / "en.srt", ["ANNA: We land in Geneva.", "PIERRE: Genève, enfin."], first=1.0, gap=1.6)
    make_srt(tmp_path / "es.srt", ["ANNA: Llegamos a Ginebra.", "PIERRE: Genève, enfin."], first=1.0, gap=1.6)
    proc = voicecast({**env, "VOICECAST_ENGINE__NAME": "null"}, "plan", media / "film.mp4",
                     "--subs", tmp_path / "en.srt", "--subs", tmp_path / "es.srt", "--lang", "en",
                     "--lang", "es", "--lang", "Pierre=fr", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = json.loads(proc.stdout)["segments"]
    assert [(g["speaker"], g["language"]) for g in lines] == [
        ("ANNA", "en"), ("PIERRE", "fr"), ("ANNA", "es"), ("PIERRE", "fr")]


def test_asr_in_another_language_is_refused_before_any_work(media: Path, env: dict[str, str]) -> None:
    """``--timeline asr`` is English only (Whisper tiny.en): another language is
    refused at once, before the sound is extracted and sent to a worker."""
    proc = voicecast({**env, "VOICECAST_ENGINE__NAME": "null"}, "plan", media / "film.mp4",
                     "--timeline", "asr", "--lang", "es")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "error: --lang: --timeline asr transcribes English only" in proc.stderr, proc.stderr[-3000:]
    assert "Spanish (es)" in proc.stderr


def test_duck_lowers_the_original_under_speech_only(media: Path, env: dict[str, str], tmp_path: Path) -> None:
    run_env = {**env, "VOICECAST_ENGINE__NAME": "null"}
    for depth in (None, 24.0):
        out = tmp_path / f"duck{depth}.mp4"
        extra = ["--duck-db", str(depth)] if depth else []
        proc = voicecast(run_env, "render", media / "tone.mp4", "--subs", media / "dub.srt", "--voice",
                         "jf_alpha", "--mix", "duck", *extra, "--out", out)
        assert proc.returncode == 0, proc.stderr[-3000:]
        x = decode_stream(out, "a:0", SR)
        segs = report_of(proc.stdout)["segments"]
        during = [tone_level_db(x, SR, TONE_HZ, s["placed_start_s"] + 0.2, s["placed_end_s"] - 0.1)
                  for s in segs]
        # Between lines: well clear of each fall and rise (attack 0.15 s, release 0.4 s).
        gaps = [(a["placed_end_s"] + 0.5, b["placed_start_s"] - 0.2)
                for a, b in zip(segs, segs[1:], strict=False)]
        between = [tone_level_db(x, SR, TONE_HZ, a, b) for a, b in gaps if b - a >= 0.3]
        tail = tone_level_db(x, SR, TONE_HZ, segs[-1]["placed_end_s"] + 1.0, 39.5)
        assert between, gaps
        want = depth or 18.0  # video.duck_db's default
        print(f"duck {want:g} dB: tone under speech {min(during):.1f} to {max(during):.1f} dB, between "
              f"lines {min(between):.1f} to {max(between):.1f} dB, after the last line {tail:.1f} dB")
        assert max(during) <= min(between) - 12.0, (during, between)
        assert all(abs(d - (tail - want)) < 1.0 for d in during), (during, tail, want)
        # Back to its level between lines: as loud as after the last line.
        assert all(abs(b - tail) < 0.5 for b in between), (between, tail)


def test_mkv_subtitle_streams_and_two_dubs(media: Path, env: dict[str, str], tmp_path: Path) -> None:
    run_env = {**env, "VOICECAST_ENGINE__NAME": "null"}
    eng = make_srt(tmp_path / "eng.srt", SENTENCES[:3], first=1.0, gap=2.0)
    spa = make_srt(tmp_path / "spa.srt", ["Buenos dias a todos.", "La casa es grande y blanca.",
                                         "Nos vemos manana por la tarde."], first=2.0, gap=2.5)
    src = make_video(tmp_path / "two.mkv", seconds=30.0, container="mkv", chapters=True, title="Two subs",
                     subtitle_streams=[(tmp_path / "eng.srt", "eng"), (tmp_path / "spa.srt", "spa")])
    db = Path(env["VOICECAST_DATA_DIR"]) / "voicecast.db"

    # One stream, chosen by language: the dub speaks that stream's lines.
    out = tmp_path / "spa-dub.mkv"
    proc = voicecast(run_env, "render", src, "--subs", "stream:spa", "--voice", "jf_alpha", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    texts = [r["text"] for r in report_of(proc.stdout)["segments"]]
    assert texts == [c.text for c in spa]
    # The cues as the container times them: ffmpeg's Matroska muxer shifted the whole
    # file by the AAC encoder's priming (21 ms), picture and subtitles alike.
    starts = [r["start_s"] for r in report_of(proc.stdout)["segments"]]
    assert starts == pytest.approx([c.start for c in spa], abs=0.025)

    # Two dubs in one job (by language and by stream index), each with its voice: two tracks.
    sub_index = next(s["index"] for s in probe_json(src)["streams"]
                     if s["codec_type"] == "subtitle" and s.get("tags", {}).get("language") == "eng")
    out = tmp_path / "two-dubs.mkv"
    proc = voicecast(run_env, "render", src, "--subs", "stream:spa", "--subs", f"stream:{sub_index}",
                     "--voice", "jf_alpha", "--voice", "jm_kumo", "--mux-subs", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tracks = audio_tracks(out)
    assert len(tracks) == 3, tracks  # two dubs and the original
    assert ["jf_alpha" in (tracks[0]["title"] or ""), "jm_kumo" in (tracks[1]["title"] or "")] == [True, True]
    assert [t["default"] for t in tracks] == [True, False, False]
    report = report_of(proc.stdout)
    assert [r["text"] for r in report["segments"] if r["track"] == 2] == [c.text for c in eng]
    assert video_packet_md5s(out) == video_packet_md5s(src)
    info = probe_json(out)
    subs = [s for s in info["streams"] if s["codec_type"] == "subtitle"]
    assert len(subs) == 4  # each dub's text, then the source's two streams (Matroska keeps them)
    assert len(info["chapters"]) == len(probe_json(src)["chapters"]) >= 2
    assert info["format"]["tags"].get("title") == "Two subs"
    with sqlite3.connect(db) as c:
        tracks_seen = c.execute("select distinct track from segments where job_id = (select id from jobs "
                                "order by created_at desc limit 1)").fetchall()
    assert sorted(t[0] for t in tracks_seen) == [0, 1]

    # Into MP4: the source's two text streams are kept, as mov_text, in their languages.
    out = tmp_path / "spa-dub.mp4"
    proc = voicecast(run_env, "render", src, "--subs", "stream:spa", "--voice", "jf_alpha", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    subs = [s for s in probe_json(out)["streams"] if s["codec_type"] == "subtitle"]
    kept = [(s["codec_name"], s["tags"]["language"]) for s in subs]
    assert kept == [("mov_text", "eng"), ("mov_text", "spa")], kept
    assert video_packet_md5s(out) == video_packet_md5s(src)


@pytest.fixture(scope="module")
def bad(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    make_video(d / "silent.mp4", seconds=20.0, with_audio=False)
    make_image_subtitle_video(d / "pgs.mkv", "pgs")
    make_image_subtitle_video(d / "vobsub.mkv", "dvd")
    (d / "corrupt.mp4").write_bytes((media / "film.mp4").read_bytes()[:4000])
    make_srt(d / "long.srt", SENTENCES[:3], first=36.0, gap=1.0)  # runs past the 40 s video
    return d


BAD = {
    "duck without sound": ("silent.mp4", ["--subs", "{media}/dub.srt", "--mix", "duck"], "out.mp4",
                           "has no sound to lower under the dub"),
    "damaged file": ("corrupt.mp4", ["--subs", "{media}/dub.srt"], "out.mp4", "not a readable video"),
    "PGS subtitles": ("pgs.mkv", ["--subs", "stream:eng"], "out.mkv", "run OCR on it first"),
    "VobSub subtitles": ("vobsub.mkv", ["--subs", "stream:eng"], "out.mkv", "run OCR on it first"),
    "no such stream": ("pgs.mkv", ["--subs", "stream:fre"], "out.mkv", "no subtitle stream in French"),
    "subtitles longer than the video": ("{media}/film.mp4", ["--subs", "{bad}/long.srt"], "out.mp4",
                                        "past the end of film.mp4"),
    "container cannot hold the picture": ("{media}/film.mp4", ["--subs", "{media}/dub.srt"], "out.webm",
                                          "cannot carry the source's h264 video"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_fails_cleanly(case: str, media: Path, bad: Path, env: dict[str, str],
                                 tmp_path: Path) -> None:
    name, args, out_name, said = BAD[case]
    src = Path(name.format(media=media, bad=bad)) if "{" in name else bad / name
    out = tmp_path / out_name
    run_env = {**env, "VOICECAST_ENGINE__NAME": "null"}
    proc = voicecast(run_env, "render", src, *[a.format(media=media, bad=bad) for a in args],
                     "--voice", "jf_alpha", "--out", out, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and said in lines[0], proc.stderr[-2000:]
    assert not out.exists() and not list(tmp_path.glob(f".{out_name}*"))
    # The job is failed with that reason.
    jobs = json.loads(voicecast(run_env, "jobs", "--json").stdout)
    latest = max(jobs, key=lambda j: j["created_at"])
    assert latest["status"] == "failed"
    status = json.loads(voicecast(run_env, "status", latest["id"], "--json").stdout)
    assert said in status["error"]


def _loudness(path: Path, stream: str = "a:0") -> float:
    err = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-map", f"0:{stream}",
                          "-af", "ebur128", "-f", "null", "-"], capture_output=True, text=True).stderr
    return float(err[err.rfind("Summary:"):].split("I:", 1)[1].split("LUFS", 1)[0])


def test_audio_input_with_a_bed_and_the_broadcast_preset(media: Path, env: dict[str, str],
                                                         tmp_path: Path) -> None:
    """A podcast re-voiced: audio in, audio out, a music-and-effects bed under the
    dub at its own level, and the EBU R128 broadcast target (-23 LUFS)."""
    run_env = {**env, "VOICECAST_ENGINE__NAME": "null"}
    podcast = tmp_path / "podcast.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(media / "film.mp4"), "-vn", "-c:a", "copy",
                    str(podcast)], check=True)
    bed = speech_and_tone_soundtrack(tmp_path / "bed.wav", 40.0, tone_hz=TONE_HZ, tone_db=-30.0, speech=False)
    out = tmp_path / "revoiced.mp3"
    proc = voicecast(run_env, "render", podcast, "--subs", media / "dub.srt", "--voice", "jf_alpha",
                     "--bed", bed, "--loudness", "broadcast", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [t["codec"] for t in audio_tracks(out)] == ["mp3"]
    assert abs(_loudness(out) - -23.0) <= 1.0
    x = decode_stream(out, "a:0", SR)
    segs = report_of(proc.stdout)["segments"]
    during = [tone_level_db(x, SR, TONE_HZ, s["placed_start_s"] + 0.2, s["placed_end_s"] - 0.1) for s in segs]
    tail = tone_level_db(x, SR, TONE_HZ, segs[-1]["placed_end_s"] + 1.0, 39.5)
    assert all(abs(d - tail) < 1.0 for d in during), (during, tail)  # a bed is not ducked
    # The same podcast into a video container is refused only for what it lacks: it has no picture.
    two = voicecast(run_env, "render", podcast, "--subs", media / "dub.srt", "--subs", media / "dub.srt",
                    "--voice", "jf_alpha", "--out", tmp_path / "two.mp3")
    assert two.returncode == 2 and "2 dubs need a container" in two.stderr


@pytest.mark.slow
def test_timeline_from_the_videos_own_speech(env: dict[str, str], tmp_path: Path) -> None:
    """Done-means 4: `--timeline asr` on real English speech (asterisk prompts
    joined with pauses, as a video's soundtrack): the cues start on the true
    utterance starts, the transcript is right, the SRT comes back beside the
    output, and the re-voiced track lands on those cues."""
    from asrcheck import TOLERANCE_S, have_prompts, join_prompts, pick_prompts, score_starts, write_wav

    from orchestrator.inputs.subtitles import parse_subtitles
    from voicecast.evaluation import wer

    why = have_prompts()
    if why:
        pytest.fail(f"{why}; scripts/setup.sh installs the prompts and their transcripts")
    joined = join_prompts(pick_prompts(8, 77), 77)
    sound = write_wav(tmp_path / "speech.wav", joined.audio, joined.sr)
    video = make_video(tmp_path / "talk.mp4", seconds=len(joined.audio) / joined.sr, soundtrack=sound)
    out = tmp_path / "revoiced.mp4"
    proc = voicecast(env, "render", video, "--timeline", "asr", "--voice", "jf_alpha", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]

    cues = parse_subtitles(out.with_suffix(".srt"))
    score = score_starts([c.start for c in cues], joined.starts)
    error = wer(joined.transcript, " ".join(c.text for c in cues))
    print(f"asr timeline: {score.cues} cues for {score.utterances} utterances, {score.precision:.0%} within "
          f"±{TOLERANCE_S * 1000:.0f} ms (median {score.median_ms:.0f} ms), WER {error:.1%}")
    assert score.precision >= 0.9, score
    assert error <= 0.10
    # The dub speaks on the transcribed cues (the first audio track of the output).
    audio = decode_stream(out, "a:0", SR)
    found = onsets(audio, SR, [c.start for c in cues])
    assert np.allclose(found, [c.start for c in cues], atol=0.05), (found, [c.start for c in cues])
    print("dub onsets - cue starts (ms):",
          [round((f - c.start) * 1000) for f, c in zip(found, cues, strict=True)])


def test_the_broadcast_preset_for_a_subtitle_dub(media: Path, env: dict[str, str], tmp_path: Path) -> None:
    """``--loudness`` works for a plain subtitle dub too: EBU R128's -23 LUFS."""
    run_env = {**env, "VOICECAST_ENGINE__NAME": "null"}
    for preset, lufs in (("broadcast", -23.0), ("web", -16.0)):
        out = tmp_path / f"{preset}.wav"
        proc = voicecast(run_env, "render", media / "dub.srt", "--voice", "jf_alpha", "--loudness", preset,
                         "--out", out)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert abs(_loudness(out) - lufs) <= 1.0, (preset, _loudness(out))
