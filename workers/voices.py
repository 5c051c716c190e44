"""Voice profiles on the built-in engine: found by search, not trained.

Enrollment (``method="search"``, the default) turns a checked reference
recording into a :class:`VoiceProfile` in four steps, each scored by the
speaker encoder (Resemblyzer GE2E) against the reference's embedding, with the
clone speaking fixed probe sentences (never the reference's words):

1. **start**: score every bundled voice and the 50/50 mix of the two best;
   keep the best.
2. **search**: an evolution strategy over a 256-dim offset added to every row
   of the style pack. Each generation draws ``POPULATION`` Gaussian
   perturbations scaled per dimension by how much the bundled voices differ
   there; if the best beats the current point, the point moves to the better
   of that candidate and the mean of the better half (the step size grows),
   else the step shrinks. It stops at the time budget (after at least one
   generation, however slow the machine).
3. **check**: the searched style must also beat the start on held-back probe
   sentences the search never scored (overfitting guard), and stay
   intelligible (Whisper word error rate on those renders within
   ``MAX_WER_RISE`` of the start's); otherwise the offset is halved and
   checked again, down to the start itself.
4. **timbre**: a linear-phase equaliser matching the clone's long-term
   spectrum to the reference's (:mod:`workers.timbre`), applied to every
   render; candidates in steps 1-3 are scored with their own matching
   equaliser, so the search spends itself on what the equaliser cannot fix.

``method="nearest"`` is the baseline: the bundled voice whose (shipped)
embedding is closest, nothing else. The profile is an ``.npz`` in object
storage (style pack, reference embedding, equaliser taps) plus JSON metadata
with every score, so a job's segments name the exact profile version.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from voicecast.audio import from_wav_bytes
from voicecast.errors import UntrustedMessage, VoiceError
from voicecast.settings import Settings
from voicecast.storage import ObjectStore, UnsafeKey, expect_key, voice_profile_key
from workers.emotion import Measured, Prosody, measure, post_process, prosody_for, transfer
from workers.engines import Engine, SynthesisRequest, get_engine
from workers.timbre import apply_eq, match_eq

log = logging.getLogger(__name__)

PROBE_SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please call me back tomorrow morning, when you have a minute to talk.",
    "We measured the results twice, and the numbers still did not add up.",
)
#: What the search scores (two sentences per candidate) ...
SEARCH_SENTENCES = PROBE_SENTENCES[:2]
#: ... and what it never sees, used to accept or reject its result.
CHECK_SENTENCES = (
    "A cold wind swept across the harbour as the last boats came home.",
    "If you need anything at all, just knock on my door tonight.",
)
#: Candidates per generation, initial step (in units of the bundled voices'
#: per-dimension spread), and step growth/shrink factors.
POPULATION = 6
SIGMA0 = 0.5
GROW, SHRINK = 1.2, 0.7
#: The searched voice may not raise the word error rate on the check
#: sentences by more than this over the starting voice.
MAX_WER_RISE = 0.05


#: ``progress(done, total, note)``: enrollment reports its steps through this.
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class VoiceProfile:
    """What rendering needs from a voice: the engine style pack, the reference
    speaker embedding, and the residual pitch/formant correction found at
    enrollment (1.0 = none)."""

    style: np.ndarray
    embedding: np.ndarray
    #: Linear-phase FIR at the engine's rate (empty: none).
    eq: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, style=self.style.astype(np.float32), embedding=self.embedding.astype(np.float32),
                 eq=np.asarray(self.eq, dtype=np.float32))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> VoiceProfile:
        with np.load(io.BytesIO(data)) as npz:
            return cls(
                style=np.asarray(npz["style"], dtype=np.float32),
                embedding=np.asarray(npz["embedding"], dtype=np.float32),
                eq=np.asarray(npz["eq"], dtype=np.float32) if "eq" in npz.files else np.zeros(0, np.float32),
            )


#: The engine speed range a line may be asked for (emotion rate times fitting speed).
SPEED_LIMITS = (0.5, 2.0)


def line_prosody(engine: Engine, profile: VoiceProfile, text: str, emotion: str = "neutral",
                 intensity: float = 0.0, like: Measured | None = None, **request: Any) -> Prosody:
    """The prosody a line is rendered with: its emotion's at its intensity, or,
    for emotion by example (``like`` = the clip's measurements), what moves a
    neutral render of the line to the clip's values (:func:`workers.emotion.transfer`)."""
    if like is not None:
        neutral = speak(engine, profile, text, 1.0, **request)
        return transfer(like, measure(neutral, engine.capabilities.sample_rate), intensity)
    if emotion == "neutral" or intensity <= 0.0 or emotion in engine.capabilities.emotions:
        return Prosody()  # neutral, or an engine that renders the emotion itself
    return prosody_for(emotion, intensity)


def _request(engine: Engine, profile: VoiceProfile, text: str, speed: float, emotion: str,
             intensity: float, like: Measured | None, prosody: Prosody | None,
             request: dict[str, Any]) -> tuple[SynthesisRequest, Prosody]:
    """The engine request for a line (speed times the emotion's rate, styled
    voice, the emotion itself for an engine that renders it) and the prosody
    left for post-processing."""
    p = prosody if prosody is not None else line_prosody(
        engine, profile, text, emotion, intensity, like, **request)
    native = emotion in engine.capabilities.emotions and emotion != "neutral"
    extra: dict[str, Any] = {"emotion": emotion, "intensity": intensity} if native else {}
    rate = min(max(speed * p.rate, SPEED_LIMITS[0]), SPEED_LIMITS[1])
    style, p = styled(engine, profile.style, p)
    return SynthesisRequest(text=text, style=style, speed=rate, **extra, **request), p


def speak(engine: Engine, profile: VoiceProfile, text: str, speed: float = 1.0, *,
          emotion: str = "neutral", intensity: float = 0.0, like: Measured | None = None,
          prosody: Prosody | None = None, **request: Any) -> np.ndarray:
    """Render ``text`` in a voice profile: engine synthesis (at ``speed`` times
    the emotion's rate), the profile's equaliser, then the emotion's pitch,
    voicing and energy (:mod:`workers.emotion`). An engine that lists the
    emotion in its capabilities gets it in the request instead. ``prosody``
    (from :func:`line_prosody`) skips working it out again."""
    req, p = _request(engine, profile, text, speed, emotion, intensity, like, prosody, request)
    audio = apply_eq(engine.synthesize(req).audio, profile.eq)
    return audio if p.is_identity else post_process(audio, engine.capabilities.sample_rate, p)


def predict(engine: Engine, profile: VoiceProfile, text: str, speed: float = 1.0, *,
            emotion: str = "neutral", intensity: float = 0.0, like: Measured | None = None,
            prosody: Prosody | None = None, **request: Any) -> float | None:
    """Length in seconds of the audio :func:`speak` would return for the same
    arguments (same request: emotion rate, styled voice), from the engine's
    duration predictor, without rendering; ``None`` when the engine has none.
    The equaliser and the emotion's post-processing keep the length. Pass
    ``prosody`` (from :func:`line_prosody`) as to :func:`speak`: for emotion by
    example, working it out renders the line."""
    predict_duration = getattr(engine, "predict_duration", None)
    if predict_duration is None:
        return None
    req, _ = _request(engine, profile, text, speed, emotion, intensity, like, prosody, request)
    return float(predict_duration(req))


def styled(engine: Engine, style: np.ndarray, p: Prosody) -> tuple[np.ndarray, Prosody]:
    """``style`` moved along the engine's measured pitch-level and pitch-range
    directions by ``p.style_f0_st`` and ``p.style_range_st`` semitones. An
    engine without them gets the same changes by PSOLA instead (a range in
    semitones becomes a factor on a typical 10-semitone range). Returns the
    style and the prosody left for post-processing."""
    if not (p.style_f0_st or p.style_range_st):
        return style, p
    directions = getattr(engine, "prosody_directions", None)
    dirs = directions() if directions else {}
    if not {"f0_median", "f0_range"} <= set(dirs):
        return style, replace(p, f0_shift_st=p.f0_shift_st + p.style_f0_st,
                              f0_range=p.f0_range * (1.0 + p.style_range_st / 10.0),
                              style_f0_st=0.0, style_range_st=0.0)
    offset = p.style_f0_st * dirs["f0_median"] + p.style_range_st * dirs["f0_range"]
    return np.asarray(style, dtype=np.float32) + offset.astype(np.float32), p


def _embed(audio: np.ndarray, sr: int) -> np.ndarray:
    from voicecast.evaluation import speaker_embedding

    return np.asarray(speaker_embedding(audio, sr), dtype=np.float32)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def style_embedding(engine: Engine, style: np.ndarray) -> np.ndarray:
    """Speaker embedding of a style speaking the probe sentences."""
    sr = engine.capabilities.sample_rate
    audio = np.concatenate([
        engine.synthesize(SynthesisRequest(text=t, style=style)).audio for t in PROBE_SENTENCES
    ])
    return _embed(audio, sr)


def _shipped_path(engine: Engine) -> Path:
    return Path(__file__).parent / "data" / f"bundled-embeddings-{engine.name}.npz"


def _read_npz(data: bytes) -> tuple[str, dict[str, np.ndarray]]:
    with np.load(io.BytesIO(data)) as npz:
        version = str(npz["__version__"]) if "__version__" in npz.files else ""
        return version, {k: np.asarray(npz[k]) for k in npz.files if k != "__version__"}


def compute_bundled_embeddings(engine: Engine) -> bytes:
    embs = {name: style_embedding(engine, style) for name, style in engine.bundled_voices().items()}
    buf = io.BytesIO()
    np.savez(buf, __version__=np.array(engine.version), **embs)  # type: ignore[arg-type]
    return buf.getvalue()


def bundled_embeddings(engine: Engine, store: ObjectStore) -> dict[str, np.ndarray]:
    """Embeddings of every bundled voice speaking the probe sentences.

    They depend only on the engine version, so they ship with voicecast
    (``workers/data``, made by ``python -m workers.voices``); for any other
    engine version they are computed once and cached in object storage.
    """
    shipped = _shipped_path(engine)
    if shipped.is_file():
        version, embs = _read_npz(shipped.read_bytes())
        if version == engine.version:
            return embs
    key = f"engines/{engine.name}/{engine.version}/bundled-embeddings.npz"
    if not store.exists(key):
        store.put_bytes(key, compute_bundled_embeddings(engine))
    return _read_npz(store.get_bytes(key))[1]


class _Scorer:
    """Renders candidate styles and scores them against the reference speaker."""

    def __init__(self, engine: Engine, ref_audio: np.ndarray, ref_sr: int,
                 progress: Progress | None, total: int) -> None:
        self.engine, self.ref_audio, self.ref_sr = engine, ref_audio, ref_sr
        self.sr = engine.capabilities.sample_rate
        self.target = _embed(ref_audio, ref_sr)
        self.progress, self.total, self.calls = progress, total, 0

    def render(self, style: np.ndarray, sentences: tuple[str, ...]) -> list[np.ndarray]:
        return [self.engine.synthesize(SynthesisRequest(text=t, style=style)).audio for t in sentences]

    def score(self, style: np.ndarray, sentences: tuple[str, ...] = SEARCH_SENTENCES,
              note: str = "search") -> float:
        """Similarity to the reference of the style speaking ``sentences``,
        after that style's own matching equaliser."""
        audio = np.concatenate(self.render(style, sentences))
        audio = apply_eq(audio, match_eq(self.ref_audio, self.ref_sr, audio, self.sr))
        self.calls += 1
        if self.progress:
            self.progress(min(self.calls, self.total - 1), self.total, note)
        return _cos(self.target, _embed(audio, self.sr))


def _evolve(scorer: _Scorer, start: np.ndarray, start_score: float, spread: np.ndarray,
            deadline: float, rng: np.random.Generator,
            max_generations: int | None = None) -> tuple[np.ndarray, float, list[float]]:
    """The evolution strategy of step 2; returns (offset, its score, score per generation)."""
    offset, best, sigma = np.zeros_like(spread), start_score, SIGMA0
    history: list[float] = []
    # At least one generation, however slow the machine; then until the deadline.
    while (not history or time.perf_counter() < deadline) and len(history) != max_generations:
        steps = [rng.standard_normal(spread.shape).astype(np.float32) * spread * sigma
                 for _ in range(POPULATION)]
        scored = sorted(((scorer.score(start + offset + d), i) for i, d in enumerate(steps)), reverse=True)
        top_score, top = scored[0]
        if top_score > best:
            mean_step = np.mean([steps[i] for _, i in scored[: POPULATION // 2]], axis=0)
            mean_score = scorer.score(start + offset + mean_step)
            offset, best = (offset + mean_step, mean_score) if mean_score > top_score else (
                offset + steps[top], top_score)
            sigma *= GROW
        else:
            sigma *= SHRINK
        history.append(round(best, 4))
    return offset, best, history


def _check(scorer: _Scorer, style: np.ndarray) -> tuple[float, float]:
    """(similarity, word error rate) of ``style`` on the held-back check sentences."""
    from voicecast.evaluation import transcribe, word_errors

    audio = scorer.render(style, CHECK_SENTENCES)
    errors = words = 0
    for text, a in zip(CHECK_SENTENCES, audio, strict=True):
        e, n = word_errors(text, transcribe(a, scorer.sr))
        errors, words = errors + e, words + n
    joined = np.concatenate(audio)
    joined = apply_eq(joined, match_eq(scorer.ref_audio, scorer.ref_sr, joined, scorer.sr))
    return _cos(scorer.target, _embed(joined, scorer.sr)), errors / max(words, 1)


def search_profile(engine: Engine, ref_audio: np.ndarray, ref_sr: int, *, budget_s: float,
                   seed: int = 0, progress: Progress | None = None) -> tuple[VoiceProfile, dict[str, Any]]:
    """Steps 1-4 of the module docstring; returns the profile and its figures."""
    t0 = time.perf_counter()
    voices = engine.bundled_voices()
    # Progress counts scored candidates; the total is an estimate from the budget.
    scorer = _Scorer(engine, ref_audio, ref_sr, progress, total=len(voices) + 1 + int(budget_s / 2.5) + 2)
    ranking = sorted(((scorer.score(style, note="bundled voices"), name) for name, style in voices.items()),
                     reverse=True)
    (s1, n1), (_, n2) = ranking[0], ranking[1]
    start, start_score, start_name = voices[n1], s1, n1
    mix = 0.5 * (voices[n1] + voices[n2])
    mix_score = scorer.score(mix, note="bundled voices")
    if mix_score > start_score:
        start, start_score, start_name = mix, mix_score, f"mix:{n1}+{n2}"
    spread = np.stack([v.mean(axis=0) for v in voices.values()]).std(axis=0).astype(np.float32)
    deadline = t0 + budget_s
    rng = np.random.default_rng(seed)
    offset, found, history = _evolve(scorer, start, start_score, spread, deadline, rng)
    search_s = time.perf_counter() - t0

    if progress:
        progress(scorer.total - 1, scorer.total, "checking")
    base_sim, base_wer = _check(scorer, start)
    chosen, check_sim, check_wer, shrink = start, base_sim, base_wer, 0.0
    for frac in (1.0, 0.5):
        if not offset.any():
            break
        cand = start + frac * offset
        sim, wer = _check(scorer, cand)
        if sim > base_sim and wer <= base_wer + MAX_WER_RISE:
            chosen, check_sim, check_wer, shrink = cand, sim, wer, frac
            break
    probes = np.concatenate(scorer.render(chosen, PROBE_SENTENCES))
    eq = match_eq(ref_audio, ref_sr, probes, scorer.sr)
    meta = {
        "method": f"search:{start_name}" if shrink else start_name,
        "similarity": round(check_sim, 4),
        "start": start_name,
        "start_score": round(start_score, 4),
        "search_score": round(found, 4),
        "check": {"start": [round(base_sim, 4), round(base_wer, 4)],
                  "chosen": [round(check_sim, 4), round(check_wer, 4)], "offset_kept": shrink},
        "generations": history,
        "candidates": scorer.calls,
        "search_s": round(search_s, 1),
        "ranking": [[name, round(s, 4)] for s, name in ranking],
    }
    if progress:
        progress(scorer.total, scorer.total, "done")
    return VoiceProfile(style=chosen, embedding=scorer.target, eq=eq), meta


def nearest_profile(engine: Engine, ref_audio: np.ndarray, ref_sr: int,
                    store: ObjectStore) -> tuple[VoiceProfile, dict[str, Any]]:
    """The baseline: the bundled voice whose shipped embedding is closest."""
    target = _embed(ref_audio, ref_sr)
    ranking = sorted(((_cos(target, e), name) for name, e in bundled_embeddings(engine, store).items()),
                     reverse=True)
    score, name = ranking[0]
    meta = {"method": f"nearest:{name}", "similarity": round(score, 4),
            "ranking": [[n, round(s, 4)] for s, n in ranking]}
    return VoiceProfile(style=engine.bundled_voices()[name], embedding=target), meta


def builtin_voices(engine: Engine) -> list[str]:
    """Names of the engine's own voices, usable without enrollment."""
    packs = getattr(engine, "bundled_voices", None)
    return sorted(packs()) if packs else []


def builtin_profile(engine: Engine, name: str, store: ObjectStore) -> VoiceProfile | None:
    """The profile of one of the engine's own voices (its style pack as shipped,
    no equaliser), or None if the engine has no voice of that name. The
    speaker embedding serves enrollment only: an engine that clones nothing
    (a remote server's named voices) gets none, and renders nothing for it."""
    packs = engine.bundled_voices() if builtin_voices(engine) else {}
    if name not in packs:
        return None
    if engine.capabilities.cloning == "none":
        return VoiceProfile(style=packs[name], embedding=np.zeros(0, np.float32))
    return VoiceProfile(style=packs[name], embedding=bundled_embeddings(engine, store)[name])


def enroll_reference(
    ref_key: str, voice_id: str, version: int, *, store: ObjectStore, settings: Settings,
    progress: Progress | None = None, method: str | None = None,
) -> dict[str, Any]:
    """Build (or find) the profile of a checked reference clip stored at ``ref_key``
    (a ``refs/`` key: anything else, or an unsafe voice id or version, is refused
    with :class:`UntrustedMessage` before anything is read or stored)."""
    try:
        expect_key(ref_key, "reference")
        key = voice_profile_key(voice_id, version)
    except UnsafeKey as e:
        raise UntrustedMessage(f"enrollment refused: {e}") from None
    meta_key = key[: -len(".npz")] + ".json"
    if store.exists(key) and store.exists(meta_key):
        return dict(json.loads(store.get_bytes(meta_key)), cached=True)

    method = method or settings.enroll.method
    if method not in ("search", "nearest"):
        raise ValueError(f"unknown enrollment method {method!r} (search, nearest)")
    t0 = time.perf_counter()
    engine = get_engine(settings.engine)
    if engine.capabilities.cloning == "none":
        raise VoiceError(f"the {engine.name} engine cannot make a voice from a recording; use one of "
                         f"its voices: {', '.join(builtin_voices(engine)) or 'none'}", field="voice")
    ref_audio, ref_sr = from_wav_bytes(store.get_bytes(ref_key))
    if method == "search":
        seed = int(hashlib.sha256(ref_key.encode()).hexdigest()[:8], 16)  # reproducible per clip
        profile, found = search_profile(engine, ref_audio, ref_sr, budget_s=settings.enroll.budget_s,
                                        seed=seed, progress=progress)
    else:
        profile, found = nearest_profile(engine, ref_audio, ref_sr, store)
    store.put_bytes(key, profile.to_bytes())
    meta = {
        "voice_id": voice_id,
        "version": version,
        "profile_key": key,
        "engine": engine.name,
        "engine_version": engine.version,
        **found,
        "enroll_s": round(time.perf_counter() - t0, 2),
    }
    store.put_bytes(meta_key, json.dumps(meta).encode(), content_type="application/json")
    log.info("voice %s v%d enrolled: %s (%.3f) in %.1fs", voice_id, version, meta["method"],
             meta["similarity"], meta["enroll_s"])
    return dict(meta, cached=False)


if __name__ == "__main__":  # regenerate the shipped bundled-voice embeddings
    from voicecast.settings import get_settings

    eng = get_engine(get_settings().engine)
    path = _shipped_path(eng)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(compute_bundled_embeddings(eng))
    print(f"wrote {path} for {eng.version}")
