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
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from celery.exceptions import TimeoutError as CeleryTimeoutError

from orchestrator.store import jobs
from orchestrator.store.db import session_scope
from orchestrator.store.states import JobStatus
from voicecast.errors import ReferenceAudioError, VoicecastError
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
from workers import pool as worker_pool

log = logging.getLogger(__name__)

TERMINAL = (JobStatus.DONE, JobStatus.FAILED)


class Dispatcher(Protocol):
    """Where work runs: a local process pool (embedded) or Celery queues."""

    def facts(self) -> EngineFacts: ...
    def builtin_voice(self, voice_id: str, name: str) -> BuiltinVoice | None: ...
    def load_references(self, paths: list[Path]) -> ReferenceInfo: ...
    def predict(self, profile_key: str | None, builtin: str | None,
                lines: list[LineSlot]) -> list[LinePrediction]: ...
    def enroll(self, ref_key: str, voice_id: str, version: int,
               tick: Callable[[], None] | None = None) -> dict[str, Any]: ...
    def warm(self) -> None: ...
    def submit(self, job_id: str, specs: list[SegmentSpec]) -> None: ...
    def assemble(self, job_id: str) -> None: ...
    def drive(self, job_id: str, tick: Callable[[], None]) -> None: ...


#: Largest reference clip accepted (bytes), checked before it is read or hashed.
MAX_REFERENCE_BYTES = 200 * 1024 * 1024


def _reference_file(path: Path) -> Path:
    """A reference clip must be a regular file of bounded size (not a device,
    a pipe or a folder), checked before anything reads it."""
    import stat

    try:
        st = path.stat()
    except OSError as e:
        raise ReferenceAudioError(f"cannot read the reference clip ({e.strerror})", file=path) from None
    if not stat.S_ISREG(st.st_mode):
        raise ReferenceAudioError("the reference clip is not a regular file", file=path)
    if st.st_size > MAX_REFERENCE_BYTES:
        raise ReferenceAudioError(f"the reference clip is larger than {MAX_REFERENCE_BYTES >> 20} MiB",
                                  file=path)
    return path


def load_tasks(queue: str) -> None:
    """Import the task module of the role that consumes ``queue`` (``synth``:
    the synthesis tasks; ``assemble``: the orchestrator's), before a worker starts."""
    if queue == "synth":
        import workers.tasks  # noqa: F401
    else:
        import orchestrator.tasks  # noqa: F401
#: How often a waiting enrollment calls its ``tick`` (seconds).
TICK_S = 0.5


class EmbeddedDispatcher:
    #: Times a dead pool is rebuilt before the job gives up.
    MAX_POOL_RESTARTS = 3

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.processes = settings.worker_count
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future[SegmentResult], SegmentSpec] = {}
        self._assemble_due = False

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: children start clean (no inherited threads, locks or models).
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes, mp_context=mp.get_context("spawn"),
                initializer=worker_pool.init,
                initargs=(self.settings.model_dump_json(), self.processes),
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def enroll(self, ref_key: str, voice_id: str, version: int,
               tick: Callable[[], None] | None = None) -> dict[str, Any]:
        """Run the enrollment task in a process of its own, calling ``tick`` about
        twice a second. Nothing else renders meanwhile (a job's segments are
        submitted after its voice is ready), so that process gets every core
        rather than a pool process's share: the search's time budget then buys
        as many candidates as the machine can render."""
        with ProcessPoolExecutor(
            max_workers=1, mp_context=mp.get_context("spawn"), initializer=worker_pool.init,
            initargs=(self.settings.model_dump_json(), 1),
        ) as solo:
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

        return check_reference(get_store(self.settings), [_reference_file(p) for p in paths])

    def predict(self, profile_key: str | None, builtin: str | None,
                lines: list[LineSlot]) -> list[LinePrediction]:
        """Predict lines' lengths and fit (:func:`workers.facts.predict_lines`) in a
        worker process of its own, with every core: this process (the CLI) never
        loads the engine's runtime."""
        with ProcessPoolExecutor(
            max_workers=1, mp_context=mp.get_context("spawn"), initializer=worker_pool.init,
            initargs=(self.settings.model_dump_json(), 1),
        ) as solo:
            found = solo.submit(worker_pool.predict_lines, profile_key, builtin,
                                [line.to_dict() for line in lines]).result()
        return [LinePrediction.from_dict(d) for d in found]

    def warm(self) -> None:
        """Start the worker processes now (they import the synthesis code while
        the job is parsed and planned), instead of at the first segment."""
        pool = self._get_pool()
        for _ in range(self.processes):
            pool.submit(worker_pool.warm)

    def submit(self, job_id: str, specs: list[SegmentSpec]) -> None:
        pool = self._get_pool()
        for spec in specs:
            self._futures[pool.submit(worker_pool.render, spec.to_dict())] = spec

    def assemble(self, job_id: str) -> None:
        self._assemble_due = True

    def drive(self, job_id: str, tick: Callable[[], None]) -> None:
        restarts = 0
        while self._futures:
            done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
            for fut in done:
                spec = self._futures.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    # A worker process died (OOM, kill): rebuild the pool and
                    # re-submit whatever had not finished; tasks are idempotent.
                    restarts += 1
                    lost = [spec, *self._futures.values()]
                    self._futures.clear()
                    self._pool = None
                    if restarts > self.MAX_POOL_RESTARTS:
                        with session_scope(self.settings) as s:
                            jobs.fail_job(s, job_id, "worker processes keep dying (out of memory?); "
                                                     "continue with `voicecast resume JOB`")
                        self._futures.clear()
                        return
                    log.warning("worker process died; re-submitting %d segments", len(lost))
                    self.submit(job_id, lost)
                    break
                except Exception as e:
                    reason = str(e) if isinstance(e, VoicecastError) else f"{type(e).__name__}: {e}"
                    with session_scope(self.settings) as s:
                        jobs.record_failure(s, job_id, spec.idx, reason)
                    for other in self._futures:
                        other.cancel()
                    self._futures.clear()
                    tick()
                    return
                with session_scope(self.settings) as s:
                    if jobs.record_result(s, result):
                        self._assemble_due = True
                tick()
        if self._assemble_due:
            self._assemble_due = False
            from orchestrator.output.finish import assemble

            assemble(self.settings, job_id)
        tick()


class CeleryDispatcher:
    #: How long the CLI waits for a voice enrollment task before giving up.
    ENROLL_TIMEOUT_S = 900

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
            data = _reference_file(path).read_bytes()
            key = upload_key(hashlib.sha256(data).hexdigest())
            if not store.exists(key):
                store.put_bytes(key, data)
            uploads.append([key, str(path)])
        answer = self._ask("voicecast.check_reference", uploads, timeout_s=300.0)
        if "error" in answer:
            raise ReferenceAudioError(answer["error"])
        return ReferenceInfo.from_dict(answer)

    def predict(self, profile_key: str | None, builtin: str | None,
                lines: list[LineSlot]) -> list[LinePrediction]:
        """Lines' predicted lengths and fit, from a synthesis worker (``voicecast.predict_lines``)."""
        # About 35 ms a line on one core, plus the model's load on a fresh worker.
        found = self._ask("voicecast.predict_lines", profile_key, builtin,
                          [line.to_dict() for line in lines], timeout_s=120.0 + 0.2 * len(lines))
        return [LinePrediction.from_dict(d) for d in found]

    def submit(self, job_id: str, specs: list[SegmentSpec]) -> None:
        from workers.tasks import synth_options, synth_segment

        for spec in specs:
            msg = spec.to_dict()
            # Time limits scaled by the segment's length, per message.
            synth_segment.apply_async((msg,), queue=self.settings.queue.synth_queue,
                                      **synth_options(msg, self.settings))

    def assemble(self, job_id: str) -> None:
        from orchestrator.tasks import assemble_job

        assemble_job.apply_async((job_id,), queue=self.settings.queue.assemble_queue)

    def warm(self) -> None:
        pass  # the workers are running already

    def drive(self, job_id: str, tick: Callable[[], None]) -> None:
        """Follow the job in the SQL store until it is done or failed."""
        while True:
            tick()
            with session_scope(self.settings) as s:
                if jobs.get_job(s, job_id).status in TERMINAL:
                    return
            time.sleep(self.poll_s)

    def close(self) -> None:
        pass


def dispatcher_for(settings: Settings) -> EmbeddedDispatcher | CeleryDispatcher:
    return CeleryDispatcher(settings) if settings.distributed else EmbeddedDispatcher(settings)
