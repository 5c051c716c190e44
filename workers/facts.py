"""Engine facts and built-in voice profiles for the control role.

The control process never builds an engine: it asks for these through its
dispatch adapter, which runs them here in-process (embedded mode) or as a
small task on the ``synth`` queue (distributed mode).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from voicecast.errors import VoicecastError
from voicecast.queue import BuiltinVoice, EngineFacts, ReferenceInfo
from voicecast.settings import Settings
from voicecast.storage import ObjectStore, reference_key, voice_profile_key
from workers.engines import get_engine
from workers.voices import builtin_profile, builtin_voices


def engine_facts(settings: Settings) -> EngineFacts:
    """The configured engine's facts (builds the engine object, loads no model)."""
    engine = get_engine(settings.engine)
    symbols = getattr(engine, "phoneme_symbols", None)
    return EngineFacts(
        name=engine.name, version=engine.version, sample_rate=engine.capabilities.sample_rate,
        voices=tuple(builtin_voices(engine)),
        phoneme_symbols=frozenset(symbols()) if callable(symbols) else frozenset(),
    )


def builtin_voice(settings: Settings, store: ObjectStore, voice_id: str, name: str) -> BuiltinVoice | None:
    """Store the profile of the engine's own voice ``name`` under ``voice_id``
    (version 1) unless it is there; None when the engine has no such voice."""
    engine = get_engine(settings.engine)
    profile = builtin_profile(engine, name, store)
    if profile is None:
        return None
    key = voice_profile_key(voice_id, 1)
    data = profile.to_bytes()
    if not store.exists(key):
        store.put_bytes(key, data)
    return BuiltinVoice(name=name, profile_key=key, sha256=hashlib.sha256(data).hexdigest())


def check_reference(store: ObjectStore, paths: list[Path]) -> ReferenceInfo:
    """Decode and check reference clips (:func:`workers.reference.load_references`:
    any problem raises a ``ReferenceAudioError`` naming the clip) and store the
    checked 16 kHz reference under its content key."""
    from voicecast.audio import to_wav_bytes
    from workers.reference import load_references

    ref = load_references(paths)
    key = reference_key(ref.sha256)
    if not store.exists(key):
        store.put_bytes(key, to_wav_bytes(ref.audio, ref.sample_rate), content_type="audio/wav")
    return ReferenceInfo(sha256=ref.sha256, key=key, speech_s=ref.speech_s, duration_s=ref.duration_s,
                         peak_db=ref.peak_db, rms_db=ref.rms_db,
                         clips=tuple(c.as_dict() for c in ref.clips))


def check_uploaded_reference(store: ObjectStore, uploads: list[tuple[str, str]]) -> ReferenceInfo:
    """:func:`check_reference` on clips the control role uploaded: ``uploads`` is
    ``[(object key, file name), ...]``; each clip is checked under its own file
    name, so an error names the file the user gave."""
    with tempfile.TemporaryDirectory(prefix="voicecast-ref-") as tmp:
        paths, names = [], {}
        for n, (key, name) in enumerate(uploads):
            path = Path(tmp) / str(n) / Path(name).name
            path.parent.mkdir()
            store.get_file(key, path)
            paths.append(path)
            names[str(path)] = name
        try:
            return check_reference(store, paths)
        except VoicecastError as e:  # name the user's file, not this worker's copy
            raise type(e)(e.message, file=names.get(e.file or "", e.file), line=e.line,
                          field=e.field) from None
