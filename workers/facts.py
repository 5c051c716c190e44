"""Engine facts and built-in voice profiles for the control role.

The control process never builds an engine: it asks for these through its
dispatch adapter, which runs them here in-process (embedded mode) or as a
small task on the ``synth`` queue (distributed mode).
"""

from __future__ import annotations

import hashlib

from voicecast.queue import BuiltinVoice, EngineFacts
from voicecast.settings import Settings
from voicecast.storage import ObjectStore, voice_profile_key
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
