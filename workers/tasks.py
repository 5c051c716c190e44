"""Synthesis-side Celery tasks: thin adapters over pure functions.

Messages carry small specs (ids, keys, text, numbers), never audio. Importing
this module loads no model: engines load lazily on first use in each process.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init

from voicecast.celery_app import PUBLISH_RETRY_POLICY, VoicecastTask, app, send_within_budget, voicecast_task
from voicecast.errors import TransientError, VoicecastError
from voicecast.settings import Settings, get_settings
from voicecast.storage import attempts_key, get_store, progress_writer, voice_progress_key

_s = get_settings()
_q = _s.queue
_limits = _s.limits
#: Deliveries of one segment that may die with their worker before it is failed.
CRASH_LIMIT = 3


@worker_process_init.connect
def _own_tempdir(**_: Any) -> None:
    """Each worker process works in its own temporary folder, and removes
    those of this host's processes that died (a killed worker's leftovers)."""
    from voicecast.localfs import claim_process_tempdir

    claim_process_tempdir()


def _notify(task: str, *args: Any) -> None:
    """Tell the orchestrator side (``assemble`` queue), which owns the SQL store.

    The send waits out a broker outage of up to ``queue.retry_budget_s``
    (kombu's retry policy, reconnecting as needed); past it, the broker error
    fails the task, which is retried like any transient error. A result whose
    notification is lost all the same is found in storage when the job driver
    re-dispatches the stalled job (``orchestrator.dispatch.StallWatch``)."""
    send_within_budget(lambda: app.send_task(task, args=list(args), queue=_q.assemble_queue, retry=True,
                                             retry_policy=PUBLISH_RETRY_POLICY), task)


def _attempts_key(spec: dict[str, Any]) -> str:
    # Validated (a forged job id names no key outside ``attempts/``).
    return attempts_key(spec["job_id"], spec["idx"])


def synth_options(spec: dict[str, Any], settings: Settings | None = None) -> dict[str, float]:
    """Time limits of one segment's message, scaled by its length (a long
    paragraph of an audiobook takes longer than a two-word subtitle)."""
    limits = (settings or get_settings()).limits
    return limits.celery_limits(limits.synth_hard_s(float(spec.get("slot_s") or 0.0), spec.get("text", "")))


class _SynthTask(VoicecastTask):
    what = "synthesis of this segment"
    limit_var = "VOICECAST_LIMITS__SYNTH_TIME_S"

    def limits_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, float]:
        return synth_options(args[0] if args else kwargs.get("spec", {}))

    def on_gave_up(self, args: tuple[Any, ...], kwargs: dict[str, Any], reason: str) -> None:
        # Called once the task has finally failed (not on retries or a re-send).
        spec = args[0] if args else kwargs.get("spec", {})
        # A worker killed at the hard limit left its crash count: a later
        # `voicecast resume` starts the segment afresh.
        try:
            get_store(get_settings()).delete(_attempts_key(spec))
        except (ValueError, KeyError):
            pass  # a malformed message (refused): no count was ever stored for it
        except TransientError:
            pass  # storage is what failed; the job must still hear of it (the count is advisory)
        _notify("voicecast.segment_failed", spec.get("job_id"), spec.get("idx"), reason)


@voicecast_task("voicecast.synth_segment", queue=_q.synth_queue, base=_SynthTask,
                **_limits.celery_limits(_limits.synth_time_max_s))
def synth_segment(self: Any, spec: dict[str, Any], overruns: int = 0) -> dict[str, Any]:
    """Render one segment. Its message carries limits scaled by its length
    (:func:`synth_options`; the task's own are the longest); ``overruns``
    counts its earlier runs over them (see ``VoicecastTask``)."""
    from voicecast.queue import SegmentSpec
    from workers.engines import get_engine
    from workers.synth import crash_guard, render_segment, verify_spec

    settings = get_settings()
    store = get_store(settings)
    seg = SegmentSpec.from_dict(spec)
    # Checked before the crash count is written: a refused message stores nothing.
    verify_spec(seg, get_engine(settings.engine), settings)
    with crash_guard(store, _attempts_key(spec), CRASH_LIMIT) as crashed:
        again = (crashed or overruns or self.request.retries
                 or (self.request.delivery_info or {}).get("redelivered"))
        result = render_segment(seg, store=store, settings=settings, first_try=not again).to_dict()
    _notify("voicecast.record_segment", result)  # a SegmentResult as JSON
    return result


class _AnswerTask(VoicecastTask):
    """A task the control role waits on: an overrun is its answer (a failure)."""

    resend_overruns = False


@voicecast_task("voicecast.render_line", queue=_q.synth_queue, ignore_result=False,
                base=_AnswerTask, **_limits.celery_limits(_limits.synth_time_max_s))
def render_line(self: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Render one line outside any job (the API's speech endpoint): the same
    checks and rendering as a segment, the answer through the result backend,
    nothing recorded."""
    from voicecast.queue import SegmentSpec
    from workers.engines import get_engine
    from workers.synth import render_segment, verify_spec

    settings = get_settings()
    seg = SegmentSpec.from_dict(spec)
    verify_spec(seg, get_engine(settings.engine), settings)
    return render_segment(seg, store=get_store(settings), settings=settings, first_try=False).to_dict()


@voicecast_task("voicecast.enroll_reference", queue=_q.synth_queue, ignore_result=False,
                base=_AnswerTask, **_limits.celery_limits(_limits.enroll_time_s))
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


@voicecast_task("voicecast.engine_facts", queue=_q.synth_queue, ignore_result=False,
                base=_AnswerTask, **_limits.celery_limits(_limits.enroll_time_s))
def engine_facts(self: Any) -> dict[str, Any]:
    """The engine's facts for the control role (which never builds an engine)."""
    from workers.facts import engine_facts as facts

    return facts(get_settings()).to_dict()


@voicecast_task("voicecast.builtin_voice", queue=_q.synth_queue, ignore_result=False,
                base=_AnswerTask, **_limits.celery_limits(_limits.enroll_time_s))
def builtin_voice(self: Any, voice_id: str, name: str) -> dict[str, Any] | None:
    """Store one of the engine's own voices as a profile; None if it has none of that name."""
    from workers.facts import builtin_voice as store_builtin

    settings = get_settings()
    found = store_builtin(settings, get_store(settings), voice_id, name)
    return found.to_dict() if found else None


@voicecast_task("voicecast.predict_lines", queue=_q.synth_queue, ignore_result=False,
                base=_AnswerTask, **_limits.celery_limits(_limits.enroll_time_s))
def predict_lines(self: Any, profile_key: str | None, builtin: str | None,
                  lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines' predicted lengths and fit for ``voicecast plan`` (no rendering):
    ``[LineSlot]`` in, ``[LinePrediction]`` out, as JSON."""
    from voicecast.queue import LineSlot
    from workers.facts import predict_lines as predict

    settings = get_settings()
    found = predict(settings, get_store(settings), profile_key, builtin,
                    [LineSlot.from_dict(d) for d in lines])
    return [p.to_dict() for p in found]


@voicecast_task("voicecast.transcribe", queue=_q.synth_queue, ignore_result=False,
                base=_AnswerTask, **_limits.celery_limits(_limits.assemble_time_s))
def transcribe(self: Any, audio_key: str, name: str, language: str) -> dict[str, str]:
    """``--timeline asr``: the SRT of an uploaded sound (``{"srt": ...}``), or
    the user error found (``{"error": ..., "field": ...}``)."""
    from workers.facts import transcribe as run

    settings = get_settings()
    return run(get_store(settings), audio_key, name, language)


@voicecast_task("voicecast.check_reference", queue=_q.synth_queue, ignore_result=False,
                base=_AnswerTask, **_limits.celery_limits(_limits.enroll_time_s))
def check_reference(self: Any, uploads: list[list[str]]) -> dict[str, Any]:
    """Check uploaded reference clips (``[[key, file name], ...]``) and store the
    checked reference; a problem with the clips is an answer (``{"error": ...}``)."""
    from workers.facts import check_uploaded_reference

    settings = get_settings()
    try:
        info = check_uploaded_reference(get_store(settings), [(k, n) for k, n in uploads])
    except VoicecastError as e:
        return {"error": str(e)}
    return info.to_dict()
