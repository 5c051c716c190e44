"""Tenants and their API keys.

A key is ``vc_`` and 43 URL-safe characters (256 random bits). Only its
SHA-256 is stored: a stolen database does not give working keys, and since
the key is random, a plain hash is as strong as a slow one. A request names
its key in ``Authorization: Bearer KEY``; a missing, unknown or revoked key
is a 401 (:class:`AuthError`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from orchestrator.store.db import session_scope
from orchestrator.store.models import ApiKey, Tenant, iso
from voicecast.errors import VoicecastError
from voicecast.settings import Settings

#: A tenant's name: it prefixes object keys and qualifies voice names.
TENANT_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class AuthError(VoicecastError):
    """No valid key: HTTP 401."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_tenant(name: str) -> str:
    if not TENANT_RE.fullmatch(name or ""):
        raise VoicecastError(f"{name!r} is not a tenant name: lowercase letters, digits, '-' and '_', "
                             "at most 40, starting with a letter or digit", field="TENANT")
    return name


def create_key(settings: Settings, tenant: str) -> str:
    """Make a key for ``tenant`` (created on its first key, with its webhook
    secret) and return it: the only time the key is seen."""
    check_tenant(tenant)
    key = "vc_" + secrets.token_urlsafe(32)
    with session_scope(settings) as s:
        if s.get(Tenant, tenant) is None:
            s.add(Tenant(name=tenant, webhook_secret=secrets.token_hex(32)))
            s.flush()
        s.add(ApiKey(tenant=tenant, key_sha256=_digest(key), prefix=key[:10]))
    return key


@dataclass(frozen=True)
class KeyInfo:
    tenant: str
    prefix: str
    created_at: str
    revoked_at: str | None


def list_keys(settings: Settings, tenant: str | None = None) -> list[KeyInfo]:
    with session_scope(settings) as s:
        q = select(ApiKey).order_by(ApiKey.tenant, ApiKey.created_at)
        if tenant:
            q = q.where(ApiKey.tenant == tenant)
        return [KeyInfo(k.tenant, k.prefix, iso(k.created_at) or "", iso(k.revoked_at))
                for k in s.scalars(q)]


def revoke_key(settings: Settings, key_or_prefix: str) -> KeyInfo:
    """Revoke a key, given whole or by the prefix ``keys list`` shows (unambiguous)."""
    with session_scope(settings) as s:
        found = list(s.scalars(select(ApiKey).where(
            (ApiKey.key_sha256 == _digest(key_or_prefix)) | (ApiKey.prefix == key_or_prefix))))
        if len(found) != 1:
            raise VoicecastError(f"no key {key_or_prefix!r}" if not found else
                                 f"{key_or_prefix!r} matches {len(found)} keys; give the whole key",
                                 field="KEY")
        k = found[0]
        if k.revoked_at is None:
            k.revoked_at = datetime.now(UTC)
        return KeyInfo(k.tenant, k.prefix, iso(k.created_at) or "", iso(k.revoked_at))


def webhook_secret(settings: Settings, tenant: str) -> str:
    with session_scope(settings) as s:
        t = s.get(Tenant, tenant)
        if t is None:
            raise VoicecastError(f"no tenant {tenant!r}", field="TENANT")
        return t.webhook_secret


class KeyCache:
    """Keys checked recently, so a busy client costs one SQL lookup per
    ``ttl_s``, not one per request. A revoked key stops working within ``ttl_s``."""

    def __init__(self, settings: Settings, ttl_s: float = 5.0) -> None:
        self.settings = settings
        self.ttl_s = ttl_s
        self._seen: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _digest_of(authorization: str | None) -> str:
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise AuthError("give an API key: Authorization: Bearer KEY (`voicecast keys create TENANT`)",
                            field="Authorization")
        return _digest(key)

    @staticmethod
    def _known(tenant: str | None) -> str:
        if tenant is None:
            raise AuthError("unknown or revoked API key", field="Authorization")
        return tenant

    def cached(self, authorization: str | None) -> str | None:
        """The tenant of the request's key if it was checked within ``ttl_s``
        (:class:`AuthError` if it was found missing, unknown or revoked),
        None when it must be looked up (:meth:`tenant`). No I/O: the API
        answers a cache hit without a trip to a worker thread."""
        digest = self._digest_of(authorization)
        with self._lock:
            hit = self._seen.get(digest)
        if hit is None or time.monotonic() - hit[1] >= self.ttl_s:
            return None
        return self._known(hit[0])

    def tenant(self, authorization: str | None) -> str:
        """The tenant of the request's key, or :class:`AuthError`."""
        digest = self._digest_of(authorization)
        now = time.monotonic()
        with self._lock:
            hit = self._seen.get(digest)
        if hit is None or now - hit[1] >= self.ttl_s:
            with session_scope(self.settings) as s:
                row = s.scalars(select(ApiKey).where(ApiKey.key_sha256 == digest)).one_or_none()
                tenant = row.tenant if row is not None and row.revoked_at is None else None
            with self._lock:
                if len(self._seen) > 10_000:
                    self._seen.clear()
                self._seen[digest] = (tenant, now)
            hit = (tenant, now)
        return self._known(hit[0])


class RateLimiter:
    """A token bucket per key digest (this process's share; each API replica
    keeps its own): ``rate`` requests a second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, who: str) -> float:
        """0 when the request may go on, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1.0 - tokens) / self.rate
