"""Render one segment: voice style -> engine -> fit to slot -> object storage.

This is the body of the ``synth`` task, and what the embedded pool runs. It is
idempotent: the result lives under keys derived from the segment's content
hash, and a segment whose result object exists is a storage hit, not re-rendered.

It trusts no message (:func:`verify_spec`): anyone who can reach the broker
can send one, and the audio stored under a content hash is reused by every
later job with that hash. So the worker recomputes the hash from the spec
(with its own engine and fit settings), checks every key the spec names, and
refuses a mismatch before it reads or writes anything.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from voicecast.audio import from_wav_bytes, to_wav_bytes, trim_silence
from voicecast.emotions import LIKE
from voicecast.errors import SynthesisError, UntrustedMessage
from voicecast.level import level_segment
from voicecast.queue import SegmentResult, SegmentSpec, stored_result
from voicecast.settings import Settings
from voicecast.storage import (
    ObjectStore,
    UnsafeKey,
    check_clip_id,
    check_hash,
    check_id,
    emotion_clip_key,
    segment_audio_key,
    segment_result_key,
    voice_profile_key,
)
from workers.emotion import Measured, describe, measure
from workers.engines import Engine, get_engine
from workers.fitting import FitPolicy, FitResult, fit_to_slot
from workers.voices import VoiceProfile, line_prosody, predict, speak

log = logging.getLogger(__name__)


class CrashLoop(SynthesisError):
    """A segment whose rendering keeps killing its worker process (a line the
    user wrote can cause it: one that exhausts memory), so it fails the job."""


@contextmanager
def crash_guard(store: ObjectStore, key: str, limit: int) -> Iterator[int]:
    """Count starts that never finished (the process died inside) and refuse
    the ``limit``-th such start, so a segment that crashes its worker (out of
    memory, a segfault in a native library) fails the job with a reason instead
    of being re-queued forever. Any normal end, success or error, resets it.
    Yields how many earlier starts died.
    """
    crashed = int(store.get_bytes(key)) if store.exists(key) else 0
    if crashed >= limit:
        store.delete(key)
        raise CrashLoop(f"rendering this segment killed its worker {crashed} times")
    store.put_bytes(key, str(crashed + 1).encode())
    try:
        yield crashed
    finally:
        store.delete(key)


_profiles: OrderedDict[str, VoiceProfile] = OrderedDict()
_likes: OrderedDict[str, Measured] = OrderedDict()


def load_like(store: ObjectStore, clip_id: str, sr: int) -> Measured:
    """The measurements of a ``[like:CLIP]`` clip, cached per process."""
    if clip_id not in _likes:
        audio, clip_sr = from_wav_bytes(store.get_bytes(emotion_clip_key(clip_id)))
        _likes[clip_id] = measure(audio, clip_sr)
        while len(_likes) > 64:
            _likes.popitem(last=False)
    return _likes[clip_id]


def load_profile(store: ObjectStore, key: str) -> VoiceProfile:
    """A voice profile, cached per process (a job reuses one voice; keys are versioned)."""
    if key in _profiles:
        _profiles.move_to_end(key)
        return _profiles[key]
    profile = VoiceProfile.from_bytes(store.get_bytes(key))
    _profiles[key] = profile
    while len(_profiles) > 16:
        _profiles.popitem(last=False)
    return profile


def natural_take(synth: Callable[[float], np.ndarray], sr: int, policy: FitPolicy) -> FitResult:
    """A line with no slot (a script line): one take at natural speed, leading
    and trailing silence trimmed as in fitting; the report has rate 1, no stretch."""
    raw = np.asarray(synth(1.0), dtype=np.float32)
    speech, _ = trim_silence(raw, sr, policy.trim_db)
    if speech.size == 0:
        raise SynthesisError("engine produced no audible speech")
    n = speech.size / sr
    return FitResult(
        audio=speech, sample_rate=sr, natural_s=n, slot_s=0.0, target_s=n, rate=1.0, engine_rate=1.0,
        stretch=1.0, borrowed_s=0.0, overflow=False, overflow_s=0.0, engine_calls=1, final_s=n,
        error_s=0.0, takes=[(1.0, n)],
    )


def _refuse(spec: SegmentSpec, why: str) -> UntrustedMessage:
    log.warning("refused segment message (job %.40r, segment %.20r): %s", spec.job_id, spec.idx, why)
    return UntrustedMessage(f"segment message refused: {why}; nothing was stored")


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def verify_spec(spec: SegmentSpec, engine: Engine, settings: Settings) -> None:
    """Refuse (:class:`UntrustedMessage`) a spec whose content hash is not the
    hash of what it describes, or that names a key it could not have been
    given by the control role.

    The hash is recomputed (:meth:`SegmentSpec.derive_hash`) from the spec's
    text, voice, emotion, intensity and lengths with this worker's own engine
    name and version and fit settings, so audio is stored only under the hash
    of what this worker renders. The voice profile key must be the key of the
    spec's voice id and version, a ``[like:]`` clip id a hex content id, the
    ids safe names; the lengths the fit uses must agree with the hashed ones.
    A job planned with other fit settings (``VOICECAST_FIT__*``) or another
    engine version than the worker's is refused the same way: its audio would
    not be what its hash says.
    """
    types = {"job_id": str, "text": str, "voice_key": str, "content_hash": str, "emotion": str,
             "voice_id": str, "engine": str, "engine_version": str}
    for name, kind in types.items():
        if not isinstance(getattr(spec, name), kind):
            raise _refuse(spec, f"{name} is not a {kind.__name__}")
    for name in ("idx", "voice_version", "slot_ms", "borrow_ms"):
        v = getattr(spec, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise _refuse(spec, f"{name} is not a whole number >= 0")
    for name in ("slot_s", "max_s", "intensity", "level_rms_db", "level_peak_db"):
        v = getattr(spec, name)
        if not (_is_number(v) or (v is None and name.startswith("level_"))):
            raise _refuse(spec, f"{name} is not a finite number")
    if spec.slot_s < 0 or spec.max_s < spec.slot_s:
        raise _refuse(spec, f"impossible slot ({spec.slot_s} s, up to {spec.max_s} s)")
    # The fit's seconds and the hash's milliseconds come from the same planned
    # times: they differ by rounding only.
    if abs(spec.slot_s * 1000 - spec.slot_ms) > 0.51 or abs(spec.max_s * 1000 - spec.borrow_ms) > 0.51:
        raise _refuse(spec, "its slot lengths in seconds and in milliseconds disagree")
    try:
        check_id(spec.job_id, "job id")
        check_hash(spec.content_hash)
        if spec.voice_key != voice_profile_key(spec.voice_id, spec.voice_version):
            raise UnsafeKey(f"voice key {spec.voice_key[:120]!r} is not the profile of voice "
                            f"{spec.voice_id!r} version {spec.voice_version}")
        if spec.emotion.startswith(f"{LIKE}:"):
            check_clip_id(spec.emotion.split(":", 1)[1])
    except UnsafeKey as e:
        raise _refuse(spec, str(e)) from None
    # An empty engine: a job planned before specs named one (the hash, computed
    # with this worker's engine, still decides).
    if (spec.engine or spec.engine_version) and (spec.engine, spec.engine_version) != (
            engine.name, engine.version):
        raise _refuse(spec, f"it was planned for engine {spec.engine!r} {spec.engine_version!r}; this "
                            f"worker runs {engine.name!r} {engine.version!r} (render the job again)")
    derived = spec.derive_hash(settings.fit.model_dump(), engine.name, engine.version)
    if derived != spec.content_hash:
        raise _refuse(spec, "its content hash is not the hash of the segment it describes (a forged "
                            "message, or a job planned with other fit settings than this worker's, "
                            "VOICECAST_FIT__* must be the same for every role, or before its voice "
                            "was enrolled again: render the job again)")


def render_segment(spec: SegmentSpec, *, store: ObjectStore, settings: Settings,
                   first_try: bool = True) -> SegmentResult:
    """Render (or find) the audio of one segment; return its result, answering
    segment ``spec.idx`` of ``spec.job_id``. A spec that does not hold up
    (:func:`verify_spec`) is refused before anything is read or stored.

    Storage is looked in first, unless the control role has just done so for
    this spec (``spec.unstored``) and this is the spec's ``first_try``: the
    orchestrator checks a whole job's keys in one batch when it dispatches, so
    a worker does not repeat two round trips per segment."""
    wall0 = time.perf_counter()
    engine = get_engine(settings.engine)
    verify_spec(spec, engine, settings)
    if not (spec.unstored and first_try):
        found = stored_result(store, spec.content_hash)
        if found is not None:
            return found.for_segment(spec.job_id, spec.idx, hit=True)
    audio_key = segment_audio_key(spec.content_hash)
    result_key = segment_result_key(spec.content_hash)

    profile = load_profile(store, spec.voice_key)
    sr = engine.capabilities.sample_rate
    t0 = time.perf_counter()

    emotion, like = spec.emotion, None
    if emotion.startswith(f"{LIKE}:"):
        like = load_like(store, emotion.split(":", 1)[1], sr)
        emotion = LIKE
    # Passed on only when not English, so English requests stay exactly as they were.
    language: dict[str, Any] = {"language": spec.language} if spec.language != "en" else {}
    prosody = line_prosody(engine, profile, spec.text, emotion, spec.intensity, like, **language)

    def synth(speed: float) -> np.ndarray:
        return speak(engine, profile, spec.text, speed, emotion=emotion, intensity=spec.intensity,
                     prosody=prosody, **language)

    policy = FitPolicy.from_settings(settings.fit)
    if spec.slot_s > 0:
        fit = fit_to_slot(
            synth, sr, spec.slot_s, spec.max_s, policy,
            # The engine's duration predictor on the same request as `synth` (None: it has none).
            predict=lambda speed: predict(engine, profile, spec.text, speed, emotion=emotion,
                                          intensity=spec.intensity, prosody=prosody, **language),
            edge_s=getattr(engine, "edge_silence_s", 0.0) / prosody.rate,  # at the engine speed
        )
    else:  # a script line: natural length, no slot
        fit = natural_take(synth, sr, policy)
    audio = fit.audio
    synth_s = time.perf_counter() - t0  # the engine and the fit; levelling is in wall_s
    if spec.level_rms_db is not None:
        audio = level_segment(audio, sr, spec.level_rms_db,
                              spec.level_peak_db if spec.level_peak_db is not None else -1.0)
    record: dict[str, object] = {
        "content_hash": spec.content_hash,
        "audio_key": audio_key,
        "sample_rate": sr,
        "samples": int(len(audio)),
        "engine": engine.name,
        "engine_version": engine.version,
        **fit.report(),
        "prosody": describe(prosody),
        "synth_s": round(synth_s, 3),
        # Everything but storing the two objects below (a few milliseconds).
        "wall_s": round(time.perf_counter() - wall0, 3),
    }
    # Parsed before anything is stored, so a record that does not fit the
    # contract fails here instead of poisoning the cache for every later job.
    result = SegmentResult.from_dict(record)
    # Audio first, then the record: the record's presence marks the segment done.
    # The stored record holds only properties of the content hash (no job, index
    # or hit flag): the same JSON shape as ever, so older stored results still load.
    store.put_bytes(audio_key, to_wav_bytes(audio, sr), content_type="audio/wav")
    store.put_bytes(result_key, json.dumps(record).encode(), content_type="application/json")
    log.info("segment %s/%d rendered in %.2fs", spec.job_id, spec.idx, synth_s)
    return result.for_segment(spec.job_id, spec.idx, hit=False)
