"""The Celery app and the one project task decorator.

Configured from settings at import time but connects to nothing until used.
Reliability settings are chosen together: tasks are idempotent (segment audio
is keyed by its content hash), so late acknowledgement, re-queueing on a lost
worker and a prefetch of one are safe: a worker killed mid-segment loses
nothing and duplicates nothing.

Every task has soft and hard time limits (``limits`` in settings). Celery acks
the message of a task that ran over one (``task_acks_on_failure_or_timeout``,
its default, kept on purpose: a re-queued message would come back with no
count of its overruns, and a task that always hangs would loop forever).
Instead :class:`VoicecastTask` sends the task again itself, once, counting in
the message's ``overruns`` keyword; the next overrun fails it for good with a
reason naming the limit (:meth:`VoicecastTask.on_gave_up`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from voicecast.errors import TransientError
from voicecast.settings import get_settings

log = logging.getLogger(__name__)

_s = get_settings()

# No ``include``: the core names no role. Each role's worker imports its own
# task module before it starts (``orchestrator.dispatch.load_tasks``).
app = Celery("voicecast")
app.conf.update(
    broker_url=_s.queue.broker_url or "memory://",
    result_backend=_s.queue.result_backend or _s.queue.broker_url or None,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    result_expires=3600,
    task_default_queue=_s.queue.synth_queue,
    broker_connection_retry_on_startup=True,
    broker_transport_options={
        "visibility_timeout": _s.queue.visibility_timeout_s,
        # Sweep for tasks of dead workers every interval (kombu's default scans
        # only every 10th sweep, i.e. ~100 s).
        "unacked_restore_interval": _s.queue.restore_interval_s,
        "unacked_restore_throttle": 1,
    },
    result_backend_transport_options={"visibility_timeout": _s.queue.visibility_timeout_s},
    worker_hijack_root_logger=False,
    worker_send_task_events=True,
    task_send_sent_event=True,
    # See the module docstring: VoicecastTask re-sends an overrun task once.
    task_acks_on_failure_or_timeout=True,
)

# Errors worth a retry with backoff: storage and broker hiccups. Anything else
# (bad input, a bug) fails at once: retrying cannot fix it.
RETRY_ON: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError)


#: Runs of one task (the first and the re-sends) that may overrun a time limit.
TIME_LIMIT_RUNS = 2
TIME_LIMITS: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded, TimeLimitExceeded)


def failure_reason(exc: BaseException) -> str:
    """A user error's own message; anything else with its type."""
    from voicecast.errors import VoicecastError

    return str(exc) if isinstance(exc, VoicecastError) else f"{type(exc).__name__}: {exc}"


class VoicecastTask(Task):  # type: ignore[misc]
    """Base of every project task: a run over its time limit is sent again, once.

    ``on_failure`` runs in the worker's child for an ordinary error or a soft
    limit, and in the worker's main process after a hard limit killed the
    child. Subclasses say what giving up means (:meth:`on_gave_up`) and which
    limits a re-sent message carries (:meth:`limits_for`).
    """

    #: What the task does and the variable of its limit, for the failure reason.
    what = "task"
    limit_var = ""
    #: False for a task whose caller waits on its answer: a re-sent message
    #: has another id, so its answer would reach nobody.
    resend_overruns = True

    def limits_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, float]:
        """``time_limit``/``soft_time_limit`` of a message with these arguments
        (default: the task's own)."""
        return {}

    def on_gave_up(self, args: tuple[Any, ...], kwargs: dict[str, Any], reason: str) -> None:
        """The task failed for good (not retried, not re-sent)."""

    def overrun_reason(self, exc: BaseException, runs: int, limits: dict[str, float]) -> str:
        hard = isinstance(exc, TimeLimitExceeded)
        limit = limits.get("time_limit" if hard else "soft_time_limit") or (
            self.time_limit if hard else self.soft_time_limit)
        of = f" of {limit:g} s" if isinstance(limit, int | float) else ""
        var = f" (see {self.limit_var})" if self.limit_var else ""
        times = "twice" if runs == 2 else f"{runs} times"
        return f"{self.what} ran over its {'hard' if hard else 'soft'} time limit{of} {times}{var}"

    def on_failure(self, exc, task_id, args, kwargs, einfo):  # type: ignore[no-untyped-def]
        super().on_failure(exc, task_id, args, kwargs, einfo)
        # Never let an error escape: after a hard limit this runs in the
        # worker's main process, inside its timer.
        try:
            args, kwargs = tuple(args or ()), dict(kwargs or {})
            if not isinstance(exc, TIME_LIMITS):
                self.on_gave_up(args, kwargs, failure_reason(exc))
                return
            runs = int(kwargs.get("overruns", 0)) + 1
            limits = self.limits_for(args, kwargs)
            if runs < TIME_LIMIT_RUNS and self.resend_overruns:
                log.warning("%s[%s] ran over its time limit; sending it again (%d of %d)",
                            self.name, task_id, runs + 1, TIME_LIMIT_RUNS)
                self.apply_async(args, {**kwargs, "overruns": runs}, queue=self.queue, **limits)
                return
            self.on_gave_up(args, kwargs, self.overrun_reason(exc, runs, limits))
        except Exception:
            log.exception("%s[%s]: handling its failure failed", self.name, task_id)


def voicecast_task(name: str, queue: str, **options: Any) -> Callable[[Callable[..., Any]], Task]:
    """Register a task with the project's name, queue, retry policy and base
    (:class:`VoicecastTask`; pass ``base=`` a subclass of it). Give it
    ``time_limit``/``soft_time_limit`` (see ``LimitsSettings.celery_limits``)."""
    opts: dict[str, Any] = dict(
        name=name,
        queue=queue,
        base=VoicecastTask,
        bind=True,
        acks_late=True,
        autoretry_for=RETRY_ON,
        retry_backoff=2,
        retry_backoff_max=_s.queue.retry_backoff_max_s,
        retry_jitter=True,
        max_retries=_s.queue.max_retries,
    )
    opts.update(options)
    return app.task(**opts)  # type: ignore[no-any-return]
