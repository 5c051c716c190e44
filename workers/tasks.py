"""Synthesis-side Celery tasks: thin adapters over pure functions.

Messages carry small specs (ids, keys, text, numbers), never audio. Importing
this module loads no model: engines load lazily on first use in each process.
"""

from __future__ import annotations

from typing import Any

from voicecast.celery_app import app, voicecast_task
from voicecast.errors import VoicecastError
from voicecast.settings import get_settings
from voicecast.storage import get_store, progress_writer, voice_progress_key

_q = get_settings().queue
#: Deliveries of one segment that may die with their worker before it is failed.
CRASH_LIMIT = 3


def _notify(task: str, *args: Any) -> None:
    """Tell the orchestrator side (``assemble`` queue), which owns the SQL store."""
    app.send_task(task, args=list(args), queue=_q.assemble_queue)


class _SynthTask(app.Task):  # type: ignore[name-defined,misc]
    def on_failure(self, exc, task_id, args, kwargs, einfo):  # type: ignore[no-untyped-def]
        # Called once the task has finally failed (not on retries).
        spec = args[0] if args else kwargs.get("spec", {})
        reason = str(exc) if isinstance(exc, VoicecastError) else f"{type(exc).__name__}: {exc}"
        _notify("voicecast.segment_failed", spec.get("job_id"), spec.get("idx"), reason)


@voicecast_task("voicecast.synth_segment", queue=_q.synth_queue, base=_SynthTask)
def synth_segment(self: Any, spec: dict[str, Any]) -> dict[str, Any]:
    from voicecast.queue import SegmentSpec
    from workers.synth import crash_guard, render_segment

    settings = get_settings()
    store = get_store(settings)
    with crash_guard(store, f"attempts/{spec['job_id']}/{spec['idx']}", CRASH_LIMIT):
        result = render_segment(SegmentSpec.from_dict(spec), store=store, settings=settings)
    _notify("voicecast.record_segment", result)
    return result


@voicecast_task("voicecast.enroll_reference", queue=_q.synth_queue, ignore_result=False)
def enroll_reference(self: Any, ref_key: str, voice_id: str, version: int) -> dict[str, Any]:
    """Answer goes back through the result backend: the CLI waits for it, reading
    progress from ``voice_progress_key`` meanwhile."""
    from workers.voices import enroll_reference as enroll

    settings = get_settings()
    store = get_store(settings)
    progress = progress_writer(store, voice_progress_key(voice_id, version))
    try:
        return enroll(ref_key, voice_id, version, store=store, settings=settings, progress=progress)
    except VoicecastError as e:  # a user error is an answer, not a crash
        return {"error": str(e)}


@voicecast_task("voicecast.engine_facts", queue=_q.synth_queue, ignore_result=False)
def engine_facts(self: Any) -> dict[str, Any]:
    """The engine's facts for the control role (which never builds an engine)."""
    from workers.facts import engine_facts as facts

    return facts(get_settings()).to_dict()


@voicecast_task("voicecast.builtin_voice", queue=_q.synth_queue, ignore_result=False)
def builtin_voice(self: Any, voice_id: str, name: str) -> dict[str, Any] | None:
    """Store one of the engine's own voices as a profile; None if it has none of that name."""
    from workers.facts import builtin_voice as store_builtin

    settings = get_settings()
    found = store_builtin(settings, get_store(settings), voice_id, name)
    return found.to_dict() if found else None
