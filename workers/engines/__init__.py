"""Engine registry: name -> "module:Class", imported and built on first use.

Adding an engine is one module plus one line in ``_REGISTRY``. Importing this
package loads no model and touches no GPU.
"""

from __future__ import annotations

import importlib
import threading

from voicecast.errors import VoicecastError
from voicecast.settings import EngineSettings
from workers.engines.base import Capabilities, Engine, SynthesisRequest, SynthesisResult

__all__ = [
    "Capabilities", "Engine", "SynthesisRequest", "SynthesisResult",
    "engine_sample_rate", "engine_version", "get_engine", "names",
]

_REGISTRY: dict[str, str] = {
    "kokoro": "workers.engines.kokoro:KokoroEngine",
}

_loaded: dict[str, Engine] = {}
_lock = threading.Lock()


def names() -> list[str]:
    return sorted(_REGISTRY)


def get_engine(name: str, settings: EngineSettings | None = None) -> Engine:
    """The process-wide instance of engine ``name``, built on first call."""
    with _lock:
        if name not in _loaded:
            if name not in _REGISTRY:
                raise VoicecastError(
                    f"unknown engine {name!r}; available: {', '.join(names())}",
                    field="engine.name",
                )
            module_name, cls_name = _REGISTRY[name].split(":")
            cls = getattr(importlib.import_module(module_name), cls_name)
            _loaded[name] = cls(settings or EngineSettings())
        return _loaded[name]


def engine_version(name: str) -> str:
    """The engine's version string (part of every content hash). Engines build
    cheaply and load weights on first synthesis, so this loads no model."""
    return get_engine(name).version


def engine_sample_rate(name: str) -> int:
    return get_engine(name).capabilities.sample_rate
