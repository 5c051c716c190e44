"""The API key cache (:class:`orchestrator.service.tenants.KeyCache`) on a
real SQLite store: the request path asks :meth:`KeyCache.cached` first (no
I/O) and looks a key up in SQL only when that says it must; a key found
unknown or revoked is remembered as such for the same time as a good one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator.service import tenants
from orchestrator.store.db import ensure_schema
from voicecast.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(data_dir=tmp_path)
    ensure_schema(s, auto_upgrade=True)
    return s


def test_a_key_is_looked_up_once_per_ttl_then_answered_from_the_cache(settings: Settings) -> None:
    key = tenants.create_key(settings, "acme")
    cache = tenants.KeyCache(settings, ttl_s=0.3)
    header = f"Bearer {key}"
    assert cache.cached(header) is None  # never looked up: the caller must ask SQL
    assert cache.tenant(header) == "acme"
    assert cache.cached(header) == "acme"
    # Revoked: the cache keeps answering until its time is up, then SQL says no.
    tenants.revoke_key(settings, key)
    assert cache.cached(header) == "acme"
    time.sleep(0.35)
    assert cache.cached(header) is None
    with pytest.raises(tenants.AuthError, match="unknown or revoked"):
        cache.tenant(header)
    with pytest.raises(tenants.AuthError, match="unknown or revoked"):
        cache.cached(header)  # the refusal is cached too


def test_a_missing_or_malformed_header_is_refused_without_a_lookup(settings: Settings) -> None:
    cache = tenants.KeyCache(settings, ttl_s=60)
    for header in (None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "vc_abc"):
        with pytest.raises(tenants.AuthError, match="Authorization: Bearer KEY"):
            cache.cached(header)
        with pytest.raises(tenants.AuthError, match="Authorization: Bearer KEY"):
            cache.tenant(header)
    # An unknown key is refused, and remembered as refused.
    with pytest.raises(tenants.AuthError, match="unknown or revoked"):
        cache.tenant("Bearer vc_not-a-key")
    with pytest.raises(tenants.AuthError, match="unknown or revoked"):
        cache.cached("bearer vc_not-a-key")  # the scheme is case-insensitive
