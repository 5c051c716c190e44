"""The Celery app and the one project task decorator.

Configured from settings at import time but connects to nothing until used.
Reliability settings are chosen together: tasks are idempotent (segment audio
is keyed by its content hash), so late acknowledgement, re-queueing on a lost
worker and a prefetch of one are safe: a worker killed mid-segment loses
nothing and duplicates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task

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
)

# Errors worth a retry with backoff: storage and broker hiccups. Anything else
# (bad input, a bug) fails at once: retrying cannot fix it.
RETRY_ON: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError)


def voicecast_task(name: str, queue: str, **options: Any) -> Callable[[Callable[..., Any]], Task]:
    """Register a task with the project's name, queue and retry policy."""
    opts: dict[str, Any] = dict(
        name=name,
        queue=queue,
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
