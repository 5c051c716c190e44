"""Voice profiles on the built-in engine (first step: nearest bundled style).

A profile is found, not trained: the reference speaker's embedding (Resemblyzer
GE2E) is compared with the embeddings of the engine's bundled voices speaking
fixed probe sentences, and the closest style (or a mix of the two closest, when
rendering shows the mix is closer) becomes the profile's style pack. The
profile is an ``.npz`` in object storage holding ``style`` (the pack the engine
uses) and ``embedding``, plus JSON metadata, so a searched style vector can
replace the pack later without changing anything downstream.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voicecast.settings import Settings
from voicecast.storage import ObjectStore, voice_profile_key

from .audio import from_wav_bytes
from .engines import Engine, SynthesisRequest, get_engine

log = logging.getLogger(__name__)

PROBE_SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please call me back tomorrow morning, when you have a minute to talk.",
    "We measured the results twice, and the numbers still did not add up.",
)


#: ``progress(done, total, note)``: enrollment reports its steps through this.
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class VoiceProfile:
    """What rendering needs from a voice: the engine style pack, the reference
    speaker embedding, and the residual pitch/formant correction found at
    enrollment (1.0 = none)."""

    style: np.ndarray
    embedding: np.ndarray
    pitch_ratio: float = 1.0
    formant_ratio: float = 1.0

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, style=self.style.astype(np.float32), embedding=self.embedding.astype(np.float32),
                 pitch_ratio=np.float32(self.pitch_ratio), formant_ratio=np.float32(self.formant_ratio))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> VoiceProfile:
        with np.load(io.BytesIO(data)) as npz:
            return cls(
                style=np.asarray(npz["style"], dtype=np.float32),
                embedding=np.asarray(npz["embedding"], dtype=np.float32),
                pitch_ratio=float(npz["pitch_ratio"]) if "pitch_ratio" in npz.files else 1.0,
                formant_ratio=float(npz["formant_ratio"]) if "formant_ratio" in npz.files else 1.0,
            )


def speak(engine: Engine, profile: VoiceProfile, text: str, speed: float = 1.0, **request: Any) -> np.ndarray:
    """Render ``text`` in a voice profile (engine synthesis + the profile's correction)."""
    return engine.synthesize(SynthesisRequest(text=text, style=profile.style, speed=speed, **request)).audio


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


def enroll_reference(
    ref_key: str, voice_id: str, version: int, *, store: ObjectStore, settings: Settings,
    progress: Progress | None = None, method: str | None = None,
) -> dict[str, Any]:
    """Build (or find) the profile of a checked reference clip stored at ``ref_key``."""
    key = voice_profile_key(voice_id, version)
    meta_key = key[: -len(".npz")] + ".json"
    if store.exists(key) and store.exists(meta_key):
        return dict(json.loads(store.get_bytes(meta_key)), cached=True)

    t0 = time.perf_counter()
    engine = get_engine(settings.engine.name, settings.engine)
    ref_audio, ref_sr = from_wav_bytes(store.get_bytes(ref_key))
    target = _embed(ref_audio, ref_sr)
    bundled = bundled_embeddings(engine, store)
    ranking = sorted(((_cos(target, e), name) for name, e in bundled.items()), reverse=True)
    voices = engine.bundled_voices()
    (best_score, best), (_, second) = ranking[0], ranking[1]
    style, method, score = voices[best], f"nearest:{best}", best_score
    # A 50/50 mix of the two closest voices sometimes lands nearer the speaker
    # than either; keep it only if its rendered speech measures closer.
    mix = 0.5 * (voices[best] + voices[second])
    mix_score = _cos(target, style_embedding(engine, mix))
    if mix_score > best_score:
        style, method, score = mix, f"mix:{best}+{second}", mix_score

    store.put_bytes(key, VoiceProfile(style=style, embedding=target).to_bytes())
    meta = {
        "voice_id": voice_id,
        "version": version,
        "profile_key": key,
        "engine": engine.name,
        "engine_version": engine.version,
        "method": method,
        "similarity": round(score, 4),
        "ranking": [[name, round(s, 4)] for s, name in ranking],
        "enroll_s": round(time.perf_counter() - t0, 2),
    }
    store.put_bytes(meta_key, json.dumps(meta).encode(), content_type="application/json")
    log.info("voice %s v%d enrolled: %s (%.3f)", voice_id, version, method, score)
    return dict(meta, cached=False)


if __name__ == "__main__":  # regenerate the shipped bundled-voice embeddings
    from voicecast.settings import get_settings

    eng = get_engine(get_settings().engine.name)
    path = _shipped_path(eng)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(compute_bundled_embeddings(eng))
    print(f"wrote {path} for {eng.version}")
