"""``--timeline asr``'s pure steps: words into cues, and cue times onto the
speech's onsets and offsets in synthetic audio (no model, no ffmpeg)."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.inputs.subtitles import parse_subtitles_text
from workers.asr import (
    Cue,
    Word,
    _join_pieces,
    audio_pauses,
    cues_from_words,
    format_srt,
    group_words,
    refine_onsets,
    speech_frames,
)

SR = 16000


def words_at(*spec: tuple[float, float, str]) -> list[Word]:
    return [Word(a, b, t, 0.9) for a, b, t in spec]


def even_words(texts: list[str], start: float = 0.0, step: float = 0.3) -> list[Word]:
    """Words one after another, ``step`` seconds each, no gaps."""
    return [Word(start + i * step, start + (i + 1) * step, t, 0.9) for i, t in enumerate(texts)]


# --------------------------------------------------------------------------- cues_from_words


def test_no_words_no_cues() -> None:
    assert cues_from_words([]) == []
    assert cues_from_words(words_at((0.0, 0.2, ""), (0.3, 0.5, "  "))) == []


def test_a_pause_between_words_ends_a_cue() -> None:
    words = words_at((0.0, 0.3, "Hello"), (0.3, 0.6, "there."), (1.1, 1.4, "How"), (1.4, 1.8, "are"),
                     (1.8, 2.1, "you?"))
    cues = cues_from_words(words)  # gap 0.5 s >= 0.45 s
    assert cues == [Cue(0.0, 0.6, "Hello there."), Cue(1.1, 2.1, "How are you?")]
    assert len(cues_from_words(words, split_pause_s=0.6)) == 1


def test_a_short_gap_keeps_one_cue() -> None:
    words = words_at((0.0, 0.3, "Hello"), (0.74, 1.0, "there"))  # 0.44 s
    assert cues_from_words(words) == [Cue(0.0, 1.0, "Hello there")]


def test_audio_pauses_replace_whisper_gaps() -> None:
    # Whisper's times show a 0.6 s gap where the audio has no pause, and none
    # where the audio has one ("name." stretched over it, "Press" late).
    words = words_at((0.0, 0.4, "Press"), (0.4, 0.8, "one,"), (1.4, 1.7, "press"), (1.7, 2.0, "two"),
                     (2.0, 3.5, "name."), (3.5, 3.9, "Then"), (3.9, 4.2, "go."))
    assert [c.text for c in cues_from_words(words)] == ["Press one,", "press two name. Then go."]
    pauses = [(2.6, 3.4)]  # the speaker stopped between "name." and "Then"
    assert [c.text for c in cues_from_words(words, pauses=pauses)] == [
        "Press one, press two name.", "Then go."]
    assert [c.text for c in cues_from_words(words, pauses=[])] == [
        "Press one, press two name. Then go."]


def test_a_stretched_word_lands_on_the_side_it_is_spoken() -> None:
    # The speech resumes at 2.0; Whisper starts "At" at 1.0, in the silence.
    words = words_at((0.0, 0.5, "Hello."), (1.0, 2.3, "At"), (2.3, 2.5, "the"), (2.5, 2.9, "tone."))
    pauses = [(0.6, 2.0)]
    assert [c.text for c in cues_from_words(words, pauses=pauses)] == ["Hello.", "At the tone."]
    # ... and a word stretched forward over the pause stays before it.
    words = words_at((0.0, 0.4, "Your"), (0.4, 1.6, "name."), (2.2, 2.5, "Press"), (2.5, 2.8, "seven."))
    assert [c.text for c in cues_from_words(words, pauses=[(0.7, 2.1)])] == [
        "Your name.", "Press seven."]


def test_long_run_breaks_after_a_sentence_end() -> None:
    first = "The harbor lights came on one by one and the boats came home.".split()
    second = "Nobody expected the storm to arrive so early this year.".split()
    words = even_words(first + second, step=0.25)
    cues = cues_from_words(words, max_s=60)
    assert [c.text for c in cues] == [" ".join(first), " ".join(second)]


def test_long_run_breaks_after_a_clause_when_no_sentence_ends() -> None:
    texts = ("when the train finally arrived at the station after a very long delay, "
             "everyone on the platform cheered and ran for the doors at once").split()
    cues = cues_from_words(even_words(texts, step=0.2), max_s=60)
    assert len(cues) == 2
    assert cues[0].text.endswith("delay,")


def test_max_chars_is_never_exceeded_and_splits_evenly() -> None:
    texts = ("word " * 60).split()
    cues = cues_from_words(even_words(texts, step=0.1), max_s=60)
    assert all(len(c.text) <= 84 for c in cues)
    assert " ".join(c.text for c in cues) == " ".join(texts)
    # 60 words of 4 letters = 299 characters: 4 cues, none a small remnant.
    assert len(cues) == 4
    assert min(len(c.text) for c in cues) >= 50


def test_no_one_word_remnant() -> None:
    # 88 characters: two halves, not a full cue and "representative."
    text = "Your call is now first in line and will be answered by the next available representative."
    cues = cues_from_words(even_words(text.split(), step=0.3))
    assert len(cues) == 2
    assert min(len(c.text.split()) for c in cues) >= 5


def test_max_s_is_never_exceeded() -> None:
    texts = [f"w{i}" for i in range(30)]
    cues = cues_from_words(even_words(texts, step=0.5))  # 15 s, few characters
    assert len(cues) >= 3
    assert all(c.end - c.start <= 7.0 + 1e-9 for c in cues)
    assert " ".join(c.text for c in cues) == " ".join(texts)


def test_single_long_word_is_its_own_cue() -> None:
    long_word = "x" * 100
    words = words_at((0.0, 0.2, "see"), (0.2, 1.0, long_word), (1.0, 1.2, "here"))
    cues = cues_from_words(words)
    assert [c.text for c in cues] == ["see", long_word, "here"]
    # A word lasting longer than max_s is kept whole too.
    slow = words_at((0.0, 9.0, "Sooo"), (9.0, 9.2, "long."))
    assert [c.text for c in cues_from_words(slow)] == ["Sooo", "long."]


def test_cues_are_never_empty_and_keep_word_order() -> None:
    rng = np.random.default_rng(3)
    t, words = 0.0, []
    for _ in range(300):
        t += float(rng.choice([0.0, 0.1, 0.5, 1.0]))
        d = float(rng.uniform(0.05, 0.6))
        text = ["", "a", "word,", "ends.", "longerword", "x" * 90][int(rng.integers(0, 6))]
        words.append(Word(t, t + d, text, 0.9))
        t += d
    cues = cues_from_words(words)
    assert all(c.text.strip() for c in cues)
    assert " ".join(c.text for c in cues) == " ".join(w.text for w in words if w.text)
    assert all(len(c.text) <= 84 or " " not in c.text for c in cues)
    assert all(c.end - c.start <= 7.0 + 1e-9 or " " not in c.text for c in cues)
    groups = group_words(words)
    assert sum(len(g) for g in groups) == sum(1 for w in words if w.text)


def test_whisper_pieces_without_a_space_join_the_word_before() -> None:
    raw = [(0.0, 0.3, " The", 0.9), (0.3, 0.6, " speed", 0.8), (0.6, 0.9, "-dial", 0.5),
           (0.9, 1.0, " ", 0.9), (1.0, 1.4, " entry.", 0.95)]
    assert _join_pieces(raw) == [Word(0.0, 0.3, "The", 0.9), Word(0.3, 0.9, "speed-dial", 0.5),
                                 Word(1.0, 1.4, "entry.", 0.95)]
    assert _join_pieces([(0.0, 0.2, "Hi", 0.9)]) == [Word(0.0, 0.2, "Hi", 0.9)]


def test_srt_round_trips_through_the_project_parser() -> None:
    cues = [Cue(1.234, 3.0, "Hello there."),
            Cue(61.5, 64.25, "A longer cue that needs two lines when it is shown on screen")]
    text = format_srt(cues)
    assert text.startswith("1\n00:00:01,234 --> 00:00:03,000\nHello there.\n\n2\n00:01:01,500")
    parsed = parse_subtitles_text(text, "srt", "x.srt")
    assert [(c.start, c.end) for c in parsed] == [(1.234, 3.0), (61.5, 64.25)]
    assert [c.text.replace("\n", " ") for c in parsed] == [c.text for c in cues]
    assert all(len(line) <= 42 for c in parsed for line in c.text.split("\n"))
    # A second line never starts with a dash (the planner would read a second speaker).
    text = format_srt([Cue(0.0, 1.0, "one two three four five six seven eight -nine ten eleven twelve")])
    assert not any(line.startswith("-") for line in text.split("\n"))


# --------------------------------------------------------------------------- refine_onsets


def bursts(spans: list[tuple[float, float]], total_s: float, seed: int = 0,
           gaps: list[tuple[float, float]] = ()) -> np.ndarray:  # type: ignore[assignment]
    """Noise bursts (speech stand-ins, -20 dBFS) at ``spans`` over a -70 dBFS
    floor; ``gaps`` are short silences cut into the bursts (plosive closures)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 10 ** (-70 / 20), int(total_s * SR))
    for a, b in spans:
        x[int(a * SR): int(b * SR)] += rng.normal(0.0, 0.1, int(b * SR) - int(a * SR))
    for a, b in gaps:
        x[int(a * SR): int(b * SR)] = rng.normal(0.0, 10 ** (-70 / 20), int(b * SR) - int(a * SR))
    return x.astype(np.float32)


SPANS = [(1.0, 2.2), (3.0, 4.5), (5.3, 6.1), (7.0, 8.4)]


@pytest.mark.parametrize("off", [-0.2, 0.2])
def test_starts_off_by_200_ms_snap_to_the_onsets(off: float) -> None:
    audio = bursts(SPANS, 9.5, gaps=[(3.3, 3.38)])  # a plosive-like closure inside cue 2
    cues = [Cue(a + off, b + off, f"cue {i}") for i, (a, b) in enumerate(SPANS)]
    out = refine_onsets(cues, audio, SR, first_word_ends=[a + 0.35 for a, _b in SPANS])
    for cue, (a, b) in zip(out, SPANS, strict=True):
        assert abs(cue.start - a) <= 0.020, (cue, a)
        assert abs(cue.end - b) <= 0.080, (cue, b)  # the offset plus a 50 ms tail
    assert [c.text for c in out] == [c.text for c in cues]


def test_start_inside_a_stretched_first_word_snaps_forward() -> None:
    # Whisper starts the first word 0.5 s early, in the silence; the voice starts inside it.
    audio = bursts([(1.0, 2.0), (3.0, 4.0)], 5.0)
    cues = [Cue(1.0, 2.0, "one"), Cue(2.5, 4.0, "two")]
    out = refine_onsets(cues, audio, SR, first_word_ends=[1.3, 3.2])
    assert abs(out[1].start - 3.0) <= 0.020


def test_a_start_never_moves_past_its_first_words_end() -> None:
    audio = bursts([(1.0, 2.0), (3.0, 4.0)], 5.0)
    cues = [Cue(1.0, 2.0, "one"), Cue(2.3, 4.0, "two")]
    out = refine_onsets(cues, audio, SR, first_word_ends=[1.3, 2.6])  # the onset at 3.0 is out of reach
    assert out[1].start <= 2.6


def test_a_start_never_moves_before_the_previous_cues_end() -> None:
    # Speech runs on from 1.0 to 4.0 (no onset at the boundary); an earlier onset lies
    # inside the previous cue.
    audio = bursts([(0.5, 1.0), (1.3, 4.0)], 5.0)
    cues = [Cue(0.5, 2.6, "one"), Cue(2.7, 4.0, "two")]
    out = refine_onsets(cues, audio, SR, search_s=2.0)
    assert out[1].start >= out[0].end
    assert out[0].end <= 2.7 + 1e-9
    # A cue that Whisper starts inside the previous one is moved to its end.
    out = refine_onsets([Cue(0.5, 2.6, "one"), Cue(2.4, 4.0, "two")], audio, SR)
    assert out[1].start >= out[0].end


def test_cues_never_overlap_after_refinement() -> None:
    rng = np.random.default_rng(5)
    spans, t = [], 0.5
    for _ in range(12):
        d = float(rng.uniform(0.3, 2.0))
        spans.append((t, t + d))
        t += d + float(rng.uniform(0.05, 1.2))
    audio = bursts(spans, t + 1.0, seed=5)
    cues = [Cue(max(0.0, a + float(rng.uniform(-0.5, 0.5))), b + float(rng.uniform(-0.5, 0.5)), "x")
            for a, b in spans]
    cues = [Cue(c.start, max(c.end, c.start), c.text) for c in cues]
    for pauses in ((), audio_pauses(speech_frames(audio, SR))):
        out = refine_onsets(cues, audio, SR, pauses=pauses)
        assert all(c.end > c.start for c in out)
        assert all(b.start >= a.end for a, b in zip(out, out[1:], strict=False))


def test_a_cue_after_a_pause_starts_where_the_pause_ends() -> None:
    audio = bursts([(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)], 7.0)
    pauses = audio_pauses(speech_frames(audio, SR))
    assert len(pauses) == 2
    # Cue 1's last word runs on into the silence (1.7-2.4); Whisper put cue 2's first
    # word wholly inside it (2.6-2.95); cue 3 is 1.1 s late, beyond search_s.
    cues = [Cue(1.0, 2.4, "one"), Cue(2.6, 4.0, "two"), Cue(6.1, 6.5, "three")]
    out = refine_onsets(cues, audio, SR, first_word_ends=[1.3, 2.95, 6.3],
                        last_word_starts=[1.7, 3.5, 6.3], pauses=pauses)
    assert abs(out[1].start - 3.0) <= 0.020
    assert abs(out[2].start - 5.0) <= 0.020
    assert abs(out[0].end - 2.05) <= 0.020 and abs(out[1].end - 4.05) <= 0.020
    assert all(b.start >= a.end for a, b in zip(out, out[1:], strict=False))
    # Without the pauses, cue 3 is out of the search's reach and keeps Whisper's time.
    assert refine_onsets(cues, audio, SR, first_word_ends=[1.3, 2.95, 6.3])[2].start == 6.1


def test_a_refined_cue_never_ends_before_it_starts() -> None:
    audio = bursts([(1.0, 2.0), (4.0, 5.0)], 6.0)
    pauses = audio_pauses(speech_frames(audio, SR))
    # Whisper put all of cue 2 inside the silence, before its speech.
    cues = [Cue(1.0, 2.0, "one"), Cue(3.2, 3.8, "two")]
    out = refine_onsets(cues, audio, SR, first_word_ends=[1.5, 3.6], last_word_starts=[1.5, 3.6],
                        pauses=pauses)
    assert abs(out[1].start - 4.0) <= 0.020
    assert out[1].end > out[1].start + 0.5


def test_no_onset_in_reach_keeps_whispers_time() -> None:
    audio = bursts([(0.0, 5.0)], 5.0)  # speech throughout
    cues = [Cue(1.0, 2.0, "a"), Cue(2.5, 4.0, "b")]
    out = refine_onsets(cues, audio, SR)
    assert [c.start for c in out] == [1.0, 2.5]


def test_level_does_not_matter() -> None:
    audio = bursts(SPANS, 9.5)
    cues = [Cue(a + 0.15, b, "x") for a, b in SPANS]
    loud = refine_onsets(cues, audio, SR)
    soft = refine_onsets(cues, audio * 0.01, SR)
    assert loud == soft


def test_empty_inputs() -> None:
    assert refine_onsets([], np.zeros(100, np.float32), SR) == []
    cues = [Cue(0.0, 1.0, "a")]
    assert refine_onsets(cues, np.zeros(0, np.float32), SR) == cues


def test_audio_pauses_are_between_speech_only() -> None:
    audio = bursts([(1.0, 2.0), (2.3, 3.0), (3.6, 4.0)], 5.0)
    loud = speech_frames(audio, SR)
    pauses = audio_pauses(loud, min_s=0.45)
    assert len(pauses) == 1  # 0.3 s is too short; the leading and trailing silence are no pauses
    (a, b), = pauses
    assert abs(a - 3.0) <= 0.02 and abs(b - 3.6) <= 0.02


def test_a_click_does_not_split_a_pause() -> None:
    audio = bursts([(1.0, 2.0), (2.5, 2.52), (3.0, 4.0)], 5.0)
    pauses = audio_pauses(speech_frames(audio, SR), min_s=0.45)
    assert len(pauses) == 1 and abs(pauses[0][0] - 2.0) <= 0.02 and abs(pauses[0][1] - 3.0) <= 0.02
