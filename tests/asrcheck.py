"""Real English speech with known utterance starts, for judging ``--timeline asr``.

Used by ``tests/integration/test_asr_timeline.py`` and ``bench/bench_asr_timeline.py``
(which puts ``tests/`` on ``sys.path``), so both measure the same way.

The speech is Debian's asterisk prompts by Allison (``asterisk-core-sounds-en-g722``,
16 kHz G.722) with their transcripts (``core-sounds-en.txt.gz``, shipped by the
``asterisk-core-sounds-en`` package). :func:`join_prompts` lays N prompts end to
end with seeded random pauses between them; the *true* start of each utterance is
where its prompt was placed plus the prompt's own leading silence
(:func:`leading_silence_s`), so the reference times come from where the audio was
put, not from any speech detector under test.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicecast.evaluation import read_transcripts

SR = 16000
ALLISON = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
#: Sub-folders of single words (digits, spelled letters, ...) and silences: never used.
SKIP_DIRS = frozenset({"digits", "letters", "phonetic", "silence"})
#: Prompt files this long (s, from the G.722 file size: 8000 bytes a second).
#: The upper bound keeps each prompt one utterance of at most one cue's length
#: (a 30 s menu would be several cues, and only its first could start on a prompt).
MIN_PROMPT_S, MAX_PROMPT_S = 1.5, 6.0
#: ... and transcripts no longer than one cue may be (``cues_from_words``' max_chars):
#: a longer prompt is cut into cues at a word boundary, a cue start that is right
#: but is no utterance start.
MAX_PROMPT_CHARS = 84
#: A transcript is used only if it is plain words: no "[beep tone]" descriptions,
#: no "*" or "#" (spoken "star", "pound"), no "..." trailing off mid-phrase, and
#: no hyphen (asterisk writes "De-activated", "Un-indentified", "Call-Forward" for
#: what is said as one word, which would count as Whisper's errors).
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ,.?!']*")
#: Frames for the leading-silence measure: 10 ms, and "speech" is a frame within
#: this many dB of the prompt's loudest frame.
FRAME_S, ONSET_DB = 0.010, 30.0
#: Pauses laid between prompts (and before the first one), seconds.
PAUSE_S = (0.6, 1.6)
#: A produced cue "hits" a true start within this many seconds.
TOLERANCE_S = 0.150


def have_prompts() -> str | None:
    """None when the prompts and their transcripts are installed, else why not."""
    if not ALLISON.is_dir():
        return f"{ALLISON} missing: apt-get install asterisk-core-sounds-en-g722"
    if not TRANSCRIPTS.is_file():
        return f"{TRANSCRIPTS} missing: apt-get install asterisk-core-sounds-en"
    return None


@dataclass(frozen=True)
class Prompt:
    rel: str  # path under ALLISON without the extension: the transcript's key
    path: Path
    text: str


def candidate_prompts(root: Path = ALLISON, transcripts: Path = TRANSCRIPTS) -> list[Prompt]:
    """Every usable prompt, sorted by name: MIN..MAX_PROMPT_S long, outside
    :data:`SKIP_DIRS`, with a plain-words transcript (see :data:`_PLAIN`) of at
    most :data:`MAX_PROMPT_CHARS`."""
    texts = read_transcripts(transcripts)
    out = []
    for path in sorted(root.rglob("*.g722")):
        rel = path.relative_to(root).with_suffix("").as_posix()
        if SKIP_DIRS.intersection(rel.split("/")[:-1]):
            continue
        text = texts.get(rel, "")
        if not _PLAIN.fullmatch(text) or "..." in text or len(text) > MAX_PROMPT_CHARS:
            continue
        if not MIN_PROMPT_S <= path.stat().st_size / 8000.0 <= MAX_PROMPT_S:
            continue
        out.append(Prompt(rel, path, text))
    return out


def pick_prompts(n: int, seed: int = 16) -> list[Prompt]:
    """``n`` prompts drawn with ``seed`` from :func:`candidate_prompts`, in drawn order."""
    pool = candidate_prompts()
    if len(pool) < n:
        raise ValueError(f"only {len(pool)} usable prompts, {n} asked")
    return random.Random(seed).sample(pool, n)


def speech_span_s(audio: np.ndarray, sr: int = SR) -> tuple[float, float]:
    """Where speech starts and ends in one prompt: the start of the first and
    the end of the last 10 ms frame whose RMS is within 30 dB of the prompt's
    loudest 10 ms frame.

    Relative to the prompt's own peak, so it does not depend on the recording
    level; 30 dB down catches a soft first consonant (an "f", an "h") while
    staying above the prompts' noise floor (50-70 dB under the peak in most of
    them).
    """
    hop = int(round(FRAME_S * sr))
    n = audio.size // hop
    if n == 0:
        return 0.0, 0.0
    frames = audio[: n * hop].astype(np.float64).reshape(n, hop)
    db = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-12)
    speech = np.flatnonzero(db >= db.max() - ONSET_DB)
    return float(speech[0] * hop / sr), float((speech[-1] + 1) * hop / sr)


def leading_silence_s(audio: np.ndarray, sr: int = SR) -> float:
    """The silence before a prompt's speech (:func:`speech_span_s`)."""
    return speech_span_s(audio, sr)[0]


@dataclass(frozen=True)
class Joined:
    """Prompts laid end to end: the audio, each prompt's true utterance start (s)
    and transcript, and the rest of what the measure needs."""

    audio: np.ndarray
    sr: int
    starts: list[float]
    ends: list[float]  # where each prompt's speech ends, by the same rule
    texts: list[str]
    rels: list[str]

    @property
    def transcript(self) -> str:
        return " ".join(self.texts)


def join_prompts(prompts: Sequence[Prompt], seed: int = 16, sr: int = SR) -> Joined:
    """Decode the prompts at ``sr`` and join them, each after a pause drawn
    uniformly from :data:`PAUSE_S` with ``seed`` (one before the first too, and a
    last one after the end). The pauses are digital silence added to the prompts'
    own leading and trailing room tone."""
    from voicecast.media import decode_audio

    rng = random.Random(seed)
    parts: list[np.ndarray] = []
    starts: list[float] = []
    ends: list[float] = []
    pos = 0
    for p in prompts:
        gap = np.zeros(int(round(rng.uniform(*PAUSE_S) * sr)), dtype=np.float32)
        audio = decode_audio(p.path, sr)
        pos += gap.size
        first, last = speech_span_s(audio, sr)
        starts.append(pos / sr + first)
        ends.append(pos / sr + last)
        parts += [gap, audio]
        pos += audio.size
    parts.append(np.zeros(int(round(rng.uniform(*PAUSE_S) * sr)), dtype=np.float32))
    return Joined(np.concatenate(parts).astype(np.float32), sr, starts, ends,
                  [p.text for p in prompts], [p.rel for p in prompts])


def write_wav(path: Path, audio: np.ndarray, sr: int = SR) -> Path:
    """16-bit PCM WAV of ``audio`` (float, -1..1)."""
    import soundfile

    soundfile.write(str(path), np.clip(audio, -1.0, 1.0), sr, subtype="PCM_16")
    return path


@dataclass(frozen=True)
class Score:
    """How produced cue starts line up with true utterance starts."""

    cues: int
    utterances: int
    precision: float  # share of cues starting within TOLERANCE_S of some true start
    recall: float  # share of true starts with a cue starting within TOLERANCE_S
    median_ms: float  # |cue start - nearest true start|, over the cues
    p90_ms: float
    errors_ms: tuple[float, ...]  # signed (cue - nearest true), per cue


def score_starts(cue_starts: Sequence[float], true_starts: Sequence[float],
                 tolerance_s: float = TOLERANCE_S) -> Score:
    """Compare cue starts with true starts (each side matched to its nearest)."""
    truth = np.asarray(sorted(true_starts), dtype=np.float64)
    cues = np.asarray(sorted(cue_starts), dtype=np.float64)
    if cues.size == 0 or truth.size == 0:
        return Score(int(cues.size), int(truth.size), 0.0, 0.0, float("nan"), float("nan"), ())
    diff = cues[:, None] - truth[None, :]
    nearest = diff[np.arange(cues.size), np.argmin(np.abs(diff), axis=1)]
    per_truth = np.min(np.abs(diff), axis=0)
    err = np.abs(nearest) * 1000
    return Score(
        cues=int(cues.size),
        utterances=int(truth.size),
        precision=float(np.mean(np.abs(nearest) <= tolerance_s + 1e-9)),
        recall=float(np.mean(per_truth <= tolerance_s + 1e-9)),
        median_ms=float(np.median(err)),
        p90_ms=float(np.percentile(err, 90)),
        errors_ms=tuple(round(float(e) * 1000, 1) for e in nearest),
    )
