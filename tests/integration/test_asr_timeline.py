"""``--timeline asr`` on real English speech (``asr_timeline``, Whisper tiny.en).

Ten of Debian's asterisk prompts by Allison, joined with seeded pauses into one
WAV (``tests/asrcheck.py``, shared with ``bench/bench_asr_timeline.py``): the
cues must start where the prompts' speech does (their placement plus their own
leading silence, measured on each prompt alone), carry their words, and come
back through the project's own SRT parser. Then the user errors: another
language, a file without audio, a silent file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from asrcheck import TOLERANCE_S, Joined, have_prompts, join_prompts, pick_prompts, score_starts, write_wav

from orchestrator.inputs.subtitles import parse_subtitles
from voicecast.errors import InputError
from voicecast.evaluation import wer
from workers.asr import AsrTimeline, asr_timeline

#: Not one of the seeds the grouping and refinement were tuned on (1-8).
SEED, PROMPTS = 61, 10


@pytest.fixture(scope="module")
def joined() -> Joined:
    why = have_prompts()
    if why:
        pytest.skip(f"{why} (scripts/setup.sh installs the prompts)")
    return join_prompts(pick_prompts(PROMPTS, SEED), SEED)


@pytest.fixture(scope="module")
def wav(joined: Joined, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("asr") / "prompts.wav", joined.audio, joined.sr)


@pytest.fixture(scope="module")
def timeline(wav: Path) -> AsrTimeline:
    return asr_timeline(wav, wav.with_name("prompts.srt"))


def test_cues_start_where_the_speech_does(timeline: AsrTimeline, joined: Joined) -> None:
    score = score_starts([c.start for c in timeline.cues], joined.starts)
    detail = f"signed errors (ms): {score.errors_ms}; true starts: {[round(t, 3) for t in joined.starts]}"
    assert score.precision >= 0.9, detail
    assert score.recall >= 0.8, detail
    assert score.median_ms <= TOLERANCE_S * 1000 / 3, detail


def test_cues_carry_the_words(timeline: AsrTimeline, joined: Joined) -> None:
    text = " ".join(c.text for c in timeline.cues)
    assert wer(joined.transcript, text) <= 0.10, (joined.transcript, text)


def test_cues_are_ordered_and_never_overlap(timeline: AsrTimeline, joined: Joined) -> None:
    cues = timeline.cues
    assert cues and all(c.text.strip() for c in cues)
    assert all(c.end > c.start for c in cues)
    assert all(b.start >= a.end for a, b in zip(cues, cues[1:], strict=False))
    assert cues[-1].end <= joined.audio.size / joined.sr + 1e-6


def test_srt_reads_back_with_the_project_parser(timeline: AsrTimeline, wav: Path) -> None:
    assert timeline.srt == wav.with_name("prompts.srt")
    raw = timeline.srt.read_bytes()
    raw.decode("utf-8")  # UTF-8, no BOM needed
    assert raw.startswith(b"1\n") and raw.endswith(b"\n\n")
    parsed = parse_subtitles(timeline.srt)
    assert len(parsed) == len(timeline.cues)
    for got, cue in zip(parsed, timeline.cues, strict=True):
        assert abs(got.start - cue.start) <= 0.0015 and abs(got.end - cue.end) <= 0.0015
        assert " ".join(got.text.split("\n")) == cue.text


def test_max_s_reads_only_the_first_seconds(wav: Path, joined: Joined, tmp_path: Path) -> None:
    limit = joined.starts[2] + 0.2  # the first two prompts whole, the third barely begun
    cues = asr_timeline(wav, tmp_path / "first.srt", max_s=limit).cues
    assert cues and all(c.end <= limit + 0.01 for c in cues)  # ffmpeg cuts at a packet edge
    assert len(cues) <= 3


def test_other_languages_are_refused(wav: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        asr_timeline(wav, tmp_path / "es.srt", language="es")
    assert err.value.field == "--lang"
    assert "English only" in err.value.message and "Spanish" in err.value.message
    assert "tiny.en" in err.value.message
    assert not (tmp_path / "es.srt").exists()


def test_a_file_without_audio_is_refused(tmp_path: Path) -> None:
    video = tmp_path / "video-only.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1",
                    "-c:v", "ffv1", str(video)], check=True)
    with pytest.raises(InputError) as err:
        asr_timeline(video, tmp_path / "none.srt")
    assert err.value.file == str(video)
    assert "no audio stream" in err.value.message
    text = tmp_path / "notes.txt"
    text.write_text("not media at all\n")
    with pytest.raises(InputError) as err:
        asr_timeline(text, tmp_path / "none.srt")
    assert err.value.file == str(text) and "no audio stream" in err.value.message
    with pytest.raises(InputError) as err:
        asr_timeline(tmp_path / "missing.wav", tmp_path / "none.srt")
    assert err.value.file == str(tmp_path / "missing.wav")


def test_a_silent_file_has_no_speech(tmp_path: Path) -> None:
    silent = write_wav(tmp_path / "silent.wav", np.zeros(5 * 16000, np.float32))
    # en-US is English: accepted, and the silence is then what is refused.
    with pytest.raises(InputError) as err:
        asr_timeline(silent, tmp_path / "silent.srt", language="en-US")
    assert err.value.file == str(silent)
    assert "no speech found" in err.value.message and "--subs" in err.value.message
    assert not (tmp_path / "silent.srt").exists()
