"""The dispatch adapter: where the work of a job runs, and the only module of
the control role that reaches the synthesis role (``workers``).

- :class:`EmbeddedDispatcher`: a pool of local worker processes running the
  same task bodies as the Celery workers; this process records results and
  assembles. Nothing to start.
- :class:`CeleryDispatcher`: Redis-backed Celery queues (``synth`` for engine
  work, ``assemble`` for recording and ffmpeg); this process only submits and
  follows the job through the SQL store.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Protocol

from celery.exceptions import TimeoutError as CeleryTimeoutError

from orchestrator.files import reference_file
from orchestrator.store import jobs
from orchestrator.store.db import session_scope
from orchestrator.store.states import FINAL, JobStatus
from voicecast.errors import InputError, ReferenceAudioError, VoicecastError
from voicecast.queue import (
    BuiltinVoice,
    EngineFacts,
    LinePrediction,
    LineSlot,
    ReferenceInfo,
    SegmentResult,
    SegmentSpec,
)
from voicecast.settings import Settings
from voicecast.timing import STAGES
from workers import pool as worker_pool

log = logging.getLogger(__name__)

TERMINAL = FINAL


class Dispatcher(Protocol):
    """Where work runs: a local process pool (embedded) or Celery queues.

    ``runner`` says who releases a job's segments: ``cli`` (an embedded
    ``render`` drives its one job: :meth:`submit`), or the scheduler
    (``celery``, ``service``: :meth:`release`, fair across jobs)."""

    runner: str

    def facts(self) -> EngineFacts: ...
    def builtin_voice(self, voice_id: str, name: str) -> BuiltinVoice | None: ...
    def load_references(self, paths: list[Path]) -> ReferenceInfo: ...
    def predict(self, profile_key: str | None, builtin: str | None,
                lines: list[LineSlot]) -> list[LinePrediction]: ...
    def enroll(self, ref_key: str, voice_id: str, version: int,
               tick: Callable[[], None] | None = None) -> dict[str, Any]: ...
    def transcribe(self, audio_key: str, name: str, language: str) -> tuple[str, list[str]]: ...
    def warm(self) -> None: ...
    def submit(self, job_id: str, specs: list[SegmentSpec]) -> None: ...
    def release(self) -> None: ...
    def cancel(self, job_id: str, queued: list[int]) -> None: ...
    def render_line(self, spec: SegmentSpec, timeout_s: float = ...) -> SegmentResult: ...
    def assemble(self, job_id: str) -> None: ...
    def drive(self, job_id: str, tick: Callable[[], None]) -> None: ...


def load_tasks(queue: str) -> None:
    """Import the task module of the role that consumes ``queue`` (``synth``:
    the synthesis tasks; ``assemble``: the orchestrator's), before a worker starts."""
    if queue == "synth":
        import workers.tasks  # noqa: F401
    else:
        import orchestrator.tasks  # noqa: F401
#: How often a waiting enrollment calls its ``tick`` (seconds).
TICK_S = 0.5


def _srt_of(answer: dict[str, str]) -> tuple[str, list[str]]:
    """A transcription's answer: the SRT and its warnings, or the user error it
    found (no speech, a language)."""
    if "error" in answer:
        raise InputError(answer["error"], field=answer.get("field") or None)
    return answer["srt"], [w for w in answer.get("warnings", "").split("\n") if w]


class EmbeddedDispatcher:
    #: Times a dead pool is rebuilt before the job gives up.
    MAX_POOL_RESTARTS = 3
    runner = "cli"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.processes = settings.worker_count
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future[SegmentResult], SegmentSpec] = {}
        self._pending: deque[SegmentSpec] = deque()
        #: Segments in the pool at once: enough to keep every process busy.
        self.window = 4 * self.processes
        self._assemble_due = False

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: children start clean (no inherited threads, locks or models).
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes, mp_context=mp.get_context("spawn"),
                initializer=worker_pool.init,
                initargs=(self.settings.child_json(), self.processes),
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _solo(self) -> ProcessPoolExecutor:
        """A worker process of its own for one call (enroll, predict, transcribe),
        with every core: this process never loads the engine or a model."""
        return ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"),
                                   initializer=worker_pool.init, initargs=(self.settings.child_json(), 1))

    def enroll(self, ref_key: str, voice_id: str, version: int,
               tick: Callable[[], None] | None = None) -> dict[str, Any]:
        """Run the enrollment task in a process of its own, calling ``tick`` about
        twice a second. Nothing else renders meanwhile (a job's segments are
        submitted after its voice is ready), so that process gets every core
        rather than a pool process's share: the search's time budget then buys
        as many candidates as the machine can render."""
        with self._solo() as solo:
            fut = solo.submit(worker_pool.enroll, ref_key, voice_id, version)
            while not wait([fut], timeout=TICK_S).done:
                if tick:
                    tick()
            return fut.result()

    @cached_property
    def _facts(self) -> EngineFacts:
        from workers.facts import engine_facts

        return engine_facts(self.settings)

    def facts(self) -> EngineFacts:
        return self._facts

    def builtin_voice(self, voice_id: str, name: str) -> BuiltinVoice | None:
        from voicecast.storage import get_store
        from workers.facts import builtin_voice

        return builtin_voice(self.settings, get_store(self.settings), voice_id, name)

    def load_references(self, paths: list[Path]) -> ReferenceInfo:
        """Check the clips in this process (embedded: the same machine runs the
        synthesis role) and store the checked reference."""
        from voicecast.storage import get_store
        from workers.facts import check_reference

        checked = [reference_file(p, self.settings.inputs) for p in paths]
        return check_reference(get_store(self.settings), checked)

    def predict(self, profile_key: str | None, builtin: str | None,
                lines: list[LineSlot]) -> list[LinePrediction]:
        """Predict lines' lengths and fit (:func:`workers.facts.predict_lines`) in a
        worker process of its own, with every core: this process (the CLI) never
        loads the engine's runtime."""
        with self._solo() as solo:
            found = solo.submit(worker_pool.predict_lines, profile_key, builtin,
                                [line.to_dict() for line in lines]).result()
        return [LinePrediction.from_dict(d) for d in found]

    def transcribe(self, audio_key: str, name: str, language: str) -> tuple[str, list[str]]:
        """``--timeline asr``: the SRT of stored speech and its warnings
        (:func:`workers.facts.transcribe`), made in a worker process of its
        own: this process never loads Whisper."""
        with self._solo() as solo:
            answer: dict[str, str] = solo.submit(worker_pool.transcribe, audio_key, name, language).result()
        return _srt_of(answer)

    def render_line(self, spec: SegmentSpec, timeout_s: float = 300.0) -> SegmentResult:
        """Render one line outside any job (``POST /v1/audio/speech``) in the pool."""
        result: SegmentResult = self._get_pool().submit(worker_pool.render, spec.to_dict()).result(timeout_s)
        return result

    def warm(self) -> None:
        """Start the worker processes now (they import the synthesis code while
        the job is parsed and planned), instead of at the first segment."""
        pool = self._get_pool()
        for _ in range(self.processes):
            pool.submit(worker_pool.warm)

    def submit(self, job_id: str, specs: list[SegmentSpec]) -> None:
        """Queue ``specs`` locally; :meth:`drive` keeps :attr:`window` of them in
        the pool at a time (a pool holding every segment of a long book would
        cost the bookkeeping of all of them on each wait)."""
        self._pending.extend(specs)

    def release(self) -> None:
        pass  # an embedded render drives its one job (submit)

    def cancel(self, job_id: str, queued: list[int]) -> None:
        """Drop the job's segments not started yet (``drive`` also stops when it
        sees the job cancelled, from this process or another)."""
        self._pending = deque(sp for sp in self._pending if sp.job_id != job_id)
        for fut, spec in list(self._futures.items()):
            if spec.job_id == job_id:
                fut.cancel()

    def _cancelled(self, job_id: str) -> bool:
        with session_scope(self.settings) as s:
            return jobs.get_job(s, job_id).status == JobStatus.CANCELLED

    def _top_up(self) -> None:
        pool = self._get_pool()
        while self._pending and len(self._futures) < self.window:
            spec = self._pending.popleft()
            self._futures[pool.submit(worker_pool.render, spec.to_dict())] = spec

    def assemble(self, job_id: str) -> None:
        self._assemble_due = True

    def _flush(self, job_id: str, results: list[SegmentResult], tick: Callable[[], None]) -> None:
        """Record a batch of results in one transaction, then tell the follower."""
        if not results:
            return
        with STAGES.stage("record"), session_scope(self.settings) as s:
            if jobs.record_results(s, job_id, results):
                self._assemble_due = True
        results.clear()
        tick()

    def drive(self, job_id: str, tick: Callable[[], None]) -> None:
        """Run the job's queued segments to the end, recording results in
        batches (up to :data:`RECORD_BATCH` of them, or what arrived within
        :data:`RECORD_EVERY_S`), then assemble when the job is complete."""
        restarts = 0
        batch: list[SegmentResult] = []
        flushed = time.monotonic()
        self._top_up()
        while self._futures:
            with STAGES.stage("wait"):
                done, _ = wait(list(self._futures), timeout=RECORD_EVERY_S, return_when=FIRST_COMPLETED)
            for fut in done:
                spec = self._futures.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    # A worker process died (OOM, kill): rebuild the pool and
                    # re-submit whatever had not finished; tasks are idempotent.
                    # Re-sent specs look in storage again (a lost one may have
                    # finished before the process died).
                    restarts += 1
                    lost = [replace(sp, unstored=False) for sp in (spec, *self._futures.values())]
                    self._futures.clear()
                    self._pool = None
                    self._flush(job_id, batch, tick)
                    if restarts > self.MAX_POOL_RESTARTS:
                        with session_scope(self.settings) as s:
                            jobs.fail_job(s, job_id, "worker processes keep dying (out of memory?); "
                                                     "continue with `voicecast resume JOB`")
                        self._pending.clear()
                        return
                    log.warning("worker process died; re-submitting %d segments", len(lost))
                    self._pending.extendleft(reversed(lost))
                    break
                except Exception as e:
                    self._flush(job_id, batch, tick)
                    reason = str(e) if isinstance(e, VoicecastError) else f"{type(e).__name__}: {e}"
                    with session_scope(self.settings) as s:
                        jobs.record_failure(s, job_id, spec.idx, reason)
                    for other in self._futures:
                        other.cancel()
                    self._futures.clear()
                    self._pending.clear()
                    tick()
                    return
                batch.append(result)
            self._top_up()
            now = time.monotonic()
            if len(batch) >= RECORD_BATCH or now - flushed >= RECORD_EVERY_S or not self._futures:
                self._flush(job_id, batch, tick)
                flushed = now
                if self._cancelled(job_id):  # `voicecast cancel` from anywhere
                    self.cancel(job_id, [])
                    self._futures.clear()
                    self._assemble_due = False
                    tick()
                    return
        if self._assemble_due:
            self._assemble_due = False
            from orchestrator.output.finish import assemble

            assemble(self.settings, job_id)
        tick()


class ServiceDispatcher(EmbeddedDispatcher):
    """An embedded ``voicecast serve``: one local pool for every job of the
    service, fed by the scheduler (:mod:`orchestrator.schedule`, runner
    ``service``) so that jobs share it fairly. A thread of its own
    (:meth:`start`) releases segments into the pool, records results as they
    arrive (one transaction per job and batch) and hands complete jobs to an
    assembly thread. A job's queued segments are its futures in the pool."""

    runner = "service"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._assembler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voicecast-assemble")
        self._thread: threading.Thread | None = None

    def submit(self, job_id: str, specs: list[SegmentSpec]) -> None:
        """Put released segments in the pool (the scheduler's transport)."""
        pool = self._get_pool()
        with self._lock:
            for spec in specs:
                self._futures[pool.submit(worker_pool.render, spec.to_dict())] = spec

    def release(self) -> None:
        self._wake.set()

    def cancel(self, job_id: str, queued: list[int]) -> None:
        """Drop the job's segments that have not started; a render under way
        finishes, and its result is not recorded (the job is cancelled)."""
        with self._lock:
            for fut, spec in self._futures.items():
                if spec.job_id == job_id:
                    fut.cancel()
        self._wake.set()

    def assemble(self, job_id: str) -> None:
        self._assembler.submit(self._assemble, job_id)

    def _assemble(self, job_id: str) -> None:
        from orchestrator.output.finish import assemble

        try:
            assemble(self.settings, job_id)
        except Exception:  # noqa: BLE001 - recorded on the job by assemble's failing_job
            log.exception("assembly of job %s failed", job_id)

    def start(self) -> None:
        """Adopt the service's unfinished jobs (a restarted server: their queued
        segments are released again, a job that was assembling is assembled
        again) and start the driver thread."""
        from sqlalchemy import select

        from orchestrator.schedule import requeue_lost
        from orchestrator.store.models import Job

        with session_scope(self.settings) as s:
            found = s.execute(select(Job.id, Job.status).where(
                Job.runner == self.runner, Job.status.in_([JobStatus.RENDERING, JobStatus.ASSEMBLING]))).all()
        for job_id, status in found:
            if status == JobStatus.RENDERING:
                requeue_lost(self.settings, job_id)
            elif status == JobStatus.ASSEMBLING:
                self.assemble(job_id)
        self._get_pool()
        self._thread = threading.Thread(target=self._run, name="voicecast-driver", daemon=True)
        self._thread.start()
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._assembler.shutdown(wait=True, cancel_futures=True)
        super().close()

    def _run(self) -> None:
        from orchestrator import schedule

        while not self._stop.is_set():
            try:
                if self._wake.is_set():
                    self._wake.clear()
                    schedule.release(self.settings, self.runner, self.submit, cap=self.window)
                with self._lock:
                    futures = list(self._futures)
                if not futures:
                    self._wake.wait(0.5)
                    continue
                done, _ = wait(futures, timeout=0.25, return_when=FIRST_COMPLETED)
                if done:
                    self._collect(done)
                    self._wake.set()  # places are free: release more
            except Exception:  # noqa: BLE001 - the driver must outlive one bad moment
                log.exception("service driver")
                time.sleep(1.0)

    def _collect(self, done: set[Future[SegmentResult]]) -> None:
        from orchestrator.schedule import requeue_lost

        by_job: dict[str, list[SegmentResult]] = {}
        for fut in done:
            with self._lock:
                spec = self._futures.pop(fut, None)
            if spec is None or fut.cancelled():
                continue
            try:
                by_job.setdefault(spec.job_id, []).append(fut.result())
            except BrokenProcessPool:
                # A worker process died: every segment in the pool goes back to
                # the scheduler, in a new pool (tasks are idempotent).
                with self._lock:
                    lost = {sp.job_id for sp in (spec, *self._futures.values())}
                    self._futures.clear()
                    self._pool = None
                log.warning("a worker process died; releasing the segments of %d job(s) again", len(lost))
                for job_id in lost:
                    requeue_lost(self.settings, job_id)
                break
            except Exception as e:  # noqa: BLE001 - the segment's failure fails its job
                reason = str(e) if isinstance(e, VoicecastError) else f"{type(e).__name__}: {e}"
                with session_scope(self.settings) as s:
                    jobs.record_failure(s, spec.job_id, spec.idx, reason)
        for job_id, results in by_job.items():
            with session_scope(self.settings) as s:
                ready = jobs.record_results(s, job_id, results)
            if ready:
                self.assemble(job_id)


#: Results recorded in one transaction at most (embedded mode) ...
RECORD_BATCH = 64
#: ... or whatever arrived within this many seconds.
RECORD_EVERY_S = 1.0


#: How long a stall check waits for the workers' answers (seconds).
INSPECT_TIMEOUT_S = 1.0
#: Messages of one queue read by a stall check at most; past it, the job is
#: taken for alive (a queue that long is busy, not lost).
MAX_SCANNED = 50_000
#: kombu's Redis transport keeps a queue's messages of priority 0 in a list
#: named after the queue, and those of other priority steps beside it.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


class StallWatch:
    """When a job has shown no progress for ``timeout_s`` (0: never).

    ``due(mark)`` is polled with a summary of the job's recorded state (its
    status and undone count); any change restarts the clock.
    """

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self.clock = clock
        self._mark: object = None
        self._since = clock()

    def due(self, mark: object) -> bool:
        now = self.clock()
        if mark != self._mark:
            self._mark, self._since = mark, now
            return False
        return self.timeout_s > 0 and now - self._since >= self.timeout_s

    def restart(self) -> None:
        """Start waiting a whole timeout again (after a check or a re-dispatch)."""
        self._since = self.clock()


def _message_mentions(raw: bytes, needle: bytes) -> bool:
    """Whether a kombu Redis message (JSON, its body usually base64) names ``needle``."""
    import base64
    import json

    if needle in raw:  # the headers' argsrepr usually shows it
        return True
    try:
        msg = json.loads(raw)
        body = msg.get("body", "")
        if msg.get("properties", {}).get("body_encoding") == "base64":
            return needle in base64.b64decode(body)
        return needle in str(body).encode()
    except (ValueError, TypeError, AttributeError):
        return False


def queued_for_job(client: Any, queues: list[str], job_id: str, chunk: int = 1000) -> bool:
    """Whether a message naming ``job_id`` waits in any of these Redis queues
    (``client``: a redis-py client of the broker). A queue longer than
    :data:`MAX_SCANNED` counts as holding one."""
    needle = job_id.encode()
    for queue in queues:
        for key in (queue + suffix for suffix in _PRIORITY_SUFFIXES):
            length = int(client.llen(key) or 0)
            if length > MAX_SCANNED:
                return True
            for start in range(0, length, chunk):
                if any(_message_mentions(m if isinstance(m, bytes) else str(m).encode(), needle)
                       for m in client.lrange(key, start, start + chunk - 1)):
                    return True
    return False


def segment_task_id(job_id: str, idx: int) -> str:
    """A segment message's task id: known without asking the broker, so a
    cancel can revoke the job's queued messages by id."""
    return f"{job_id}-{idx}"


class CeleryDispatcher:
    #: How long the CLI waits for a voice enrollment task before giving up.
    ENROLL_TIMEOUT_S = 900
    runner = "celery"

    def __init__(self, settings: Settings, poll_s: float = 0.5) -> None:
        self.settings = settings
        self.poll_s = poll_s

    def enroll(self, ref_key: str, voice_id: str, version: int,
               tick: Callable[[], None] | None = None) -> dict[str, Any]:
        """Queue the enrollment task on ``synth`` and wait for its answer, calling
        ``tick`` about twice a second."""
        from workers.tasks import enroll_reference

        res = enroll_reference.apply_async(
            (ref_key, voice_id, version), queue=self.settings.queue.synth_queue
        )
        deadline = time.monotonic() + self.ENROLL_TIMEOUT_S
        try:
            while True:
                try:
                    answer: dict[str, Any] = res.get(timeout=TICK_S)
                    return answer
                except CeleryTimeoutError:
                    if time.monotonic() > deadline:
                        raise
                    if tick:
                        tick()
        except CeleryTimeoutError as e:
            res.revoke()
            raise VoicecastError(
                f"voice enrollment did not finish within {self.ENROLL_TIMEOUT_S} s; "
                "is a `voicecast worker --queue synth` running?", field="queue",
            ) from e

    def _ask(self, task: str, *args: Any, timeout_s: float = 120.0) -> Any:
        """Call a small synthesis-side task and wait for its answer."""
        from voicecast.celery_app import app

        res = app.send_task(task, args=list(args), queue=self.settings.queue.synth_queue)
        try:
            return res.get(timeout=timeout_s)
        except CeleryTimeoutError as e:
            res.revoke()
            raise VoicecastError(f"no answer from a synthesis worker within {timeout_s:.0f} s; "
                                 "is a `voicecast worker --queue synth` running?", field="queue") from e

    @cached_property
    def _facts(self) -> EngineFacts:
        return EngineFacts.from_dict(self._ask("voicecast.engine_facts"))

    def facts(self) -> EngineFacts:
        return self._facts

    def builtin_voice(self, voice_id: str, name: str) -> BuiltinVoice | None:
        found = self._ask("voicecast.builtin_voice", voice_id, name)
        return BuiltinVoice(**found) if found else None

    def load_references(self, paths: list[Path]) -> ReferenceInfo:
        """Upload the clips and have a synthesis worker check them (the control
        role has no audio models): the answer names the user's file on failure."""
        import hashlib

        from voicecast.storage import get_store, upload_key

        store = get_store(self.settings)
        uploads = []
        for path in paths:
            data = reference_file(path, self.settings.inputs).read_bytes()
            key = upload_key(hashlib.sha256(data).hexdigest())
            if not store.exists(key):
                store.put_bytes(key, data)
            uploads.append([key, str(path)])
        answer = self._ask("voicecast.check_reference", uploads, timeout_s=300.0)
        if "error" in answer:
            raise ReferenceAudioError(answer["error"])
        return ReferenceInfo.from_dict(answer)

    def transcribe(self, audio_key: str, name: str, language: str) -> tuple[str, list[str]]:
        """``--timeline asr``: the SRT of stored speech and its warnings, from a
        synthesis worker (``voicecast.transcribe``; the control role has no audio models)."""
        hard = self.settings.limits.assemble_time_s
        return _srt_of(self._ask("voicecast.transcribe", audio_key, name, language, timeout_s=hard + 60.0))

    def predict(self, profile_key: str | None, builtin: str | None,
                lines: list[LineSlot]) -> list[LinePrediction]:
        """Lines' predicted lengths and fit, from a synthesis worker (``voicecast.predict_lines``)."""
        # About 35 ms a line on one core, plus the model's load on a fresh worker.
        found = self._ask("voicecast.predict_lines", profile_key, builtin,
                          [line.to_dict() for line in lines], timeout_s=120.0 + 0.2 * len(lines))
        return [LinePrediction.from_dict(d) for d in found]

    def submit(self, job_id: str, specs: list[SegmentSpec]) -> None:
        """Send segment messages (the scheduler calls this with what it released)."""
        from voicecast.celery_app import send_within_budget
        from workers.tasks import synth_options, synth_segment

        queue = self.settings.queue.synth_queue
        for spec in specs:
            msg = spec.to_dict()
            # Time limits scaled by the segment's length, per message.
            send_within_budget(partial(synth_segment.apply_async, (msg,), queue=queue,
                                       task_id=segment_task_id(job_id, spec.idx),
                                       **synth_options(msg, self.settings)), "a segment")

    def render_line(self, spec: SegmentSpec, timeout_s: float = 300.0) -> SegmentResult:
        """Render one line outside any job (``POST /v1/audio/speech``) on a synthesis worker."""
        answer = self._ask("voicecast.render_line", spec.to_dict(), timeout_s=timeout_s)
        return SegmentResult.from_dict(answer)

    def release(self) -> None:
        """Release what the windows allow now, over every queued job (:mod:`orchestrator.schedule`)."""
        from orchestrator import schedule

        schedule.release(self.settings, self.runner, self.submit, cap=self.settings.queue.max_in_flight)

    def cancel(self, job_id: str, queued: list[int]) -> None:
        """Revoke the job's queued messages (workers drop them unstarted), then
        give the freed places to other jobs."""
        from voicecast.celery_app import app

        if queued:
            try:
                app.control.revoke([segment_task_id(job_id, i) for i in queued])
            except Exception as e:  # noqa: BLE001 - results of the job are not recorded anyway
                log.warning("could not revoke job %s's messages: %s: %s", job_id, type(e).__name__, e)
        self.release()

    def assemble(self, job_id: str) -> None:
        from orchestrator.tasks import assemble_job
        from voicecast.celery_app import send_within_budget

        queue = self.settings.queue.assemble_queue
        send_within_budget(lambda: assemble_job.apply_async((job_id,), queue=queue), "the assembly")

    def warm(self) -> None:
        pass  # the workers are running already

    def drive(self, job_id: str, tick: Callable[[], None]) -> None:
        """Follow the job in the SQL store until it is done or failed, healing
        a stall: when nothing about the job has changed for
        ``queue.stall_timeout_s`` and no message or task of it is left
        anywhere (:meth:`job_alive`), its undone work is sent again
        (:func:`orchestrator.render.heal`)."""
        watch = StallWatch(self.settings.queue.stall_timeout_s)
        while True:
            tick()
            with session_scope(self.settings) as s:
                status = jobs.get_job(s, job_id).status
                if status in TERMINAL:
                    return
                mark = (status, jobs.undone_count(s, job_id))
            if watch.due(mark):
                self.heal_if_lost(job_id, watch)
            time.sleep(self.poll_s)

    def heal_if_lost(self, job_id: str, watch: StallWatch) -> None:
        """Send a stalled job's work again when nothing of it is queued or running anywhere."""
        from orchestrator import render

        alive = self.job_alive(job_id)
        if alive is False:
            try:
                what = render.heal(self.settings, job_id, self)
            except Exception as e:  # noqa: BLE001 - the next stall check tries again
                log.warning("job %s stalled and could not be re-dispatched (%s: %s); trying again "
                            "in %.0f s", job_id, type(e).__name__, e, watch.timeout_s)
            else:
                if what:
                    log.warning("job %s made no progress for %.0f s and no task of it is queued or "
                                "running (a lost message?): %s", job_id, watch.timeout_s, what)
        watch.restart()

    def job_alive(self, job_id: str) -> bool | None:
        """Whether any message or task of the job exists: queued on the broker
        (the ``synth`` and ``assemble`` lists), or active, reserved or
        scheduled (waiting out a retry's countdown) on a worker that answers.
        ``None`` when that cannot be told (the broker is unreachable, or not
        Redis): a stall is then not acted on."""
        from voicecast.celery_app import app

        q = self.settings.queue
        try:
            with app.connection_for_read() as conn:
                conn.ensure_connection(max_retries=1)
                client = getattr(conn.default_channel, "client", None)
                if client is None or not hasattr(client, "lrange"):
                    return None
                if queued_for_job(client, [q.synth_queue, q.assemble_queue], job_id):
                    return True
            inspect = app.control.inspect(timeout=INSPECT_TIMEOUT_S)
            for replies in (inspect.active(), inspect.reserved(), inspect.scheduled()):
                for tasks in (replies or {}).values():
                    # The job id (32 hex digits) in a task's arguments, however
                    # this Celery version shows them (a list or its repr).
                    if any(job_id in repr(t) for t in tasks or []):
                        return True
        except Exception as e:  # noqa: BLE001 - cannot tell: do nothing now
            log.info("could not check the queue for job %s: %s: %s", job_id, type(e).__name__, e)
            return None
        return False

    def close(self) -> None:
        pass


def dispatcher_for(settings: Settings,
                   service: bool = False) -> EmbeddedDispatcher | CeleryDispatcher:
    """The dispatcher of this mode; ``service``: for ``voicecast serve``
    (embedded: one pool for every job)."""
    if settings.distributed:
        return CeleryDispatcher(settings)
    return ServiceDispatcher(settings) if service else EmbeddedDispatcher(settings)
