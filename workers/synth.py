"""Render one segment: voice style -> engine -> fit to slot -> object storage.

This is the body of the ``synth`` task, and what the embedded pool runs. It is
idempotent: the result lives under keys derived from the segment's content
hash, and a segment whose result object exists is a storage hit, not re-rendered.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from voicecast.audio import from_wav_bytes, to_wav_bytes, trim_silence
from voicecast.emotions import LIKE
from voicecast.errors import SynthesisError
from voicecast.level import level_segment
from voicecast.queue import SegmentResult, SegmentSpec, stored_result
from voicecast.settings import Settings
from voicecast.storage import ObjectStore, emotion_clip_key, segment_audio_key, segment_result_key
from workers.emotion import Measured, describe, measure
from workers.engines import get_engine
from workers.fitting import FitPolicy, FitResult, fit_to_slot
from workers.voices import VoiceProfile, line_prosody, predict, speak

log = logging.getLogger(__name__)


class CrashLoop(SynthesisError):
    """A segment whose rendering keeps killing its worker process (a line the
    user wrote can cause it: one that exhausts memory), so it fails the job."""


@contextmanager
def crash_guard(store: ObjectStore, key: str, limit: int) -> Iterator[None]:
    """Count starts that never finished (the process died inside) and refuse
    the ``limit``-th such start, so a segment that crashes its worker (out of
    memory, a segfault in a native library) fails the job with a reason instead
    of being re-queued forever. Any normal end, success or error, resets it.
    """
    crashed = int(store.get_bytes(key)) if store.exists(key) else 0
    if crashed >= limit:
        store.delete(key)
        raise CrashLoop(f"rendering this segment killed its worker {crashed} times")
    store.put_bytes(key, str(crashed + 1).encode())
    try:
        yield
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


def render_segment(spec: SegmentSpec, *, store: ObjectStore, settings: Settings) -> SegmentResult:
    """Render (or find) the audio of one segment; return its result, answering
    segment ``spec.idx`` of ``spec.job_id``."""
    found = stored_result(store, spec.content_hash)
    if found is not None:
        return found.for_segment(spec.job_id, spec.idx, hit=True)
    audio_key = segment_audio_key(spec.content_hash)
    result_key = segment_result_key(spec.content_hash)

    engine = get_engine(settings.engine)
    profile = load_profile(store, spec.voice_key)
    sr = engine.capabilities.sample_rate
    t0 = time.perf_counter()

    emotion, like = spec.emotion, None
    if emotion.startswith(f"{LIKE}:"):
        like = load_like(store, emotion.split(":", 1)[1], sr)
        emotion = LIKE
    prosody = line_prosody(engine, profile, spec.text, emotion, spec.intensity, like)

    def synth(speed: float) -> np.ndarray:
        return speak(engine, profile, spec.text, speed, emotion=emotion, intensity=spec.intensity,
                     prosody=prosody)

    policy = FitPolicy.from_settings(settings.fit)
    if spec.slot_s > 0:
        fit = fit_to_slot(
            synth, sr, spec.slot_s, spec.max_s, policy,
            # The engine's duration predictor on the same request as `synth` (None: it has none).
            predict=lambda speed: predict(engine, profile, spec.text, speed, emotion=emotion,
                                          intensity=spec.intensity, prosody=prosody),
            edge_s=getattr(engine, "edge_silence_s", 0.0) / prosody.rate,  # at the engine speed
        )
    else:  # a script line: natural length, no slot
        fit = natural_take(synth, sr, policy)
    audio = fit.audio
    if spec.level_rms_db is not None:
        audio = level_segment(audio, sr, spec.level_rms_db,
                              spec.level_peak_db if spec.level_peak_db is not None else -1.0)
    synth_s = time.perf_counter() - t0
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
