"""Embedded mode's local worker processes: the same task bodies, no broker.

Each process gets the orchestrator's settings once (as JSON) and then runs
:func:`workers.synth.render_segment` / :func:`workers.voices.enroll_reference`
exactly as the Celery tasks do.
"""

from __future__ import annotations

import os
from typing import Any

from voicecast.queue import SegmentResult, SegmentSpec
from voicecast.settings import Settings
from voicecast.storage import get_store, progress_writer, voice_progress_key

_settings: Settings | None = None


def init(settings_json: str, processes: int) -> None:
    global _settings
    from voicecast.localfs import claim_process_tempdir

    claim_process_tempdir()  # its own temporary folder; those of processes that died are removed
    s = Settings.model_validate_json(settings_json)
    if s.engine.threads <= 0:
        # Share the cores between the processes instead of oversubscribing them.
        s.engine.threads = max(1, (os.cpu_count() or 1) // max(1, processes))
    _settings = s


def _ready() -> Settings:
    if _settings is None:
        raise RuntimeError("worker pool process was not initialised")
    return _settings


def warm() -> None:
    """Import the synthesis code, so that a process started while the job is
    being planned is ready sooner when the first segment arrives (the model
    itself loads on first use: loading it in every process up front cost more
    than it saved when only a few segments were left to render)."""
    from workers.synth import render_segment  # noqa: F401  (the import is the point)


def render(spec: dict[str, Any]) -> SegmentResult:
    """Render one segment; the result (a frozen dataclass) is pickled back to the pool's caller."""
    from workers.synth import render_segment

    s = _ready()
    return render_segment(SegmentSpec.from_dict(spec), store=get_store(s), settings=s)


def enroll(ref_key: str, voice_id: str, version: int) -> dict[str, Any]:
    """Enroll a voice; progress goes to ``voice_progress_key``; a user error is an answer."""
    from voicecast.errors import VoicecastError
    from workers.voices import enroll_reference

    s = _ready()
    store = get_store(s)
    progress = progress_writer(store, voice_progress_key(voice_id, version))
    try:
        return enroll_reference(ref_key, voice_id, version, store=store, settings=s, progress=progress)
    except VoicecastError as e:
        return {"error": str(e)}


def predict_lines(profile_key: str | None, builtin: str | None,
                  lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Predict lines' lengths and fit (:func:`workers.facts.predict_lines`)."""
    from voicecast.queue import LineSlot
    from workers.facts import predict_lines as predict

    s = _ready()
    found = predict(s, get_store(s), profile_key, builtin, [LineSlot.from_dict(d) for d in lines])
    return [p.to_dict() for p in found]


def transcribe(audio_key: str, name: str, language: str) -> dict[str, str]:
    """``--timeline asr`` (:func:`workers.facts.transcribe`); a user error is an answer."""
    from workers.facts import transcribe as run

    s = _ready()
    return run(get_store(s), audio_key, name, language)
