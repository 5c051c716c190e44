"""Independent measurements of rendered tracks for tests (not the code under test)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicecast.evaluation import EVAL_SENTENCES

SENTENCES = list(EVAL_SENTENCES)

#: An ASS [V4+ Styles] format line and a "Default" style, for subtitle tests.
ASS_STYLE_FORMAT = (
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding"
)
ASS_STYLE = (
    "Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,"
    "0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1"
)


@dataclass(frozen=True)
class CueSpec:
    start: float
    end: float
    text: str


def make_srt(path: Path, sentences: list[str], *, chars_per_s: float = 14.5,
             first: float = 0.6, gap: float = 0.5) -> list[CueSpec]:
    """Write an SRT whose slots are realistic for natural speech; return the cues."""
    cues, t = [], first
    for s in sentences:
        dur = round(max(1.4, len(s) / chars_per_s), 2)
        cues.append(CueSpec(round(t, 3), round(t + dur, 3), s))
        t += dur + gap

    def ts(x: float) -> str:
        ms = round(x * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    path.write_text("".join(
        f"{i}\n{ts(c.start)} --> {ts(c.end)}\n{c.text}\n\n" for i, c in enumerate(cues, 1)
    ))
    return cues


def decode(path: Path, sr: int = 16000) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(sr), "-f", "f32le", "-"],
        check=True, capture_output=True,
    ).stdout
    return np.frombuffer(raw, "<f4")


def duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        check=True, capture_output=True,
    ).stdout
    return float(json.loads(out)["format"]["duration"])


def onsets(audio: np.ndarray, sr: int, starts: list[float], *, before: float = 0.3,
           after: float = 0.6) -> list[float]:
    """Speech onset near each expected start: the first 5 ms frame louder than
    35 dB below the track's loud level (95th percentile of frame levels)."""
    hop = sr // 200
    n = len(audio) // hop
    frames = audio[: n * hop].reshape(n, hop)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    thresh = np.percentile(level, 95) - 35
    found = []
    for s in starts:
        lo, hi = max(0, int((s - before) * 200)), min(n, int((s + after) * 200))
        idx = np.nonzero(level[lo:hi] > thresh)[0]
        found.append((lo + idx[0]) / 200 if len(idx) else float("nan"))
    return found


def speech_like(seconds: float, seed: int, sr: int = 24000, level: float = 0.3) -> np.ndarray:
    """Words of voiced harmonics (gliding f0, 1/k harmonics to 3 kHz) and fricative
    noise bursts, each under a Hann envelope at its own level, with silent gaps."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    total = 0
    while total < seconds * sr:
        n = int(rng.uniform(0.15, 0.4) * sr)
        t = np.arange(n) / sr
        f0 = rng.uniform(100, 180) * (1 + 0.15 * t / t[-1] * rng.choice([-1, 1]))
        phase = 2 * np.pi * np.cumsum(f0) / sr
        word = sum(np.sin(k * phase) / k for k in range(1, int(3000 / f0.max()) + 1))
        if rng.random() < 0.4:  # a fricative
            word = word + 0.3 * np.convolve(rng.standard_normal(n), [1, -1], mode="same")
        word *= np.hanning(n) * level * 10 ** (rng.uniform(-6, 3) / 20)
        gap = np.zeros(int(rng.uniform(0.04, 0.15) * sr))
        out += [word, gap]
        total += n + gap.size
    return np.concatenate(out)[: int(seconds * sr)].astype(np.float32)


def syllables(seconds: float, sr: int = 24000, f0: float = 140.0) -> np.ndarray:
    """Speech-like audio: harmonic syllables of ~180 ms with short pauses."""
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    voiced = sum((0.6 / k) * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 6))
    syl = 0.22
    phase = (t % syl) / syl
    env = np.where(phase < 0.8, np.sin(np.pi * np.clip(phase / 0.8, 0, 1)) ** 2, 0.0)
    return (0.5 * voiced * env).astype(np.float32)


def dominant_hz(x: np.ndarray, sr: int) -> float:
    n = 1 << 20  # zero-padded: fine frequency grid whatever the length
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size), n=n))
    return float(np.fft.rfftfreq(n, 1 / sr)[np.argmax(spec)])
