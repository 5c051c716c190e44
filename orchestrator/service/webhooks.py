"""Webhook callbacks: a job that ends POSTs its outcome to its ``callback_url``.

The delivery is an outbox row written in the transaction that ended the job
(:func:`orchestrator.store.jobs.set_job_status`), so a callback is sent if
and only if the job's end was committed, whichever process ended it. Every
API process sweeps due rows (:func:`deliver_due`); a row is claimed with a
conditional UPDATE, so two replicas never send the same attempt.

Each POST carries the JSON body, ``X-Voicecast-Event``, ``X-Voicecast-Delivery``
(the row id: a receiver drops a repeat it has seen) and
``X-Voicecast-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact body
bytes under the tenant's webhook secret. A 2xx answer ends the delivery;
anything else is tried again after 5, 10, 20 ... s (``api.webhook_*``),
then given up (``state = failed``). Every attempt's answer is recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import urllib.error
import urllib.request
from datetime import timedelta

from sqlalchemy import select, update

from orchestrator.store.db import session_scope
from orchestrator.store.models import Job, Tenant, WebhookDelivery, utcnow
from voicecast.http import no_redirect_opener
from voicecast.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Voicecast-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` signs ``body`` (constant-time compare): what a receiver does."""
    return hmac.compare_digest(sign(secret, body), header or "")


#: A callback is not followed to another address (a redirect could reach a private one the URL check refused).
_opener = no_redirect_opener()


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> tuple[int | None, str | None]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with _opener.open(req, timeout=timeout_s) as resp:
            resp.read(65536)
            return int(resp.status), None
    except urllib.error.HTTPError as e:
        return int(e.code), f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, f"{type(e).__name__}: {getattr(e, 'reason', e)}"


def deliver_due(settings: Settings, limit: int = 20) -> int:
    """Send the deliveries that are due now; returns how many were tried."""
    api = settings.api
    now = utcnow()
    with session_scope(settings) as s:
        due = list(s.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempts).where(
                WebhookDelivery.state == "pending", WebhookDelivery.next_at <= now)
            .order_by(WebhookDelivery.next_at).limit(limit)).all())
    tried = 0
    for row_id, attempts in due:
        # Claim this attempt: only one process moves `attempts` on from what it read.
        with session_scope(settings) as s:
            claimed = s.execute(update(WebhookDelivery).where(
                WebhookDelivery.id == row_id, WebhookDelivery.attempts == attempts,
                WebhookDelivery.state == "pending").values(
                attempts=attempts + 1, next_at=now + timedelta(seconds=api.webhook_timeout_s * 3)))
            if not claimed.rowcount:  # type: ignore[attr-defined]
                continue
            d = s.get_one(WebhookDelivery, row_id)
            url, body, event = d.url, d.body.encode(), d.event
            secret = s.scalar(select(Tenant.webhook_secret).join(Job, Job.tenant == Tenant.name)
                              .where(Job.id == d.job_id)) or ""
        status, error = _post(url, body, {SIGNATURE_HEADER: sign(secret, body), "X-Voicecast-Event": event,
                                          "X-Voicecast-Delivery": str(row_id)}, api.webhook_timeout_s)
        tried += 1
        ok = status is not None and 200 <= status < 300
        with session_scope(settings) as s:
            d = s.get_one(WebhookDelivery, row_id)
            d.last_status, d.last_error = status, error
            if ok:
                d.state, d.delivered_at = "delivered", utcnow()
            elif d.attempts >= api.webhook_attempts:
                d.state = "failed"
            else:
                d.next_at = utcnow() + timedelta(seconds=api.webhook_first_wait_s * 2 ** (d.attempts - 1))
        if not ok:
            log.info("webhook %s for %s: %s (attempt %d)", row_id, url, error, attempts + 1)
    return tried
