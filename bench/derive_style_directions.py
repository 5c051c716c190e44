"""Derive directions in Kokoro's prosody style half that move F0 level, F0 range and duration.

Kokoro (StyleTTS2) reads its 256-dim style vector in two halves: dims 0:128 go
to the decoder (timbre), dims 128:256 to the prosody predictor (F0, durations,
energy). This script measures, around bundled voices, how small changes of the
prosody half move four features of the rendered speech and derives three
directions that move one feature each while holding the other two fixed.

Features (per render; :func:`measure`):

* ``f0_median``: median F0 over voiced frames, semitones re 100 Hz;
* ``f0_range``: 95th minus 5th percentile of F0 over voiced frames, semitones;
* ``log_len``: natural log of the speech length in seconds, the render cut
  from the first to the last 10 ms frame whose RMS is above -40 dBFS;
* ``rms_db``: RMS level of that trimmed speech, dBFS (measured, not controlled).

Pitch is Praat's autocorrelation tracker ("To Pitch (ac)", parselmouth), 10 ms
step, floor 60 Hz, ceiling 500 Hz, on the trimmed speech.

Design
------
*Scale.* sigma (128) is the per-dim standard deviation (ddof 0) of the five
bundled voices' mean style vectors (mean over the 510 rows of each pack),
prosody half. A perturbation is ``d = scale * sigma * z`` with ``z ~ N(0, I)``
(128 dims, seeded), added to every row of the pack's prosody half; the timbre
half is untouched.

*Antithetic pairs.* Every perturbation is rendered at ``+d`` and ``-d`` on the
same K training sentences. The regression target is the central difference
``(f(+d) - f(-d)) / 2`` averaged over the sentences, which cancels the even
(curvature) part of the response, so the linear fit is not polluted by it;
``(f(+d) + f(-d)) / 2 - f(0)`` (the curvature part) is reported too. The
unperturbed render ``f(0)`` of each sentence is also measured, so the linear
model is also scored on plain one-sided deltas ``f(+-d) - f(0)``.

*Fit.* Ridge regression without intercept of each feature's central difference
on ``x = scale * z`` (perturbation in units of sigma), pooled over the
derivation voices; the penalty of each feature is chosen by exact leave-one-out
error over a log grid. Reported: pooled leave-one-out R^2; per voice, R^2 of
the model fitted on the *other* voices predicting this voice (transfer), and
the correlation between the gradient fitted on this voice alone and the one
fitted on the others.

*Directions.* With J (3 x 128, features per sigma unit) the Jacobian of
(f0_median, f0_range, log_len), the direction for feature k is
``J^+ (u_k e_k)``: the least-norm change, norm measured in sigma units, that
moves feature k by one unit (u = 1 st, 1 st, log(1.1) = +10 % duration) and the
other two by zero, to first order. It is written in plain style coordinates
(multiplied by sigma), as a 256-vector with zeros in 0:128. Least norm in sigma
units (not in raw units) keeps the directions inside the spread of real voices
instead of favouring the dims the voices hardly use.

*Validation.* Every bundled voice (the derivation voices and the held-out
ones) renders the held-out validation sentences with ``pack + alpha * dir``
for every direction and alpha (feature units). Per (direction, alpha):
feature shifts vs the same voice's unperturbed render of the same sentence
(mean over voices and sentences), Resemblyzer similarity to that render (mean),
and Whisper tiny.en WER (pooled) against the unperturbed renders' pooled WER.
The achieved gain matrix is the least-squares slope (through zero) of each
feature's shift on alpha. The safe alpha range of a direction is, per sign, the
largest |alpha| of the grid such that it and every smaller |alpha| keep mean
similarity >= 0.85 and WER <= baseline + 2 points.

Run (one thread, one process at a time)::

    OMP_NUM_THREADS=1 VOICECAST_ENGINE__THREADS=1 .venv/bin/python bench/derive_style_directions.py \\
        --n-per-voice 4 --sentences 2 --val-sentences 1 --no-write        # smoke test
    OMP_NUM_THREADS=1 VOICECAST_ENGINE__THREADS=1 .venv/bin/python bench/derive_style_directions.py

Writes ``workers/data/kokoro_prosody_directions.npz`` and
``bench/results/style_directions.md`` (unless ``--no-write``); ``--json-out``
keeps every per-render value. Needs the ``eval`` extra.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from voicecast import evaluation  # noqa: E402

log = logging.getLogger("derive_style_directions")

SR = 24000
PROSODY = slice(128, 256)
HALF = 128
FEATURES = ("f0_median", "f0_range", "log_len", "rms_db")
#: The three controlled features, their direction names and their units.
CONTROLLED = ("f0_median", "f0_range", "log_len")
DIRECTION_KEYS = ("f0_median", "f0_range", "duration")
UNITS = (1.0, 1.0, math.log(1.1))
UNIT_TEXT = ("+1 st", "+1 st", "+10 % duration")
PITCH_FLOOR, PITCH_CEILING = 60.0, 500.0
HOP_S = 0.01
TRIM_DBFS = -40.0
SIM_MIN = 0.85
WER_MARGIN = 0.02
DEFAULT_TRAIN_VOICES = ("jf_alpha", "jf_gongitsune", "jm_kumo")
LAMBDAS = tuple(float(x) for x in np.logspace(-3, 3, 25))


# --------------------------------------------------------------------------- measurement


def trim_bounds(audio: np.ndarray, threshold_dbfs: float = TRIM_DBFS) -> tuple[int, int]:
    """Sample span from the first to the last 10 ms frame with RMS above ``threshold_dbfs``."""
    n = int(SR * HOP_S)
    frames = len(audio) // n
    if frames == 0:
        return 0, 0
    x = np.asarray(audio[: frames * n], dtype=np.float64).reshape(frames, n)
    db = 10 * np.log10(np.maximum((x * x).mean(axis=1), 1e-20))
    loud = np.flatnonzero(db > threshold_dbfs)
    if loud.size == 0:
        return 0, 0
    return int(loud[0] * n), int((loud[-1] + 1) * n)


def measure(audio: np.ndarray) -> dict[str, float]:
    """The four features of one render (see the module docstring); NaN when unmeasurable."""
    import parselmouth

    lo, hi = trim_bounds(audio)
    out = {f: math.nan for f in FEATURES}
    out["voiced_frames"] = 0.0
    if hi - lo < int(0.1 * SR):
        return out
    seg = np.asarray(audio[lo:hi], dtype=np.float64)
    out["log_len"] = math.log((hi - lo) / SR)
    out["rms_db"] = 10 * math.log10(max(float(np.mean(seg * seg)), 1e-20))
    try:
        pitch = parselmouth.Sound(seg, sampling_frequency=float(SR)).to_pitch_ac(
            time_step=HOP_S, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING)
    except parselmouth.PraatError:
        return out
    f0 = np.asarray(pitch.selected_array["frequency"], dtype=np.float64)
    f0 = f0[f0 > 0]
    out["voiced_frames"] = float(f0.size)
    if f0.size >= 5:
        st = 12 * np.log2(f0 / 100.0)
        out["f0_median"] = float(np.median(st))
        p5, p95 = np.percentile(st, [5, 95])
        out["f0_range"] = float(p95 - p5)
    return out


def fvec(m: dict[str, float]) -> np.ndarray:
    return np.array([m[f] for f in FEATURES], dtype=np.float64)


# --------------------------------------------------------------------------- rendering


class Renderer:
    def __init__(self) -> None:
        from voicecast.settings import Settings
        from workers.engines import get_engine

        self.engine = get_engine(Settings().engine)
        self.voices = self.engine.bundled_voices()
        self.renders = 0
        self.render_s = 0.0

    def render(self, text: str, pack: np.ndarray) -> np.ndarray:
        from workers.engines.base import SynthesisRequest

        t0 = time.perf_counter()
        audio = self.engine.synthesize(SynthesisRequest(text=text, style=pack, speed=1.0)).audio
        self.render_s += time.perf_counter() - t0
        self.renders += 1
        return audio


def single_thread_eval_models() -> None:
    """Whisper as built by :mod:`voicecast.evaluation` uses every core; this
    process is to stay on one thread, so build it with one (same model, same
    decoding) and keep torch (Resemblyzer) on one thread."""
    from functools import lru_cache

    import torch

    torch.set_num_threads(1)

    @lru_cache(maxsize=1)
    def _whisper_one_thread() -> Any:
        from faster_whisper import WhisperModel

        return WhisperModel(evaluation.whisper_model_dir(), device="cpu", compute_type="int8",
                            cpu_threads=1)

    evaluation.whisper_model = _whisper_one_thread  # type: ignore[assignment]


# --------------------------------------------------------------------------- regression


def ridge_loo(X: np.ndarray, y: np.ndarray, lambdas: tuple[float, ...] = LAMBDAS
              ) -> tuple[np.ndarray, float, float]:
    """Ridge without intercept; the penalty minimizing exact leave-one-out error.

    Returns (coefficients, lambda, LOO R^2 with the total sum of squares about
    the mean of y)."""
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    uty = U.T @ y
    sst = float(np.sum((y - y.mean()) ** 2)) or 1e-12
    best = None
    for lam in lambdas:
        shrink = s**2 / (s**2 + lam)
        fitted = U @ (shrink * uty)
        h = np.sum(U**2 * shrink, axis=1)
        loo = (y - fitted) / np.maximum(1 - h, 1e-9)
        press = float(np.sum(loo**2))
        if best is None or press < best[0]:
            best = (press, lam)
    assert best is not None
    lam = best[1]
    beta = Vt.T @ (s / (s**2 + lam) * uty)
    return beta, lam, 1 - best[0] / sst


def ridge(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    return Vt.T @ (s / (s**2 + lam) * (U.T @ y))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    sst = float(np.sum((y - y.mean()) ** 2))
    return 1 - float(np.sum((y - pred) ** 2)) / sst if sst > 0 else math.nan


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / d) if d else math.nan


# --------------------------------------------------------------------------- phases


def derive(r: Renderer, voices: list[str], sentences: list[str], n: int, per_sample: int, scale: float,
           sigma: np.ndarray, rng: np.random.Generator, t_start: float) -> dict[str, Any]:
    """Render the antithetic perturbations; per sample: voice, x (128, sigma units),
    central difference, curvature part and one-sided deltas (mean over its sentences).

    Sample ``i`` of the ``vi``-th voice is rendered on ``per_sample`` sentences of
    the pool taken in rotation (starting at ``i * per_sample + vi``), so that every
    training sentence is used about equally by every voice."""
    rows: list[dict[str, Any]] = []
    base: dict[str, np.ndarray] = {}
    total = len(voices) * (len(sentences) + 2 * n * per_sample)
    for vi, v in enumerate(voices):
        pack = np.array(r.voices[v], dtype=np.float32)
        base[v] = np.array([fvec(measure(r.render(s, pack))) for s in sentences])
        for i in range(n):
            z = rng.standard_normal(HALF)
            x = scale * z
            d = (x * sigma).astype(np.float32)
            plus, minus = pack.copy(), pack.copy()
            plus[:, PROSODY] += d
            minus[:, PROSODY] -= d
            idx = [(i * per_sample + j + vi) % len(sentences) for j in range(per_sample)]
            fp = np.array([fvec(measure(r.render(sentences[j], plus))) for j in idx])
            fm = np.array([fvec(measure(r.render(sentences[j], minus))) for j in idx])
            f0 = base[v][idx]
            rows.append({
                "voice": v, "i": i, "sentences": idx, "x": x,
                "central": np.nanmean((fp - fm) / 2, axis=0),
                "curv": np.nanmean((fp + fm) / 2 - f0, axis=0),
                "plus": np.nanmean(fp - f0, axis=0),
                "minus": np.nanmean(fm - f0, axis=0),
                "per_sentence_central": (fp - fm) / 2,
            })
            if (i + 1) % 5 == 0 or i + 1 == n:
                log.info("derive %s %d/%d  renders %d/%d  %.0fs elapsed (%.2f s/render)", v, i + 1, n,
                         r.renders, total, time.perf_counter() - t_start,
                         r.render_s / max(1, r.renders))
    return {"rows": rows, "base": base}


def robust_z(a: np.ndarray) -> np.ndarray:
    """|a - median| / (1.4826 MAD)."""
    med = np.nanmedian(a)
    mad = 1.4826 * np.nanmedian(np.abs(a - med))
    return np.abs(a - med) / (mad if mad > 0 else 1.0)


def fit(rows: list[dict[str, Any]], voices: list[str], screen_z: float = 0.0) -> dict[str, Any]:
    X = np.array([row["x"] for row in rows])
    Y = np.array([row["central"] for row in rows])
    V = np.array([row["voice"] for row in rows])
    ok = np.all(np.isfinite(Y), axis=1)
    screened: dict[str, int] = {v: 0 for v in voices}
    if screen_z > 0:
        # Samples where the linearization broke: the even part of the response of
        # F0 median or F0 range (pitch-register breaks, octave jumps) is an outlier.
        curv = np.array([row["curv"] for row in rows])
        bad = np.zeros(len(rows), dtype=bool)
        for f in ("f0_median", "f0_range"):
            z = robust_z(curv[:, FEATURES.index(f)])
            bad |= ~np.isfinite(z) | (z > screen_z)
        for v in voices:
            screened[v] = int(np.sum(bad & ok & (V == v)))
        ok &= ~bad
    rows = [row for row, keep in zip(rows, ok, strict=True) if keep]
    X, Y, V = X[ok], Y[ok], V[ok]
    nf = len(FEATURES)
    J = np.zeros((nf, HALF))
    lam = np.zeros(nf)
    loo_r2 = np.zeros(nf)
    for k in range(nf):
        J[k], lam[k], loo_r2[k] = ridge_loo(X, Y[:, k])
    train_r2 = np.array([r2(Y[:, k], X @ J[k]) for k in range(nf)])
    # One-sided deltas predicted by the linear model (curvature left in).
    Xs = np.concatenate([X, -X])
    Ds = np.concatenate([np.array([row["plus"] for row in rows]),
                         np.array([row["minus"] for row in rows])])
    good = np.all(np.isfinite(Ds), axis=1)
    onesided_r2 = np.array([r2(Ds[good, k], Xs[good] @ J[k]) for k in range(nf)])
    per_voice: dict[str, Any] = {}
    for v in voices:
        m = V == v
        if m.sum() < 2 or (~m).sum() < 2:
            continue
        jo = np.array([ridge(X[~m], Y[~m, k], lam[k]) for k in range(nf)])
        jv = np.array([ridge(X[m], Y[m, k], lam[k]) for k in range(nf)])
        per_voice[v] = {
            "n": int(m.sum()),
            "transfer_r2": [r2(Y[m, k], X[m] @ jo[k]) for k in range(nf)],
            "pooled_fit_r2": [r2(Y[m, k], X[m] @ J[k]) for k in range(nf)],
            "grad_corr_vs_others": [corr(jv[k], jo[k]) for k in range(nf)],
            "grad": jv,
        }
    # Pairwise correlations of the single-voice gradients.
    pair = {}
    names = list(per_voice)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            pair[f"{names[a]}~{names[b]}"] = [corr(per_voice[names[a]]["grad"][k],
                                                   per_voice[names[b]]["grad"][k]) for k in range(nf)]
    curv = np.array([row["curv"] for row in rows])
    lin_rms = np.sqrt(np.nanmean(Y**2, axis=0))
    curv_rms = np.sqrt(np.nanmean(curv**2, axis=0))
    # Sentence consistency: correlation over samples of each sentence's central
    # difference with the mean of the other sentences.
    ps = np.array([row["per_sentence_central"] for row in rows])  # (n, K, F)
    sent_corr = []
    if ps.shape[1] > 1:
        for k in range(nf):
            cs = []
            for j in range(ps.shape[1]):
                others = np.nanmean(np.delete(ps[:, :, k], j, axis=1), axis=1)
                a, b = ps[:, j, k], others
                g = np.isfinite(a) & np.isfinite(b)
                cs.append(float(np.corrcoef(a[g], b[g])[0, 1]))
            sent_corr.append(float(np.mean(cs)))
    return {
        "J": J, "lambda": lam, "loo_r2": loo_r2, "train_r2": train_r2, "onesided_r2": onesided_r2,
        "per_voice": per_voice, "pairwise_grad_corr": pair, "n_samples": int(ok.sum()),
        "screened": screened, "screen_z": screen_z,
        "central_rms": lin_rms, "curvature_rms": curv_rms, "sentence_corr": sent_corr,
        "response_sd": Y.std(axis=0),
    }


def _direction(u: np.ndarray, sigma: np.ndarray, **figures: Any) -> dict[str, Any]:
    """A direction given in sigma units ``u`` (prosody half): the 256-dim style
    offset, its norms, and the figures that go with it."""
    vec = np.zeros(256, dtype=np.float64)
    vec[PROSODY] = u * sigma
    return {"vec": vec.astype(np.float32), "norm_sigma": float(np.linalg.norm(u)),
            "norm_raw": float(np.linalg.norm(vec)), **figures}


def directions(J: np.ndarray, sigma: np.ndarray) -> dict[str, Any]:
    """Least-norm (sigma units) directions for the controlled features."""
    idx = [FEATURES.index(f) for f in CONTROLLED]
    Jc = J[idx]  # 3 x 128, per sigma unit
    P = np.linalg.pinv(Jc)  # 128 x 3
    out = {}
    for k, key in enumerate(DIRECTION_KEYS):
        u = P[:, k] * UNITS[k]  # sigma units
        # all four features, per unit
        out[key] = _direction(u, sigma, predicted=(J @ u).tolist())
    G = Jc / np.linalg.norm(Jc, axis=1, keepdims=True)
    return {"dirs": out, "grad_cos": (G @ G.T).tolist(), "cond": float(np.linalg.cond(Jc))}


def calibrate(r: Renderer, voices: list[str], sentences: list[str], dirs: dict[str, np.ndarray],
              step: float, t_start: float) -> dict[str, Any]:
    """Secant step: the measured response of every feature to each direction.

    Each derivation voice renders each calibration sentence (training sentences)
    at ``pack +- step * direction``; the slope ``(f(+) - f(-)) / (2 step)`` of
    every feature is taken per (voice, sentence) and its median over them is the
    gain. Returns the gains (features x directions, feature units: st, st, log,
    dB) and the per-pair slopes."""
    slopes = {k: [] for k in dirs}
    for v in voices:
        pack = np.array(r.voices[v], dtype=np.float32)
        for s in sentences:
            for k, d in dirs.items():
                fp = fvec(measure(r.render(s, pack + np.float32(step) * d[None, :])))
                fm = fvec(measure(r.render(s, pack - np.float32(step) * d[None, :])))
                slopes[k].append({"voice": v, "sentence": s, "slope": ((fp - fm) / (2 * step)).tolist()})
        log.info("calibrate %s  renders %d  %.0fs elapsed", v, r.renders, time.perf_counter() - t_start)
    G = np.array([np.nanmedian(np.array([x["slope"] for x in slopes[k]]), axis=0) for k in dirs]).T
    return {"G": G, "slopes": slopes, "step": step}


def secant_directions(dd: dict[str, Any], G: np.ndarray, sigma: np.ndarray, J: np.ndarray
                      ) -> dict[str, Any]:
    """Directions corrected by the measured gains: with U the J^+ directions and
    Gc the measured 3 x 3 controlled block (in feature units per unit alpha),
    U Gc^-1 moves each controlled feature by one unit and the others by zero on
    the calibration renders. This equals J_B^+ for the Broyden (secant) update
    J_B = J + (F - J U)(U^T U)^-1 U^T of the controlled rows, because U spans
    the row space of J. Returns the new directions, their norms, and the
    predicted response of the uncontrolled rows from the measured gains."""
    idx = [FEATURES.index(f) for f in CONTROLLED]
    units = np.array(UNITS)
    Gc = G[idx] / units[:, None]  # controlled features in their units, per unit alpha
    Ginv = np.linalg.inv(Gc)
    U = np.stack([dd["dirs"][k]["vec"][PROSODY] / sigma for k in DIRECTION_KEYS], axis=1)  # sigma units
    out = {}
    for j, key in enumerate(DIRECTION_KEYS):
        u = U @ Ginv[:, j]
        # predicted: from the measured gains, all four features
        out[key] = _direction(u, sigma, mix=Ginv[:, j].tolist(), predicted=(G @ Ginv[:, j]).tolist(),
                              predicted_by_J=(J @ u).tolist())
    return {"dirs": out, "Gc": Gc.tolist(), "cond_Gc": float(np.linalg.cond(Gc))}


def validate(r: Renderer, voices: list[str], sentences: list[str], dirs: dict[str, np.ndarray],
             alphas: list[float], t_start: float) -> dict[str, Any]:
    from voicecast.evaluation import similarity, speaker_embedding, transcribe, word_errors

    def one(text: str, pack: np.ndarray) -> dict[str, Any]:
        audio = r.render(text, pack)
        m = measure(audio)
        hyp = transcribe(audio, SR)
        err, nw = word_errors(text, hyp)
        return {"f": fvec(m), "emb": speaker_embedding(audio, SR), "err": err, "words": nw,
                "hyp": hyp}

    base = {}
    for v in voices:
        pack = np.array(r.voices[v], dtype=np.float32)
        base[v] = [one(s, pack) for s in sentences]
    results = []
    total = len(dirs) * len(alphas)
    c = 0
    for key, d in dirs.items():
        for a in alphas:
            rows = []
            for v in voices:
                pack = np.array(r.voices[v], dtype=np.float32)
                pack = pack + np.float32(a) * d[None, :]
                for j, s in enumerate(sentences):
                    o = one(s, pack)
                    b = base[v][j]
                    rows.append({"voice": v, "sentence": j, "delta": (o["f"] - b["f"]).tolist(),
                                 "sim": similarity(o["emb"], b["emb"]), "err": o["err"],
                                 "words": o["words"], "hyp": o["hyp"]})
            results.append({"direction": key, "alpha": a, "rows": rows})
            c += 1
            log.info("validate %s alpha=%+g (%d/%d)  renders %d  %.0fs elapsed", key, a, c, total,
                     r.renders, time.perf_counter() - t_start)
    base_err = sum(b["err"] for v in voices for b in base[v])
    base_words = sum(b["words"] for v in voices for b in base[v])
    return {"base": {v: [{"f": b["f"].tolist(), "err": b["err"], "words": b["words"], "hyp": b["hyp"]}
                         for b in base[v]] for v in voices},
            "base_wer": base_err / base_words, "base_err": base_err, "base_words": base_words,
            "results": results}


def summarize_validation(val: dict[str, Any], voices: list[str], held_out: list[str],
                         alphas: list[float]) -> dict[str, Any]:
    table = []
    gains: dict[str, Any] = {}
    safe: dict[str, Any] = {}
    for res in val["results"]:
        rows = res["rows"]
        D = np.array([row["delta"] for row in rows], dtype=float)
        sims = np.array([row["sim"] for row in rows])
        err = sum(row["err"] for row in rows)
        words = sum(row["words"] for row in rows)
        per_voice_sim = {v: float(np.mean([row["sim"] for row in rows if row["voice"] == v]))
                         for v in voices}
        held = [row for row in rows if row["voice"] in held_out]
        table.append({
            "direction": res["direction"], "alpha": res["alpha"],
            "shift": np.nanmean(D, axis=0).tolist(),
            "shift_sd": np.nanstd(D, axis=0).tolist(),
            "shift_held_out": (np.nanmean(np.array([row["delta"] for row in held]), axis=0).tolist()
                               if held else None),
            "sim": float(sims.mean()), "sim_min_voice": min(per_voice_sim.values()),
            "per_voice_sim": per_voice_sim,
            "per_voice_shift": {v: np.nanmean(np.array([row["delta"] for row in rows if row["voice"] == v]),
                                              axis=0).tolist() for v in voices},
            "wer": err / words, "dwer": err / words - val["base_wer"],
        })
    for key in DIRECTION_KEYS:
        entries = [t for t in table if t["direction"] == key]
        if not entries:
            continue
        # Slope through zero of each feature's shift on alpha, over every render.
        res = [x for x in val["results"] if x["direction"] == key]
        A = np.concatenate([[x["alpha"]] * len(x["rows"]) for x in res])
        D = np.concatenate([np.array([row["delta"] for row in x["rows"]]) for x in res])
        slope = [float(np.nansum(A * D[:, k]) / np.sum(A[np.isfinite(D[:, k])] ** 2))
                 for k in range(len(FEATURES))]
        small = [x for x in res if abs(x["alpha"]) <= 1]
        if small:
            A1 = np.concatenate([[x["alpha"]] * len(x["rows"]) for x in small])
            D1 = np.concatenate([np.array([row["delta"] for row in x["rows"]]) for x in small])
            slope1 = [float(np.nansum(A1 * D1[:, k]) / np.sum(A1[np.isfinite(D1[:, k])] ** 2))
                      for k in range(len(FEATURES))]
        else:
            slope1 = None
        hres = [x for x in res]
        Ah = np.concatenate([[x["alpha"]] * sum(row["voice"] in held_out for row in x["rows"])
                             for x in hres])
        Dh = [row["delta"] for x in hres for row in x["rows"] if row["voice"] in held_out]
        slope_h = None
        if Dh:
            Dh = np.array(Dh)
            slope_h = [float(np.nansum(Ah * Dh[:, k]) / np.sum(Ah[np.isfinite(Dh[:, k])] ** 2))
                       for k in range(len(FEATURES))]
        gains[key] = {"slope_all_alpha": slope, "slope_abs_alpha_le_1": slope1,
                      "slope_held_out_voices": slope_h}
        s = {}
        for sign in (-1, 1):
            best = 0.0
            for a in sorted({abs(x["alpha"]) for x in entries if np.sign(x["alpha"]) == sign}):
                t = next(x for x in entries if x["alpha"] == sign * a)
                if t["sim"] >= SIM_MIN and t["dwer"] <= WER_MARGIN + 1e-12:
                    best = a
                else:
                    break
            s["neg" if sign < 0 else "pos"] = -best if sign < 0 else best
        safe[key] = [s["neg"], s["pos"]]
    return {"table": table, "gains": gains, "safe": safe}


# --------------------------------------------------------------------------- report


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False,
                               timeout=10).stdout.strip()
    except OSError:
        return ""


def _f(x: Any, fmt: str = "{:+.2f}") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return fmt.format(x)


def to_feature_units(vec4: list[float]) -> list[float]:
    """f0 st, range st, duration %, rms dB from a (f0, range, log_len, rms) delta."""
    return [vec4[0], vec4[1], 100 * (math.exp(vec4[2]) - 1), vec4[3]]


def report(doc: dict[str, Any]) -> str:
    a = doc["args"]
    fitd = doc["fit"]
    L: list[str] = []
    L.append("# Prosody directions in Kokoro's style space\n")
    L.append("Derived and validated by `bench/derive_style_directions.py` (method in its docstring): "
             "three directions in the prosody half (dims 128:256) of the Kokoro style vector that move "
             "median F0, F0 range (5-95 %) and speech duration one at a time, written to "
             "`workers/data/kokoro_prosody_directions.npz`.\n")
    L.append("## Run\n")
    L.append(f"```\n{doc['command']}\n```\n")
    dirty = " (working tree has uncommitted changes)" if doc["dirty"] else ""
    L.append(f"* git commit: `{doc['commit']}`{dirty}")
    L.append(f"* runtime: {doc['runtime_s']:.0f} s wall, {doc['cpu_s']:.0f} s CPU, one thread, one "
             f"process ({doc['renders']} renders, {doc['render_s_mean']:.2f} s wall per render on "
             f"average; the machine was shared, load average {doc['loadavg']})")
    L.append(f"* seed {a['seed']}; derivation voices {', '.join(a['voices'])}, N = {a['n_per_voice']} "
             f"antithetic perturbation pairs per voice ({fitd['n_samples']} samples, "
             f"{2 * a['n_per_voice'] * len(a['voices']) * a['per_sample']} perturbed renders), "
             f"K = {len(doc['train_sentences'])} training sentences, each perturbation rendered on "
             f"{a['per_sample']} of them in rotation, perturbation scale "
             f"{a['scale']} sigma per dim")
    L.append(f"* validation: all voices ({', '.join(doc['val_voices'])}; held out from the derivation: "
             f"{', '.join(doc['held_out_voices']) or 'none'}), "
             f"{len(doc['val_sentences'])} held-out sentences, "
             f"alpha in {{{', '.join(f'{x:+g}' for x in a['alphas'])}}}")
    L.append(f"* sigma (std of the 5 voices' mean prosody vectors): mean {doc['sigma_stats'][0]:.4f}, "
             f"min {doc['sigma_stats'][1]:.4f}, max {doc['sigma_stats'][2]:.4f}")
    L.append("* training sentences: " + "; ".join(f"\"{s}\"" for s in doc["train_sentences"]))
    L.append("* validation sentences: " + "; ".join(f"\"{s}\"" for s in doc["val_sentences"]) + "\n")
    L.append("Why these sizes: a render takes about 1.5-2 s of CPU on one thread (more wall time on a "
             "shared machine), and the run is to stay within 25 minutes. The perturbation is 128-dim, so "
             "the number of samples, not the number of sentences per sample, limits the fit: a "
             "least-norm direction can only use the span of the sampled perturbations, and a linear model "
             "gains more from distinct perturbations than from re-rendering one perturbation on more "
             "sentences. Hence one sentence per antithetic pair, the sentences rotated through a pool of "
             "K, and as many pairs as the budget allows on three voices (one male), leaving two voices "
             "and the validation sentences unseen. Scale 1 sigma: at 0.5 sigma the duration response "
             "of a pilot (jf_alpha) was about 1 % and smaller than its curvature; at 1 sigma (pilot, "
             "jm_kumo) it was about 2 % with the curvature well below the odd part.\n")

    L.append("## Fit (ridge on central differences, pooled over voices)\n")
    L.append("| feature | response sd | curvature rms | sentence consistency r | lambda | R² train | "
             "R² LOO | R² one-sided deltas |")
    L.append("|---|---|---|---|---|---|---|---|")
    for k, f in enumerate(FEATURES):
        sc = fitd["sentence_corr"][k] if fitd["sentence_corr"] else None
        L.append(f"| {f} | {fitd['response_sd'][k]:.3f} | {fitd['curvature_rms'][k]:.3f} | "
                 f"{_f(sc, '{:.2f}')} | {fitd['lambda'][k]:.3g} | {fitd['train_r2'][k]:.2f} | "
                 f"{fitd['loo_r2'][k]:.2f} | {fitd['onesided_r2'][k]:.2f} |")
    scr = fitd.get("screened") or {}
    if fitd.get("screen_z"):
        L.append(f"\nScreened out before the fit (even part of F0 median or F0 range response beyond "
                 f"robust z {fitd['screen_z']:g}): " + ", ".join(f"{v} {n}" for v, n in scr.items()) +
                 f"; {fitd['n_samples']} samples fitted.")
    L.append("\nResponse sd: sd over samples of the central difference (f(+d) - f(-d))/2 (st, st, log "
             "units, dB). Curvature rms: rms of (f(+d) + f(-d))/2 - f(0). Sentence consistency: mean "
             "correlation, over samples, of one sentence's central difference with the other sentences' "
             "mean. R² LOO: leave-one-sample-out. R² one-sided: the linear model predicting "
             "f(+-d) - f(0) per sample (curvature counts as error).\n")
    L.append("### Per voice\n")
    L.append("Transfer R²: the model fitted on the other derivation voices predicting this voice's "
             "samples. Gradient r: correlation of the gradient fitted on this voice alone with the one "
             "fitted on the others (same penalty).\n")
    L.append("| voice | n | " + " | ".join(f"{f} transfer R² | {f} gradient r" for f in FEATURES) + " |")
    L.append("|---|---|" + "---|---|" * len(FEATURES))
    for v, pv in fitd["per_voice"].items():
        cells = " | ".join(f"{pv['transfer_r2'][k]:.2f} | {pv['grad_corr_vs_others'][k]:.2f}"
                           for k in range(len(FEATURES)))
        L.append(f"| {v} | {pv['n']} | {cells} |")
    if fitd["pairwise_grad_corr"]:
        L.append("\nPairwise correlation of single-voice gradients:\n")
        L.append("| pair | " + " | ".join(FEATURES) + " |")
        L.append("|---|" + "---|" * len(FEATURES))
        for p, cs in fitd["pairwise_grad_corr"].items():
            L.append(f"| {p} | " + " | ".join(f"{c:.2f}" for c in cs) + " |")
    dd = doc["directions"]
    L.append("\n## Directions\n")
    cos = np.array(dd["grad_cos"])
    L.append(f"Cosines between the fitted gradients (sigma units): f0_median~f0_range {cos[0, 1]:+.2f}, "
             f"f0_median~log_len {cos[0, 2]:+.2f}, f0_range~log_len {cos[1, 2]:+.2f}; condition number of "
             f"J {dd['cond']:.2f}.\n")
    L.append("| direction | unit | norm (sigma units) | norm (raw) | predicted per unit: F0 med st | "
             "F0 range st | duration % | RMS dB |")
    L.append("|---|---|---|---|---|---|---|---|")
    for k, key in enumerate(DIRECTION_KEYS):
        d = dd["dirs"][key]
        p = to_feature_units(d["predicted"])
        L.append(f"| {key} | {UNIT_TEXT[k]} | {d['norm_sigma']:.2f} | {d['norm_raw']:.3f} | "
                 f"{p[0]:+.2f} | {p[1]:+.2f} | {p[2]:+.1f} | {p[3]:+.2f} |")
    cal = doc.get("calibration")
    if cal:
        L.append("\n### Secant step (shipped directions)\n")
        L.append(f"The J^+ directions above were rendered at alpha = ±{cal['step']:g} on the derivation "
                 "voices x "
                 f"{len(cal['sentences'])} training sentences; measured response per unit alpha (median over "
                 "voice x sentence of the antithetic slope; duration in units of +10 %):\n")
        L.append("| direction | F0 median st | F0 range st | duration | RMS dB |")
        L.append("|---|---|---|---|---|")
        G = np.array(cal["G"])
        for j, key in enumerate(DIRECTION_KEYS):
            L.append(f"| {key} (J^+) | {G[0, j]:+.2f} | {G[1, j]:+.2f} | {G[2, j] / UNITS[2]:+.2f} | "
                     f"{G[3, j]:+.2f} |")
        sec = cal["secant"]
        L.append(f"\nThe shipped directions are U Gc^-1 (U: the J^+ directions, Gc: the 3 x 3 controlled "
                 f"block above, condition number {sec['cond_Gc']:.2f}), i.e. J^+ after a Broyden secant "
                 "update "
                 "of J with these measurements:\n")
        L.append("| direction | mix of (f0_median, f0_range, duration) J^+ dirs | norm (sigma units) | "
                 "norm (raw) | predicted RMS dB per unit |")
        L.append("|---|---|---|---|---|")
        for key in DIRECTION_KEYS:
            d = sec["dirs"][key]
            L.append(f"| {key} | " + ", ".join(f"{x:+.2f}" for x in d["mix"]) +
                     f" | {d['norm_sigma']:.2f} | {d['norm_raw']:.3f} | {d['predicted'][3]:+.2f} |")
    val = doc["validation"]
    if not val:
        return "\n".join(L) + "\n"
    L.append("\n## Validation\n")
    L.append(f"Baseline (unperturbed renders of the validation sentences, all voices): WER "
             f"{100 * val['base_wer']:.1f} % ({val['base_err']}/{val['base_words']} words).\n")
    L.append("Shifts: mean over voices x sentences of the paired difference to the unperturbed render "
             "(duration as % change of speech length). Similarity: Resemblyzer cosine to the unperturbed "
             "render, mean (and the lowest voice mean). WER pooled; ΔWER in points vs baseline.\n")
    L.append("| direction | alpha | ΔF0 median st | ΔF0 range st | Δduration % | ΔRMS dB | "
             "similarity (min voice) | WER % | ΔWER pts |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for t in doc["summary"]["table"]:
        s = to_feature_units(t["shift"])
        ok = t["sim"] >= SIM_MIN and t["dwer"] <= WER_MARGIN + 1e-12
        L.append(f"| {t['direction']} | {t['alpha']:+g} | {s[0]:+.2f} | {s[1]:+.2f} | {s[2]:+.1f} | "
                 f"{s[3]:+.2f} | {t['sim']:.3f} ({t['sim_min_voice']:.3f}) | {100 * t['wer']:.1f} | "
                 f"{100 * t['dwer']:+.1f}{'' if ok else ' ✗'} |")
    L.append("\n✗: fails similarity >= 0.85 or WER <= baseline + 2 points.\n")
    L.append("### Achieved shift per unit of alpha (gain matrix)\n")
    L.append("Least-squares slope through zero of each feature's shift on alpha; the controlled "
             "feature's target is 1 (st, st, log(1.1) as +10 %), the others 0. Duration column in units "
             "of log(1.1) (1.00 = +10 % per unit).\n")
    L.append("| direction | alphas | F0 median | F0 range | duration | RMS dB |")
    L.append("|---|---|---|---|---|---|")
    for key in DIRECTION_KEYS:
        g = doc["summary"]["gains"].get(key)
        if not g:
            continue
        for name, sl in (("all", g["slope_all_alpha"]), ("±1 only", g["slope_abs_alpha_le_1"]),
                         ("all, held-out voices", g["slope_held_out_voices"])):
            if sl is None:
                continue
            L.append(f"| {key} | {name} | {sl[0]:+.2f} | {sl[1]:+.2f} | {sl[2] / UNITS[2]:+.2f} | "
                     f"{sl[3]:+.2f} |")
    L.append("\n### Per voice\n")
    L.append("Shift of the controlled feature (st, st, % duration) and similarity, per voice "
             "(mean over the validation sentences); held-out voices marked *.\n")
    vs = doc["val_voices"]
    L.append("| direction | alpha | " + " | ".join(v + ("*" if v in doc["held_out_voices"] else "")
                                              for v in vs) + " |")
    L.append("|---|---|" + "---|" * len(vs))
    for t in doc["summary"]["table"]:
        k = DIRECTION_KEYS.index(t["direction"])
        cells = []
        for v in vs:
            sh = t["per_voice_shift"][v][k]
            sh = 100 * (math.exp(sh) - 1) if k == 2 else sh
            cells.append(f"{sh:+.2f} / {t['per_voice_sim'][v]:.2f}")
        L.append(f"| {t['direction']} | {t['alpha']:+g} | " + " | ".join(cells) + " |")
    L.append("\n### Safe alpha range\n")
    L.append("Largest |alpha| of the grid, per sign, at which it and every smaller |alpha| keep mean "
             "similarity >= 0.85 and WER <= baseline + 2 points:\n")
    for key in DIRECTION_KEYS:
        s = doc["summary"]["safe"].get(key)
        if s:
            L.append(f"* {key}: [{-abs(s[0]):g}, {s[1]:+g}]" if s[0] else f"* {key}: [0, {s[1]:+g}]")
    if doc.get("notes"):
        L.append("\n## Notes\n")
        L.extend(f"* {n}" for n in doc["notes"])
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- main


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--voices", default=",".join(DEFAULT_TRAIN_VOICES),
                   help="derivation voices (comma-separated bundled names); validation uses all")
    p.add_argument("--n-per-voice", type=int, default=40, help="antithetic perturbation pairs per voice")
    p.add_argument("--sentences", type=int, default=6, help="K: the pool of training sentences (from "
                   "the start of EVAL_SENTENCES)")
    p.add_argument("--per-sample", type=int, default=1, help="training sentences each perturbation is "
                   "rendered on (taken from the pool in rotation)")
    p.add_argument("--val-sentences", type=int, default=2, help="held-out validation sentences (from "
                   "the end of EVAL_SENTENCES)")
    p.add_argument("--scale", type=float, default=1.0, help="perturbation sd in units of sigma")
    p.add_argument("--alphas", default="-3,-1,1,3", help="validation gains in feature units")
    p.add_argument("--screen-z", type=float, default=4.0, help="drop derivation samples whose even "
                   "(curvature) response of F0 median or F0 range is beyond this robust z (0: keep all)")
    p.add_argument("--calib-sentences", type=int, default=2, help="training sentences of the secant "
                   "step (0: ship the plain J^+ directions)")
    p.add_argument("--calib-step", type=float, default=2.0, help="alpha of the secant step's renders")
    p.add_argument("--seed", type=int, default=20240607)
    p.add_argument("--out", default=str(REPO / "workers/data/kokoro_prosody_directions.npz"))
    p.add_argument("--md-out", default=str(REPO / "bench/results/style_directions.md"))
    p.add_argument("--json-out", default=None, help="every per-render value (optional)")
    p.add_argument("--no-write", action="store_true", help="print the report, write neither output")
    p.add_argument("--note", action="append", default=[], help="a line for the report's notes")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("workers").setLevel(logging.WARNING)
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    for var in ("OMP_NUM_THREADS", "VOICECAST_ENGINE__THREADS"):
        if os.environ.get(var) != "1":
            log.warning("%s is not 1: this benchmark is meant to run on one thread", var)

    t_start = time.perf_counter()
    voices = [v for v in args.voices.split(",") if v]
    alphas = [float(x) for x in args.alphas.split(",")]
    sents = list(evaluation.EVAL_SENTENCES)
    if args.sentences + args.val_sentences > len(sents):
        p.error("training and validation sentences overlap")
    train = sents[: args.sentences]
    val_sents = sents[len(sents) - args.val_sentences:] if args.val_sentences else []
    rng = np.random.default_rng(args.seed)
    single_thread_eval_models()

    r = Renderer()
    all_voices = list(r.voices)
    unknown = set(voices) - set(all_voices)
    if unknown:
        p.error(f"unknown voices {sorted(unknown)}; bundled: {all_voices}")
    means = np.stack([r.voices[v].mean(axis=0) for v in all_voices]).astype(np.float64)
    sigma = means[:, PROSODY].std(axis=0)

    der = derive(r, voices, train, args.n_per_voice, args.per_sample, args.scale, sigma, rng, t_start)
    fitd = fit(der["rows"], voices, args.screen_z)
    dd = directions(fitd["J"], sigma)
    for key in DIRECTION_KEYS:
        log.info("%s: norm %.2f sigma, predicted %s", key, dd["dirs"][key]["norm_sigma"],
                 np.round(dd["dirs"][key]["predicted"], 3))
    log.info("LOO R2 %s", np.round(fitd["loo_r2"], 3))

    vecs = {k: dd["dirs"][k]["vec"] for k in DIRECTION_KEYS}
    cal = sec = None
    if args.calib_sentences > 0:
        cal = calibrate(r, voices, train[: args.calib_sentences], vecs, args.calib_step, t_start)
        log.info("measured gains (features x directions):\n%s", np.round(cal["G"], 3))
        sec = secant_directions(dd, cal["G"], sigma, fitd["J"])
        vecs = {k: sec["dirs"][k]["vec"] for k in DIRECTION_KEYS}
        for key in DIRECTION_KEYS:
            log.info("%s corrected: norm %.2f sigma, mix %s", key, sec["dirs"][key]["norm_sigma"],
                     np.round(sec["dirs"][key]["mix"], 3))
    t_derive = time.perf_counter() - t_start
    val = validate(r, all_voices, val_sents, vecs, alphas, t_start) if val_sents else None
    held_out = [v for v in all_voices if v not in voices]
    summ = summarize_validation(val, all_voices, held_out, alphas) if val else {
        "table": [], "gains": {}, "safe": {}}
    runtime = time.perf_counter() - t_start

    command = ("OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", "") +
               " VOICECAST_ENGINE__THREADS=" + os.environ.get("VOICECAST_ENGINE__THREADS", "") +
               " .venv/bin/python " + " ".join(shlex.quote(a) for a in
                                              [os.path.relpath(__file__, REPO), *sys.argv[1:]]))
    fit_pub = {k: v for k, v in fitd.items() if k != "per_voice"}
    fit_pub["per_voice"] = {v: {kk: vv for kk, vv in pv.items() if kk != "grad"}
                            for v, pv in fitd["per_voice"].items()}
    dirs_pub = {"grad_cos": dd["grad_cos"], "cond": dd["cond"],
                "dirs": {k: {kk: vv for kk, vv in d.items() if kk != "vec"} for k, d in dd["dirs"].items()}}
    doc = {
        "args": {**vars(args), "voices": voices, "alphas": alphas},
        "command": command,
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain")),
        "runtime_s": runtime, "derive_s": t_derive, "cpu_s": time.process_time(),
        "loadavg": " ".join(f"{x:.1f}" for x in os.getloadavg()), "renders": r.renders,
        "render_s_mean": r.render_s / max(1, r.renders),
        "train_sentences": train, "val_sentences": val_sents, "val_voices": all_voices,
        "held_out_voices": held_out,
        "sigma_stats": [float(sigma.mean()), float(sigma.min()), float(sigma.max())],
        "fit": fit_pub, "directions": dirs_pub, "validation": val, "summary": summ,
        "calibration": None if cal is None else {
            "G": cal["G"], "step": cal["step"], "sentences": train[: args.calib_sentences],
            "slopes": cal["slopes"],
            "secant": {"Gc": sec["Gc"], "cond_Gc": sec["cond_Gc"],
                       "dirs": {k: {kk: vv for kk, vv in d.items() if kk != "vec"}
                                for k, d in sec["dirs"].items()}}},
        "notes": args.note,
    }
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(_jsonable({**doc, "derive_rows": der["rows"],
                                                             "sigma": sigma}), indent=1))
    md = report(_jsonable(doc))
    print(md)
    log.info("runtime %.0f s (%d renders)", runtime, r.renders)
    if not args.no_write:
        meta = {
            "description": "Directions in the prosody half (128:256) of the Kokoro style vector; add "
                           "alpha * direction to every row of a style pack. Per unit of alpha: "
                           "f0_median +1 semitone, f0_range +1 semitone (5-95 %), duration +10 % "
                           "(log speech length +log 1.1), the other two held fixed (first order; J^+ "
                           "of a ridge fit, corrected by one measured secant step). "
                           "Derived by bench/derive_style_directions.py; see "
                           "bench/results/style_directions.md.",
            "N_per_voice": args.n_per_voice, "K": len(train), "per_sample": args.per_sample,
            "seed": args.seed, "scale_sigma": args.scale,
            "voices": voices, "held_out_voices": held_out, "command": command, "commit": doc["commit"],
            "units": dict(zip(DIRECTION_KEYS, UNIT_TEXT, strict=True)),
            "r2_loo": dict(zip(FEATURES, fitd["loo_r2"].tolist(), strict=True)),
            "r2_per_voice_transfer": {v: dict(zip(FEATURES, pv["transfer_r2"], strict=True))
                                      for v, pv in fitd["per_voice"].items()},
            "validated_gains": {k: dict(zip(FEATURES, [g["slope_all_alpha"][0], g["slope_all_alpha"][1],
                                                       g["slope_all_alpha"][2] / UNITS[2],
                                                       g["slope_all_alpha"][3]], strict=True))
                                for k, g in summ["gains"].items()},
            "validated_gains_note": "achieved shift per unit alpha (f0 st, range st, duration in units of "
                                    "+10 %, rms dB), slope over all validation alphas, voices, sentences",
            "safe_alpha": summ["safe"],
            "screen_z": args.screen_z, "samples_fitted": fitd["n_samples"],
            "secant_step": None if cal is None else {
                "alpha": args.calib_step, "sentences": train[: args.calib_sentences],
                "measured_gains_of_plain_pinv_dirs": cal["G"]},
            "safe_alpha_rule": f"mean Resemblyzer similarity >= {SIM_MIN} and WER <= baseline + "
                               f"{100 * WER_MARGIN:g} points on the alpha grid {alphas}",
        }
        np.savez(args.out, **{k: vecs[k].astype(np.float32) for k in DIRECTION_KEYS},
                 meta=np.array(json.dumps(_jsonable(meta))))
        Path(args.md_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md_out).write_text(md)
        log.info("wrote %s and %s", args.out, args.md_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
