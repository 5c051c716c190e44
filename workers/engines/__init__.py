"""Engine registry: name -> "module:Class", imported and built on first use.

Adding an engine is one module plus one line in ``_REGISTRY``. Importing this
package loads no model and touches no GPU.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections import OrderedDict

from voicecast.errors import VoicecastError
from voicecast.settings import EngineSettings
from workers.engines.base import Capabilities, Engine, SynthesisRequest, SynthesisResult

__all__ = [
    "Capabilities", "Engine", "SynthesisRequest", "SynthesisResult",
    "get_engine", "names",
]

_REGISTRY: dict[str, str] = {
    "kokoro": "workers.engines.kokoro:KokoroEngine",
    #: For benchmarks and dry runs: Kokoro's frontend and duration predictor, a tone.
    "null": "workers.engines.null:NullEngine",
    #: Any OpenAI-compatible speech server over HTTP (VOICECAST_ENGINE__REMOTE_*).
    "remote": "workers.engines.remote:RemoteEngine",
}

#: Built engines, keyed by their full settings (most recently used last). A
#: worker process uses one; the bound only stops a process that is handed many
#: settings (tests, benchmarks) from keeping every model it ever loaded.
_loaded: OrderedDict[str, Engine] = OrderedDict()
MAX_ENGINES = 2
_lock = threading.Lock()


def names() -> list[str]:
    return sorted(_REGISTRY)


def get_engine(settings: EngineSettings | None = None) -> Engine:
    """The process's instance of the engine ``settings`` describe (default
    settings when None), built on the first call with those exact settings:
    the same settings give the same instance, different ones another."""
    settings = settings or EngineSettings()
    key = settings.model_dump_json()
    if settings.remote_api_key is not None:
        # A secret dumps masked: its digest tells settings that differ only by their key apart.
        key += hashlib.sha256(settings.remote_api_key.get_secret_value().encode()).hexdigest()
    with _lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
        if settings.name not in _REGISTRY:
            raise VoicecastError(
                f"unknown engine {settings.name!r}; available: {', '.join(names())}",
                field="engine.name",
            )
        module_name, cls_name = _REGISTRY[settings.name].split(":")
        cls = getattr(importlib.import_module(module_name), cls_name)
        engine: Engine = cls(settings)
        _loaded[key] = engine
        while len(_loaded) > MAX_ENGINES:
            _loaded.popitem(last=False)
        return engine

