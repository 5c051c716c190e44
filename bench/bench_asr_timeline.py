"""``--timeline asr`` on real English speech: do the cues start where the speech does?

Joins ``--n`` (20) of Debian's asterisk prompts by Allison (16 kHz G.722, with
the transcripts of ``asterisk-core-sounds-en``) into one WAV, each after a
seeded random pause of 0.6-1.6 s, and runs
:func:`workers.asr.asr_timeline` on it, the path ``--timeline asr``
takes. The prompts are drawn with ``--seed`` from those 1.5-6 s long with a
plain-words transcript of at most 84 characters (one cue's worth), outside the
single-word folders (digits, letters, phonetic); see ``tests/asrcheck.py``,
which the integration test shares.

The TRUE start of each utterance is where its prompt was placed in the joined
file plus the prompt's own leading silence: the start of its first 10 ms frame
whose RMS is within 30 dB of the prompt's loudest 10 ms frame (its true end,
likewise, the end of the last such frame). So the reference comes from where
the audio was put, not from the detector under test.

Reported, with a ±150 ms tolerance:

* **precision**: the share of produced cues whose start is within 150 ms of the
  nearest true start; **recall**: the share of true starts that have a cue
  start within 150 ms; the median and 90th percentile of |cue start - nearest
  true start|; the share of cue ends within 150 ms of the nearest true end;
* for three timelines from the same Whisper words: Whisper alone (cues cut at
  word gaps >= 0.45 s, Whisper's times), cut at the audio's own pauses
  (Whisper's times), and the full ``asr_timeline`` (audio pauses and
  :func:`refine_onsets`). A fourth row runs the full timeline with
  faster-whisper's VAD filter the other way (off, by default);
* the **WER** of all cue texts joined against all transcripts joined
  (``voicecast.evaluation.wer``), and the seconds the timeline took;
* **non-speech**: the same prompts with four interludes laid into four of the
  pauses (12 s of digital silence, 8 s of a synthetic music-like loop of
  chords and percussive noise, 8 s of pink noise at -30 dBFS, 8 s of room tone
  at -60 dBFS): the words Whisper places wholly inside them (invented, or
  moved there from a neighbouring prompt), with the VAD filter on and off, and
  a silent file;
* with ``--seeds A-B``, the full timeline pooled over those draws, VAD on and
  off (the measurement behind ``VAD_FILTER``).

    .venv/bin/python bench/bench_asr_timeline.py [--n 20] [--seed 16] [--seeds 16-35] \
        [--out bench/results/asr_timeline.md]

The defaults of the grouping and the refinement were chosen on seeds 1-8;
the default seed (16) was not among them. The VAD decision was taken on
``--seeds 16-35``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import asrcheck  # noqa: E402
import numpy as np  # noqa: E402

from workers import asr  # noqa: E402
from voicecast.evaluation import wer, word_errors  # noqa: E402


@dataclass
class Row:
    name: str
    score: asrcheck.Score
    ends_ok: float  # share of cue ends within TOLERANCE_S of the nearest true end
    wer: float


def _row(name: str, cues: Sequence[asr.Cue], joined: asrcheck.Joined) -> Row:
    ends = np.asarray(joined.ends)
    ends_ok = (float(np.mean([np.min(np.abs(ends - c.end)) <= asrcheck.TOLERANCE_S + 1e-9 for c in cues]))
               if cues else 0.0)
    return Row(name, asrcheck.score_starts([c.start for c in cues], joined.starts), ends_ok,
               wer(joined.transcript, " ".join(c.text for c in cues)))


def _words(audio: np.ndarray, vad: bool) -> list[asr.Word]:
    saved = asr.VAD_FILTER
    try:
        asr.VAD_FILTER = vad
        return asr.transcribe_words(audio)
    finally:
        asr.VAD_FILTER = saved


def _music(seconds: float, rng: np.random.Generator, sr: int) -> np.ndarray:
    """A music-like loop: decaying triads on the beat (120 bpm) with a noise hit on each."""
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros_like(t)
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    beat = int(0.5 * sr)
    for k in range(t.size // beat):
        s, e = k * beat, (k + 1) * beat
        env = np.exp(-3.0 * (t[s:e] - t[s]))
        x[s:e] += sum(0.08 * np.sin(2 * np.pi * f * t[s:e]) for f in chords[(k // 4) % 4]) * env
        hit = min(800, t.size - s)
        x[s:s + hit] += rng.normal(0.0, 0.15, hit) * np.exp(-np.arange(hit) / 150.0)
    return x.astype(np.float32)


def _pink(seconds: float, rng: np.random.Generator, dbfs: float, sr: int) -> np.ndarray:
    white = rng.normal(0.0, 1.0, int(seconds * sr))
    spec = np.fft.rfft(white) / np.sqrt(np.arange(1, white.size // 2 + 2))
    x = np.fft.irfft(spec, white.size)
    return (x / np.sqrt(np.mean(x**2)) * 10 ** (dbfs / 20)).astype(np.float32)


def interludes(joined: asrcheck.Joined, seed: int,
               ) -> tuple[np.ndarray, list[float], list[tuple[str, float, float]]]:
    """The joined prompts with four non-speech interludes laid into four pauses
    (after prompts 4, 8, 12 and 16 of 20, or proportionally): the audio, the
    moved true starts, and (kind, start s, end s) of each interlude."""
    sr, rng = joined.sr, np.random.default_rng(seed)
    kinds = [("12 s digital silence", np.zeros(12 * sr, np.float32)),
             ("8 s music-like loop", _music(8, rng, sr)),
             ("8 s pink noise, -30 dBFS", _pink(8, rng, -30, sr)),
             ("8 s room tone, -60 dBFS", _pink(8, rng, -60, sr))]
    n = len(joined.starts)
    after = sorted({max(0, min(n - 2, round(n * q) - 1)) for q in (0.2, 0.4, 0.6, 0.8)})
    cuts = [int(round((joined.ends[k] + 0.3) * sr)) for k in after]  # inside the pause after prompt k
    parts: list[np.ndarray] = []
    spans: list[tuple[str, float, float]] = []
    prev = added = 0
    for cut, (kind, x) in zip(cuts, kinds, strict=False):
        parts += [joined.audio[prev:cut], x]
        spans.append((kind, (cut + added) / sr, (cut + added + x.size) / sr))
        added += x.size
        prev = cut
    parts.append(joined.audio[prev:])
    starts = [t + sum(x.size for cut, (_k, x) in zip(cuts, kinds, strict=False) if cut < t * sr) / sr
              for t in joined.starts]
    return np.concatenate(parts), starts, spans


@dataclass
class NonSpeech:
    vad: bool
    inside: dict[str, list[str]]  # interlude -> words Whisper placed wholly inside it
    score: asrcheck.Score
    word_errors: tuple[int, int]  # (edit distance, reference words) of all cue texts

    @property
    def wer(self) -> float:
        return self.word_errors[0] / max(1, self.word_errors[1])


def _nonspeech(joined: asrcheck.Joined, seed: int, vad: bool) -> NonSpeech:
    """The full timeline on the prompts with interludes: words placed wholly
    inside an interlude (from 0.3 s into it: a word stretched over its edge is
    the neighbouring prompt's), cue starts against the moved true starts, WER."""
    mixed, starts, spans = interludes(joined, seed)
    ws = _words(mixed, vad)
    cues = asr.words_to_cues(ws, mixed, joined.sr)[1]
    inside = {kind: [w.text for w in ws if w.start >= a + 0.3 and w.end <= b] for kind, a, b in spans}
    return NonSpeech(vad, inside, asrcheck.score_starts([c.start for c in cues], starts),
                     word_errors(joined.transcript, " ".join(c.text for c in cues)))


def run(n: int, seed: int) -> dict[str, Any]:
    why = asrcheck.have_prompts()
    if why:
        raise SystemExit(why)
    prompts = asrcheck.pick_prompts(n, seed)
    joined = asrcheck.join_prompts(prompts, seed)
    with tempfile.TemporaryDirectory() as tmp:
        wav = asrcheck.write_wav(Path(tmp) / "joined.wav", joined.audio, joined.sr)
        asr.transcribe_words(np.zeros(1600, np.float32))  # load the model outside the timing
        t0 = time.perf_counter()
        timeline = asr.asr_timeline(wav, Path(tmp) / "joined.srt")
        took = time.perf_counter() - t0
        srt = timeline.srt.read_text(encoding="utf-8")
    # The same words again, for the timelines without the audio's help.
    audio, sr = joined.audio, joined.sr
    words = _words(audio, asr.VAD_FILTER)
    _groups, paused = asr.words_to_cues(words, audio, sr, refine=False)
    rows = [
        _row("Whisper alone (word gaps, Whisper's times)", asr.cues_from_words(words), joined),
        _row("cut at the audio's pauses, Whisper's times", paused, joined),
        _row("asr_timeline: audio pauses + refine_onsets", timeline.cues, joined),
        _row(f"asr_timeline with the VAD filter {'off' if asr.VAD_FILTER else 'on'}",
             asr.words_to_cues(_words(audio, not asr.VAD_FILTER), audio, sr)[1], joined),
    ]
    nonspeech = [_nonspeech(joined, seed, vad) for vad in (True, False)]
    silent = {vad: [w.text for w in _words(np.zeros(10 * sr, np.float32), vad)] for vad in (True, False)}
    return {"n": n, "seed": seed, "audio_s": audio.size / sr, "seconds": took, "rows": rows,
            "prompts": [(p.rel, p.text) for p in prompts], "srt": srt, "warnings": timeline.warnings,
            "errors_ms": rows[2].score.errors_ms, "nonspeech": nonspeech, "silent": silent}


def run_seeds(n: int, seeds: Sequence[int]) -> dict[str, dict[bool, dict[str, float]]]:
    """The full timeline pooled over several draws, VAD filter on and off, on
    the clean prompts and with the interludes."""
    tot = {(kind, vad): [0, 0, 0, 0, 0, 0, 0] for kind in ("clean", "interludes") for vad in (True, False)}
    for seed in seeds:
        joined = asrcheck.join_prompts(asrcheck.pick_prompts(n, seed), seed)
        for vad in (True, False):
            cues = asr.words_to_cues(_words(joined.audio, vad), joined.audio, joined.sr)[1]
            clean = (asrcheck.score_starts([c.start for c in cues], joined.starts),
                     word_errors(joined.transcript, " ".join(c.text for c in cues)), 0)
            ns = _nonspeech(joined, seed, vad)
            mixed = (ns.score, ns.word_errors, sum(len(v) for v in ns.inside.values()))
            for kind, (sc, (e, m), inside) in (("clean", clean), ("interludes", mixed)):
                t = tot[(kind, vad)]
                t[0] += round(sc.precision * sc.cues)
                t[1] += sc.cues
                t[2] += round(sc.recall * sc.utterances)
                t[3] += sc.utterances
                t[4] += e
                t[5] += m
                t[6] += inside
    return {kind: {vad: {"cues": t[1], "utterances": t[3], "precision": t[0] / max(1, t[1]),
                         "recall": t[2] / max(1, t[3]), "wer": t[4] / max(1, t[5]), "inside": t[6]}
                   for (k, vad), t in tot.items() if k == kind}
            for kind in ("clean", "interludes")}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def markdown(doc: dict[str, Any], command: str) -> str:
    tol = int(asrcheck.TOLERANCE_S * 1000)
    out = [
        "# ASR timeline bench (`bench/bench_asr_timeline.py`)",
        "",
        f"{doc['n']} asterisk prompts by Allison (seed {doc['seed']}), joined with 0.6-1.6 s pauses: "
        f"{doc['audio_s']:.1f} s of 16 kHz audio. True start of an utterance: where its prompt was "
        "placed plus its own leading silence (first 10 ms frame within 30 dB of the prompt's peak "
        f"frame). Tolerance ±{tol} ms. Whisper tiny.en (int8, CPU), beam 5, word timestamps.",
        "",
        f"| timeline | cues / utterances | cue starts within ±{tol} ms | utterances with a cue within "
        f"±{tol} ms | median \\|err\\| ms | p90 \\|err\\| ms | cue ends within ±{tol} ms | WER |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in doc["rows"]:
        s = r.score
        out.append(f"| {r.name} | {s.cues} / {s.utterances} | {_pct(s.precision)} | {_pct(s.recall)} | "
                   f"{s.median_ms:.0f} | {s.p90_ms:.0f} | {_pct(r.ends_ok)} | {_pct(r.wer)} |")
    out += [
        "",
        f"`asr_timeline` took {doc['seconds']:.1f} s for {doc['audio_s']:.1f} s of audio "
        f"({doc['audio_s'] / doc['seconds']:.0f}x real time, model loaded).",
        "",
        "Signed start errors of its cues (ms, cue - nearest true start): "
        + ", ".join(f"{e:+.0f}" for e in doc["errors_ms"]),
        "",
        "## Non-speech (the VAD filter)",
        "",
        "The same prompts with four interludes laid into four of the pauses. Words Whisper placed "
        "wholly inside an interlude (from 0.3 s into it), cue starts against the moved true starts, WER:",
        "",
        "| VAD filter | " + " | ".join(doc["nonspeech"][0].inside)
        + f" | cue starts within ±{tol} ms | utterances with a cue | WER |",
        "| --- | " + " | ".join("---" for _ in doc["nonspeech"][0].inside) + " | --- | --- | --- |",
    ]
    for ns in doc["nonspeech"]:
        cells = [(" ".join(ws) if ws else "none") for ws in ns.inside.values()]
        out.append(f"| {'on' if ns.vad else 'off'} | " + " | ".join(cells)
                   + f" | {_pct(ns.score.precision)} | {_pct(ns.score.recall)} | {_pct(ns.wer)} |")
    out += ["", "A silent file (10 s of digital silence): "
            + "; ".join(f"VAD filter {'on' if vad else 'off'}: "
                        + (" ".join(repr(w) for w in ws) if ws else "no words")
                        for vad, ws in doc["silent"].items()) + "."]
    if doc.get("pooled"):
        seeds = doc["seeds"]
        out += [
            "",
            f"## Pooled over seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} draws of {doc['n']} prompts)",
            "",
            f"| audio | VAD filter | cues / utterances | cue starts within ±{tol} ms | utterances with a cue "
            "| WER | words inside interludes |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for kind, by_vad in doc["pooled"].items():
            for vad, r in by_vad.items():
                inside = str(r["inside"]) if kind == "interludes" else "-"
                out.append(f"| {kind} | {'on' if vad else 'off'} | {r['cues']} / {r['utterances']} | "
                           f"{_pct(r['precision'])} | {_pct(r['recall'])} | {_pct(r['wer'])} | {inside} |")
    out += [
        "",
        "Rerun:",
        "",
        "```",
        command,
        "```",
        "",
    ]
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="prompts to join (default 20)")
    ap.add_argument("--seed", type=int, default=16, help="draws the prompts and the pauses (default 16)")
    ap.add_argument("--seeds", help="also pool the full timeline over these draws, VAD on and off: A-B")
    ap.add_argument("--out", type=Path, help="write the markdown table here")
    ap.add_argument("--show-srt", action="store_true", help="print the SRT asr_timeline wrote")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    doc = run(args.n, args.seed)
    if args.seeds:
        a, _, b = args.seeds.partition("-")
        doc["seeds"] = list(range(int(a), int(b or a) + 1))
        doc["pooled"] = run_seeds(args.n, doc["seeds"])
    command = shlex.join([".venv/bin/python", "bench/bench_asr_timeline.py",
                          *(sys.argv[1:] if argv is None else argv)])
    md = markdown(doc, command)
    print(md)
    if args.show_srt:
        print(doc["srt"])
    for w in doc["warnings"]:
        print("warning:", w)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(md, encoding="utf-8")
    return doc


if __name__ == "__main__":
    main()
