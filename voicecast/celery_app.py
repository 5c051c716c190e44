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

Outages are ridden out for a budget of seconds (:mod:`voicecast.retry`):
sending a message retries through kombu's retry policy for
``queue.retry_budget_s`` (so a result sent while Redis restarts waits for it),
and a task that failed on a transient error (:data:`RETRY_ON`: storage,
broker, connection errors) is re-queued with a capped, doubling countdown
until its waits add up to the budget of its kind (``storage.retry_budget_s``
for storage errors, ``queue.retry_budget_s`` otherwise).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from kombu.exceptions import OperationalError as BrokerError

from voicecast import retry
from voicecast.errors import TransientError
from voicecast.settings import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

_s = get_settings()
#: Sending a message waits out a broker outage of up to ``queue.retry_budget_s``.
PUBLISH_RETRY_POLICY = retry.kombu_policy(_s.queue.retry_budget_s, _s.queue.retry_backoff_max_s)

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
    # Every send (apply_async, send_task: a result's notification, queueing an
    # assembly, a retry) retries while the broker is away, for the budget.
    task_publish_retry=True,
    task_publish_retry_policy=PUBLISH_RETRY_POLICY,
    # The answers the CLI waits on (engine facts, enrollment) ride out the same outage.
    result_backend_always_retry=True,
    result_backend_max_retries=PUBLISH_RETRY_POLICY["max_retries"],
    result_backend_max_sleep_between_retries_ms=int(1000 * _s.queue.retry_backoff_max_s),
    broker_transport_options={
        # A broker host that drops packets fails a connection attempt in 5 s
        # instead of hanging (a refused one fails at once); then it is retried.
        "socket_connect_timeout": 5,
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

def _redis_errors() -> tuple[type[BaseException], ...]:
    try:
        import redis.exceptions as r
    except ImportError:  # another broker's client
        return ()
    return (r.ConnectionError, r.TimeoutError, r.BusyLoadingError)


# Errors worth a retry with backoff: storage and broker hiccups (kombu raises
# its OperationalError, "Error 111 connecting...", once a send's own retries
# are spent; a Redis client error can surface raw). Anything else (bad input,
# a bug) fails at once: retrying cannot fix it.
BROKER_ERRORS: tuple[type[BaseException], ...] = (BrokerError, *_redis_errors())
RETRY_ON: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError, *BROKER_ERRORS)


def _send_failed_transiently(exc: BaseException) -> bool:
    if isinstance(exc, BROKER_ERRORS):
        return True
    # kombu 5.7 with Redis: a publish begun while the broker was away retries,
    # reconnects, then publishes on a channel closed by that reconnection
    # ("'NoneType' object has no attribute 'client'"). The next send, through
    # a fresh channel, goes through.
    return isinstance(exc, AttributeError) and "'NoneType' object" in str(exc)


def send_within_budget(send: Callable[[], T], what: str) -> T:
    """Run ``send`` (an ``apply_async``/``send_task`` call), riding out a broker
    outage of ``queue.retry_budget_s``: kombu's retry policy
    (:data:`PUBLISH_RETRY_POLICY`) retries within one send, and the whole send
    is tried again, with capped backoff, while the budget lasts."""
    return retry.call_with_retry(send, _send_failed_transiently, budget_s=_s.queue.retry_budget_s,
                                 cap_s=_s.queue.retry_backoff_max_s, first_s=0.5, what=f"sending {what}")


def retry_budget_for(exc: BaseException | None) -> float:
    """The outage budget (seconds) a task's retries span for this error: the
    storage budget for a storage error, the queue budget for anything else."""
    if isinstance(exc, TransientError):
        return _s.storage.retry_budget_s
    return _s.queue.retry_budget_s


#: The first wait before a task's retry (seconds); it doubles up to ``queue.retry_backoff_max_s``.
RETRY_FIRST_S = 2.0

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

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Inside a task a storage call retries in place only briefly: a longer
        # outage is ridden out by retrying the task (below), which waits in
        # the queue rather than inside the task's time limit.
        with retry.call_budget(retry.TASK_CALL_BUDGET_S):
            return super().__call__(*args, **kwargs)

    def retry(self, args=None, kwargs=None, exc=None, throw=True,  # type: ignore[no-untyped-def]
              eta=None, countdown=None, max_retries=None, **options):
        """Celery's retry, spanning an outage budget: the number of retries is
        derived from the budget of the error's kind (:func:`retry_budget_for`)
        and the countdown is capped exponential backoff with jitter that only
        lengthens it (:func:`voicecast.retry.backoff`)."""
        if exc is not None and isinstance(exc, RETRY_ON) and eta is None:
            cap = _s.queue.retry_backoff_max_s
            if max_retries is None:
                max_retries = retry.retries_within(retry_budget_for(exc), RETRY_FIRST_S, cap)
            countdown = retry.backoff(self.request.retries, RETRY_FIRST_S, cap)
            log.warning("%s[%s] hit %s: %s; retry %d of %d in %.1f s", self.name, self.request.id,
                        type(exc).__name__, exc, self.request.retries + 1, max_retries, countdown)
        return super().retry(args=args, kwargs=kwargs, exc=exc, throw=throw, eta=eta,
                             countdown=countdown, max_retries=max_retries, **options)

    def on_failure(self, exc, task_id, args, kwargs, einfo):  # type: ignore[no-untyped-def]
        super().on_failure(exc, task_id, args, kwargs, einfo)
        # Never let an error escape: after a hard limit this runs in the
        # worker's main process, inside its timer.
        try:
            args, kwargs = tuple(args or ()), dict(kwargs or {})
            if isinstance(exc, BROKER_ERRORS):
                # The broker stayed away past the budget: nothing can be told
                # through it, and the work itself did not fail. The job
                # driver's stall watch sends the job's undone work again
                # (a result already stored is reused).
                log.error("%s[%s]: the broker is unreachable (%s); the job driver will "
                          "re-dispatch the job's work", self.name, task_id, exc)
                return
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
        # The countdown and the number of retries come from the outage budget
        # (VoicecastTask.retry); these only keep Celery's own defaults out.
        retry_backoff=False,
        retry_jitter=False,
        max_retries=None,
    )
    opts.update(options)
    return app.task(**opts)  # type: ignore[no-any-return]
