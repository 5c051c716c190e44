"""Pure parts of the HTTP service: webhook signatures, the rate limiter, the
speed chain of the speech endpoint, client file names and callback URLs."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from orchestrator.service.speech import _atempo
from orchestrator.service.submit import check_callback, safe_name
from orchestrator.service.tenants import RateLimiter, check_tenant
from orchestrator.service.webhooks import sign, verify
from voicecast.errors import InputError, VoicecastError


def test_the_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"event": "job.done"}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == f"sha256={expected}"
    assert verify("s3cret", body, sign("s3cret", body))
    assert not verify("s3cret", body + b"\n", sign("s3cret", body))
    assert not verify("other", body, sign("s3cret", body))
    assert not verify("s3cret", body, "")


def test_the_rate_limiter_allows_a_burst_then_the_rate() -> None:
    lim = RateLimiter(rate=1000.0, burst=3)
    assert [lim.allow("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = lim.allow("k")
    assert 0 < wait <= 0.001 + 1e-9
    assert lim.allow("other") == 0.0  # keys do not share a bucket


@pytest.mark.parametrize("speed", [0.25, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.7, 4.0])
def test_the_speed_chain_multiplies_to_the_speed_with_every_stage_in_range(speed: float) -> None:
    stages = [float(s.split("=")[1]) for s in _atempo(speed).split(",")]
    assert all(0.5 <= s <= 2.0 for s in stages)
    prod = 1.0
    for s in stages:
        prod *= s
    assert prod == pytest.approx(speed, rel=1e-5)


@pytest.mark.parametrize(("given", "kept"), [
    ("../../etc/passwd", "passwd"), ("C:\\Users\\me\\film.srt", "film.srt"), ("", "input"),
    ("a\x00b\x1b.srt", "ab.srt"), ("x" * 300 + ".srt", "x" * 200),
])
def test_client_file_names_keep_only_their_last_printable_part(given: str, kept: str) -> None:
    assert safe_name(given, "input") == kept


def test_callbacks_must_be_public_http_urls() -> None:
    assert check_callback("http://127.0.0.1:9/hook", allow_private=True)
    for url in ("ftp://example.com/x", "file:///etc/passwd", "http:///nohost"):
        with pytest.raises(InputError) as e:
            check_callback(url, allow_private=True)
        assert e.value.field == "options.callback_url"
    for url in ("http://127.0.0.1/x", "http://10.0.0.8/x", "http://169.254.169.254/latest/meta-data",
                "http://[::1]:8000/", "http://localhost/x"):
        with pytest.raises(InputError, match="non-public"):
            check_callback(url, allow_private=False)


def test_tenant_names_are_safe_for_keys_and_voice_names() -> None:
    assert check_tenant("acme-films_2") == "acme-films_2"
    for bad in ("", "Acme", "a/b", "a@b", "-x", "x" * 41, "../t"):
        with pytest.raises(VoicecastError):
            check_tenant(bad)
