"""Emotion benchmark: does each emotion move prosody the promised way, in the same voice, intelligibly?

One voice (default: the bundled ``jf_alpha`` with no equaliser; ``--voice NAME``
for another bundled voice, ``--voice-profile PATH.npz`` for an enrolled one)
speaks the 20 fixed sentences of :data:`voicecast.evaluation.EVAL_SENTENCES`
neutrally and in every emotion of :data:`voicecast.emotions.EMOTIONS` at
intensities 0.3, 0.7 (the default) and 1.0. Every render is measured with
:func:`voicecast.prosody.features` (median F0 and F0 range in semitones, rate in
syllables per second of active speech, RMS in dBFS, voiced ratio) and for each
emotion x intensity the report gives:

* the median over sentences of each feature, and its **shift**: the median over
  sentences of the paired difference (emotion render minus the same sentence's
  neutral render);
* WER of Whisper tiny.en, pooled (all word errors / all reference words);
* speaker similarity: Resemblyzer cosine between the emotion render and the
  same sentence's neutral render, mean over sentences.

Checks against :data:`voicecast.emotions.EXPECTED` (each is PASS, FAIL or skip
when the run lacks the intensity it needs):

* every stated direction holds (the shift has the stated sign) at the default
  intensity and at 1.0;
* the shift grows with intensity: |shift at the highest intensity run| >
  |shift at the lowest| (1.0 and 0.3 by default), for every stated feature;
* WER <= 6 % and similarity >= 0.75 at the default intensity;
* whisper: median voiced ratio < WHISPER_MAX_VOICED at the default intensity and 1.0.

It is a measurement: it exits 0 whether the checks pass or not, and prints the
failures. Quick and full runs::

    OMP_NUM_THREADS=1 VOICECAST_ENGINE__THREADS=1 .venv/bin/python bench/bench_emotion.py \\
        --sentences 3 --emotions happy,whisper
    .venv/bin/python bench/bench_emotion.py --md-out bench/results/bench_emotion.md \\
        --json-out bench/results/bench_emotion.json --wav-dir out/emotion-wavs

Writes the markdown report to stdout (``--md-out`` too) and, with
``--json-out``, every per-sentence value. Needs the ``eval`` extra.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from voicecast import evaluation, prosody  # noqa: E402
from voicecast.emotions import DEFAULT_INTENSITY, EMOTIONS, EXPECTED, FEATURES, WHISPER_MAX_VOICED  # noqa: E402

log = logging.getLogger("bench_emotion")

SENTENCES: tuple[str, ...] = evaluation.EVAL_SENTENCES
DEFAULT_VOICE = "jf_alpha"
INTENSITIES: tuple[float, ...] = (0.3, DEFAULT_INTENSITY, 1.0)
#: The bar at the default intensity.
WER_MAX = 0.06
SIMILARITY_MIN = 0.75
#: Directions are checked at these intensities (when the run has them).
DIRECTION_AT: tuple[float, ...] = (DEFAULT_INTENSITY, 1.0)
UNITS = {"f0_median": "st", "f0_range": "st", "rate": "syl/s", "rms": "dB", "voiced_ratio": ""}
TITLES = {"f0_median": "F0 median", "f0_range": "F0 range", "rate": "rate", "rms": "RMS",
          "voiced_ratio": "voiced"}
PASS, FAIL, SKIP = "PASS", "FAIL", "skip"


# --------------------------------------------------------------------------- helpers


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False,
                             timeout=10)
        return out.stdout.strip()
    except OSError:
        return ""


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def median(values: Sequence[float | None]) -> float | None:
    """Median of the finite values (None when there is none)."""
    v = _finite(values)
    return float(np.median(v)) if v else None


def mean(values: Sequence[float | None]) -> float | None:
    v = _finite(values)
    return float(np.mean(v)) if v else None


def _clean(x: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN and inf to null."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def wav_name(index: int, emotion: str, intensity: float) -> str:
    return f"{index:02d}_{emotion}_{intensity:g}.wav"


# --------------------------------------------------------------------------- figures


def summarize(rows: Sequence[dict[str, Any]], expected: dict[str, int] | None = None) -> dict[str, Any]:
    """One condition's figures from its per-sentence rows (see the module docstring).

    ``rows[i]["diff"][f]`` is the paired difference to neutral (absent for the
    neutral rows themselves); ``expected`` gives, per stated feature, the sign
    whose share of sentences is reported as ``agree``.
    """
    words = sum(r["words"] for r in rows)
    errors = sum(r["word_errors"] for r in rows)
    out: dict[str, Any] = {
        "n": len(rows),
        "features": {f: median([r["features"][f] for r in rows]) for f in FEATURES},
        "word_errors": errors,
        "words": words,
        "wer": errors / words if words else None,
        "audio_s": sum(r["audio_s"] for r in rows),
    }
    if rows and "diff" in rows[0]:
        out["shift"] = {f: median([r["diff"][f] for r in rows]) for f in FEATURES}
        sims = [r["similarity"] for r in rows]
        out["similarity"] = mean(sims)
        out["similarity_n"] = len(_finite(sims))
        out["identical_to_neutral"] = sum(bool(r["identical_to_neutral"]) for r in rows)
        agree = {}
        for f, sign in (expected or {}).items():
            d = _finite([r["diff"][f] for r in rows])
            agree[f] = sum(sign * x > 0 for x in d) / len(d) if d else None
        out["agree"] = agree
    return out


def _check(emotion: str, name: str, value: float | None, wanted: str, ok: bool | None,
           **extra: Any) -> dict[str, Any]:
    status = SKIP if ok is None else (PASS if ok else FAIL)
    return {"emotion": emotion, "check": name, "value": value, "wanted": wanted, "status": status, **extra}


def checks(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdict against EXPECTED and the bar, from the conditions' summaries."""
    by = {(c["emotion"], c["intensity"]): c["summary"] for c in doc["conditions"]}
    intensities = sorted(doc["intensities"])
    default = doc["default_intensity"]
    lo, hi = (intensities[0], intensities[-1]) if len(intensities) > 1 else (None, None)
    out: list[dict[str, Any]] = []
    for emotion in doc["emotions"]:
        for feat, sign in EXPECTED.get(emotion, {}).items():
            word = "up" if sign > 0 else "down"
            for at in DIRECTION_AT:
                s = by.get((emotion, at))
                shift = s["shift"][feat] if s else None
                ok = None if s is None else (shift is not None and sign * shift > 0)
                out.append(_check(emotion, f"{feat} {word} at {at:g}", shift, "> 0" if sign > 0 else "< 0",
                                  ok, kind="direction", feature=feat, intensity=at,
                                  agree=s["agree"].get(feat) if s else None))
            s_lo, s_hi = by.get((emotion, lo)), by.get((emotion, hi))
            if lo is None:
                out.append(_check(emotion, f"{feat} shift grows with intensity", None,
                                  "two intensities", None, kind="grows", feature=feat))
                continue
            a = s_lo["shift"][feat] if s_lo else None
            b = s_hi["shift"][feat] if s_hi else None
            ok = None if not (s_lo and s_hi) else (a is not None and b is not None and abs(b) > abs(a))
            out.append(_check(emotion, f"{feat} shift larger at {hi:g} than at {lo:g}", b,
                              f"abs > {abs(a):.3g}" if a is not None else "abs > ?", ok, kind="grows",
                              feature=feat, low=a, intensities=[lo, hi]))
        s = by.get((emotion, default))
        wer = s["wer"] if s else None
        out.append(_check(emotion, f"WER at {default:g}", wer, f"<= {WER_MAX:.0%}",
                          None if s is None else (wer is not None and wer <= WER_MAX), kind="wer"))
        sim = s["similarity"] if s else None
        out.append(_check(emotion, f"similarity at {default:g}", sim, f">= {SIMILARITY_MIN}",
                          None if s is None else (sim is not None and sim >= SIMILARITY_MIN),
                          kind="similarity"))
        if emotion == "whisper":
            for at in DIRECTION_AT:
                s = by.get(("whisper", at))
                vr = s["features"]["voiced_ratio"] if s else None
                out.append(_check(emotion, f"voiced ratio at {at:g}", vr, f"< {WHISPER_MAX_VOICED}",
                                  None if s is None else (vr is not None and vr < WHISPER_MAX_VOICED),
                                  kind="whisper_voiced", intensity=at))
    return out


def verdict(found: Sequence[dict[str, Any]]) -> dict[str, Any]:
    counts = {k: sum(c["status"] == k for c in found) for k in (PASS, FAIL, SKIP)}
    return {"passed": counts[PASS], "failed": counts[FAIL], "skipped": counts[SKIP],
            "all_passed": counts[FAIL] == 0 and counts[PASS] > 0,
            "failures": [f"{c['emotion']}: {c['check']}" for c in found if c["status"] == FAIL]}


# --------------------------------------------------------------------------- the run


def load_profile(engine: Any, voice: str, profile_path: Path | None) -> tuple[Any, str]:
    from workers.voices import VoiceProfile

    if profile_path is not None:
        return VoiceProfile.from_bytes(profile_path.read_bytes()), f"profile {profile_path.name}"
    voices = engine.bundled_voices()
    if voice not in voices:
        raise SystemExit(f"unknown bundled voice {voice!r}; bundled: {', '.join(voices)}")
    # speak() reads only the style pack and the equaliser; no reference speaker here.
    profile = VoiceProfile(style=voices[voice], embedding=np.zeros(256, np.float32))
    return profile, f"{voice} (bundled, no equaliser)"


class _Renderer:
    """Renders and measures one (sentence, emotion, intensity)."""

    def __init__(self, engine: Any, profile: Any, wav_dir: Path | None) -> None:
        self.engine, self.profile, self.wav_dir = engine, profile, wav_dir
        self.sr = engine.capabilities.sample_rate
        self.render_s = self.analysis_s = 0.0

    def __call__(self, index: int, text: str, emotion: str, intensity: float,
                 neutral: tuple[np.ndarray, dict[str, Any], np.ndarray | None] | None = None,
                 ) -> tuple[np.ndarray, dict[str, Any], np.ndarray | None]:
        from workers.voices import speak

        t0 = time.perf_counter()
        audio = speak(self.engine, self.profile, text, emotion=emotion, intensity=intensity)
        t1 = time.perf_counter()
        self.render_s += t1 - t0
        feats = prosody.features(audio, self.sr, text)
        transcript = evaluation.transcribe(audio, self.sr)
        errors, words = evaluation.word_errors(text, transcript)
        try:
            emb: np.ndarray | None = evaluation.speaker_embedding(audio, self.sr)
        except ValueError as exc:  # nothing left after Resemblyzer's silence trimming
            log.warning("sentence %d %s %g: no speaker embedding (%s)", index, emotion, intensity, exc)
            emb = None
        row: dict[str, Any] = {
            "index": index, "text": text, "audio_s": round(audio.size / self.sr, 4),
            "render_s": round(t1 - t0, 4), "features": feats, "transcript": transcript,
            "word_errors": errors, "words": words,
        }
        if neutral is not None:
            n_audio, n_row, n_emb = neutral
            row["diff"] = {f: feats[f] - n_row["features"][f] for f in FEATURES}
            row["similarity"] = (evaluation.similarity(emb, n_emb)
                                 if emb is not None and n_emb is not None else None)
            same = audio.shape == n_audio.shape and np.array_equal(audio, n_audio)
            row["identical_to_neutral"] = bool(same)
        if self.wav_dir is not None:
            from voicecast.audio import write_wav

            name = wav_name(index, emotion, intensity)
            write_wav(self.wav_dir / name, audio, self.sr, subtype="FLOAT")
            row["wav"] = name
        self.analysis_s += time.perf_counter() - t1
        return audio, row, emb


def run_bench(*, sentences: Sequence[str], emotions: Sequence[str], intensities: Sequence[float],
              voice: str = DEFAULT_VOICE, profile_path: Path | None = None, wav_dir: Path | None = None,
              command: str = "") -> dict[str, Any]:
    from voicecast.settings import get_settings
    from workers.engines import get_engine

    t_start = time.perf_counter()
    settings = get_settings()
    engine = get_engine(settings.engine)
    profile, voice_label = load_profile(engine, voice, profile_path)
    if wav_dir is not None:
        wav_dir.mkdir(parents=True, exist_ok=True)
    render = _Renderer(engine, profile, wav_dir)
    from workers.voices import speak

    speak(engine, profile, "Warm up.")  # model loaded before the clock
    evaluation.transcribe(np.zeros(1600, np.float32), evaluation.EVAL_SAMPLE_RATE)

    neutral: list[tuple[np.ndarray, dict[str, Any], np.ndarray | None]] = []
    t0 = time.perf_counter()
    for i, text in enumerate(sentences):
        neutral.append(render(i, text, "neutral", 0.0))
    n_rows = [r for _, r, _ in neutral]
    log.info("neutral: %d renders in %.1f s", len(sentences), time.perf_counter() - t0)

    conditions: list[dict[str, Any]] = []
    for emotion in emotions:
        for intensity in intensities:
            t0 = time.perf_counter()
            rows = [render(i, text, emotion, intensity, neutral[i])[1] for i, text in enumerate(sentences)]
            summary = summarize(rows, EXPECTED.get(emotion, {}))
            conditions.append({"emotion": emotion, "intensity": intensity, "summary": summary, "rows": rows})
            log.info("%s %g: %d renders in %.1f s (WER %.1f %%, similarity %s)", emotion, intensity,
                     len(rows), time.perf_counter() - t0, 100 * (summary["wer"] or 0.0),
                     f"{summary['similarity']:.3f}" if summary["similarity"] is not None else "–")

    n_summary = summarize(n_rows)
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no")) or bool(
        _git("status", "--porcelain", "--", "voicecast", "workers", "bench"))
    doc: dict[str, Any] = {
        "command": command,
        "git_commit": commit,
        "git_dirty": dirty,
        "engine": {"name": engine.name, "version": engine.version, "sample_rate": render.sr,
                   "threads": settings.engine.threads,
                   "declared_emotions": list(engine.capabilities.emotions)},
        "voice": voice_label,
        "sentences": list(sentences),
        "emotions": list(emotions),
        "intensities": list(intensities),
        "default_intensity": DEFAULT_INTENSITY,
        "expected": {e: EXPECTED.get(e, {}) for e in emotions},
        "limits": {"wer_max": WER_MAX, "similarity_min": SIMILARITY_MIN,
                   "whisper_max_voiced": WHISPER_MAX_VOICED, "direction_at": list(DIRECTION_AT)},
        "prosody": {"pitch_floor_hz": prosody.PITCH_FLOOR, "pitch_ceiling_hz": prosody.PITCH_CEILING,
                    "hop_s": prosody.HOP_S, "min_pause_s": prosody.MIN_PAUSE_S},
        "neutral": {"summary": n_summary, "rows": n_rows},
        "conditions": conditions,
    }
    doc["checks"] = checks(doc)
    doc["verdict"] = verdict(doc["checks"])
    n_renders = len(sentences) * (1 + len(conditions))
    doc["timing"] = {
        "renders": n_renders,
        "render_s": round(render.render_s, 2),
        "analysis_s": round(render.analysis_s, 2),
        "audio_s": round(n_summary["audio_s"] + sum(c["summary"]["audio_s"] for c in conditions), 2),
    }
    doc["wall_s"] = round(time.perf_counter() - t_start, 1)
    return _clean(doc)


# --------------------------------------------------------------------------- report


def _num(x: float | None, nd: int = 2, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.{nd}f}" if signed else f"{x:.{nd}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


_ND = {"f0_median": 2, "f0_range": 2, "rate": 2, "rms": 1, "voiced_ratio": 2}


def markdown(doc: dict[str, Any]) -> str:
    eng = doc["engine"]
    commit = (doc["git_commit"] or "?") + (" + uncommitted changes" if doc.get("git_dirty") else "")
    t = doc["timing"]
    lines = [
        "# Emotion benchmark",
        "",
        f"Command: `{doc['command']}`" if doc["command"] else "",
        "",
        f"Engine {eng['name']} {eng['version']} (declares emotions: {', '.join(eng['declared_emotions'])}), "
        f"commit {commit}, voice {doc['voice']}, {len(doc['sentences'])} sentences, intensities "
        f"{', '.join(f'{i:g}' for i in doc['intensities'])} (default {doc['default_intensity']:g}). "
        f"{t['renders']} renders ({t['audio_s']:.0f} s of audio): rendering {t['render_s']:.0f} s, "
        f"measuring {t['analysis_s']:.0f} s, run {doc['wall_s']:.0f} s.",
        "",
        "Features: median over sentences (Δ: median over sentences of the paired shift vs the neutral "
        "render of the same sentence). F0 in semitones re 100 Hz, range 5-95 % in semitones, rate in "
        "syllables per second of active speech, RMS in dBFS over active speech. WER pooled over the "
        "sentences; similarity: Resemblyzer cosine to the neutral render, mean over sentences.",
        "",
    ]
    head = "| emotion | intensity |"
    rule = "|---|---:|"
    for f in FEATURES:
        unit = f" {UNITS[f]}" if UNITS[f] else ""
        head += f" {TITLES[f]}{unit} | Δ |"
        rule += "---:|---:|"
    lines += [head + " WER | similarity |", rule + "---:|---:|"]
    n = doc["neutral"]["summary"]
    row = "| neutral | – |" + "".join(f" {_num(n['features'][f], _ND[f])} | |" for f in FEATURES)
    lines.append(row + f" {_pct(n['wer'])} | – |")
    for c in doc["conditions"]:
        s = c["summary"]
        row = f"| {c['emotion']} | {c['intensity']:g} |"
        for f in FEATURES:
            stated = f in EXPECTED.get(c["emotion"], {})
            shift = _num(s["shift"][f], _ND[f], signed=True)
            row += f" {_num(s['features'][f], _ND[f])} | {'**' + shift + '**' if stated else shift} |"
        lines.append(row + f" {_pct(s['wer'])} | {_num(s['similarity'], 3)} |")
    lines += ["", "Bold: a shift whose direction EXPECTED states.", ""]

    identical = sum(c["summary"]["identical_to_neutral"] for c in doc["conditions"])
    total = sum(c["summary"]["n"] for c in doc["conditions"])
    if total and identical == total:
        lines += ["**Warning: every emotion render is identical to the neutral render of its sentence: "
                  "emotion is not rendered.**", ""]
    elif identical:
        lines += [f"Warning: {identical} of {total} emotion renders are identical to their neutral "
                  "render.", ""]

    lines += ["## Checks", "", "| emotion | check | measured | wanted | result |", "|---|---|---:|---|---|"]
    for c in doc["checks"]:
        if c["kind"] in ("direction", "grows"):
            measured = _num(c["value"], 3, signed=True)
            if c.get("agree") is not None:
                measured += f" ({100 * c['agree']:.0f} % of sentences agree)"
        elif c["kind"] == "wer":
            measured = f"{_pct(c['value'])} (neutral {_pct(n['wer'])})"
        else:
            measured = _num(c["value"], 3)
        result = f"**{c['status']}**" if c["status"] == FAIL else c["status"]
        lines.append(f"| {c['emotion']} | {c['check']} | {measured} | {c['wanted']} | {result} |")
    v = doc["verdict"]
    lines += ["", f"Summary: {v['passed']} PASS, {v['failed']} FAIL, {v['skipped']} skipped."]
    if v["failures"]:
        lines += ["", "Failures:", ""] + [f"- {f}" for f in v["failures"]]
    return "\n".join(line for i, line in enumerate(lines) if line or (i and lines[i - 1])) + "\n"


# --------------------------------------------------------------------------- CLI


def _floats(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers like 0.3,0.7,1") from None
    if not values or any(not 0.0 < v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: intensities must be in (0, 1]")
    return sorted(set(values))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", default=DEFAULT_VOICE, help=f"bundled voice (default {DEFAULT_VOICE})")
    ap.add_argument("--voice-profile", type=Path, metavar="PATH.npz",
                    help="an enrolled voice profile (VoiceProfile .npz) instead of a bundled voice")
    ap.add_argument("--sentences", type=int, default=len(SENTENCES),
                    help=f"first N of the {len(SENTENCES)} fixed sentences")
    ap.add_argument("--emotions", default=",".join(e for e in EMOTIONS if e != "neutral"),
                    help="comma-separated emotions (default: all); neutral is always rendered "
                    "as the baseline")
    ap.add_argument("--intensities", type=_floats, default=list(INTENSITIES),
                    help="comma-separated intensities (default 0.3,0.7,1)")
    ap.add_argument("--wav-dir", type=Path, help="write every render here (float WAV) for listening")
    ap.add_argument("--json-out", type=Path, help="write every figure, per sentence, as JSON")
    ap.add_argument("--md-out", type=Path, help="also write the markdown report here")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = ap.parse_args(argv)
    if not 1 <= args.sentences <= len(SENTENCES):
        ap.error(f"--sentences must be 1..{len(SENTENCES)}")
    if args.voice_profile is not None and not args.voice_profile.is_file():
        ap.error(f"--voice-profile {args.voice_profile}: no such file")
    wanted = [e.strip().lower() for e in args.emotions.split(",") if e.strip()]
    unknown = [e for e in wanted if e not in EMOTIONS]
    if unknown:
        ap.error(f"unknown emotion(s) {', '.join(unknown)}; known: {', '.join(EMOTIONS)}")
    args.emotion_list = [e for e in dict.fromkeys(wanted) if e != "neutral"]
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    evaluation.bench_logging(args.verbose)
    doc = run_bench(
        sentences=SENTENCES[: args.sentences], emotions=args.emotion_list, intensities=args.intensities,
        voice=args.voice, profile_path=args.voice_profile, wav_dir=args.wav_dir,
        command=shlex.join([".venv/bin/python", "bench/bench_emotion.py", *argv]),
    )
    md = markdown(doc)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        log.info("wrote %s", args.json_out)
    if args.md_out:
        args.md_out.parent.mkdir(parents=True, exist_ok=True)
        args.md_out.write_text(md)
    sys.stdout.write(md)
    v = doc["verdict"]
    if not doc["checks"]:
        print("\nNO CHECKS: no emotion besides neutral was rendered")
    else:
        print(f"\n{'ALL CHECKS PASS' if v['all_passed'] else 'CHECKS FAILED'}: "
              f"{v['passed']} pass, {v['failed']} fail, {v['skipped']} skipped")
    return doc


if __name__ == "__main__":
    main()
